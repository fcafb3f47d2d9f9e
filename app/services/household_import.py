"""Import of BDT households, household members and program enrolments from CSV / XLSX:
the ONE engine behind ``flask --app run households import`` and the web upload.

How it works, in constant memory whatever the size of the file:

1. **Read**: the file is streamed row by row (CSV: ``,`` or ``;`` detected, UTF-8 with or
   without BOM, Windows-1252 when the bytes are not UTF-8; XLSX: openpyxl read-only) into
   a TEMP staging table of text columns through ``COPY`` (psycopg 3 ``cursor.copy``). Only
   one row is held in Python at a time; each row keeps its row number as Excel shows it
   (the header is row 1).
2. **Check**: set-based SQL over the staging table: regexes for NIK / No KK (16 digits,
   numbers mangled by Excel, impossible dates), a join to the villages (unknown code,
   outside the importer's regency), a grouping for duplicates inside the file, and for
   points the spatial join to the villages — first the declared village (the rule lets it
   win anyway, and a run of points against one polygon is what PostGIS caches), else the
   GiST index ``idx_village_geom`` — falling back to ``ST_Covers`` against the province
   (outside Lampung, latitude/longitude swapped). Every problem becomes a report row: row,
   column, value, reason in Indonesian (the report is a document for the operator).
3. **Write** (not in a dry run, and only when no row was rejected): one
   ``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... IS DISTINCT FROM`` counting inserted,
   updated and unchanged rows, then the audit rows: one per inserted or updated row (a
   create with the new row, an update with the changed columns before and after, as the
   ORM event writes them; unchanged rows get none) built and hash-chained in SQL
   (audit.record_select), and ONE summary row naming the file — all in the same transaction
   as steps 1 and 2, so an error or a killed process leaves the database as it was.

Households are geolocated in step 2 with the rule of the ``household_locate`` trigger
(migrations 0003, and ``gis.queries.LOCATE_SQL``: the village whose polygon holds the
point; where villages overlap the declared village wins), so the upsert writes
``located_village_id`` / ``location_status`` directly; the trigger is disabled inside the
transaction for that statement (a million rows would otherwise pay a PL/pgSQL call each).
``ALTER TABLE ... DISABLE TRIGGER`` takes a SHARE ROW EXCLUSIVE lock: readers go on,
other writers of ``household`` wait for the import to commit — which also serialises two
imports, so their checks cannot go stale. The lock is taken before the checks of a commit.

Scope: the importer's ``Scope`` (app.security.scope) decides the villages a household may
be placed in (``choosable_areas``) and the existing households, members and enrolments
it may change (``predicate(..., write=True)``); rows outside are rejected in the report.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import logging
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from app.models.areas import Regency, Village
from app.models.households import ENROLMENT_STATUSES, RELATIONSHIPS, Household
from app.models.programs import Program
from app.security.scope import Scope, choosable_areas, predicate

log = logging.getLogger(__name__)

PROVINCE_CODE = "18"  # Lampung
PREVIEW_ROWS = 200  # problems kept in the summary for the screen
XLSX_MAX_ROWS = 1_048_576
READ_BLOCK = 1 << 20
EVERYTHING = Scope("all")

Progress = Callable[[str, int, Optional[int]], None]  # (phase, rows done, rows in all or None)


# --- the three kinds of file -------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    name: str
    required: tuple[str, ...]  # columns the header must have
    optional: tuple[str, ...]  # columns that may be absent (their values may be empty)
    id_columns: tuple[str, ...]  # NIK / No KK columns (numbers from Excel are suspicious)
    entity: str  # the table written, for the audit row
    label: str
    # Columns Sinergi's own exports add for people (app/list_exports.py: village name,
    # kecamatan, ...): read past without a word, so an exported file imports as it is.
    ignored: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


KINDS: dict[str, Kind] = {
    "households": Kind("households", ("no_kk", "nik_kepala", "nama_kepala", "kode_desa", "desil", "jumlah_anggota"),
                       ("alamat", "rt", "rw", "lintang", "bujur", "sumber"), ("no_kk", "nik_kepala"),
                       "household", "rumah tangga",
                       ("nama_desa", "kecamatan", "kabupaten_kota", "status_lokasi", "kode_desa_titik")),
    "members": Kind("members", ("no_kk", "nik", "nama", "jenis_kelamin"), ("tanggal_lahir", "hubungan"),
                    ("no_kk", "nik"), "household_member", "anggota rumah tangga",
                    ("nama_kepala", "kode_desa", "nama_desa")),
    "enrolments": Kind("enrolments", ("no_kk", "kode_program", "tahun"), ("status", "nilai"), ("no_kk",),
                       "enrolment", "kepesertaan program",
                       ("nama_program", "tanggal", "nama_kepala", "desil", "kode_desa", "nama_desa")),
}


class ImportFailed(Exception):
    """The import could not run to its end (a database error, a failure injected in a test).
    Nothing was written. The message is for people."""


# --- the result ----------------------------------------------------------------------------------

@dataclass
class ImportResult:
    kind: str
    dry_run: bool
    filename: str
    format: str = ""
    encoding: Optional[str] = None
    separator: Optional[str] = None
    rows: int = 0  # data rows read (blank rows skipped)
    rejected: int = 0  # rows with at least one problem
    problems: int = 0  # problem lines in the report (header problems included)
    inserted: int = 0  # in a dry run: would be inserted
    updated: int = 0
    unchanged: int = 0
    committed: bool = False
    fatal: bool = False  # the file could not be read as a table of the kind (nothing checked)
    notes: list[str] = field(default_factory=list)
    locations: dict[str, int] = field(default_factory=dict)  # location_status -> households
    report_path: Optional[str] = None
    preview: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.fatal and self.problems == 0

    def summary(self) -> dict:
        """JSON for ImportJob.summary."""
        return asdict(self)

    def lines(self) -> list[str]:
        """The summary in Indonesian, for the command line."""
        label = KINDS[self.kind].label
        fmt = self.format.upper() + (f", {self.encoding}" if self.encoding else "") + \
            (f", pemisah '{self.separator}'" if self.separator else "")
        out = [f"{self.filename} ({fmt}): {self.rows} baris {label} dibaca"]
        out += [f"catatan: {note}" for note in self.notes]
        verb = "akan " if self.dry_run or not self.committed else ""
        counts = (f"{verb}ditambah {self.inserted}, {verb}diubah {self.updated}, tetap {self.unchanged}, "
                  f"ditolak {self.rejected}")
        if self.fatal:
            out.append(f"berkas tidak dapat diimpor: {self.problems} masalah pada kepala kolom atau berkas")
        else:
            out.append(counts)
        if self.locations:
            out.append("status lokasi: " + ", ".join(f"{k} {v}" for k, v in sorted(self.locations.items())))
        if self.committed:
            out.append("TERSIMPAN: semua baris ditulis dalam satu transaksi")
        elif self.dry_run:
            out.append("uji coba (dry run): tidak ada yang ditulis" +
                       ("" if self.ok else f"; {self.problems} masalah harus diperbaiki dulu"))
        else:
            out.append(f"TIDAK ADA YANG DITULIS: {self.problems} masalah pada {self.rejected} baris "
                       f"(satu baris salah membatalkan seluruh berkas)")
        return out


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


# --- SQL building blocks ---------------------------------------------------------------------------

def _q(value: str) -> str:
    """A SQL string literal (for the fixed Indonesian texts and names put into the SQL)."""
    return "'" + str(value).replace("'", "''") + "'"


def _sql(statement) -> str:
    """A SQLAlchemy select (from app.security.scope) as literal SQL, to embed in the set-based
    statements below; its parameters are ids only."""
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def _in_scope_sql(id_sql: str, model, scope: Scope) -> str:
    """SQL: whether the existing row ``id_sql`` of ``model`` lies in the scope's write area."""
    pred = predicate(model, scope, write=True)
    if pred is None:
        return "true"
    return f"({id_sql} IN ({_sql(select(model.id).where(pred))}))"


def _id_reason(col: str, is_nik: bool) -> str:
    """SQL: why a NIK / No KK is wrong, or NULL — the rules of validation.check_id_number."""
    day = f"substr({col}, 7, 2)::int"
    if is_nik:  # women: day + 40
        day = f"({day} - CASE WHEN {day} > 40 THEN 40 ELSE 0 END)"
    month = f"substr({col}, 9, 2)::int"
    what = "tanggal lahir dalam NIK mustahil" if is_nik else "tanggal dalam No KK mustahil"
    return f"""CASE
        WHEN {col} ~ '^[0-9]{{16}}$' THEN CASE
            WHEN {month} NOT BETWEEN 1 AND 12
              OR {day} NOT BETWEEN 1 AND (ARRAY[31,29,31,30,31,30,31,31,30,31,30,31])[{month}]
            THEN '{what} (' || substr({col}, 7, 2) || '-' || substr({col}, 9, 2) || '-' || substr({col}, 11, 2) || ')'
            END
        WHEN {col} IS NULL THEN 'wajib diisi'
        WHEN {col} ~ '^[0-9.,]+[eE][+-]?[0-9]+$' THEN 'diubah menjadi angka oleh Excel (' || {col}
             || '); format kolom sebagai Teks lalu ketik ulang nomornya'
        ELSE 'harus 16 digit (berisi ' || length({col}) || ' karakter'
             || CASE WHEN {col} ~ '[^0-9]' THEN ', ada yang bukan angka' ELSE '' END || ')'
    END"""


def _clean(col: str) -> str:
    return f"NULLIF(btrim({col}), '')"


def _clean_id(col: str) -> str:
    # Excel's text prefix (') and spaces around are not part of the number.
    return f"NULLIF(btrim(ltrim(btrim({col}), '''')), '')"


NUMBER = r"'^[+-]?[0-9]+([.,][0-9]+)?$'"
WHOLE = r"'^[0-9]{1,9}([.,]0+)?$'"


def _whole(col: str) -> str:
    return f"CASE WHEN {col} ~ {WHOLE} THEN split_part(replace({col}, ',', '.'), '.', 1)::bigint END"


def _too_long(col: str, n: int) -> str:
    return f"CASE WHEN length({col}) > {n} THEN 'terlalu panjang (paling banyak {n} karakter)' END"


# --- the engine -------------------------------------------------------------------------------------

class _Importer:
    def __init__(self, conn: Connection, kind: Kind, scope: Scope, result: ImportResult, progress: Progress):
        self.conn, self.kind, self.scope, self.result, self.progress = conn, kind, scope, result, progress
        self.present: list[str] = []

    def sql(self, statement: str, params: Optional[dict] = None):
        return self.conn.execute(text(statement), params or {})

    # 1. header and staging ------------------------------------------------------------------
    def map_header(self, header: list) -> tuple[list[tuple[int, str]], list[tuple], bool]:
        """(positions of the known columns, header problems, whether they are fatal). A missing
        or doubled column stops the import; an unknown one is reported but the rows are checked;
        the columns our own exports add (``Kind.ignored``) are read past."""
        names = [_header_name(c) for c in header]
        while names and names[-1] == "":
            names.pop()
        known, problems, seen = set(self.kind.columns), [], {}
        positions = []
        for i, name in enumerate(names):
            raw = "" if header[i] is None else str(header[i])
            if name == "":
                problems.append((1, i, f"(kolom {i + 1})", raw, "kolom tanpa nama"))
            elif name in seen:
                problems.append((1, i, raw, raw, f"kolom ganda (juga kolom ke-{seen[name] + 1})"))
            elif name in self.kind.ignored:
                seen[name] = i  # read past, not staged
            elif name not in known:
                problems.append((1, i, raw, raw, "kolom tidak dikenal; kolom yang diterima: " +
                                 ", ".join(self.kind.columns)))
            else:
                seen[name] = i
                positions.append((i, name))
        fatal = any(reason.startswith("kolom ganda") for *_, reason in problems)
        for j, name in enumerate(self.kind.required):
            if name not in seen:
                fatal = True
                problems.append((1, 1000 + j, name, "", "kolom wajib tidak ada di kepala berkas"))
        return positions, problems, fatal

    def create_tables(self) -> None:
        cols = ", ".join(f"{c} text" for c in self.kind.columns)
        self.sql(f"CREATE TEMP TABLE import_staging (rn bigint NOT NULL, n_fields int NOT NULL, {cols}) "
                 f"ON COMMIT DROP")
        self.sql("CREATE TEMP TABLE import_problem (rn bigint, ord int, col text, value text, reason text) "
                 "ON COMMIT DROP")

    def add_problems(self, problems: list[tuple]) -> None:
        if problems:
            self.conn.execute(text("INSERT INTO import_problem VALUES (:rn, :ord, :col, :value, :reason)"),
                              [dict(zip(("rn", "ord", "col", "value", "reason"), p)) for p in problems])

    def stage(self, source: _Source, positions: list[tuple[int, str]], n_header: int) -> int:
        """COPY the rows into import_staging; returns the number of non-blank rows."""
        self.present = [name for _, name in positions]
        idx = [i for i, _ in positions]
        ids = {i for i, name in positions if name in self.kind.id_columns}
        cursor = self.conn.connection.driver_connection.cursor()
        columns = ", ".join(["rn", "n_fields", *self.present])
        savepoint = self.conn.begin_nested()  # a file that breaks half-way must not abort the transaction
        try:
            count = self._copy(cursor, columns, source, idx, ids, n_header)
        except _FileProblem:
            savepoint.rollback()
            raise
        savepoint.commit()
        cursor.close()
        self.progress("membaca", count, count)
        self.sql("ANALYZE import_staging")
        self.sql("""INSERT INTO import_problem
                    SELECT rn, -1, '(jumlah kolom)', n_fields::text,
                           'baris berisi ' || n_fields || ' kolom, kepala berkas ' || :n || ' kolom'
                           || ' (periksa pemisah atau tanda kutip)'
                      FROM import_staging WHERE n_fields <> :n""", {"n": n_header})
        return count

    def _copy(self, cursor, columns: str, source: _Source, idx: list[int], ids: set[int], n_header: int) -> int:
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
                    self.progress("membaca", count, total)
                    next_report = count + 10_000
        return count

    # 2. checks, per kind -------------------------------------------------------------------------
    def problems(self, checks: list[tuple[int, str, str, str]]) -> None:
        """Add a report row for every (order, column, value SQL, reason SQL) whose reason is not
        NULL, over import_row ``r``. The reasons are computed once per row (arrays unnested by a
        function scan; a LATERAL VALUES list would rebuild its expressions for every row)."""
        ords = ", ".join(str(o) for o, _, _, _ in checks)
        cols = ", ".join(_q(c) for _, c, _, _ in checks)
        values = ", ".join(f"({v})::text" for _, _, v, _ in checks)
        reasons = ", ".join(f"({r})::text" for _, _, _, r in checks)
        self.sql(f"""
            INSERT INTO import_problem (rn, ord, col, value, reason)
            SELECT x.rn, c.ord, c.col, c.value, c.reason
              FROM (SELECT rn, ARRAY[{values}] AS vals, ARRAY[{reasons}] AS reasons
                      FROM import_row r OFFSET 0) x
             CROSS JOIN LATERAL unnest(ARRAY[{ords}], ARRAY[{cols}]::text[], x.vals, x.reasons)
                   AS c(ord, col, value, reason)
             WHERE cardinality(array_remove(x.reasons, NULL)) > 0 AND c.reason IS NOT NULL""")

    def areas(self) -> None:
        """import_village: every village with its regency, whether it lies in Lampung, and whether
        the importer may place households there (app.security.scope.choosable_areas)."""
        pred = choosable_areas(Village, self.scope, write=True)
        allowed = "true" if pred is None else f"v.id IN ({_sql(select(Village.id).where(pred))})"
        self.sql(f"""
            CREATE TEMP TABLE import_village ON COMMIT DROP AS
            SELECT v.id, v.code, d.regency_id, r.code AS regency_code, r.name AS regency_name,
                   (p.code = {_q(PROVINCE_CODE)}) AS in_province, {allowed} AS allowed
              FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
              JOIN province p ON p.id = r.province_id""")
        self.sql("CREATE UNIQUE INDEX ON import_village (code)")
        self.sql("CREATE UNIQUE INDEX ON import_village (id)")
        self.sql("ANALYZE import_village")

    def scope_name(self) -> str:
        if self.scope.kind == "regency":
            name = self.conn.execute(select(Regency.name).where(Regency.id == self.scope.regency_id)).scalar()
            return name or "Anda"
        return "Anda"

    def check_households(self) -> None:
        self.areas()
        region = self.scope_name()
        writable = _in_scope_sql("h.id", Household, self.scope)
        # s: trimmed text; p: parsed, with the declared village, the existing household and the
        # first row of a No KK met twice; q: the point, rows ordered by village; l: the located
        # village — the declared one when it holds the point (that rule wins anyway, and a run of
        # points against one polygon is what PostGIS caches), else the lowest id whose polygon
        # holds it (idx_village_geom). Same rule as the trigger household_locate.
        self.sql(f"""
            CREATE TEMP TABLE import_row ON COMMIT DROP AS
            WITH s AS MATERIALIZED (
                SELECT rn, {_clean_id('no_kk')} AS no_kk, {_clean_id('nik_kepala')} AS nik_kepala,
                       {_clean('nama_kepala')} AS nama_kepala, {_clean('alamat')} AS alamat,
                       NULLIF({_clean('rt')}, '-') AS rt, NULLIF({_clean('rw')}, '-') AS rw,
                       {_clean('kode_desa')} AS kode_desa, {_clean('desil')} AS desil,
                       {_clean('jumlah_anggota')} AS jumlah_anggota, {_clean('lintang')} AS lintang,
                       {_clean('bujur')} AS bujur, {_clean('sumber')} AS sumber
                  FROM import_staging),
            dup AS MATERIALIZED (
                SELECT no_kk, min(rn) AS first_rn FROM s WHERE no_kk IS NOT NULL GROUP BY no_kk HAVING count(*) > 1),
            p AS MATERIALIZED (
                SELECT s.*,
                       CASE WHEN s.lintang ~ {NUMBER} THEN replace(s.lintang, ',', '.')::float8 END AS lat,
                       CASE WHEN s.bujur ~ {NUMBER} THEN replace(s.bujur, ',', '.')::float8 END AS lon,
                       {_whole('s.desil')} AS desil_n, {_whole('s.jumlah_anggota')} AS anggota_n,
                       CASE WHEN s.rt ~ '^[0-9]{{1,3}}$' THEN lpad(s.rt, 3, '0') ELSE s.rt END AS rt3,
                       CASE WHEN s.rw ~ '^[0-9]{{1,3}}$' THEN lpad(s.rw, 3, '0') ELSE s.rw END AS rw3,
                       v.id AS village_id, v.allowed AS village_allowed,
                       h.id AS existing_id, CASE WHEN h.id IS NOT NULL THEN {writable} END AS existing_writable,
                       COALESCE(s.sumber, h.source, 'BDT') AS source_final,
                       COALESCE(dup.first_rn, s.rn) AS kk_first
                  FROM s
                  LEFT JOIN import_village v
                         ON v.code = regexp_replace(s.kode_desa, '^([0-9]{{2}})([0-9]{{2}})([0-9]{{2}})([0-9]{{4}})$',
                                                    '\\1.\\2.\\3.\\4')
                  LEFT JOIN household h ON h.no_kk = s.no_kk
                  LEFT JOIN dup ON dup.no_kk = s.no_kk),
            q AS MATERIALIZED (
                SELECT p.*, CASE WHEN p.lat BETWEEN -90 AND 90 AND p.lon BETWEEN -180 AND 180
                                 THEN ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) END AS pt
                  FROM p ORDER BY p.village_id),
            l AS MATERIALIZED (
                SELECT q.*, CASE WHEN q.pt IS NULL THEN NULL
                                 WHEN ST_Intersects(dv.geom, q.pt) THEN dv.id
                                 ELSE (SELECT v.id FROM village v WHERE ST_Intersects(v.geom, q.pt)
                                        ORDER BY v.id LIMIT 1) END AS located_village_id
                  FROM q LEFT JOIN village dv ON dv.id = q.village_id)
            SELECT l.*, COALESCE(iv.in_province, false) AS located_in_province,
                   CASE WHEN l.pt IS NULL THEN 'tanpa_titik' WHEN l.located_village_id IS NULL THEN 'di_luar_wilayah'
                        WHEN l.located_village_id = l.village_id THEN 'cocok' ELSE 'beda_desa' END AS location_status
              FROM l LEFT JOIN import_village iv ON iv.id = l.located_village_id""")
        province = f"(SELECT geom FROM province WHERE code = {_q(PROVINCE_CODE)})"
        where = "'(lintang ' || lintang || ', bujur ' || bujur || ')'"
        outside = _q(f"desa di luar wilayah {region}")
        self.problems([
            (1, "no_kk", "r.no_kk", f"""COALESCE({_id_reason('r.no_kk', False)},
                CASE WHEN r.kk_first < r.rn THEN 'No KK ganda di dalam berkas (juga di baris ' || r.kk_first || ')'
                     WHEN NOT r.existing_writable
                     THEN {_q('No KK sudah terdaftar pada rumah tangga di luar wilayah ' + region)} END)"""),
            (2, "nik_kepala", "r.nik_kepala", _id_reason("r.nik_kepala", True)),
            (3, "nama_kepala", "r.nama_kepala", f"""CASE WHEN r.nama_kepala IS NULL THEN 'wajib diisi'
                ELSE {_too_long('r.nama_kepala', 150)} END"""),
            (5, "rt", "r.rt", "CASE WHEN r.rt !~ '^[0-9]{1,3}$' THEN 'harus angka 1 sampai 3 digit' END"),
            (6, "rw", "r.rw", "CASE WHEN r.rw !~ '^[0-9]{1,3}$' THEN 'harus angka 1 sampai 3 digit' END"),
            (7, "kode_desa", "r.kode_desa", f"""CASE
                WHEN r.village_id IS NOT NULL THEN CASE WHEN NOT r.village_allowed THEN {outside} END
                WHEN r.kode_desa IS NULL THEN 'wajib diisi'
                WHEN r.kode_desa !~ '^([0-9]{{2}}\\.[0-9]{{2}}\\.[0-9]{{2}}\\.[0-9]{{4}}|[0-9]{{10}})$'
                     THEN 'format kode desa salah (contoh 18.07.01.2001)'
                ELSE 'kode desa tidak dikenal' END"""),
            (8, "desil", "r.desil", """CASE WHEN r.desil IS NULL THEN 'wajib diisi'
                WHEN r.desil_n IS NULL OR r.desil_n NOT BETWEEN 1 AND 4
                THEN 'harus bilangan bulat 1 sampai 4 (tertulis ' || r.desil || ')' END"""),
            (9, "jumlah_anggota", "r.jumlah_anggota", """CASE WHEN r.jumlah_anggota IS NULL THEN 'wajib diisi'
                WHEN r.anggota_n IS NULL OR r.anggota_n NOT BETWEEN 1 AND 99
                THEN 'harus bilangan bulat 1 sampai 99' END"""),
            (10, "lintang", "r.lintang", """CASE WHEN r.lintang IS NULL AND r.bujur IS NOT NULL
                THEN 'wajib diisi bila bujur diisi' WHEN r.lintang IS NOT NULL AND r.lat IS NULL
                THEN 'bukan angka desimal (contoh -5,4291 atau -5.4291)' END"""),
            (11, "bujur", "r.bujur", """CASE WHEN r.bujur IS NULL AND r.lintang IS NOT NULL
                THEN 'wajib diisi bila lintang diisi' WHEN r.bujur IS NOT NULL AND r.lon IS NULL
                THEN 'bukan angka desimal (contoh 105,2618 atau 105.2618)' END"""),
            (12, "lintang/bujur", "r.lintang || ' ; ' || r.bujur", f"""CASE
                WHEN r.lat IS NULL OR r.lon IS NULL OR r.located_in_province THEN NULL
                WHEN r.pt IS NOT NULL AND ST_Covers({province}, r.pt) THEN NULL
                WHEN r.lon BETWEEN -90 AND 90 AND r.lat BETWEEN -180 AND 180
                     AND ST_Covers({province}, ST_SetSRID(ST_MakePoint(r.lat, r.lon), 4326))
                     THEN 'lintang dan bujur tertukar: titik di luar Lampung, di dalam Lampung bila ditukar ' || {where}
                WHEN r.pt IS NULL THEN 'bukan koordinat yang sah ' || {where}
                ELSE 'titik di luar Lampung ' || {where} END"""),
            (13, "sumber", "r.sumber", _too_long("r.sumber", 50)),
        ])

    HOUSEHOLD_COLUMNS = (  # (household column, import_row expression)
        ("head_nik", "nik_kepala"), ("head_name", "nama_kepala"), ("address", "alamat"), ("rt", "rt3"),
        ("rw", "rw3"), ("village_id", "village_id"), ("desil", "desil_n::int"), ("member_count", "anggota_n::int"),
        ("location", "pt"), ("source", "source_final"), ("located_village_id", "located_village_id"),
        ("location_status", "location_status"))

    def write_households(self) -> tuple[int, int]:
        self.sql("ALTER TABLE household DISABLE TRIGGER household_locate")
        counts = self._upsert("household", "no_kk", "no_kk", self.HOUSEHOLD_COLUMNS, "ON CONFLICT (no_kk)")
        self.sql("ALTER TABLE household ENABLE TRIGGER household_locate")
        return counts

    def check_members(self) -> None:
        from app.models.households import HouseholdMember

        writable = _in_scope_sql("h.id", Household, self.scope)
        member_writable = _in_scope_sql("m.id", HouseholdMember, self.scope)
        aliases = {"l": "L", "lk": "L", "laki-laki": "L", "laki laki": "L", "laki": "L", "pria": "L", "1": "L",
                   "p": "P", "pr": "P", "perempuan": "P", "wanita": "P", "2": "P"}
        sex_case = "CASE lower(s.jenis_kelamin) " + " ".join(f"WHEN {_q(k)} THEN {_q(v)}" for k, v in aliases.items()) \
            + " END"
        relation_aliases = {**{r: r for r in RELATIONSHIPS}, "suami": "istri/suami", "istri": "istri/suami",
                            "suami/istri": "istri/suami", "kepala keluarga": "kepala", "kepala rumah tangga": "kepala",
                            "orangtua": "orang tua", "famili": "famili lain", "lain-lain": "lainnya",
                            "lain": "lainnya"}
        rel_case = "CASE lower(s.hubungan) " + " ".join(
            f"WHEN {_q(k)} THEN {_q(v)}" for k, v in relation_aliases.items()) + " END"
        self.sql(f"""
            CREATE TEMP TABLE import_row ON COMMIT DROP AS
            WITH s AS MATERIALIZED (
                SELECT rn, {_clean_id('no_kk')} AS no_kk, {_clean_id('nik')} AS nik, {_clean('nama')} AS nama,
                       {_clean('jenis_kelamin')} AS jenis_kelamin, {_clean('tanggal_lahir')} AS tanggal_lahir,
                       {_clean('hubungan')} AS hubungan
                  FROM import_staging),
            d AS MATERIALIZED (
                SELECT s.*, {sex_case} AS sex, COALESCE({rel_case}, CASE WHEN s.hubungan IS NULL THEN 'lainnya' END)
                       AS relationship,
                       CASE WHEN s.tanggal_lahir ~ '^[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}$'
                            THEN regexp_match(s.tanggal_lahir, '^([0-9]{{4}})-([0-9]{{1,2}})-([0-9]{{1,2}})$')
                            WHEN s.tanggal_lahir ~ '^[0-9]{{1,2}}[-/.][0-9]{{1,2}}[-/.][0-9]{{4}}$'
                            THEN (SELECT ARRAY[m[3], m[2], m[1]] FROM regexp_match(s.tanggal_lahir,
                                  '^([0-9]{{1,2}})[-/.]([0-9]{{1,2}})[-/.]([0-9]{{4}})$') AS m) END AS ymd,
                       h.id AS household_id, CASE WHEN h.id IS NOT NULL THEN {writable} END AS household_writable,
                       CASE WHEN s.no_kk IS NULL OR s.nik IS NULL THEN s.rn
                            ELSE min(s.rn) OVER (PARTITION BY s.no_kk, s.nik) END AS first_rn
                  FROM s LEFT JOIN household h ON h.no_kk = s.no_kk),
            e AS (
                SELECT d.*, d.ymd[1]::int AS y, d.ymd[2]::int AS mo, d.ymd[3]::int AS dd FROM d)
            SELECT e.*, m.id AS existing_id,
                   CASE WHEN m.id IS NOT NULL THEN {member_writable} END AS existing_writable,
                   CASE WHEN e.y >= 1 AND e.mo BETWEEN 1 AND 12 AND e.dd BETWEEN 1 AND
                             CASE WHEN e.mo = 2 AND (e.y % 4 = 0 AND (e.y % 100 <> 0 OR e.y % 400 = 0)) THEN 29
                                  ELSE (ARRAY[31,28,31,30,31,30,31,31,30,31,30,31])[e.mo] END
                        THEN make_date(e.y, e.mo, e.dd) END AS birth_date
              FROM e LEFT JOIN household_member m ON m.household_id = e.household_id AND m.nik = e.nik""")
        self.problems([
            (1, "no_kk", "r.no_kk", f"""COALESCE({_id_reason('r.no_kk', False)}, CASE
                WHEN r.household_id IS NULL THEN 'No KK tidak terdaftar (impor rumah tangganya dulu)'
                WHEN NOT r.household_writable OR NOT r.existing_writable
                     THEN {_q('rumah tangga di luar wilayah ' + self.scope_name())} END)"""),
            (2, "nik", "r.nik", f"""COALESCE({_id_reason('r.nik', True)}, CASE WHEN r.first_rn < r.rn
                THEN 'NIK ganda untuk No KK yang sama di dalam berkas (juga di baris ' || r.first_rn || ')' END)"""),
            (3, "nama", "r.nama", f"CASE WHEN r.nama IS NULL THEN 'wajib diisi' ELSE {_too_long('r.nama', 150)} END"),
            (4, "jenis_kelamin", "r.jenis_kelamin", """CASE WHEN r.jenis_kelamin IS NULL THEN 'wajib diisi'
                WHEN r.sex IS NULL THEN 'harus L (laki-laki) atau P (perempuan)' END"""),
            (5, "tanggal_lahir", "r.tanggal_lahir", """CASE WHEN r.tanggal_lahir IS NULL THEN NULL
                WHEN r.ymd IS NULL THEN 'bukan tanggal (tulis 2001-08-17 atau 17-08-2001)'
                WHEN r.birth_date IS NULL THEN 'tanggal mustahil'
                WHEN r.birth_date > current_date THEN 'tanggal di masa depan'
                WHEN r.y < 1900 THEN 'tahun sebelum 1900' END"""),
            (6, "hubungan", "r.hubungan", f"""CASE WHEN r.relationship IS NULL
                THEN {_q('hubungan tidak dikenal; pilihan: ' + ', '.join(RELATIONSHIPS))} END"""),
        ])

    MEMBER_COLUMNS = (("name", "nama"), ("sex", "sex"), ("birth_date", "birth_date"),
                      ("relationship_to_head", "relationship"))

    def write_members(self) -> tuple[int, int]:
        return self._upsert("household_member", "household_id, nik", "household_id, nik", self.MEMBER_COLUMNS,
                            "ON CONFLICT ON CONSTRAINT uq_household_member_household_nik")

    def check_enrolments(self) -> None:
        from app.models.households import Enrolment

        if self.scope.kind == "agency":  # an agency enrols into its own programs only
            program_ok = _in_scope_sql("pr.id", Program, self.scope)
            household_ok = "true"
        else:
            program_ok = "true"
            household_ok = _in_scope_sql("h.id", Household, self.scope)
        enrolment_writable = _in_scope_sql("en.id", Enrolment, self.scope)
        money = "regexp_replace(s.nilai, '^[Rr][Pp]\\.?\\s*', '')"
        self.sql(f"""
            CREATE TEMP TABLE import_row ON COMMIT DROP AS
            WITH s AS MATERIALIZED (
                SELECT rn, {_clean_id('no_kk')} AS no_kk, upper({_clean('kode_program')}) AS kode_program,
                       {_clean('tahun')} AS tahun, lower({_clean('status')}) AS status, {_clean('nilai')} AS nilai
                  FROM import_staging),
            m AS MATERIALIZED (
                SELECT s.*, {money} AS money FROM s),
            d AS MATERIALIZED (
                SELECT m.*, {_whole('m.tahun')} AS year_n,
                       CASE WHEN m.money ~ '^[0-9]+([.,][0-9]{{1,2}})?$' THEN replace(m.money, ',', '.')::numeric
                            WHEN m.money ~ '^[0-9]{{1,3}}(\\.[0-9]{{3}})+(,[0-9]{{1,2}})?$'
                                 THEN replace(replace(m.money, '.', ''), ',', '.')::numeric
                            WHEN m.money ~ '^[0-9]{{1,3}}(,[0-9]{{3}})+(\\.[0-9]{{1,2}})?$'
                                 THEN replace(m.money, ',', '')::numeric END AS value_n,
                       h.id AS household_id, CASE WHEN h.id IS NOT NULL THEN {household_ok} END AS household_writable,
                       pr.id AS program_id, pr.fiscal_year, CASE WHEN pr.id IS NOT NULL THEN {program_ok} END
                       AS program_writable
                  FROM m LEFT JOIN household h ON h.no_kk = m.no_kk
                         LEFT JOIN program pr ON upper(pr.code) = m.kode_program)
            SELECT d.*, COALESCE(d.status, 'usulan') AS status_final, en.id AS existing_id,
                   CASE WHEN en.id IS NOT NULL THEN {enrolment_writable} END AS existing_writable,
                   CASE WHEN d.no_kk IS NULL OR d.kode_program IS NULL OR d.tahun IS NULL THEN d.rn
                        ELSE min(d.rn) OVER (PARTITION BY d.no_kk, d.kode_program, d.tahun) END AS first_rn
              FROM d LEFT JOIN enrolment en ON en.household_id = d.household_id AND en.program_id = d.program_id
                                           AND en.year = d.year_n""")
        self.problems([
            (1, "no_kk", "r.no_kk", f"""COALESCE({_id_reason('r.no_kk', False)}, CASE
                WHEN r.household_id IS NULL THEN 'No KK tidak terdaftar (impor rumah tangganya dulu)'
                WHEN NOT r.household_writable OR NOT r.existing_writable
                     THEN {_q('rumah tangga di luar wilayah ' + self.scope_name())}
                WHEN r.first_rn < r.rn THEN 'kepesertaan ganda di dalam berkas (juga di baris ' || r.first_rn || ')'
                END)"""),
            (2, "kode_program", "r.kode_program", """CASE WHEN r.kode_program IS NULL THEN 'wajib diisi'
                WHEN r.program_id IS NULL THEN 'kode program tidak dikenal'
                WHEN NOT r.program_writable THEN 'program bukan milik OPD Anda' END"""),
            (3, "tahun", "r.tahun", """CASE WHEN r.tahun IS NULL THEN 'wajib diisi'
                WHEN r.year_n IS NULL THEN 'harus tahun (4 digit)'
                WHEN r.fiscal_year IS NOT NULL AND r.year_n <> r.fiscal_year
                THEN 'program ' || r.kode_program || ' untuk tahun anggaran ' || r.fiscal_year || ', bukan '
                     || r.year_n END"""),
            (4, "status", "r.status", f"""CASE WHEN r.status IS NOT NULL
                AND r.status NOT IN ({", ".join(_q(s) for s in ENROLMENT_STATUSES)})
                THEN {_q('status tidak dikenal; pilihan: ' + ', '.join(ENROLMENT_STATUSES))} END"""),
            (5, "nilai", "r.nilai", """CASE WHEN r.nilai IS NULL THEN NULL
                WHEN r.money ~ '^-' THEN 'tidak boleh negatif'
                WHEN r.value_n IS NULL THEN 'bukan jumlah rupiah (contoh 1500000 atau 1.500.000,00)'
                WHEN r.value_n >= 1e16 THEN 'terlalu besar' END"""),
        ])

    ENROLMENT_COLUMNS = (("status", "status_final"), ("benefit_value", "value_n"))

    def write_enrolments(self) -> tuple[int, int]:
        return self._upsert("enrolment", "household_id, program_id, year", "household_id, program_id, year_n",
                            self.ENROLMENT_COLUMNS, "ON CONFLICT ON CONSTRAINT uq_enrolment_household_program_year")

    # 3. counting and writing -------------------------------------------------------------------
    def predicted(self, table: str, columns) -> tuple[int, int, int]:
        """(insert, update, unchanged) the upsert would do, from the same column list."""
        target = ", ".join(f"t.{c}" for c, _ in columns)
        source = ", ".join(f"r.{e}" for _, e in columns)
        row = self.sql(f"""
            SELECT count(*) FILTER (WHERE r.existing_id IS NULL),
                   count(*) FILTER (WHERE r.existing_id IS NOT NULL AND ({target}) IS DISTINCT FROM ({source})),
                   count(*) FILTER (WHERE r.existing_id IS NOT NULL AND ({target}) IS NOT DISTINCT FROM ({source}))
              FROM import_row r LEFT JOIN {table} t ON t.id = r.existing_id
             WHERE NOT EXISTS (SELECT 1 FROM import_problem p WHERE p.rn = r.rn)""").one()
        return tuple(int(x) for x in row)

    def _upsert(self, table: str, key_cols: str, key_exprs: str, columns, conflict: str) -> tuple[int, int]:
        """One INSERT ... ON CONFLICT DO UPDATE, only where something differs; (inserted, updated).

        It also fills ``import_audit`` with what the audit trail records per changed row, as the
        ORM event would (app/services/audit.py): a create with the whole new row, an update with
        the changed columns before and after. The before-images are copied first (only of the
        rows that will change: the table is locked since the checks, so they cannot go stale);
        the after-images come from RETURNING. ``_record_audit`` chains them into audit_log."""
        from app.services import audit

        target = Household.metadata.tables[table]
        names = ", ".join(c for c, _ in columns)
        exprs = ", ".join(e for _, e in columns)
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c, _ in columns)
        old = ", ".join(f"t.{c}" for c, _ in columns)
        new = ", ".join(f"EXCLUDED.{c}" for c, _ in columns)
        source = ", ".join(f"r.{e}" for _, e in columns)
        # No update predicted (a first import, a re-import): skip the join over the table.
        changes = "true" if self.result.updated else "false"
        self.sql(f"""
            CREATE TEMP TABLE import_before ON COMMIT DROP AS
            SELECT t.id, {old} FROM import_row r JOIN {table} t ON t.id = r.existing_id
             WHERE {changes} AND ({old}) IS DISTINCT FROM ({source})""")
        self.sql("ANALYZE import_before")
        self.sql("CREATE TEMP TABLE import_audit (entity_id bigint, action text, before text, after text) "
                 "ON COMMIT DROP")
        self.sql(audit.POINT_TEXT_SQL)
        before, after = audit.diff_sql(target, [c for c, _ in columns], "b", "up")
        self.sql(f"""
            WITH up AS (
                INSERT INTO {table} AS t ({key_cols}, {names})
                SELECT {key_exprs}, {exprs} FROM import_row
                {conflict} DO UPDATE SET {sets}
                 WHERE ({old}) IS DISTINCT FROM ({new})
                RETURNING t.*, (xmax = 0) AS inserted)
            INSERT INTO import_audit (entity_id, action, before, after)
            SELECT up.id, CASE WHEN up.inserted THEN 'create' ELSE 'update' END,
                   CASE WHEN b.id IS NOT NULL THEN {before} END,
                   CASE WHEN up.inserted THEN {audit.image_sql(target, 'up')} ELSE {after} END
              FROM up LEFT JOIN import_before b ON b.id = up.id""")
        row = self.sql("SELECT count(*) FILTER (WHERE action = 'create'), count(*) FILTER (WHERE action = 'update'), "
                       "count(*) FILTER (WHERE action = 'update' AND before IS NULL) FROM import_audit").one()
        if row[2]:  # cannot happen under the lock; an update recorded without its before-image must not be
            raise RuntimeError(f"{row[2]} baris diubah tanpa citra sebelumnya untuk jejak audit")
        return int(row[0]), int(row[1])


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


def _no_progress(phase: str, done: int, total: Optional[int]) -> None:
    pass


def run_import(engine: Engine, path, *, kind: str = "households", dry_run: bool = True,
               scope: Scope = EVERYTHING, filename: Optional[str] = None, report_dir=None,
               actor: tuple[Optional[int], Optional[str]] = (None, None),
               progress: Progress = _no_progress) -> ImportResult:
    """Check ``path`` and, unless ``dry_run``, write it — all-or-nothing, in one transaction.

    ``scope``: whose import it is (an operator's regency: rows elsewhere are rejected).
    ``report_dir``: where the report CSV goes (default: next to the file). ``actor``: the
    (user id, username) named in the audit row. Returns the result; raises ImportFailed when
    the database refused (nothing written)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    spec = KINDS[kind]
    path = Path(path)
    result = ImportResult(kind=kind, dry_run=dry_run, filename=filename or path.name)
    if scope.kind in ("none", "agency") and kind != "enrolments":
        raise ImportFailed("Anda tidak berwenang mengimpor data ini")
    report_dir = Path(report_dir) if report_dir else path.parent
    report_dir.mkdir(parents=True, exist_ok=True)
    report_path = report_dir / f"laporan-{path.stem}-{uuid.uuid4().hex[:8]}.csv"
    started = time.monotonic()
    mark = started

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        result.timings[name] = round(now - mark, 3)
        mark = now

    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            # Sorts (duplicates, joins) of a million rows stay in memory; the big statements are
            # planned once, so JIT compilation would only add seconds.
            conn.execute(text("SET LOCAL work_mem = '256MB'"))
            conn.execute(text("SET LOCAL jit = off"))
            importer = _Importer(conn, spec, scope, result, progress)
            importer.create_tables()
            separator = ";"
            try:
                with open_table(path) as source:
                    result.format, result.encoding = source.format, source.encoding
                    result.separator, result.notes = source.separator, list(source.notes)
                    separator = source.separator or ";"
                    positions, header_problems, result.fatal = importer.map_header(source.header)
                    importer.add_problems(header_problems)
                    if not result.fatal:
                        # CSV: every row has the header's number of fields; XLSX: no data right of the header
                        n_header = len(source.header)
                        if source.format == "xlsx":
                            while n_header and _header_name(source.header[n_header - 1]) == "":
                                n_header -= 1
                        result.rows = importer.stage(source, positions, n_header)
                        if result.rows == 0:
                            raise _FileProblem("berkas tidak berisi baris data (hanya kepala kolom)")
            except _FileProblem as exc:
                result.fatal = True
                importer.add_problems([(exc.row or 0, 0, "(berkas)", "", exc.reason)])
            lap("membaca")
            if not result.fatal:
                progress("memeriksa", 0, None)
                if not dry_run:  # keep the checks true until the write (see the module docstring)
                    conn.execute(text(f"LOCK TABLE {spec.entity} IN SHARE ROW EXCLUSIVE MODE"))
                getattr(importer, f"check_{kind}")()
                lap("memeriksa")
            counts = conn.execute(text("SELECT count(*), count(DISTINCT rn) FILTER (WHERE rn > 1) "
                                       "FROM import_problem")).one()
            result.problems, result.rejected = int(counts[0]), int(counts[1])
            columns = {"households": _Importer.HOUSEHOLD_COLUMNS, "members": _Importer.MEMBER_COLUMNS,
                       "enrolments": _Importer.ENROLMENT_COLUMNS}[kind]
            if not result.fatal:
                result.inserted, result.updated, result.unchanged = importer.predicted(spec.entity, columns)
                if kind == "households":
                    result.locations = {k: int(v) for k, v in conn.execute(text(
                        "SELECT location_status, count(*) FROM import_row r WHERE NOT EXISTS "
                        "(SELECT 1 FROM import_problem p WHERE p.rn = r.rn) GROUP BY 1")).all()}
            result.preview = [dict(zip(("baris", "kolom", "nilai", "alasan"), r)) for r in conn.execute(text(
                "SELECT rn, col, value, reason FROM import_problem ORDER BY rn, ord LIMIT :n"),
                {"n": PREVIEW_ROWS}).all()]
            _write_report(conn, report_path, separator, result.notes)
            result.report_path = str(report_path)
            lap("laporan")
            if dry_run or not result.ok:
                transaction.rollback()
                return result
            progress("menyimpan", 0, None)
            inserted, updated = getattr(importer, f"write_{kind}")()
            result.inserted, result.updated = inserted, updated
            result.unchanged = result.rows - inserted - updated
            lap("menyimpan")
            _record_audit(conn, result, actor)
            lap("jejak audit")
            transaction.commit()
            result.committed = True
            progress("selesai", result.rows, result.rows)
            return result
        except ImportFailed:
            transaction.rollback()
            raise
        except Exception as exc:
            transaction.rollback()
            log.exception("import of %s failed", path)
            raise ImportFailed(f"impor gagal, tidak ada yang ditulis: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
        finally:
            result.timings["total"] = round(time.monotonic() - started, 3)


def _record_audit(conn: Connection, result: ImportResult, actor) -> None:
    """The audit rows of the committed import (bulk SQL bypasses the ORM event): one per
    inserted or updated row (from ``import_audit``, chained in SQL by audit.record_select, in
    the order of the rows' ids), then ONE summary row naming the file and the counts."""
    from app.services import audit

    spec = KINDS[result.kind]
    audit.record_select(conn, "SELECT entity_id AS seq, action, :entity AS entity, entity_id, before, after, "
                              ":note AS note FROM import_audit",
                        {"entity": spec.entity, "note": f"impor {result.filename}"[:500]}, actor=actor)
    note = (f"impor {spec.label} dari {result.filename}: {result.rows} baris; ditambah {result.inserted}, "
            f"diubah {result.updated}, tetap {result.unchanged}, ditolak {result.rejected}")[:500]
    entry = {"action": "import", "entity": spec.entity, "entity_id": None, "note": note,
             "after": {"file": result.filename, "format": result.format, "rows": result.rows,
                       "inserted": result.inserted, "updated": result.updated, "unchanged": result.unchanged,
                       "rejected": result.rejected, "locations": result.locations}}
    user_id, username = actor
    if username:
        entry.update(user_id=user_id, username=username)
    audit.record(conn, [entry])


# --- the web upload's files (its background jobs: app/services/import_jobs.py) -------------------

def import_folder(app) -> Path:
    folder = Path(app.config["UPLOAD_FOLDER"]) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def remove_old_files(folder: Path, days: float) -> int:
    """Uploaded files and reports hold personal data: keep them ``days`` days, then delete them
    (the job rows stay; their report link answers 404). Returns the number removed."""
    limit = time.time() - days * 86400
    removed = 0
    for path in list(folder.glob("*")) + list(folder.glob("reports/*")):
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed
