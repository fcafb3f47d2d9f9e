"""docker-compose.yml keeps the settings of config.py; .ci/run calls the README's test command."""
import os
import re
import stat
import subprocess
import sys

import yaml

import config
from tests.conftest import ROOT


def test_compose_environment_matches_config():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["app"]["environment"]
    config_source = (ROOT / "config.py").read_text()
    read_by_config = set(re.findall(r'os\.environ\.get\(\s*"([A-Z_]+)"', config_source))
    assert set(env) <= read_by_config, set(env) - read_by_config
    # No demo key in the deployment: empty means "use the key file", generated on first start.
    assert env["SECRET_KEY"] == "${SECRET_KEY:-}"
    assert config.DEFAULT_SECRET_KEY not in (ROOT / "docker-compose.yml").read_text()
    assert env["SINERGI_DEMO_PASSWORD"].endswith(f":-{config.SINERGI_DEMO_PASSWORD}}}")
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert compose["services"]["db"]["image"].startswith("postgis/postgis:15")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    assert re.search(r"^make test$", ci, re.M)


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_production_with_a_generated_key_in_a_volume():
    compose = _compose()
    app = compose["services"]["app"]
    env = app["environment"]
    assert env["SINERGI_ENV"] == "${SINERGI_ENV:-production}"
    key_file = env["SINERGI_SECRET_KEY_FILE"]
    key_dir = os.path.dirname(key_file)
    assert any(v.split(":")[1] == key_dir and v.split(":")[0] in compose["volumes"] for v in app["volumes"]), \
        app["volumes"]


def test_compose_worker_and_healthcheck():
    compose = _compose()
    app, worker = compose["services"]["app"], compose["services"]["worker"]
    assert worker["image"] == app["image"]
    assert worker["environment"] == app["environment"]
    assert set(worker["depends_on"]) >= {"db", "app"}
    assert worker["command"][-4:] == ["--app", "run", "jobs", "worker"]
    assert worker["command"][0] == "scripts/docker_entrypoint.sh"  # the key exists before the worker starts
    assert "redis" not in compose["services"]
    assert "/health" in " ".join(app["healthcheck"]["test"])


def test_config_reads_the_key_file(tmp_path):
    key = tmp_path / "secret_key"
    key.write_text("f" * 64 + "\n")
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    r = subprocess.run([sys.executable, "-c", "import config; print(config.SECRET_KEY)"], cwd=ROOT,
                       env={**env, "SINERGI_SECRET_KEY_FILE": str(key)}, capture_output=True, text=True)
    assert r.stdout.strip() == "f" * 64, r.stderr
    r = subprocess.run([sys.executable, "-c", "import config; print(config.SECRET_KEY)"], cwd=ROOT,
                       env={**env, "SECRET_KEY": "given", "SINERGI_SECRET_KEY_FILE": str(key)},
                       capture_output=True, text=True)
    assert r.stdout.strip() == "given"  # SECRET_KEY wins


def test_entrypoint_writes_a_private_key_once_and_reuses_it(tmp_path):
    """The entrypoint with a command (as the worker runs it): writes the key, then runs the command."""
    key = tmp_path / "vol" / "secret_key"
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(SINERGI_SECRET_KEY_FILE=str(key), SINERGI_ENV="production")
    first = subprocess.run([str(ROOT / "scripts" / "docker_entrypoint.sh"), "true"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "new random SECRET_KEY" in first.stdout
    secret = key.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    second = subprocess.run([str(ROOT / "scripts" / "docker_entrypoint.sh"), "true"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0 and "new random SECRET_KEY" not in second.stdout
    assert key.read_text().strip() == secret


def test_production_refuses_a_key_file_others_can_read(tmp_path):
    key = tmp_path / "secret_key"
    key.write_text("a" * 64)
    key.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(SINERGI_SECRET_KEY_FILE=str(key), SINERGI_ENV="production")
    code = "from app import create_app; create_app()"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "chmod 600" in r.stderr
    key.chmod(0o600)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    key.write_text(config.DEFAULT_SECRET_KEY)  # the demo key in the file is refused like in SECRET_KEY
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "32+ characters" in r.stderr
