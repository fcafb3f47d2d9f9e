"""Step 1, read: the file (CSV or XLSX) streamed row by row into the TEMP staging table
``import_staging`` through COPY, one row in Python at a time; the header mapped to the kind's
columns (a missing or doubled column is fatal), header and file problems into ``import_problem``."""
from __future__ import annotations

import codecs
import csv
import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from sqlalchemy import text

from app.services.household_import.base import HEADER_ALIASES, READ_BLOCK, Run

# --- reading files ---------------------------------------------------------------------------------

@dataclass
class _Source:
    format: str
    header: list
    rows: Iterator[tuple[int, list]]  # (row number as Excel shows it, values)
    total: Optional[int]  # estimated data rows (for the progress bar)
    encoding: Optional[str] = None
    separator: Optional[str] = None
    notes: list[str] = field(default_factory=list)


class _FileProblem(Exception):
    """The file cannot be read as a table; ``row`` is where it broke (None = the whole file)."""

    def __init__(self, reason: str, row: Optional[int] = None):
        super().__init__(reason)
        self.reason, self.row = reason, row


def _sniff_csv(path: Path) -> tuple[str, int, bool]:
    """(encoding, line count, whether UTF-8 failed) from one streaming pass over the bytes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, lines, last, first = True, 0, b"", True
    bom = False
    with open(path, "rb") as f:
        while chunk := f.read(READ_BLOCK):
            if first:
                bom, first = chunk.startswith(codecs.BOM_UTF8), False
            lines += chunk.count(b"\n")
            last = chunk[-1:]
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if last and last != b"\n":
        lines += 1
    encoding = ("utf-8-sig" if bom else "utf-8") if utf8 else "cp1252"
    return encoding, lines, not utf8


@contextmanager
def _open_csv(path: Path):
    encoding, lines, fell_back = _sniff_csv(path)
    notes = []
    if fell_back:
        notes.append("berkas bukan UTF-8 yang sah; dibaca sebagai Windows-1252 (ANSI, simpanan Excel Windows) — "
                      "periksa huruf beraksen pada nama dan alamat")
    with open(path, encoding=encoding, errors="replace" if fell_back else "strict", newline="") as f:
        first = f.readline()
        counts = {sep: first.count(sep) for sep in (";", ",", "\t")}
        separator = max(counts, key=counts.get) if any(counts.values()) else ","
        f.seek(0)
        reader = csv.reader(f, delimiter=separator)

        def rows():
            number = 1
            try:
                for number, values in enumerate(reader, start=2):
                    yield number, values
            except csv.Error as exc:
                raise _FileProblem(f"baris ini tidak dapat dibaca sebagai CSV ({exc}); periksa tanda kutip",
                                   number + 1)

        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise _FileProblem(f"kepala kolom tidak dapat dibaca sebagai CSV ({exc})", 1)
        if header is None:
            raise _FileProblem("berkas kosong")
        yield _Source("csv", header, rows(), max(lines - 1, 0), encoding.replace("-sig", " (BOM)")
                      .replace("utf-8", "UTF-8").replace("cp1252", "Windows-1252"),
                      {"\t": "tab"}.get(separator, separator), notes)


@contextmanager
def _open_xlsx(path: Path):
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a damaged or disguised file
        raise _FileProblem(f"berkas XLSX tidak dapat dibuka ({type(exc).__name__})")
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise _FileProblem("lembar kerja pertama kosong")
        notes = []
        if len(book.worksheets) > 1:
            notes.append(f"hanya lembar kerja pertama ('{sheet.title}') yang dibaca")
        total = (sheet.max_row - 1) if sheet.max_row else None
        yield _Source("xlsx", list(header), ((n, list(v)) for n, v in enumerate(rows, start=2)), total, notes=notes)
    finally:
        book.close()


@contextmanager
def open_table(path) -> Iterator[_Source]:
    """The file as a header and a stream of rows, whatever its format."""
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(8)
    if magic.startswith(b"PK\x03\x04"):
        opener = _open_xlsx
    elif magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise _FileProblem("format Excel lama (.xls) tidak didukung: simpan sebagai .xlsx atau CSV")
    else:
        opener = _open_csv
    with opener(path) as source:
        yield source


def _header_name(cell) -> str:
    return str(cell if cell is not None else "").strip().lstrip("\ufeff").strip().lower().replace(" ", "_")


def _cell_text(value, is_id: bool) -> Optional[str]:
    """An XLSX cell as the text the staging table takes. A NIK / No KK stored as a number
    has lost its 16th digit in Excel (15 significant digits): it is written the way Excel
    shows it (1.87101E+15), so the check reports it as mangled."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)) and is_id:
        return f"{value:.5E}".replace("E+0", "E+").replace("E-0", "E-")
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)



# --- the header and the staging table -------------------------------------------------------------

def map_header(run: Run, header: list) -> tuple[list[tuple[int, str]], list[tuple], bool]:
    """(positions of the known columns, header problems, whether they are fatal). A missing
    or doubled column stops the import; an unknown one is reported but the rows are checked;
    the columns our own exports add (``Kind.ignored``) are read past."""
    names = [_header_name(c) for c in header]
    if run.kind.name == "households":  # a DTSEN extract's names (base.HEADER_ALIASES)
        names = [HEADER_ALIASES.get(n, n) for n in names]
    while names and names[-1] == "":
        names.pop()
    known, problems, seen = set(run.kind.columns), [], {}
    positions = []
    for i, name in enumerate(names):
        raw = "" if header[i] is None else str(header[i])
        if name == "":
            problems.append((1, i, f"(kolom {i + 1})", raw, "kolom tanpa nama"))
        elif name in seen:
            problems.append((1, i, raw, raw, f"kolom ganda (juga kolom ke-{seen[name] + 1})"))
        elif name in run.kind.ignored:
            seen[name] = i  # read past, not staged
        elif name not in known:
            problems.append((1, i, raw, raw, "kolom tidak dikenal; kolom yang diterima: " +
                             ", ".join(run.kind.columns)))
        else:
            seen[name] = i
            positions.append((i, name))
    fatal = any(reason.startswith("kolom ganda") for *_, reason in problems)
    for j, name in enumerate(run.kind.required):
        if name not in seen:
            fatal = True
            problems.append((1, 1000 + j, name, "", "kolom wajib tidak ada di kepala berkas"))
    return positions, problems, fatal

def create_tables(run: Run) -> None:
    cols = ", ".join(f"{c} text" for c in run.kind.columns)
    run.sql(f"CREATE TEMP TABLE import_staging (rn bigint NOT NULL, n_fields int NOT NULL, {cols}) "
             f"ON COMMIT DROP")
    run.sql("CREATE TEMP TABLE import_problem (rn bigint, ord int, col text, value text, reason text) "
             "ON COMMIT DROP")

def add_problems(run: Run, problems: list[tuple]) -> None:
    if problems:
        run.conn.execute(text("INSERT INTO import_problem VALUES (:rn, :ord, :col, :value, :reason)"),
                          [dict(zip(("rn", "ord", "col", "value", "reason"), p)) for p in problems])

def stage(run: Run, source: _Source, positions: list[tuple[int, str]], n_header: int) -> int:
    """COPY the rows into import_staging; returns the number of non-blank rows."""
    run.present = [name for _, name in positions]
    idx = [i for i, _ in positions]
    ids = {i for i, name in positions if name in run.kind.id_columns}
    cursor = run.conn.connection.driver_connection.cursor()
    columns = ", ".join(["rn", "n_fields", *run.present])
    savepoint = run.conn.begin_nested()  # a file that breaks half-way must not abort the transaction
    try:
        count = _copy(run, cursor, columns, source, idx, ids, n_header)
    except _FileProblem:
        savepoint.rollback()
        raise
    savepoint.commit()
    cursor.close()
    run.progress("membaca", count, count)
    run.sql("ANALYZE import_staging")
    run.sql("""INSERT INTO import_problem
                SELECT rn, -1, '(jumlah kolom)', n_fields::text,
                       'baris berisi ' || n_fields || ' kolom, kepala berkas ' || :n || ' kolom'
                       || ' (periksa pemisah atau tanda kutip)'
                  FROM import_staging WHERE n_fields <> :n""", {"n": n_header})
    return count

def _copy(run: Run, cursor, columns: str, source: _Source, idx: list[int], ids: set[int], n_header: int) -> int:
    xlsx = source.format == "xlsx"
    every = idx == list(range(n_header))  # the usual file: every column known, in place
    total, count, next_report = source.total, 0, 0
    with cursor.copy(f"COPY import_staging ({columns}) FROM STDIN") as copy:
        for number, values in source.rows:
            if not xlsx and every and len(values) == n_header and values[0].strip():
                copy.write_row((number, n_header, *values))  # fast path of the loop below
            elif xlsx:
                values = [_cell_text(v, i in ids) for i, v in enumerate(values)]
                while values and (values[-1] is None or values[-1] == ""):
                    values.pop()
                if not values:
                    continue
                n_fields = len(values) if len(values) > n_header else n_header
                width = len(values)
                copy.write_row((number, n_fields, *[values[i] if i < width else None for i in idx]))
            else:
                if not "".join(values).strip():
                    continue
                width = len(values)
                copy.write_row((number, width, *[values[i] if i < width else None for i in idx]))
            count += 1
            if count >= next_report:
                run.progress("membaca", count, total)
                next_report = count + 10_000
    return count

