"""app/exports.py, the shared CSV / XLSX export: formula defusing, NIK / No KK as text, typed
XLSX cells, the sheet split beyond the row limit (with a small test limit), BOM and
separator, streaming in constant memory, translated headers."""
from __future__ import annotations

import csv
import datetime as dt
import glob
import io
import os
import tempfile
from decimal import Decimal

import openpyxl
import pytest
from flask_babel import force_locale, lazy_gettext

from app import exports
from app.exports import Column, csv_chunks, defuse, write_xlsx

NIK = "0012345678901234"  # a leading zero, 16 digits: a number would lose both
DANGEROUS = ["=1+1", "+41", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "=HYPERLINK(\"http://x\")"]
COLUMNS = [Column("nik", "NIK", "id_number"), Column("name", "Nama"), Column("value", "Nilai (Rp)", "money"),
           Column("date", "Tanggal", "date"), Column("count", "Jumlah", "int"), Column("pct", "Persen", "decimal")]


def sample(n=3):
    return [{"nik": NIK, "name": f"Baris {i}", "value": Decimal("1500000.50"), "date": dt.date(2017, 3, i + 1),
             "count": 1000 + i, "pct": 93.25} for i in range(n)]


def csv_text(rows, columns=COLUMNS, **kw) -> str:
    return "".join(csv_chunks(rows, columns, **kw))


# --- defusing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", DANGEROUS)
def test_formula_like_text_is_defused(value):
    assert defuse(value) == "'" + value
    text = csv_text([{"nik": NIK, "name": value, "value": None, "date": None, "count": None, "pct": None}])
    cell = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1][1]
    assert cell == "'" + value


@pytest.mark.parametrize("value", ["Budi", "", "1871012345670003", "18.07.01.2001", "a=b", "Rp -5"])
def test_harmless_text_is_unchanged(value):
    assert defuse(value) == value


def test_negative_numbers_stay_numbers():
    text = csv_text([{"nik": NIK, "name": "x", "value": Decimal("-5.00"), "date": None, "count": -3, "pct": -1.5}])
    row = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1]
    assert row[2:] == ["-5.00", "", "-3", "-1.5"]


def test_xlsx_defuses_and_never_writes_formulas(tmp_path):
    path = tmp_path / "x.xlsx"
    write_xlsx(str(path), [{"nik": NIK, "name": v, "value": None, "date": None, "count": None, "pct": None}
                           for v in DANGEROUS], COLUMNS)
    sheet = openpyxl.load_workbook(path).active
    names = [sheet.cell(row=r, column=2) for r in range(2, 2 + len(DANGEROUS))]
    # xlsxwriter stores a CR as the OOXML escape _x000D_ (Excel shows a CR; openpyxl keeps the escape).
    assert [c.value.replace("_x000D_", "\r") for c in names] == ["'" + v for v in DANGEROUS]
    assert all(c.data_type == "s" for c in names)


# --- NIK / No KK as text, typed cells --------------------------------------------------------------

def test_nik_is_text_in_csv_and_xlsx(tmp_path):
    text = csv_text(sample(1))
    assert f",{NIK}," in text.replace("\r\n", ",")
    path = tmp_path / "nik.xlsx"
    write_xlsx(str(path), sample(2), COLUMNS)
    sheet = openpyxl.load_workbook(path).active
    cell = sheet.cell(row=2, column=1)
    assert cell.value == NIK and cell.data_type == "s" and cell.number_format == "@"


def test_xlsx_types_dates_money_and_numbers(tmp_path):
    path = tmp_path / "typed.xlsx"
    write_xlsx(str(path), sample(1), COLUMNS)
    sheet = openpyxl.load_workbook(path).active
    assert [c.value for c in sheet[1]] == ["NIK", "Nama", "Nilai (Rp)", "Tanggal", "Jumlah", "Persen"]
    value, date, count, pct = (sheet.cell(row=2, column=c) for c in (3, 4, 5, 6))
    assert value.value == 1500000.5 and value.number_format == "#,##0.00"
    assert date.is_date and date.value.date() == dt.date(2017, 3, 1) and date.number_format == "yyyy-mm-dd"
    assert count.value == 1000 and count.data_type == "n"
    assert pct.value == 93.25 and pct.number_format == "#,##0.0"


# --- the sheet split ---------------------------------------------------------------------------------

def test_rows_beyond_the_sheet_limit_continue_on_new_sheets(tmp_path):
    path = tmp_path / "split.xlsx"
    rows = [{"n": i, "name": f"r{i}"} for i in range(10)]
    written = write_xlsx(str(path), rows, [("n", "N", "int"), ("name", "Nama")], sheet_name="Data",
                         max_rows_per_sheet=4)  # header + 3 rows per sheet
    assert written == 10
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Data", "Data (2)", "Data (3)", "Data (4)"]
    values = []
    for sheet in book.worksheets:
        table = list(sheet.iter_rows(values_only=True))
        assert table[0] == ("N", "Nama")  # every sheet repeats the header
        assert 2 <= len(table) <= 4
        # the header stays in view and carries the filter arrows over exactly this sheet's rows
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:B{len(table)}"
        assert sheet.column_dimensions["B"].width >= 10
        values += [row[0] for row in table[1:]]
    assert values == list(range(10))
    assert exports.EXCEL_MAX_ROWS == 1_048_576


def test_an_exact_fill_makes_no_empty_sheet(tmp_path):
    path = tmp_path / "exact.xlsx"
    write_xlsx(str(path), [{"n": i} for i in range(6)], [("n", "N", "int")], max_rows_per_sheet=4)
    assert openpyxl.load_workbook(path).sheetnames == ["Data", "Data (2)"]


# --- CSV: BOM, separator, quoting, streaming ---------------------------------------------------------

def test_bom_and_comma_separator():
    text = csv_text(sample(2))
    assert text.startswith("\ufeffNIK,Nama,Nilai (Rp),Tanggal,Jumlah,Persen\r\n")
    assert "\r\n" + NIK + ",Baris 0,1500000.50,2017-03-01,1000,93.25\r\n" in text
    assert csv_text(sample(1), bom=False).startswith("NIK,")


def test_semicolon_separator_writes_decimal_commas_and_quotes():
    rows = sample(1) + [{"nik": NIK, "name": "Jl. Mawar; No. 5", "value": Decimal("10"), "date": None,
                         "count": 1, "pct": 0.5}]
    text = csv_text(rows, sep=";")
    assert text.startswith("\ufeffNIK;Nama;")
    lines = text.lstrip("\ufeff").split("\r\n")
    assert lines[1] == f"{NIK};Baris 0;1500000,50;2017-03-01;1000;93,25"
    parsed = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert parsed[2][1] == "Jl. Mawar; No. 5" and parsed[2][2] == "10,00"


def test_separator_argument():
    assert exports.separator(None) == "," and exports.separator(";") == ";" and exports.separator("semicolon") == ";"
    with pytest.raises(ValueError):
        exports.separator("|")


def test_csv_is_produced_while_the_rows_are_read():
    """Constant memory: the first chunk leaves before the source is exhausted."""
    consumed = []

    def source():
        for i in range(100_000):
            consumed.append(i)
            yield {"n": i}

    chunks = csv_chunks(source(), [("n", "N", "int")], rows_per_chunk=500)
    assert next(chunks) == "\ufeff"
    first = next(chunks)
    assert first.startswith("N\r\n0\r\n") and len(consumed) <= 501
    assert sum(chunk.count("\r\n") for chunk in chunks) + first.count("\r\n") == 100_001
    assert len(consumed) == 100_000


# --- the Flask responses --------------------------------------------------------------------------

def test_export_csv_response_streams_with_headers(app):
    with app.test_request_context():
        response = exports.export("csv", iter(sample(3)), COLUMNS, "laporan uji/2017", sep=";")
        assert response.is_streamed
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert response.headers["Content-Disposition"] == 'attachment; filename="laporan_uji_2017.csv"'
        body = b"".join(response.response).decode("utf-8")
    assert body.startswith("\ufeffNIK;") and body.count("\r\n") == 4


def test_export_xlsx_response_leaves_no_temporary_file(app):
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "sinergi-export-*")))
    with app.test_request_context():
        response = exports.export("xlsx", iter(sample(5)), COLUMNS, "uji")
        response.direct_passthrough = False
        data = response.get_data()
        assert response.headers["Content-Disposition"].startswith("attachment; filename=uji.xlsx")
        assert response.mimetype == exports.XLSX_MIMETYPE
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "sinergi-export-*"))) == before
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet.max_row == 6 and sheet.cell(row=2, column=1).value == NIK


def test_unknown_format_is_refused(app):
    with app.test_request_context(), pytest.raises(ValueError):
        exports.export("pdf", [], COLUMNS, "x")


def test_headers_follow_the_users_language(app):
    columns = [Column("h", lazy_gettext("Households"), "int")]
    with app.test_request_context():
        with force_locale("id"):
            indonesian = csv_text([{"h": 1}], columns)
        with force_locale("en"):
            english = csv_text([{"h": 1}], columns)
    assert english.startswith("\ufeffHouseholds\r\n")
    assert indonesian.startswith("\ufeffRumah Tangga\r\n")


def test_unknown_column_kind_is_refused():
    with pytest.raises(ValueError):
        Column("x", "X", "float")
