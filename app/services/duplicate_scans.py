"""Duplicate scans as jobs of the queue worker (app/services/import_jobs.py runs the queue).

At a million households a scan takes 20-60 s: too long for a web request (and for the
analysis statement timeout). The button only records a ``duplicate_scan`` row and puts it on
the queue; the worker runs ``duplicates.scan`` and records the outcome in the same transaction
as the candidates, so "done" and the pairs the queue shows always belong together. The CLI and
the demo seed scan inline and record their row too: the queue page says when its pairs were
found, by whom, how many, how long it took.

One scan at a time: a request while one is queued or running returns that one. A worker
killed mid-scan: the worker holds a session advisory lock (``LOCK_CLASS``, scan id) on its own
connection while the scan runs, so "running and nobody holds its lock" means the worker is
gone and the row becomes failed (``mark_interrupted``, run by every reader and by the worker at
start); the scan's own transaction was rolled back by PostgreSQL, the previous pairs stay.
"""
from __future__ import annotations

import logging
from typing import Optional

from sqlalchemy import text

from app.models.duplicates import DuplicateScan

log = logging.getLogger(__name__)

SCAN_TASK = "sinergi.duplicates_scan"
LOCK_CLASS = 0x445550  # first key of the (int4, int4) advisory lock of a running scan ('DUP')
INTERRUPTED = ("pemindaian terhenti karena proses pekerja berhenti sebelum selesai; pasangan dari pemindaian "
               "sebelumnya tetap berlaku. Tekan «Pindai ulang sekarang» untuk menjalankannya lagi.")
_LOCK_HELD = f"""EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid = {LOCK_CLASS} AND l.objid = duplicate_scan.id AND l.objsubid = 2)"""


def mark_interrupted(conn) -> int:
    """Running scans whose worker is gone (nobody holds their lock) become failed."""
    return conn.execute(text(f"UPDATE duplicate_scan SET status = 'failed', error = :error, finished_at = now() "
                             f"WHERE status = 'running' AND NOT {_LOCK_HELD}"), {"error": INTERRUPTED}).rowcount


def pending(session) -> Optional[DuplicateScan]:
    """The scan queued or running now, if any (after failing the interrupted ones)."""
    mark_interrupted(session)
    return session.query(DuplicateScan).filter(DuplicateScan.status.in_(("queued", "running"))) \
        .order_by(DuplicateScan.id).first()


def last_finished(session) -> Optional[DuplicateScan]:
    return session.query(DuplicateScan).filter(DuplicateScan.status.in_(("done", "failed"))) \
        .order_by(DuplicateScan.id.desc()).first()


def request_scan(app, session, user) -> tuple[DuplicateScan, bool]:
    """Queue a scan for ``user`` (the caller's session; committed here). Returns (the scan,
    whether it is a new one): while one is queued or running, that one is returned."""
    from app.services import import_jobs

    # Two clicks at once must not queue two scans: serialise the check-then-insert.
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_CLASS})
    current = pending(session)
    if current is not None:
        session.commit()
        return current, False
    scan = DuplicateScan(status="queued", requested_by_id=getattr(user, "id", None),
                         requested_by=getattr(user, "username", None))
    session.add(scan)
    session.commit()
    try:
        import_jobs.queue_app(app).tasks[SCAN_TASK].defer(scan_id=scan.id)
    except Exception as exc:  # the queue refused: say so on the row, do not leave it waiting
        log.exception("duplicate scan %s could not be queued", scan.id)
        scan.status, scan.error = "failed", (f"antrean pekerjaan tidak dapat dihubungi ({type(exc).__name__}); "
                                             f"coba lagi nanti")
        session.commit()
    return scan, True


def run_scan(app, scan_id: int) -> None:
    """The worker's task: run the scan, holding the scan's lock on a connection of its own."""
    from app.extensions import db
    from app.services import duplicates

    with app.app_context():
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock_conn:
            lock_conn.execute(text("SELECT pg_advisory_lock(:c, :i)"), {"c": LOCK_CLASS, "i": scan_id})
            try:
                started = lock_conn.execute(text(
                    "UPDATE duplicate_scan SET status = 'running', started_at = now() "
                    "WHERE id = :i AND status = 'queued'"), {"i": scan_id}).rowcount
                if not started:  # failed meanwhile (e.g. marked interrupted): nothing to do
                    return
                try:
                    result = duplicates.scan(db.session)
                    _finish(db.session, scan_id, "done", found=result.found, seconds=result.seconds)
                    db.session.commit()
                except Exception as exc:
                    db.session.rollback()
                    log.exception("duplicate scan %s failed", scan_id)
                    _finish(db.session, scan_id, "failed", error=f"{type(exc).__name__}: {exc}"[:500])
                    db.session.commit()
            finally:
                db.session.remove()
                lock_conn.execute(text("SELECT pg_advisory_unlock(:c, :i)"), {"c": LOCK_CLASS, "i": scan_id})


def record_inline(session, result, username: Optional[str]) -> None:
    """The row of a scan run inline (CLI, demo seed), in the scan's own transaction."""
    scan = DuplicateScan(status="done", requested_by=username, found=result.found, seconds=result.seconds)
    session.add(scan)
    session.flush()
    session.execute(text("UPDATE duplicate_scan SET started_at = requested_at, finished_at = clock_timestamp() "
                         "WHERE id = :i"), {"i": scan.id})


def _finish(session, scan_id: int, status: str, **values) -> None:
    import json

    session.execute(text("UPDATE duplicate_scan SET status = :s, finished_at = clock_timestamp(), "
                         "found = CAST(:found AS jsonb), seconds = CAST(:seconds AS jsonb), error = :error "
                         "WHERE id = :i"),
                    {"s": status, "i": scan_id, "error": values.get("error"),
                     **{k: None if values.get(k) is None else json.dumps(values[k]) for k in ("found", "seconds")}})
