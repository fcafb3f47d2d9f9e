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
