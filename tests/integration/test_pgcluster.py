"""The embedded cluster bootstrap is idempotent and stays out of the way of DATABASE_URL."""
import os
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = str(ROOT / "scripts" / "pgcluster.py")


def _run(*args, **env):
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([sys.executable, SCRIPT, *args], env={**base, **env}, capture_output=True, text=True,
                          timeout=120)


def test_start_twice_changes_nothing():
    if os.environ.get("SINERGI_EXTERNAL_DB"):
        import pytest

        pytest.skip("tests run against an external DATABASE_URL; no local cluster to check")
    first = _run("start")
    second = _run("start")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "already running" in second.stdout
    assert "creating a new cluster" not in second.stdout
    assert "created" not in second.stdout
    assert "running on 127.0.0.1" in _run("status").stdout


def test_database_url_means_hands_off():
    r = _run("stop", DATABASE_URL="postgresql://elsewhere/db")
    assert r.returncode == 0
    assert "local cluster is not used" in r.stdout
    assert "running on 127.0.0.1" in _run("status").stdout  # it did not stop ours


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_run_keeps_fsync_on_and_only_the_tests_turn_it_off():
    """On a private cluster (own folder and port; the shared one is never touched): `start` runs
    with fsync on, `start --fast` (scripts/run_tests.sh) with fsync off, and each start sets what
    it is asked on a running cluster too, without a restart."""
    import shutil
    import tempfile
    from pathlib import Path

    import psycopg
    import pytest

    if os.environ.get("SINERGI_EXTERNAL_DB"):
        pytest.skip("tests run against an external DATABASE_URL; no local cluster to check")
    folder = Path(tempfile.mkdtemp(prefix="sinergi-pgcluster-", dir="/tmp"))
    folder.chmod(0o755)  # the postgres user must reach the data directory
    env = {"SINERGI_INSTANCE_DIR": str(folder), "SINERGI_DB_PORT": str(_free_port()), "SINERGI_PG_FAST": "0"}

    def show():
        with psycopg.connect(host=str(folder / "pgsocket"), port=env["SINERGI_DB_PORT"], user="postgres",
                             dbname="postgres") as conn:
            return conn.execute("SELECT current_setting('fsync'), pg_postmaster_start_time()").fetchone()

    try:
        r = _run("start", **env)
        assert r.returncode == 0, r.stderr
        fsync, started = show()
        assert fsync == "on"
        r = _run("start", "--fast", **env)
        assert r.returncode == 0 and "already running" in r.stdout, r.stderr
        assert show() == ("off", started)  # switched without a restart
        r = _run("start", **env)
        assert r.returncode == 0, r.stderr
        assert show() == ("on", started)
        r = _run("start", **{**env, "SINERGI_PG_FAST": "1"})
        assert show()[0] == "off"
        _run("stop", **env)
        r = _run("start", **env)  # a cluster left with fsync off starts with it on again
        assert r.returncode == 0, r.stderr
        assert show()[0] == "on"
    finally:
        _run("stop", **env)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_test_runner_asks_for_the_fast_cluster():
    script = (ROOT / "scripts" / "run_tests.sh").read_text()
    assert "pgcluster.py start --fast" in script
    makefile = (ROOT / "Makefile").read_text()
    assert "pgcluster.py start\n" in makefile  # make run: durable
