"""What every step of the import shares: the kinds of file, the result, the failure, the
state of one run (``Run``) and the building blocks of its SQL. Imports nothing of the package."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from app.security.scope import Scope

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



# --- one run: the connection, what is imported, by whom, and where the result goes ------------------

@dataclass
class Run:
    conn: Connection
    kind: Kind
    scope: Scope
    result: ImportResult
    progress: Progress
    present: list[str] = field(default_factory=list)  # the kind's columns the file has

    def sql(self, statement: str, params: Optional[dict] = None):
        return self.conn.execute(text(statement), params or {})


# --- SQL building blocks ---------------------------------------------------------------------------

def _q(value: str) -> str:
    """A SQL string literal (for the fixed Indonesian texts and names put into the SQL)."""
    return "'" + str(value).replace("'", "''") + "'"


def _sql(statement) -> str:
    """A SQLAlchemy select (from app.security.scope) as literal SQL, to embed in the set-based
    statements below; its parameters are ids only."""
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))



NUMBER = r"'^[+-]?[0-9]+([.,][0-9]+)?$'"
