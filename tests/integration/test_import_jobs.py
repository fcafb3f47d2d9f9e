"""The web imports run in the queue worker (``flask --app run jobs worker``, a separate process),
survive a killed worker (failed with a message, nothing written, restartable with "Ulangi"),
and the restart is scoped like the job itself. app/services/import_jobs.py."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from app.services.import_jobs import INTERRUPTED
from tests.conftest import needs_lampung, wait_until
from tests.integration.test_household_import import _DAY, _login, _upload, _wait, household_row, write_csv

ROWS = 20_000  # large enough that the commit is plainly "mid-run" at the pause


pytestmark = pytest.mark.usefixtures("remove_import_uploads")


@pytest.fixture(scope="module")
def places(app):
    """A village of Lampung Timur (18.07, op1807's) with a point well inside."""
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT v.code, ST_X(p) AS lon, ST_Y(p) AS lat
              FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id,
                   LATERAL (SELECT ST_PointOnSurface(ST_Buffer(v.geom, -0.002)) AS p) s
             WHERE r.code = '18.07' AND NOT ST_IsEmpty(ST_Buffer(v.geom, -0.002))
             ORDER BY v.code LIMIT 1""")).mappings().one()
    return {"timur": dict(row)}


def _households(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM household")).scalar()


def _job(engine, job_id):
    with engine.connect() as conn:
        return conn.execute(text("SELECT status, error, summary, progress FROM import_job WHERE id = :id"),
                            {"id": job_id}).one()


@needs_lampung
def test_upload_is_queued_and_done_by_the_worker_process(app, engine, places, jobs_worker, tmp_path):
    """Without a worker the upload stays queued (nothing in the web process runs it); the
    worker process picks it up from the queue when it starts."""
    client = app.test_client()
    _login(client, "op1807")
    jobs_worker.stop()
    try:
        job_id = _upload(client, write_csv(tmp_path / "antre.csv", [household_row(places["timur"])]))
        time.sleep(3)
        assert client.get(f"/imports/job/{job_id}/status").json["status"] == "queued"
        with engine.connect() as conn:
            queued = conn.execute(text("SELECT status FROM procrastinate.procrastinate_jobs "
                                       "WHERE task_name = 'sinergi.import_job' AND (args->>'job_id')::int = :id"),
                                  {"id": job_id}).scalars().all()
        assert queued == ["todo"]
        assert "import-no-worker" in client.get(f"/imports/job/{job_id}").get_data(as_text=True)
    finally:
        jobs_worker.start()
    assert _wait(client, job_id)["status"] == "done"
    assert _job(engine, job_id).summary["rows"] == 1
    job_id = _upload(client, write_csv(tmp_path / "antre2.csv", [household_row(places["timur"])]))
    time.sleep(0.5)  # a worker beats every 10 s: this one has, at its start
    assert "import-no-worker" not in client.get(f"/imports/job/{job_id}").get_data(as_text=True)
    assert _wait(client, job_id)["status"] == "done"


@needs_lampung
def test_killed_worker_fails_the_job_writes_nothing_and_ulangi_finishes_it(app, engine, places, jobs_worker,
                                                                           tmp_path):
    client = app.test_client()
    _login(client, "op1807")
    # Own numbering (the shared helpers' serial has 4 digits): No KK issued 10-11/1999, heads born 1975.
    rows = [household_row(places["timur"], nama_kepala=f"Uji Antrean {i}",
                          no_kk=f"180701{_DAY:02d}{10 + i // 10000:02d}99{i % 10000:04d}",
                          nik_kepala=f"18070115{4 + i // 10000:02d}75{i % 10000:04d}") for i in range(ROWS)]
    path = write_csv(tmp_path / "besar.csv", rows)
    check_id = _upload(client, path)
    assert _wait(client, check_id, timeout=300)["status"] == "done"
    assert "import-commit" in client.get(f"/imports/job/{check_id}").get_data(as_text=True)

    # The commit: the worker pauses in it (checks done, the transaction open, the write next) and is killed there.
    jobs_worker.restart(env={"SINERGI_JOB_TEST_PAUSE": "menyimpan:300"})
    try:
        before = _households(engine)
        r = client.post(f"/imports/job/{check_id}/commit")
        commit_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
        wait_until(lambda: (lambda j: j.status == "running" and (j.summary or {}).get("phase") == "menyimpan")(
            _job(engine, commit_id)), timeout=300, what="the commit job to reach its write")
        jobs_worker.kill()
        status = wait_until(lambda: (lambda s: s if s["finished"] else None)(
            client.get(f"/imports/job/{commit_id}/status").json), timeout=30, what="the job to be marked failed")
        assert status["status"] == "failed" and status["error"] == INTERRUPTED
        assert _households(engine) == before  # nothing half-written
        page = client.get(f"/imports/job/{commit_id}").get_data(as_text=True)
        assert "import-retry" in page and "Ulangi" in page and "csrf_token" in page
    finally:
        jobs_worker.restart()

    # "Ulangi": the same job, queued again, done by the new worker; every row is in.
    r = client.post(f"/imports/job/{commit_id}/retry")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/imports/job/{commit_id}")
    assert _wait(client, commit_id, timeout=300)["status"] == "done", _job(engine, commit_id).error
    job = _job(engine, commit_id)
    assert job.summary["committed"] and job.summary["inserted"] == ROWS and job.error is None
    assert _households(engine) == before + ROWS


@needs_lampung
def test_an_operator_cannot_restart_another_regencys_job(app, engine, places, jobs_worker, tmp_path):
    client = app.test_client()
    _login(client, "op1807")
    job_id = _upload(client, write_csv(tmp_path / "lain.csv", [household_row(places["timur"])]))
    assert _wait(client, job_id)["status"] == "done"
    with engine.begin() as conn:  # as a killed worker leaves it (no worker holds its lock)
        conn.execute(text("UPDATE import_job SET status = 'running' WHERE id = :id"), {"id": job_id})
    _login(client, "op1801")
    assert client.post(f"/imports/job/{job_id}/retry").status_code == 404
    assert client.get(f"/imports/job/{job_id}/status").status_code == 404
    assert _job(engine, job_id).status == "running"  # another regency's page did not even look at it
    _login(client, "op1807")
    assert client.get(f"/imports/job/{job_id}/status").json["status"] == "failed"  # its own page does
    assert client.post(f"/imports/job/{job_id}/retry").status_code == 302
    assert _wait(client, job_id)["status"] == "done"
