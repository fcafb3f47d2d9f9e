"""The validation report: CSV written by COPY from ``import_problem`` (constant memory), and
its XLSX twin made on demand."""
from __future__ import annotations

import codecs
import csv
import os
from pathlib import Path

from sqlalchemy.engine import Connection

from app.services.household_import.base import NUMBER, XLSX_MAX_ROWS, _q

def _write_report(conn: Connection, path: Path, separator: str, notes: list[str]) -> None:
    """The report as CSV (UTF-8 with BOM, the input's separator so Excel opens it): baris,
    kolom, nilai, alasan; written by COPY from the problem table, constant memory. A value
    starting with = + - @ (not a plain number) is prefixed with ' against formula injection."""
    sep = separator if separator in (",", ";") else ";"
    cursor = conn.connection.driver_connection.cursor()
    with open(path, "wb") as f:
        f.write(codecs.BOM_UTF8)
        w = csv.writer(_Utf8(f), delimiter=sep, lineterminator="\n")
        w.writerow(["baris", "kolom", "nilai", "alasan"])
        for note in notes:
            w.writerow(["", "(berkas)", "", f"Catatan: {note}"])
        with cursor.copy(f"""COPY (SELECT rn, col,
                                   CASE WHEN value ~ '^[=+@\\t\\r-]' AND value !~ {NUMBER} THEN '''' || value
                                        ELSE value END,
                                   reason
                              FROM import_problem ORDER BY rn, ord) TO STDOUT
                             (FORMAT csv, DELIMITER {_q(sep)})""") as copy:
            for block in copy:
                f.write(block)
    cursor.close()


class _Utf8:
    def __init__(self, f):
        self.f = f

    def write(self, s):
        self.f.write(s.encode("utf-8"))


def report_xlsx(csv_path) -> Path:
    """The report as XLSX (made once, next to the CSV): every cell text, so NIK / No KK stay
    as typed; beyond 1,048,576 rows the report continues on a new sheet. Constant memory."""
    import xlsxwriter

    csv_path = Path(csv_path)
    target = csv_path.with_suffix(".xlsx")
    if target.exists() and target.stat().st_mtime >= csv_path.stat().st_mtime:
        return target
    tmp = target.with_suffix(".tmp.xlsx")
    book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_numbers": False,
                                          "strings_to_formulas": False, "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        first = f.readline()
        sep = ";" if first.count(";") > first.count(",") else ","
        f.seek(0)
        reader = csv.reader(f, delimiter=sep)
        header = next(reader)
        sheet, row_no, n = None, XLSX_MAX_ROWS, 0
        for values in reader:
            if row_no >= XLSX_MAX_ROWS:
                n += 1
                sheet = book.add_worksheet("Laporan" if n == 1 else f"Laporan {n}")
                sheet.set_column(0, 0, 8)
                sheet.set_column(1, 1, 16)
                sheet.set_column(2, 2, 22)
                sheet.set_column(3, 3, 80)
                for c, v in enumerate(header):
                    sheet.write_string(0, c, v, bold)
                row_no = 1
            for c, v in enumerate(values):
                if c == 0 and v.isdigit():
                    sheet.write_number(row_no, c, int(v))
                else:
                    sheet.write_string(row_no, c, v)
            row_no += 1
        if sheet is None:
            sheet = book.add_worksheet("Laporan")
            for c, v in enumerate(header):
                sheet.write_string(0, c, v, bold)
    book.close()
    os.replace(tmp, target)
    return target


