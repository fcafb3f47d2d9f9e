"""``flask --app run`` command groups: areas, sinergi (init), seed, audit, gis, households, jobs."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from tqdm import tqdm

from app.extensions import appbuilder, db

areas_cli = AppGroup("areas", help="Administrative boundaries (kabupaten/kota, kecamatan, desa/kelurahan).")
sinergi_cli = AppGroup("sinergi", help="Set-up of the application itself.")
seed_cli = AppGroup("seed", help="Demo data.")
audit_cli = AppGroup("audit", help="The audit trail: verify its hash chain, print its head.")
gis_cli = AppGroup("gis", help="Spatial maintenance.")
households_cli = AppGroup("households", help="BDT households: import (with members and enrolments).")
jobs_cli = AppGroup("jobs", help="Background jobs (the web imports): the queue worker.")
duplicates_cli = AppGroup("duplicates", help="Duplicates and double aid: scan for candidate pairs.")

AREA_FILES = (("regency", "kabupaten.geojson"), ("district", "kecamatan.geojson"), ("village", "desa.geojson"))


def _progress(iterable):
    # A bar only where it helps: long imports on an interactive terminal.
    return tqdm(iterable, desc="membaca fitur", unit="fitur", disable=len(iterable) < 500 or not sys.stderr.isatty())


def run_import(path, level, **fields):
    """Import one file in its own transaction; any error rolls everything back."""
    from gis.boundaries import import_file

    with db.engine.begin() as conn:
        return import_file(conn, path, level, progress=_progress, **fields)


@areas_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--level", type=click.Choice(["regency", "district", "village"]), required=True)
@click.option("--code-field", help="Field holding the Kemendagri code (default: code, or BIG's KD*)")
@click.option("--name-field", help="Field holding the name (default: name, or BIG's WADM*)")
@click.option("--parent-field", help="Field holding the parent's code (default: parent_code, or BIG's KD*)")
def areas_import(path, level, code_field, name_field, parent_field):
    """Import boundaries from GeoJSON, GeoPackage or Shapefile; upsert by code."""
    from gis.boundaries import BoundaryError

    started = time.monotonic()
    try:
        result = run_import(path, level, code_field=code_field, name_field=name_field, parent_field=parent_field)
    except BoundaryError as exc:
        raise click.ClickException(f"{Path(path).name}: {exc} (tidak ada yang ditulis)")
    click.echo(f"{result.summary()} ({time.monotonic() - started:.1f} s)")


@areas_cli.command("load-demo")
def areas_load_demo():
    """Load the real Lampung areas from SINERGI_AREAS_DIR, or a synthetic geography when absent."""
    from gis.boundaries import BoundaryError

    folder = Path(current_app.config["SINERGI_AREAS_DIR"])
    synthetic = not all((folder / name).exists() for _, name in AREA_FILES)
    if synthetic:
        from seeds.synthetic_areas import write_synthetic_areas

        click.echo(f"PERHATIAN: berkas batas wilayah Lampung tidak ditemukan di {folder} "
                   f"(atur SINERGI_AREAS_DIR). Memuat geografi SINTETIS kecil sebagai gantinya.", err=True)
        folder = Path(tempfile.mkdtemp(prefix="sinergi-synthetic-"))
        write_synthetic_areas(folder)
    started = time.monotonic()
    try:
        for level, name in AREA_FILES:
            click.echo(run_import(folder / name, level).summary())
    except BoundaryError as exc:
        raise click.ClickException(str(exc))
    if synthetic:
        with db.engine.begin() as conn:
            conn.execute(db.text("UPDATE province SET name = 'Lampung (sintetis)' WHERE code = '18'"))
    click.echo(f"wilayah dimuat dalam {time.monotonic() - started:.1f} s")


@sinergi_cli.command("init")
def sinergi_init():
    """Create permissions for every registered view and sync the roles (idempotent)."""
    from app.security.roles import ADMIN, PUBLIC, sync_roles
    from app.security.scope import UNMASK_PERMISSION

    # FAB grants menu permissions to Admin while adding them, so the role must exist first.
    appbuilder.sm.add_role(ADMIN)
    appbuilder.sm.add_role(PUBLIC)
    appbuilder.add_permissions(update_perms=True)
    appbuilder.sm.add_permission_view_menu(*UNMASK_PERMISSION)
    counts = sync_roles(appbuilder.sm)
    for role, n in counts.items():
        click.echo(f"peran {role}: {n} izin")


@seed_cli.command("demo")
def seed_demo():
    """Create the demo users and the deterministic demo data (demo mode only; never in production).

    Idempotent: a second run writes nothing. The domain data (seeds/demo_domain.py) is written
    in one transaction; the Petugas OPD users follow once their agencies exist."""
    from seeds.demo_domain import seed_demo_domain
    from seeds.demo_users import create_demo_users

    if current_app.config["SINERGI_ENV"] != "demo":
        raise click.ClickException("pengguna demo hanya dibuat bila SINERGI_ENV=demo")
    password = current_app.config["SINERGI_DEMO_PASSWORD"]
    for line in create_demo_users(appbuilder.sm, password):
        click.echo(line)
    db.session.commit()  # end the users' transaction before the long one below
    with db.engine.begin() as conn:
        result = seed_demo_domain(conn, echo=click.echo)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Fresh tables have no statistics: without them the planner picks nested loops that make
        # the program matrix take minutes instead of a second.
        conn.execute(db.text("ANALYZE"))
    with db.engine.begin() as conn:  # the maps and analysis open on figures already kept
        from gis import measures

        measures.refresh_all(conn)
    from app.services import duplicate_scans, duplicates  # the review queue opens on the demo's candidates

    duplicate_scans.record_inline(db.session, duplicates.scan(db.session), "seed demo")
    db.session.commit()
    for line in create_demo_users(appbuilder.sm, password):  # Petugas OPD need their agency
        click.echo(line)
    db.session.commit()
    click.echo(f"data demo ({result.seconds:.1f} s): jumlah baris per tabel")
    for line in result.lines():
        click.echo(line)


def _heads(ctx, param, values):
    from app.services.audit import parse_head

    try:
        return [parse_head(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc))


@audit_cli.command("verify")
@click.option("--head", "heads", multiple=True, callback=_heads, metavar="ID:HASH",
              help="A head printed earlier by `audit head` (repeatable): fail when that row is gone or has "
                   "another hash, i.e. when rows were removed from the end of the trail.")
def audit_verify(heads):
    """Recompute the hash chain of the audit trail; non-zero exit when it was tampered with.

    The chain shows a row altered, inserted or removed in the middle. Rows removed from the END
    leave a shorter chain that is still intact: note the head (`audit head`) outside the
    database now and then, and pass it with --head."""
    from app.services.audit import head, verify

    with db.engine.connect() as conn:
        problems = verify(conn, heads)
        total, last, digest = head(conn)
    for line in problems:
        click.echo(line, err=True)
    if problems:
        raise click.ClickException(f"jejak audit RUSAK: {len(problems)} masalah pada {total} baris")
    checked = f"; kepala yang dicatat ada: {', '.join(str(i) for i, _ in heads)}" if heads else ""
    click.echo(f"jejak audit utuh: {total} baris, rantai hash cocok{checked}; kepala sekarang {last}:{digest}")


@audit_cli.command("head")
def audit_head():
    """Print the head of the audit trail (rows, last id:hash) as one line to keep OUTSIDE the
    database (the LP2KD file, an operator's log book). Later, `audit verify --head ID:HASH`
    fails if that row was removed or replaced: deleting the last rows cannot go unnoticed."""
    import datetime as dt

    from app.services.audit import head

    with db.engine.connect() as conn:
        total, last, digest = head(conn)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    click.echo(f"kepala jejak audit {last}:{digest} ({total} baris, {now})")


@gis_cli.command("measures")
@click.option("--year", "years", type=int, multiple=True,
              help="Tahun yang dihitung (boleh berulang); bawaan: tahun yang sudah disimpan dan tahun program.")
def gis_measures(years):
    """Bring the kept per-village measures up to date (gis/measures.py): every kept year and the
    programs' fiscal years (or --year), for every village. After a bulk load, so the first map
    or analysis request does not pay for it."""
    from gis import measures

    started = time.monotonic()
    with db.engine.begin() as conn:
        kept = measures.refresh_all(conn, years or None)
    click.echo(f"ukuran per desa dihitung ulang untuk tahun {', '.join(map(str, kept)) or '-'} "
               f"({time.monotonic() - started:.1f} s)")


@gis_cli.command("locate")
def gis_locate():
    """Recompute the located village and status of every household in one statement."""
    from gis.queries import locate_households

    started = time.monotonic()
    with db.engine.begin() as conn:
        counts = locate_households(conn)
    summary = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    click.echo(f"lokasi rumah tangga dihitung ulang ({time.monotonic() - started:.1f} s): {summary}")


@households_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only check the file and write the report; nothing is written.")
@click.option("--regency", "regency_code", metavar="CODE",
              help="Import as the operator of this kabupaten/kota (e.g. 18.07): rows elsewhere are rejected.")
@click.option("--kind", type=click.Choice(["households", "members", "enrolments"]), default="households",
              show_default=True)
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              help="Folder for the report CSV (default: next to the file).")
@click.option("--source", type=click.Choice(["BDT 2015", "DTSEN"]), default="BDT 2015", show_default=True,
              help="Households: the targeting data the file comes from.")
@click.option("--period", help="Households from DTSEN: the quarter of the extract, e.g. 2025-Q4.")
@click.option("--confirm-older", is_flag=True,
              help="Load a period older than the latest of its source, as history.")
def households_import(path, dry_run, regency_code, kind, report_dir, source, period, confirm_older):
    """Check a CSV/XLSX file and import it all-or-nothing (one transaction); see
    app/services/household_import/. Exit status 1 when a row was rejected."""
    from app.models.areas import Regency
    from app.security.scope import Scope
    from app.services.household_import import EVERYTHING, ImportFailed, run_import, snapshot_target

    try:
        target = snapshot_target(source, period, confirm_older) if kind == "households" else None
    except ValueError as exc:
        raise click.ClickException(str(exc))
    scope = EVERYTHING
    if regency_code:
        regency_id = db.session.execute(db.select(Regency.id).where(Regency.code == regency_code)).scalar()
        db.session.rollback()
        if regency_id is None:
            raise click.ClickException(f"kabupaten/kota {regency_code} tidak dikenal")
        scope = Scope("regency", regency_id=regency_id)
    bar = None
    shown = set()

    def progress(phase, done, total):
        nonlocal bar
        if phase == "membaca" and sys.stderr.isatty():
            if bar is None:
                bar = tqdm(total=total, desc="membaca", unit="baris", unit_scale=True)
            bar.update(done - bar.n)
            return
        if bar is not None:
            bar.close()
            bar = None
        if phase not in shown and phase != "membaca":
            shown.add(phase)
            click.echo(f"{phase} ...", err=True)

    try:
        result = run_import(db.engine, path, kind=kind, dry_run=dry_run, scope=scope, report_dir=report_dir,
                            progress=progress, target=target)
    except ImportFailed as exc:
        raise click.ClickException(str(exc))
    finally:
        if bar is not None:
            bar.close()
    for line in result.lines():
        click.echo(line)
    for problem in result.preview[:20]:
        click.echo(f"  baris {problem['baris']}, kolom {problem['kolom']}: {problem['alasan']}"
                   + (f" [{problem['nilai']}]" if problem["nilai"] else ""))
    if result.problems > 20:
        click.echo(f"  ... {result.problems - 20} masalah lagi")
    click.echo(f"laporan: {result.report_path} ({result.timings.get('total', 0):.1f} s)")
    if result.committed:  # the villages it touched, recomputed now rather than by the next map
        from gis import measures

        started = time.monotonic()
        with db.engine.begin() as conn:
            measures.refresh(conn)
        click.echo(f"ukuran per desa diperbarui ({time.monotonic() - started:.1f} s)")
    if not result.ok:
        sys.exit(1)


@jobs_cli.command("worker")
@click.option("--concurrency", default=1, show_default=True, help="Jobs run at the same time by this process.")
def jobs_worker(concurrency):
    """Run the import jobs queued by the web upload until stopped (SIGTERM/SIGINT). At start,
    jobs of a worker that died are marked failed (restart them with «Ulangi»)."""
    import logging

    from app.services.import_jobs import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(current_app._get_current_object(), concurrency=concurrency)


@duplicates_cli.command("scan")
@click.option("--threshold", type=float, default=None, help="Name similarity for 'one person, two NIKs' (0-1).")
def duplicates_scan(threshold):
    """Recompute the open duplicate candidates (decided pairs stay decided)."""
    from app.services import duplicate_scans, duplicates

    start = time.perf_counter()
    result = duplicates.scan(db.session, threshold)
    duplicate_scans.record_inline(db.session, result, "flask duplicates scan")
    db.session.commit()
    for kind, found in result.found.items():
        click.echo(f"{kind}: {found} pasangan ({result.seconds[kind]:.1f} s)")
    click.echo(f"jumlah: {result.total} pasangan terbuka ({time.perf_counter() - start:.1f} s)")


def register_cli(app) -> None:
    for group in (areas_cli, sinergi_cli, seed_cli, audit_cli, gis_cli, households_cli, jobs_cli, duplicates_cli):
        app.cli.add_command(group)
