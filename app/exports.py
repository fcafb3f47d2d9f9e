"""THE export module: any list of rows as a CSV or XLSX download, in constant memory.

Used by the analysis screens and API, the audit trail and every list export
(app/list_exports.py). A caller describes its columns once and passes an iterable of rows
(mappings, objects, tuples, or a generator streaming from a server-side cursor); nothing here
holds all rows at once. A streamed CSV closes the request's session before the body is sent,
so rows that are read while it streams must come from a connection of their own
(``stream_rows``), never from ``db.session``.

    columns = [("no_kk", _("No KK"), "id_number"), ("head_name", _("Head of household"), "text"),
               ("benefit_value", _("Benefit value (Rp)"), "money"), ("date", _("Date"), "date")]
    return export("xlsx", rows, columns, "enrolments_2017")            # or "csv", sep=";"

Rules (issues 4 and 5, fab-notes.md):
- CSV streams from a generator (``stream_with_context``), UTF-8 with a BOM so Excel reads
  the accents, ``,`` or ``;`` as separator. With ``;`` (the separator Indonesian Excel
  expects) decimals are written with a decimal comma, as that Excel reads them.
- Every text cell beginning with ``= + - @``, a tab or a carriage return gets a leading
  single quote, so a spreadsheet never runs it as a formula (CSV and XLSX alike).
- NIK / No KK (kind ``id_number``) are written as text, never numbers: in XLSX as string
  cells with the text format ``@`` (no scientific notation, no lost leading zero).
- XLSX is written by xlsxwriter with ``constant_memory`` to a temporary file, then sent;
  numbers, money and dates are typed cells with number/date formats; the header row is
  frozen and carries the autofilter, columns are sized by kind. A sheet holds at
  most 1,048,576 rows (header included); beyond, the rows continue on a new sheet with
  the header repeated.
- Headers are the translated labels, evaluated in the request's language.
- With ``log=ExportRecord(what, filters)`` the export is logged in ``export_log`` (who, what,
  filter, row count, when) once the last row is written — for a streamed CSV that is
  after the response body ends, from a connection of its own.

Column kinds: ``text``, ``id_number``, ``int`` (with thousands separators in XLSX), ``year``
(an integer without them), ``decimal`` (one decimal, e.g. a percentage), ``number`` (as
many decimals as needed), ``money`` (two decimals), ``date``, ``datetime``.
"""
from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import logging
import operator
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

from flask import Response, send_file, stream_with_context

from app.services.audit import current_actor

_log = logging.getLogger(__name__)

EXCEL_MAX_ROWS = 1_048_576  # rows per worksheet, header included
EXCEL_MAX_CELL = 32_767  # characters per cell
DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_DANGEROUS_FIRST = frozenset(DANGEROUS_PREFIXES)  # all one character: a set lookup on text[:1]
KINDS = ("text", "id_number", "int", "year", "decimal", "number", "money", "date", "datetime")
NUMERIC_KINDS = ("int", "year", "decimal", "number", "money")
SEPARATORS = {",": ",", ";": ";", "comma": ",", "semicolon": ";"}
CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_FORMATS = {  # number formats of typed cells
    "id_number": "@", "text": "@", "int": "#,##0", "year": "0", "decimal": "#,##0.0", "number": "General",
    "money": "#,##0.00", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss",
}
XLSX_WIDTHS = {"id_number": 19, "date": 12, "datetime": 20, "money": 18, "int": 12, "year": 8, "decimal": 12,
               "number": 12}


@dataclass(frozen=True)
class Column:
    """One exported column: ``key`` (a row key / attribute name, an index into tuple rows, or a
    function of the row), ``header`` (a label; lazy strings are translated when the export
    starts) and ``kind``."""

    key: Union[str, int, Callable[[Any], Any]]
    header: Any
    kind: str = "text"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}; one of {', '.join(KINDS)}")

    def value(self, row) -> Any:
        return self.getter()(row)

    def getter(self) -> Callable[[Any], Any]:
        """The function that reads this column from a row: ``key`` itself when callable, an
        item getter for an int key (tuple rows) or a mapping, else an attribute getter."""
        key = self.key
        if callable(key):
            return key
        if isinstance(key, int):
            return operator.itemgetter(key)

        def get(row):
            if isinstance(row, dict) or hasattr(row, "keys"):
                return row[key]
            return getattr(row, key)

        return get


ColumnSpec = Union[Column, Sequence]


def as_columns(columns: Iterable[ColumnSpec]) -> list[Column]:
    """Columns from ``Column`` objects or ``(key, header[, kind])`` tuples."""
    return [c if isinstance(c, Column) else Column(*c) for c in columns]


@dataclass(frozen=True)
class ExportRecord:
    """What an export is, for the export log: ``what`` (e.g. 'analysis:overlap-villages',
    'households') and the filters it was made with (JSON-ready)."""

    what: str
    filters: Optional[dict] = None


def _write_log(record: Optional[ExportRecord], fmt: str, count: int, actor) -> None:
    if record is None:
        return
    try:
        from sqlalchemy import insert

        from app.extensions import db
        from app.models.jobs import ExportLog

        with db.engine.begin() as conn:
            conn.execute(insert(ExportLog).values(user_id=actor[0], username=actor[1], what=record.what[:100],
                                                  format=fmt, filters=record.filters, rows=count))
    except Exception:  # the file was delivered; a failed log line must not turn it into an error
        _log.exception("could not log the export %s", record.what)


def log_export(record: Optional[ExportRecord], fmt: str, count: int) -> None:
    """Log an export written outside ``export_csv`` / ``export_xlsx`` (the GeoJSON and
    GeoPackage downloads of gis/geo_export.py) for the request's user; never raises."""
    _write_log(record, fmt, count, current_actor())


# --- cell values -------------------------------------------------------------------------------

def defuse(text: str) -> str:
    """'=1+1' -> "'=1+1": a text that a spreadsheet would run as a formula is kept as text."""
    if text and text.startswith(DANGEROUS_PREFIXES):
        return "'" + text
    return text


def _number_text(value, kind: str, decimal_comma: bool) -> str:
    """Plain digits, '.' (or ',') as decimal mark, never a thousands separator or an exponent."""
    if isinstance(value, bool):
        value = int(value)
    if kind == "money":
        text = format(decimal.Decimal(str(value)).quantize(decimal.Decimal("0.01")), "f")
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, decimal.Decimal):
        text = format(value, "f")
    else:  # a float: its shortest exact decimal (reads back to the same float), never an exponent
        text = repr(float(value))
        if "e" in text:  # 1e-07, 2.5e+16: spelled out
            text = format(decimal.Decimal(text), "f")
        text = text.removesuffix(".0")
    return text.replace(".", ",") if decimal_comma else text


def csv_cell(value, kind: str = "text", decimal_comma: bool = False) -> str:
    """The text of one CSV cell: numbers plain (no exponent, no thousands separator), dates
    ISO 8601, texts defused."""
    if value is None:
        return ""
    if type(value) is str:  # the common cases first: an export writes millions of cells
        return "'" + value if value[:1] in _DANGEROUS_FIRST else value
    if type(value) is int and kind != "money":
        return str(value)
    if isinstance(value, str):
        return defuse(value)
    if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        if kind == "id_number":
            return str(value)
        return _number_text(value, kind if kind in NUMERIC_KINDS else "number", decimal_comma)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return defuse(str(value))


def headers(columns: Sequence[Column]) -> list[str]:
    """The translated header texts (evaluated now, in the current request's language)."""
    return [defuse(str(c.header)) for c in columns]


# --- CSV -----------------------------------------------------------------------------------------

def separator(value: Optional[str]) -> str:
    """',' or ';' from a request argument (',' ';' 'comma' 'semicolon'); ValueError otherwise."""
    if value in (None, ""):
        return ","
    try:
        return SEPARATORS[value]
    except KeyError:
        raise ValueError(f"sep must be ',' or ';' (or 'comma' / 'semicolon'), not {value!r}") from None


def csv_chunks(rows: Iterable, columns: Iterable[ColumnSpec], sep: str = ",", bom: bool = True,
               decimal_comma: Optional[bool] = None, rows_per_chunk: int = 500) -> Iterator[str]:
    """The CSV text in chunks of ``rows_per_chunk`` rows: header first (after a BOM), CRLF
    line ends, quoting where needed. Holds one chunk at a time."""
    if sep not in (",", ";"):
        raise ValueError("sep must be ',' or ';'")
    cols = as_columns(columns)
    comma = (sep == ";") if decimal_comma is None else decimal_comma
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\r\n")
    writer.writerow(headers(cols))
    pending = 0
    if bom:
        yield "\ufeff"
    cells = [(c.getter(), c.kind) for c in cols]
    for row in rows:
        writer.writerow([csv_cell(get(row), kind, comma) for get, kind in cells])
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def _disposition(filename: str) -> str:
    return f'attachment; filename="{safe_filename(filename)}"'


def safe_filename(name: str) -> str:
    """ASCII letters, digits, '-', '_' and '.' only (the rest becomes '_')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "export"


def export_csv(rows: Iterable, columns: Iterable[ColumnSpec], filename: str, sep: str = ",",
               bom: bool = True, log: Optional[ExportRecord] = None) -> Response:
    """A streaming CSV download (constant memory: the rows are read while the response is sent)."""
    cols = as_columns(columns)
    filename = filename if filename.lower().endswith(".csv") else f"{filename}.csv"
    first = headers(cols)  # translate now, while the request's locale is certain
    counter = _Counter()
    actor = current_actor()
    record = log

    def generate():
        for chunk in csv_chunks(counter.wrap(rows), [Column(c.key, h, c.kind) for c, h in zip(cols, first)],
                                sep=sep, bom=bom):
            yield chunk.encode("utf-8")
        _log.info("export %s: %d rows (csv, sep %r)", filename, counter.count, sep)
        _write_log(record, "csv", counter.count, actor)

    end_request_transaction()
    response = Response(stream_with_context(generate()), content_type=CSV_MIMETYPE)
    response.headers["Content-Disposition"] = _disposition(filename)
    response.headers["Cache-Control"] = "no-store"
    return response


def stream_rows(statement, batch: int = 2000) -> Iterator:
    """The rows of ``statement`` from a server-side cursor, ``batch`` at a time, on a connection
    of their own that is closed when the last row is read: what a streamed export reads from.

    The statement runs here, before the response starts: a value the database refuses (a
    filter that cannot be cast) is then the request's 400, not a download cut off part-way."""
    from app.extensions import db

    conn = db.engine.connect()
    try:
        result = conn.execute(statement, execution_options={"stream_results": True, "yield_per": batch})
    except BaseException:
        conn.close()
        raise

    def rows():
        with conn:
            yield from result

    return rows()


def end_request_transaction() -> None:
    """Close the request's session before the body streams: the rows come from a connection of
    their own, and a download of a million rows (or a client that stops reading) must not keep
    the session's transaction, and its locks, open for as long as it takes."""
    from flask import has_app_context

    if has_app_context():
        from app.extensions import db

        db.session.close()


class _Counter:
    def __init__(self):
        self.count = 0

    def wrap(self, rows):
        for row in rows:
            self.count += 1
            yield row


# --- CSV straight from the database (COPY) --------------------------------------------------------
#
# For lists of a million rows the cells are better written by PostgreSQL: ``COPY (SELECT ...) TO
# STDOUT WITH CSV`` of SQL that gives, cell by cell, the text ``csv_cell`` gives (``csv_cell_sql``),
# streamed as it comes (``export_csv_copy``). The file is the same byte for byte: the BOM and the
# header line written as ``csv_chunks`` writes them, CRLF line ends (COPY ends a row with LF;
# each row's last byte is swapped, line breaks inside quoted cells stay as Python's csv keeps
# them), quotes where Python's csv puts them (around a separator, a quote, CR or LF — and COPY
# writes an empty text as "" where Python writes nothing, so empty texts become NULL).
# One difference is left: a cell holding exactly the two characters \. is quoted by COPY.

FLOAT_TEXT_SQL = "SET LOCAL extra_float_digits = 1"  # float8's text = the shortest exact form, as repr


def _defuse_sql(expr: str) -> str:
    return (f"NULLIF(CASE WHEN left({expr}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || {expr} "
            f"ELSE {expr} END, '')")


def _float_text_sql(expr: str) -> str:
    """repr(float) without a trailing '.0', exponents spelled out (``_number_text``)."""
    t = f"({expr})::float8::text"
    return (f"(CASE {t} WHEN 'NaN' THEN 'nan' WHEN 'Infinity' THEN 'inf' WHEN '-Infinity' THEN '-inf' ELSE "
            f"CASE WHEN {t} ~ 'e' THEN ({t})::numeric::text ELSE {t} END END)")


def csv_cell_sql(expr: str, type_, kind: str = "text", decimal_comma: bool = False) -> Optional[str]:
    """SQL giving, for the values of ``expr`` (SQLAlchemy type ``type_``), the text ``csv_cell``
    gives for them (NULL for an empty cell); None when this type has no SQL twin here (the
    export then goes through Python). Needs ``FLOAT_TEXT_SQL`` in the transaction."""
    import sqlalchemy as sa

    def number(sql: str) -> str:
        return f"replace({sql}, '.', ',')" if decimal_comma else sql

    if isinstance(type_, (sa.String, sa.Text)):  # texts, whatever the column's kind
        return _defuse_sql(expr)
    if kind == "id_number":  # a number where a text is expected: str(value); not worth a twin
        return None
    if isinstance(type_, sa.Boolean):
        return f"(CASE WHEN {expr} THEN 'True' WHEN NOT {expr} THEN 'False' END)"
    if isinstance(type_, sa.Integer):
        return number(f"round(({expr})::numeric, 2)::text") if kind == "money" else f"({expr})::text"
    if isinstance(type_, sa.Float):
        return None if kind == "money" else number(_float_text_sql(expr))
    if isinstance(type_, sa.Numeric):
        if kind == "money":  # quantize to 0.01: exact when the column keeps 2 decimals or fewer
            return number(f"round({expr}, 2)::text") if (type_.scale or 0) <= 2 else None
        return number(f"({expr})::text")
    if isinstance(type_, sa.DateTime):
        return None
    if isinstance(type_, sa.Date):
        return f"to_char({expr}, 'YYYY-MM-DD')"
    return None


def _crlf(rows: list) -> bytes:
    """COPY's rows (one each, ending in LF) as one block with CRLF row ends."""
    block = b"".join(rows)
    if block.count(b"\n") == len(rows):  # no line break inside a cell: swap them all at once
        return block.replace(b"\n", b"\r\n")
    return b"".join(bytes(row[:-1]) + b"\r\n" for row in rows)


def _discard(conn) -> None:
    """Close a connection whose state is unknown without raising: invalidated, not pooled."""
    for step in (conn.invalidate, conn.close):
        try:
            step()
        except Exception:  # noqa: BLE001 — already closed or broken: nothing more to free
            pass


def export_csv_copy(select_sql: str, params: Optional[dict], columns: Iterable[ColumnSpec], filename: str,
                    sep: str = ",", bom: bool = True, log: Optional[ExportRecord] = None,
                    rows_per_chunk: int = 2000) -> Response:
    """A streaming CSV download of ``select_sql`` (its cells already the text ``csv_cell`` writes,
    see ``csv_cell_sql``; parameters ``params`` in psycopg's %(name)s style, a '%' of the SQL
    doubled, as SQLAlchemy compiles it for psycopg) through ``COPY ... TO STDOUT``,
    on a connection of its own; ``columns`` give the header. The COPY starts here, before the
    response: a value the database refuses is the request's error, not a download cut off
    part-way. Constant memory."""
    from app.extensions import db

    if sep not in (",", ";"):
        raise ValueError("sep must be ',' or ';'")
    cols = as_columns(columns)
    filename = filename if filename.lower().endswith(".csv") else f"{filename}.csv"
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep, lineterminator="\r\n").writerow(headers(cols))
    head = (("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8")
    actor = current_actor()
    record = log
    end_request_transaction()
    conn = db.engine.connect()
    try:
        conn.exec_driver_sql(FLOAT_TEXT_SQL)
        driver = conn.connection.driver_connection
        # the SQL is in psycopg's %(name)s style, '%' doubled; psycopg reads it so only with parameters
        statement = f"COPY ({select_sql}) TO STDOUT WITH (FORMAT csv, DELIMITER '{sep}')"
        copying = driver.cursor().copy(statement, params) if params else \
            driver.cursor().copy(statement.replace("%%", "%"))
        copy = copying.__enter__()
    except BaseException:
        conn.invalidate()
        conn.close()
        raise

    def generate():
        count, done = 0, False
        try:
            yield head
            rows = []
            for row in copy:
                rows.append(row)
                if len(rows) >= rows_per_chunk:
                    count += len(rows)
                    yield _crlf(rows)
                    rows = []
            if rows:
                count += len(rows)
                yield _crlf(rows)
            done = True
        finally:
            if done:
                try:
                    copying.__exit__(None, None, None)
                    conn.close()
                except Exception:  # noqa: BLE001 — the rows are out; only the connection is lost
                    _discard(conn)
            else:
                # The client went away mid-COPY: drop the connection (the server ends the COPY
                # when its socket closes) rather than read the rest or roll back on a connection
                # still busy copying ("another command is already in progress").
                _discard(conn)
        _log.info("export %s: %d rows (csv by COPY, sep %r)", filename, count, sep)
        _write_log(record, "csv", count, actor)

    response = Response(stream_with_context(generate()), content_type=CSV_MIMETYPE)
    response.headers["Content-Disposition"] = _disposition(filename)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- XLSX ---------------------------------------------------------------------------------------

def _sheet_title(base: str, number: int) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", base)[:24] or "Data"
    return base if number == 1 else f"{base} ({number})"


def write_xlsx(target, rows: Iterable, columns: Iterable[ColumnSpec], sheet_name: str = "Data",
               max_rows_per_sheet: int = EXCEL_MAX_ROWS) -> int:
    """Write the rows to ``target`` (a path or a binary file object) as XLSX in constant
    memory. ``max_rows_per_sheet`` counts the header row; the rows continue on 'Data (2)',
    'Data (3)', ... each with the header. Returns the number of data rows written."""
    import xlsxwriter

    if max_rows_per_sheet < 2:
        raise ValueError("max_rows_per_sheet must leave room for the header and a row")
    cols = as_columns(columns)
    titles = headers(cols)
    workbook = xlsxwriter.Workbook(target, {"constant_memory": True, "strings_to_numbers": False,
                                            "strings_to_formulas": False, "strings_to_urls": False})
    header_format = workbook.add_format({"bold": True, "bg_color": "#F2F2F2", "bottom": 1, "text_wrap": True,
                                         "valign": "top"})
    formats = {kind: workbook.add_format({"num_format": fmt}) for kind, fmt in XLSX_FORMATS.items()}
    state = {"sheet": None, "number": 0, "row": 0}

    def close_sheet():
        # The filter arrows on the header over the rows written (xlsxwriter keeps the range
        # as a sheet setting, so setting it after the rows is fine in constant_memory mode).
        if state["sheet"] is not None:
            state["sheet"].autofilter(0, 0, max(state["row"] - 1, 0), len(cols) - 1)

    def new_sheet():
        close_sheet()
        state["number"] += 1
        sheet = workbook.add_worksheet(_sheet_title(sheet_name, state["number"]))
        for index, (column, title) in enumerate(zip(cols, titles)):
            width = max(XLSX_WIDTHS.get(column.kind, 18), min(len(title) + 2, 40))
            sheet.set_column(index, index, width, formats[column.kind])
        sheet.write_row(0, 0, titles, header_format)
        sheet.freeze_panes(1, 0)
        state["sheet"], state["row"] = sheet, 1

    new_sheet()
    written = 0
    cells = [(index, c.getter(), c.kind) for index, c in enumerate(cols)]
    for row in rows:
        if state["row"] >= max_rows_per_sheet:
            new_sheet()
        sheet, r = state["sheet"], state["row"]
        for index, get, kind in cells:
            _write_cell(sheet, r, index, get(row), kind, formats)
        state["row"] += 1
        written += 1
    close_sheet()
    workbook.close()
    return written


def _write_cell(sheet, row: int, col: int, value, kind: str, formats) -> None:
    fmt = formats[kind]
    if value is None:
        return
    if kind in NUMERIC_KINDS and isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
        sheet.write_number(row, col, float(value), fmt)
    elif kind == "datetime" and isinstance(value, dt.datetime):
        sheet.write_datetime(row, col, value.replace(tzinfo=None) if value.tzinfo else value, fmt)
    elif kind in ("date", "datetime") and isinstance(value, dt.date):
        sheet.write_datetime(row, col, value, fmt)
    else:
        text = value if isinstance(value, str) else (value.isoformat() if isinstance(value, dt.date) else str(value))
        sheet.write_string(row, col, defuse(text)[:EXCEL_MAX_CELL], fmt)


def export_xlsx(rows: Iterable, columns: Iterable[ColumnSpec], filename: str, sheet_name: str = "Data",
                max_rows_per_sheet: int = EXCEL_MAX_ROWS, log: Optional[ExportRecord] = None) -> Response:
    """An XLSX download: written to a temporary file in constant memory, then sent. The
    file is unlinked at once and read through its open handle, so nothing is left behind."""
    filename = filename if filename.lower().endswith(".xlsx") else f"{filename}.xlsx"
    handle = tempfile.NamedTemporaryFile(prefix="sinergi-export-", suffix=".xlsx", delete=False)
    try:
        handle.close()
        count = write_xlsx(handle.name, rows, columns, sheet_name=sheet_name, max_rows_per_sheet=max_rows_per_sheet)
        stream = open(handle.name, "rb")
    finally:
        os.unlink(handle.name)
    _log.info("export %s: %d rows (xlsx)", filename, count)
    _write_log(log, "xlsx", count, current_actor())
    response = send_file(stream, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=safe_filename(filename),
                         max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- one entry point ---------------------------------------------------------------------------

FORMATS = ("csv", "xlsx")


def export(fmt: str, rows: Iterable, columns: Iterable[ColumnSpec], filename: str, sep: str = ",",
           sheet_name: str = "Data", log: Optional[ExportRecord] = None) -> Response:
    """``export_csv`` or ``export_xlsx`` by ``fmt``; ValueError for another format."""
    if fmt == "csv":
        return export_csv(rows, columns, filename, sep=sep, log=log)
    if fmt == "xlsx":
        return export_xlsx(rows, columns, filename, sheet_name=sheet_name, log=log)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
