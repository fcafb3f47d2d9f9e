"""PostgreSQL stops under a running app: pages answer a 503 page in Indonesian, the API and
/health JSON 503, the log holds one line for the outage (not a traceback per request), and
when the database is back the same gunicorn answers 200 again, without a restart.

The test uses its OWN cluster (scripts/pgcluster.py with a temporary SINERGI_INSTANCE_DIR
and a free port): the shared cluster on 5433 is never stopped."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).resolve().parents[2]
PGCLUSTER = ROOT / "scripts" / "pgcluster.py"
PASSWORD = "sinergi-down-test-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def own_cluster():
    instance = Path(tempfile.mkdtemp(prefix="sinergi-down-"))
    instance.chmod(0o755)  # the postgres system user must reach its data directory
    port = _free_port()
    assert port != 5433
    env = {**os.environ, "SINERGI_INSTANCE_DIR": str(instance), "SINERGI_DB_PORT": str(port),
           "SINERGI_DB_NAME": "sinergi",
           "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/sinergi"}
    env.pop("SINERGI_EXTERNAL_DB", None)

    def pg(command: str) -> None:
        # pgcluster leaves the cluster alone when DATABASE_URL is set: not for its own commands
        pg_env = {k: v for k, v in env.items() if k != "DATABASE_URL"}
        subprocess.run([sys.executable, str(PGCLUSTER), command], env=pg_env, check=True, capture_output=True,
                       timeout=300)

    pg("start")
    try:
        for args in (["db", "upgrade"], ["sinergi", "init"],
                     ["fab", "create-admin", "--username", "admin", "--firstname", "Admin", "--lastname", "Uji",
                      "--email", "admin@uji.invalid", "--password", PASSWORD]):
            done = subprocess.run([sys.executable, "-m", "flask", "--app", "run", *args], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, (args, done.stdout, done.stderr[-600:])
        yield env, pg
    finally:
        subprocess.run([sys.executable, str(PGCLUSTER), "stop"], capture_output=True, timeout=120,
                       env={k: v for k, v in env.items() if k != "DATABASE_URL"})
        shutil.rmtree(instance, ignore_errors=True)


@pytest.fixture(scope="module")
def server(own_cluster, artifacts):
    env, _pg = own_cluster
    port = _free_port()
    log_path = artifacts / "database_down.log"
    log = open(log_path, "w")
    # One worker: gunicorn.conf.py's default (the outage line is one per process).
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
                             "--workers", "1", "--threads", "4", "run:app"],
                            cwd=ROOT, env={**env, "RATELIMIT_ENABLED": "0"}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/login/", timeout=2)
            break
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log_path}")
            time.sleep(0.5)
    yield url, log_path
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


class Browser:
    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path, headers=None):
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read().decode()

    def post(self, path, data):
        request = urllib.request.Request(self.base + path, data=urlencode(data).encode())
        try:
            with self.opener.open(request, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


def _login(browser: Browser) -> None:
    import re

    status, _, page = browser.get("/login/")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    browser.post("/login/", {"username": "admin", "password": PASSWORD, "csrf_token": token})
    status, _, page = browser.get("/householdview/list/")
    assert status == 200 and "Keluar" in page or "logout" in page, (status, page[:300])


def test_outage_answers_503_logs_once_and_recovers(own_cluster, server):
    _env, pg = own_cluster
    url, log_path = server
    browser = Browser(url)
    status, _, body = browser.get("/health")
    assert status == 200, body
    assert json.loads(body) == {"process": "up", "database": "reachable", "migrations": "head"}
    assert browser.get("/login/")[0] == 200
    _login(browser)

    pg("stop")
    try:
        for _ in range(3):
            for path in ("/householdview/list/", "/", "/login/"):
                status, ctype, page = browser.get(path)
                assert status == 503, (path, status, page[:300])
                assert "text/html" in ctype and "Basis data sedang tidak dapat dihubungi" in page, (path, page[:300])
                assert "Traceback" not in page and "psycopg" not in page and "5433" not in page
            status, ctype, body = browser.get("/api/v1/household/")
            assert status == 503 and "application/json" in ctype, (status, body[:300])
            assert "Basis data" in json.loads(body)["message"]
            status, _, body = browser.get("/health")
            assert status == 503 and json.loads(body)["database"] == "unreachable", body
        log = log_path.read_text()
        assert log.count("database unreachable") == 1, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
    finally:
        pg("start")

    for _ in range(30):  # the pool's pre-ping reconnects on the next request; no restart
        status, _, body = browser.get("/health")
        if status == 200:
            break
        time.sleep(1)
    assert status == 200, body
    assert browser.get("/login/")[0] == 200
    status, _, page = browser.get("/householdview/list/")  # the session survived the outage
    assert status == 200, page[:300]
    log = log_path.read_text()
    assert log.count("database reachable again") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
