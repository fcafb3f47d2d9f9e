"""What every step of the import shares: the kinds of file, the result, the failure, the
state of one run (``Run``) and the building blocks of its SQL. Imports nothing of the package."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from app.models.snapshots import BDT, DESIL_MAX, DTSEN, SOURCES
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
                       ("alamat", "rt", "rw", "lintang", "bujur", "sumber", "periode"), ("no_kk", "nik_kepala"),
                       "household", "rumah tangga",
                       ("nama_desa", "kecamatan", "kabupaten_kota", "status_lokasi", "kode_desa_titik")),
    "members": Kind("members", ("no_kk", "nik", "nama", "jenis_kelamin"), ("tanggal_lahir", "hubungan"),
                    ("no_kk", "nik"), "household_member", "anggota rumah tangga",
                    ("nama_kepala", "kode_desa", "nama_desa")),
    "enrolments": Kind("enrolments", ("no_kk", "kode_program", "tahun"), ("status", "nilai"), ("no_kk",),
                       "enrolment", "kepesertaan program",
                       ("nama_program", "tanggal", "nama_kepala", "desil", "kode_desa", "nama_desa")),
}


# A DTSEN extract as SIKS-NG exports it, one row per family (README, "Impor DTSEN"): its column
# names read as ours. Names are compared lower-case with spaces as "_" (read._header_name).
HEADER_ALIASES: dict[str, str] = {
    "nokk": "no_kk", "nomor_kk": "no_kk", "no_kartu_keluarga": "no_kk",
    "nik_kepala_keluarga": "nik_kepala", "nik_kk": "nik_kepala", "nik_krt": "nik_kepala",
    "nama_kepala_keluarga": "nama_kepala", "nama_kk": "nama_kepala", "nama_krt": "nama_kepala",
    "kode_wilayah": "kode_desa", "kddesa": "kode_desa", "kode_desa_dagri": "kode_desa", "kode_kelurahan": "kode_desa",
    "desil_nasional": "desil", "peringkat_desil": "desil", "desil_kesejahteraan": "desil",
    "jumlah_art": "jumlah_anggota", "jml_art": "jumlah_anggota", "jumlah_anggota_keluarga": "jumlah_anggota",
    "latitude": "lintang", "longitude": "bujur", "sumber_data": "sumber", "periode_data": "periode",
}


@dataclass(frozen=True)
class SnapshotTarget:
    """The snapshot a households file is loaded into: its source and period, and whether the
    user confirmed loading a period older than the latest of that source (it then becomes
    history: households listed by a newer snapshot keep the newer values)."""
    source: str = BDT
    period: str = "2015"
    confirm_older: bool = False

    @property
    def desil_max(self) -> int:
        return DESIL_MAX[self.source]

    @property
    def period_start(self) -> "dt.date":
        if self.source == BDT:
            return dt.date(2015, 1, 1)
        year, quarter = int(self.period[:4]), int(self.period[-1])
        return dt.date(year, 3 * quarter - 2, 1)

    @property
    def label(self) -> str:
        return self.source if self.source == BDT else f"{self.source} {self.period}"


def snapshot_target(source: Optional[str], period: Optional[str], confirm_older: bool = False,
                    today: Optional["dt.date"] = None) -> SnapshotTarget:
    """The target named by a form or the command line; ValueError (a message for people) when
    the source is unknown, the period malformed for it, or in the future."""
    import re

    source = (source or BDT).strip()
    if source not in SOURCES:
        raise ValueError(f"sumber data '{source}' tidak dikenal; pilih {' atau '.join(SOURCES)}")
    period = (period or ("2015" if source == BDT else "")).strip().upper()
    if source == BDT and period != "2015":
        raise ValueError("periode BDT 2015 hanya '2015'")
    if source == DTSEN and not re.fullmatch(r"20[0-9]{2}-Q[1-4]", period):
        raise ValueError(f"periode DTSEN harus tahun dan triwulan, contoh 2025-Q4 (tertulis '{period}')")
    target = SnapshotTarget(source, period, bool(confirm_older))
    if target.period_start > (today or dt.date.today()):
        raise ValueError(f"periode {period} belum dimulai: data tidak bisa berasal dari masa depan")
    return target


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
    snapshot: str = ""  # households: the snapshot written ("DTSEN 2025-Q4")

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
        out = [f"{self.filename} ({fmt}): {self.rows} baris {label} dibaca"
               + (f" ke snapshot {self.snapshot}" if self.snapshot else "")]
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
    target: SnapshotTarget = SnapshotTarget()  # households: the snapshot the file is loaded into
    snapshot_id: Optional[int] = None  # its id (created in the run's transaction when new)

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
