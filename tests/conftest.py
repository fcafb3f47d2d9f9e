"""Shared fixtures. The whole suite runs against a throw-away PostgreSQL + PostGIS database
made here (on the embedded cluster, or on DATABASE_URL's server when set) and dropped at
the end; the schema comes from the Alembic migrations, the areas from the real Lampung
files when they are present."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Decide the throw-away database before anything imports config.py.
if os.environ.get("DATABASE_URL"):
    os.environ["SINERGI_EXTERNAL_DB"] = "1"
_base_url = make_url(os.environ.get("DATABASE_URL")
                     or f"postgresql+psycopg://postgres@127.0.0.1:{os.environ.get('SINERGI_DB_PORT', '5433')}/postgres")
TEST_DB = f"sinergi_test_{secrets.token_hex(4)}"
TEST_URL = _base_url.set(database=TEST_DB).render_as_string(hide_password=False)
os.environ["DATABASE_URL"] = TEST_URL
os.environ["SINERGI_BASEMAP_URL"] = ""  # no internet here: the maps must work without a base layer
os.environ.setdefault("RATELIMIT_ENABLED", "0")

SHARED_AREAS = Path(os.environ.get("SINERGI_AREAS_DIR", ROOT.parent / "shared" / "data" / "lampung"))
HAVE_LAMPUNG = all((SHARED_AREAS / f).exists() for f in ("kabupaten.geojson", "kecamatan.geojson", "desa.geojson"))
NO_LAMPUNG_REASON = f"real Lampung boundaries not found in {SHARED_AREAS} (set SINERGI_AREAS_DIR)"
# Tests that rely on real village codes, points or polygons of Lampung: skipped, with the
# reason, on the synthetic geography that `areas load-demo` makes when the files are absent.
needs_lampung = pytest.mark.skipif(not HAVE_LAMPUNG, reason=NO_LAMPUNG_REASON)
DEMO_PASSWORD = "sinergi-demo"


def _admin_conninfo() -> str:
    return _base_url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


def pytest_report_header(config):
    if HAVE_LAMPUNG:
        return f"areas: the real Lampung boundaries in {SHARED_AREAS}"
    return (f"areas: SYNTHETIC geography — {NO_LAMPUNG_REASON}; "
            "the tests that need the real boundaries are skipped")


def pytest_sessionstart(session):
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{TEST_DB}"')
    with psycopg.connect(make_url(TEST_URL).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def pytest_sessionfinish(session, exitstatus):
    try:
        from app.extensions import db

        db.engine.dispose()
    except Exception:
        pass
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)')


def flask_cli(*args: str, env: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """Run ``flask --app run ...`` as a user would, against the test database."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "run", *args], cwd=ROOT, env=full_env,
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def app():
    """The app on the migrated test database, with roles, areas and demo users loaded
    through the same commands `make run` uses."""
    from app import create_app

    flask_app = create_app(TESTING=True, WTF_CSRF_ENABLED=False)
    with flask_app.app_context():
        from flask_migrate import upgrade

        upgrade()
    flask_cli("sinergi", "init", check=True)
    flask_cli("areas", "load-demo", check=True)
    flask_cli("seed", "demo", check=True)
    return flask_app


@pytest.fixture()
def engine(app):
    """The SQLAlchemy engine of the test database. No app context stays pushed: the test
    client must build its own per request, or Flask-Login's user would leak between logins."""
    from app.extensions import db

    with app.app_context():
        return db.engine


@pytest.fixture(scope="session")
def live_server(app):
    """The app served by gunicorn (as `make run` does) on a free port, CSRF on, against the test DB."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(ROOT / "test-artifacts" / "live_server.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
                             "--workers", "2", "--access-logfile", "-", "run:app"],
                            cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/login/", timeout=2)
            break
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log.name}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


class JobsWorker:
    """``flask --app run jobs worker`` as a subprocess against the test database (the web upload
    only enqueues; this process runs the imports). ``restart(env)`` replaces it (e.g. with the
    SINERGI_JOB_TEST_PAUSE hook), ``kill()`` SIGKILLs it as a crash would."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.log = None

    def start(self, env: dict | None = None) -> subprocess.Popen:
        assert self.proc is None or self.proc.poll() is not None, "a worker runs already"
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        self.log = open(ROOT / "test-artifacts" / "jobs_worker.log", "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "jobs", "worker"], cwd=ROOT,
                                     env={**os.environ, **(env or {})}, stdout=self.log, stderr=subprocess.STDOUT)
        return self.proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # graceful: procrastinate finishes the job at hand
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None

    def kill(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def restart(self, env: dict | None = None) -> subprocess.Popen:
        self.stop()
        return self.start(env)


@pytest.fixture(scope="session")
def jobs_worker(app):
    """One queue worker for the session, for the tests that import through the web."""
    worker = JobsWorker()
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def wait_until(predicate, timeout: float = 120, what: str = "condition"):
    """Poll ``predicate`` until it returns something true (returned), for at most ``timeout``
    seconds: for the work of another process (the queue worker), which no event announces."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def remote_choices(client, url: str) -> list[dict]:
    """Every choice a select2 choices endpoint (app/views/remote_filters.py) offers, following
    its pages."""
    found, page = [], 1
    while True:
        r = client.get(f"{url}{'&' if '?' in url else '?'}page={page}")
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        body = r.get_json()
        found += body["results"]
        if not body["pagination"]["more"]:
            return found
        page += 1
        assert page < 500


def sql(app, statement: str, **params):
    """Run SQL in its own app context (never sharing the session with a request) and commit;
    the rows, or [] for a statement that returns none."""
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        result = db.session.execute(text(statement), params)
        rows = result.fetchall() if result.returns_rows else []
        db.session.commit()
        return rows


@pytest.fixture(scope="module")
def remove_import_uploads(app):
    """The web import keeps uploads and reports under UPLOAD_FOLDER/imports: a module that
    imports through the web removes its own (``pytestmark = pytest.mark.usefixtures(...)``)."""
    folder = Path(app.config["UPLOAD_FOLDER"]) / "imports"
    before = set(folder.rglob("*")) if folder.exists() else set()
    yield
    for path in (set(folder.rglob("*")) if folder.exists() else set()) - before:
        if path.is_file():
            path.unlink()


def session_client(app, username: str):
    """A test client logged in as ``username`` (demo password) through the login form."""
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), f"login {username} failed"
    return client
