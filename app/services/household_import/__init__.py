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
   updated and unchanged rows (offered only the new and the changed rows: an unchanged row
   is neither rewritten nor locked; likewise the rows of the targeting snapshot), then the audit rows: one per inserted or updated row (a
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

The package, dependencies pointing one way (each step imports ``base`` only; this module,
the run, imports them all and keeps the names the rest of the app imports):

- ``base``: the kinds of file, ``ImportResult``, ``ImportFailed``, the state of one run, SQL helpers;
- ``read``: step 1 (the file into ``import_staging``, the header mapped);
- ``check``: step 2 (``import_row`` and the rules into ``import_problem``);
- ``report``: the report CSV / XLSX;
- ``write``: step 3 (the upsert and the audit rows);
- ``files``: the web upload's folder and its clean-up.
"""
from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Optional

from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.security.scope import Scope
from app.services.household_import import check, read, write
from app.services.household_import.base import (EVERYTHING, HEADER_ALIASES, KINDS, PREVIEW_ROWS, ImportFailed,
                                                ImportResult, Kind, Progress, Run, SnapshotTarget, snapshot_target)
from app.services.household_import.check import _id_reason  # noqa: F401 (tests)
from app.services.household_import.files import import_folder, remove_old_files
from app.services.household_import.read import _FileProblem, _header_name, open_table
from app.services.household_import.report import _write_report, report_xlsx
from app.services.household_import.write import _record_audit

__all__ = ["EVERYTHING", "HEADER_ALIASES", "KINDS", "ImportFailed", "ImportResult", "Kind", "SnapshotTarget", "import_folder",
           "open_table", "remove_old_files", "report_xlsx", "run_import", "snapshot_target"]

log = logging.getLogger(__name__)


def _no_progress(phase: str, done: int, total: Optional[int]) -> None:
    pass


def run_import(engine: Engine, path, *, kind: str = "households", dry_run: bool = True,
               scope: Scope = EVERYTHING, filename: Optional[str] = None, report_dir=None,
               actor: tuple[Optional[int], Optional[str]] = (None, None),
               progress: Progress = _no_progress, target: Optional[SnapshotTarget] = None) -> ImportResult:
    """Check ``path`` and, unless ``dry_run``, write it — all-or-nothing, in one transaction.

    ``scope``: whose import it is (an operator's regency: rows elsewhere are rejected).
    ``report_dir``: where the report CSV goes (default: next to the file). ``actor``: the
    (user id, username) named in the audit row. ``target``: for households, the snapshot
    (source, period) the file is loaded into; default BDT 2015, the format Sinergi began with. Returns the result; raises ImportFailed when
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
            # Sorts (duplicates, joins) of a million rows stay in memory. (JIT is off on every
            # connection of the app: config.SQLALCHEMY_ENGINE_OPTIONS.)
            conn.execute(text("SET LOCAL work_mem = '256MB'"))
            run = Run(conn, spec, scope, result, progress)
            if kind == "households":
                run.target = target or SnapshotTarget()
                result.snapshot = run.target.label
            read.create_tables(run)
            if kind == "households":
                read.add_problems(run, check.period_problems(run))
                run.snapshot_id = write.ensure_snapshot(run, actor[0])
            separator = ";"
            try:
                with open_table(path) as source:
                    result.format, result.encoding = source.format, source.encoding
                    result.separator, result.notes = source.separator, list(source.notes)
                    separator = source.separator or ";"
                    positions, header_problems, fatal = read.map_header(run, source.header)
                    result.fatal = result.fatal or fatal
                    read.add_problems(run, header_problems)
                    if not result.fatal:
                        # CSV: every row has the header's number of fields; XLSX: no data right of the header
                        n_header = len(source.header)
                        if source.format == "xlsx":
                            while n_header and _header_name(source.header[n_header - 1]) == "":
                                n_header -= 1
                        result.rows = read.stage(run, source, positions, n_header)
                        if result.rows == 0:
                            raise _FileProblem("berkas tidak berisi baris data (hanya kepala kolom)")
            except _FileProblem as exc:
                result.fatal = True
                read.add_problems(run, [(exc.row or 0, 0, "(berkas)", "", exc.reason)])
            lap("membaca")
            if not result.fatal:
                progress("memeriksa", 0, None)
                if not dry_run:  # keep the checks true until the write (see the module docstring)
                    conn.execute(text(f"LOCK TABLE {spec.entity} IN SHARE ROW EXCLUSIVE MODE"))
                check.CHECKS[kind](run)
                lap("memeriksa")
            counts = conn.execute(text("SELECT count(*), count(DISTINCT rn) FILTER (WHERE rn > 1) "
                                       "FROM import_problem")).one()
            result.problems, result.rejected = int(counts[0]), int(counts[1])
            if not result.fatal:
                result.inserted, result.updated, result.unchanged = write.predicted(run, spec.entity, write.COLUMNS[kind])
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
            inserted, updated = write.WRITERS[kind](run)
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


