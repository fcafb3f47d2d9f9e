"""Background import jobs (the web upload): the web process only records an ``ImportJob`` row
and enqueues it; a separate worker process (``flask --app run jobs worker``) runs it.

The queue is procrastinate (PostgreSQL-backed: a job is a row, taken with ``SELECT ... FOR
UPDATE SKIP LOCKED``, workers woken by LISTEN/NOTIFY). Its tables and functions live in their
own PostgreSQL schema ``procrastinate`` (migration 0008), so they stay out of the models'
schema; its connections get ``search_path=procrastinate``. The state the screens show stays
in our ``import_job`` table.

A worker killed mid-import (SIGKILL, OOM, a restart) must not leave a job "running" forever.
The worker holds a session-level advisory lock (``LOCK_CLASS``, job id) on its own connection
for the whole run, taken BEFORE it marks the job running and released AFTER it records the
end. PostgreSQL releases the lock when the worker's connection dies, so "running and nobody
holds its lock" means the worker is gone: ``mark_interrupted`` turns such jobs into failed
ones (one UPDATE, checking pg_locks in its WHERE so a job finishing at that moment is not
touched — see there). The job page runs it for the job it shows, the worker at start for all.
Nothing is half-written: the import's check and write are one transaction (run_import), which
PostgreSQL rolls back when the connection goes. "Ulangi" (``restart_job``) queues it again.

Test hook: ``SINERGI_JOB_TEST_PAUSE="<phase>:<seconds>"`` (read by the worker only) sleeps
that long when a job reaches the phase (``membaca``, ``memeriksa``, ``menyimpan``), inside the
import's open transaction — the tests kill the worker there, deterministically "mid-run".
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine, make_url

from app.security.scope import Scope
from app.services import duplicate_scans
from app.services.household_import import EVERYTHING, ImportFailed, SnapshotTarget, import_folder, run_import

log = logging.getLogger(__name__)

TASK_NAME = "sinergi.import_job"
QUEUE = "imports"
QUEUE_SCHEMA = "procrastinate"
LOCK_CLASS = 0x53494E  # first key of the (int4, int4) advisory locks of running jobs ('SIN')
INTERRUPTED = ("impor terhenti karena proses pekerja berhenti (server dimulai ulang atau dimatikan) sebelum "
               "selesai; tidak ada yang ditulis. Tekan «Ulangi» untuk menjalankannya lagi.")
# Held by the worker's connection for the job's run: one row in pg_locks (objsubid 2 = two int4 keys).
_LOCK_HELD = f"""EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid = {LOCK_CLASS} AND l.objid = import_job.id AND l.objsubid = 2)"""


# --- the ImportJob row ----------------------------------------------------------------------------

def create_job(engine: Engine, *, kind: str, dry_run: bool, user_id: Optional[int], username: Optional[str],
               regency_id: Optional[int], filename: str, stored_path: str,
               target: Optional[SnapshotTarget] = None) -> int:
    from app.models.jobs import ImportJob

    table = ImportJob.__table__
    snapshot = {} if target is None else {"snapshot_source": target.source, "snapshot_period": target.period,
                                          "confirm_older": target.confirm_older}
    with engine.begin() as conn:
        return conn.execute(table.insert().values(
            kind=kind, dry_run=dry_run, status="queued", user_id=user_id, username=username, regency_id=regency_id,
            filename=filename[:255], stored_path=stored_path, progress=0, **snapshot).returning(table.c.id)).scalar_one()


def _update_job(engine: Engine, job_id: int, **values) -> None:
    from app.models.jobs import ImportJob

    table = ImportJob.__table__
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == job_id).values(updated_at=func.now(), **values))


def job_scope(job) -> Scope:
    """The scope a job runs with: the importer's regency, or everything (Admin / Bappeda)."""
    return Scope("regency", regency_id=job.regency_id) if job.regency_id else EVERYTHING


def mark_interrupted(conn, job_id: Optional[int] = None) -> int:
    """Running jobs whose worker is gone (no connection holds their lock) become failed with
    INTERRUPTED; returns how many. One statement: the worker records the end and only then
    releases the lock, and an UPDATE re-checks its WHERE on a row changed concurrently (READ
    COMMITTED), so a job that just finished is never marked failed."""
    where = "status = 'running'" + (" AND id = :id" if job_id is not None else "")
    return conn.execute(text(f"UPDATE import_job SET status = 'failed', error = :error, updated_at = now() "
                             f"WHERE {where} AND NOT {_LOCK_HELD}"),
                        {"error": INTERRUPTED, "id": job_id}).rowcount


def worker_alive(conn) -> bool:
    """Whether some queue worker has sent its heartbeat lately (procrastinate beats every 10 s):
    a queued job with no worker would wait forever, and the page says so."""
    return bool(conn.execute(text(
        f"SELECT EXISTS (SELECT 1 FROM {QUEUE_SCHEMA}.procrastinate_workers "
        f"WHERE last_heartbeat > now() - interval '30 seconds')")).scalar())


def restart_job(app, job_id: int) -> bool:
    """"Ulangi": a failed job goes back to the queue (same row, progress reset). False when it
    was not failed (a second click, or it runs already)."""
    from app.extensions import db

    with db.engine.begin() as conn:
        again = conn.execute(text(
            "UPDATE import_job SET status = 'queued', progress = 0, total = NULL, summary = NULL, error = NULL, "
            "report_path = NULL, updated_at = now() WHERE id = :id AND status = 'failed' RETURNING id"),
            {"id": job_id}).scalar()
    if again is None:
        return False
    enqueue(app, job_id)
    return True


# --- running one job --------------------------------------------------------------------------------

@contextmanager
def _job_lock(engine: Engine, job_id: int) -> Iterator[bool]:
    """Hold the job's advisory lock on a connection of its own for the block; yields False when
    another worker holds it (then the job is theirs)."""
    with engine.connect() as conn:
        held = conn.execute(text("SELECT pg_try_advisory_lock(:c, :id)"), {"c": LOCK_CLASS, "id": job_id}).scalar()
        conn.commit()  # a session lock outlives the transaction; do not sit "idle in transaction"
        try:
            yield bool(held)
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:c, :id)"), {"c": LOCK_CLASS, "id": job_id})
                conn.commit()


def _test_pause() -> tuple[Optional[str], float]:
    value = os.environ.get("SINERGI_JOB_TEST_PAUSE", "")
    if ":" not in value:
        return None, 0.0
    phase, seconds = value.split(":", 1)
    return phase, float(seconds)


def run_job(app, job_id: int) -> None:
    """Run one import job to its end, keeping its row up to date (the page polls it). Called by
    the worker's task; tests may call it directly (synchronously)."""
    from app.extensions import db
    from app.models.jobs import ImportJob

    pause_phase, pause_seconds = _test_pause()
    with app.app_context():
        engine = db.engine
        with _job_lock(engine, job_id) as mine:
            if not mine:
                log.warning("import job %s is run by another worker", job_id)
                return
            with engine.begin() as conn:  # only a queued job starts (not one failed or done meanwhile)
                job = conn.execute(select(ImportJob.__table__).where(ImportJob.id == job_id,
                                                                     ImportJob.status == "queued")).one_or_none()
                if job is None:
                    log.warning("import job %s is not queued; skipped", job_id)
                    return
            _update_job(engine, job_id, status="running", summary={"phase": "membaca"})
            last = [0.0]
            paused = set()

            def progress(phase: str, done: int, total: Optional[int]) -> None:
                if phase == pause_phase and phase not in paused:
                    paused.add(phase)
                    _update_job(engine, job_id, summary={"phase": phase})
                    time.sleep(pause_seconds)
                now = time.monotonic()
                if now - last[0] < 1.0 and phase == "membaca" and done != total:
                    return
                last[0] = now
                values = {"summary": {"phase": phase}}
                if phase == "membaca":
                    values.update(progress=done, total=total)
                _update_job(engine, job_id, **values)

            try:
                result = run_import(engine, job.stored_path, kind=job.kind, dry_run=job.dry_run,
                                    scope=job_scope(job), filename=job.filename,
                                    report_dir=import_folder(app) / "reports",
                                    actor=(job.user_id, job.username), progress=progress,
                                    target=SnapshotTarget(job.snapshot_source, job.snapshot_period, job.confirm_older)
                                    if job.snapshot_source else None)
            except ImportFailed as exc:
                _update_job(engine, job_id, status="failed", error=str(exc)[:2000])
                return
            except Exception as exc:  # pragma: no cover - defensive: the job must not stay "running"
                log.exception("import job %s failed", job_id)
                _update_job(engine, job_id, status="failed", error=f"kesalahan tak terduga: {type(exc).__name__}")
                return
            _update_job(engine, job_id, status="done", summary=result.summary(), report_path=result.report_path,
                        progress=result.rows, total=result.rows)
        if result.committed:
            # The import marked its villages dirty; the worker recomputes them now, so the first
            # map or analysis after a large import does not wait for it (gis/measures.py).
            from gis import measures

            with engine.begin() as conn:
                measures.refresh(conn)
            try:  # the data is in the database now; do not keep personal data lying around
                os.remove(job.stored_path)
            except OSError:
                pass


# --- the queue ----------------------------------------------------------------------------------------

def _conninfo(app) -> str:
    return make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql") \
        .render_as_string(hide_password=False)


def queue_app(app, *, worker: bool = False):
    """The procrastinate App on the Sinergi database, its tables found in QUEUE_SCHEMA. The web
    process opens it synchronously with a pool that keeps no connection (one per enqueue; safe
    across gunicorn's fork); the worker opens it asynchronously (run_worker)."""
    import procrastinate
    import psycopg_pool

    key = "sinergi_queue_worker" if worker else "sinergi_queue"
    if key in app.extensions:
        return app.extensions[key]
    connect_kwargs = {"options": f"-c search_path={QUEUE_SCHEMA}"}
    queue = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=_conninfo(app), kwargs=connect_kwargs, min_size=1, max_size=4))
    flask_app = app

    @queue.task(name=TASK_NAME, queue=QUEUE, pass_context=False)
    def import_job(job_id: int) -> None:
        run_job(flask_app, job_id)

    @queue.task(name=duplicate_scans.SCAN_TASK, queue=QUEUE, pass_context=False)
    def duplicates_scan(scan_id: int) -> None:
        duplicate_scans.run_scan(flask_app, scan_id)

    if not worker:
        queue.open(psycopg_pool.NullConnectionPool(conninfo=_conninfo(app), kwargs=connect_kwargs, open=True))
    app.extensions[key] = queue
    return queue


def enqueue(app, job_id: int) -> int:
    """Put the job on the queue (the web process). Returns the queue's job id."""
    queue = queue_app(app)
    return queue.tasks[TASK_NAME].defer(job_id=job_id)


def enqueue_or_fail(app, job_id: int) -> None:
    """Enqueue; if the queue refuses, the job is failed with the reason (not left waiting)."""
    try:
        enqueue(app, job_id)
    except Exception as exc:
        log.exception("import job %s could not be queued", job_id)
        from app.extensions import db

        _update_job(db.engine, job_id, status="failed",
                    error=f"antrean pekerjaan tidak dapat dihubungi ({type(exc).__name__}); coba «Ulangi» nanti")


def run_worker(app, *, concurrency: int = 1) -> None:
    """The worker process: first the jobs of a dead worker become failed (ours and the queue's
    own stalled ones), then run jobs until SIGTERM / SIGINT (procrastinate finishes the job
    at hand first, within its graceful timeout)."""
    import asyncio

    from procrastinate.jobs import Status

    from app.extensions import db

    with app.app_context():
        with db.engine.begin() as conn:
            n = mark_interrupted(conn)
            duplicate_scans.mark_interrupted(conn)
        if n:
            log.warning("%s import job(s) of a stopped worker marked failed", n)
    queue = queue_app(app, worker=True)

    async def main() -> None:
        async with queue.open_async():
            # The queue's own rows of a dead worker (no heartbeat): failed, not retried — the
            # operator restarts them with "Ulangi" after reading why.
            for stalled in await queue.job_manager.get_stalled_jobs():
                await queue.job_manager.finish_job(stalled, status=Status.FAILED, delete_job=False)
                if stalled.task_name == duplicate_scans.SCAN_TASK:  # likewise a scan not started
                    with app.app_context(), db.engine.begin() as conn:
                        conn.execute(text("UPDATE duplicate_scan SET status = 'failed', error = :error, "
                                          "finished_at = now() WHERE id = :id AND status = 'queued'"),
                                     {"error": duplicate_scans.INTERRUPTED, "id": stalled.task_kwargs.get("scan_id")})
                if stalled.task_name == TASK_NAME:  # killed even before it took the job's lock
                    with app.app_context(), db.engine.begin() as conn:
                        conn.execute(text(f"UPDATE import_job SET status = 'failed', error = :error, "
                                          f"updated_at = now() WHERE id = :id AND status IN ('queued', 'running') "
                                          f"AND NOT {_LOCK_HELD}"),
                                     {"error": INTERRUPTED, "id": stalled.task_kwargs.get("job_id")})
            await queue.run_worker_async(queues=[QUEUE], concurrency=concurrency, name="sinergi-imports",
                                         delete_jobs="successful")

    asyncio.run(main())
