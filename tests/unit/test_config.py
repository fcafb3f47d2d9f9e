"""Configuration: production refuses a default secret key and never makes demo users."""
import os
import subprocess
import sys

from tests.conftest import ROOT, flask_cli


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_production_refuses_default_secret_key():
    r = _python("from app import create_app; create_app()", SINERGI_ENV="production", SECRET_KEY="")
    assert r.returncode != 0
    assert "SECRET_KEY" in r.stderr
    r = _python("import config; from app import create_app; create_app()", SINERGI_ENV="production")
    assert r.returncode != 0 and "SECRET_KEY" in r.stderr


def test_production_starts_with_a_real_key():
    r = _python("from app import create_app; print(create_app().config['SINERGI_ENV'])",
                SINERGI_ENV="production", SECRET_KEY="x" * 40)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("production")


def test_production_never_creates_demo_users(app):
    from app.extensions import appbuilder

    r = flask_cli("seed", "demo", env={"SINERGI_ENV": "production", "SECRET_KEY": "y" * 40})
    assert r.returncode != 0
    assert "SINERGI_ENV=demo" in r.stderr
    with app.app_context():
        assert appbuilder.sm.find_user(username="op1801") is not None  # made by the demo fixture


def test_unknown_environment_is_refused():
    r = _python("import config", SINERGI_ENV="staging")
    assert r.returncode != 0 and "SINERGI_ENV" in r.stderr


def test_database_url_spellings_are_accepted():
    r = _python("import config; print(config.SQLALCHEMY_DATABASE_URI)",
                DATABASE_URL="postgresql://u:p@db:5432/sinergi")
    assert r.stdout.strip() == "postgresql+psycopg://u:p@db:5432/sinergi"


def test_no_base_map_from_outside_unless_configured():
    env = {k: v for k, v in os.environ.items() if k != "SINERGI_BASEMAP_URL"}
    r = subprocess.run([sys.executable, "-c", "import config; print(repr(config.SINERGI_BASEMAP_URL))"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "''"
    r = _python("import config; print(config.SINERGI_BASEMAP_URL)", SINERGI_BASEMAP_URL="http://tiles.local/{z}/{x}/{y}.png")
    assert r.stdout.strip() == "http://tiles.local/{z}/{x}/{y}.png"
