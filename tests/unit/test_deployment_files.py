"""docker-compose.yml keeps the settings of config.py; .ci/run calls the README's test command."""
import re

import yaml

import config
from tests.conftest import ROOT


def test_compose_environment_matches_config():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["app"]["environment"]
    config_source = (ROOT / "config.py").read_text()
    read_by_config = set(re.findall(r'os\.environ\.get\(\s*"([A-Z_]+)"', config_source))
    assert set(env) <= read_by_config, set(env) - read_by_config
    assert env["SECRET_KEY"] == f"${{SECRET_KEY:-{config.DEFAULT_SECRET_KEY}}}"
    assert env["SINERGI_DEMO_PASSWORD"].endswith(f":-{config.SINERGI_DEMO_PASSWORD}}}")
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert compose["services"]["db"]["image"].startswith("postgis/postgis:15")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    assert re.search(r"^make test$", ci, re.M)
