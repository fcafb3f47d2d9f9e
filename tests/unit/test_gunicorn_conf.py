"""gunicorn.conf.py: one process while the rate limits are counted in memory (each process
would count on its own), more only with a storage the processes share; the settings as
gunicorn itself reads them (``--print-config``), from the repository folder like `make run`."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def settings(*args: str, **env) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("RATELIMIT_STORAGE_URI", "SINERGI_WORKERS",
                                                                 "SINERGI_THREADS", "SINERGI_PORT")}
    r = subprocess.run([GUNICORN, "--print-config", *args, "run:app"], cwd=ROOT, env={**environ, **env},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return dict(re.findall(r"^(\w+)\s+= (.*)$", r.stdout, re.M))


def test_memory_storage_runs_one_process_with_threads():
    s = settings()
    assert (s["workers"], s["threads"], s["worker_class"]) == ("1", "8", "gthread")
    assert s["bind"] == "['127.0.0.1:8080']"


@pytest.mark.parametrize("uri", ["redis://cache:6379/0", "memcached://cache:11211"])
def test_a_shared_storage_allows_several_processes(uri):
    assert settings(RATELIMIT_STORAGE_URI=uri)["workers"] == "2"


def test_workers_threads_and_port_can_be_set():
    s = settings(SINERGI_WORKERS="4", SINERGI_THREADS="16", SINERGI_PORT="9000",
                 RATELIMIT_STORAGE_URI="redis://cache:6379/0")
    assert (s["workers"], s["threads"], s["bind"]) == ("4", "16", "['127.0.0.1:9000']")


def test_the_command_line_wins():
    assert settings("--workers", "3")["workers"] == "3"


def test_make_run_and_the_container_use_this_file_and_choose_no_worker_count():
    for path in ("Makefile", "scripts/docker_entrypoint.sh"):
        line = next(line for line in (ROOT / path).read_text().splitlines() if "gunicorn " in line
                    and not line.lstrip().startswith(("#", "@#")))
        assert "-c gunicorn.conf.py" in line and "--workers" not in line, (path, line)


def _conf():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sinergi_gunicorn_conf", ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("bind", ["0.0.0.0:8080", "[::]:8080", "10.1.2.3:8080", "sinergi.example.go.id:80"])
def test_demo_refuses_a_public_address(bind):
    conf = _conf()
    with pytest.raises(RuntimeError, match="SINERGI_ALLOW_PUBLIC_DEMO"):
        conf.refuse_public_demo(["127.0.0.1:8080", bind], "demo", False)
    conf.refuse_public_demo([bind], "demo", True)  # told explicitly
    conf.refuse_public_demo([bind], "production", False)


@pytest.mark.parametrize("bind", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.0.0.2:9000",
                                  "unix:/run/sinergi.sock"])
def test_demo_may_listen_on_loopback(bind):
    _conf().refuse_public_demo([bind], "demo", False)


def _serve(bind, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("SINERGI_ENV", "SINERGI_ALLOW_PUBLIC_DEMO")}
    return subprocess.run([GUNICORN, "-c", "gunicorn.conf.py", "--bind", bind, "run:app"], cwd=ROOT,
                          env={**environ, **env}, capture_output=True, text=True, timeout=60)


def test_gunicorn_in_demo_mode_exits_before_listening_on_all_interfaces():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = _serve(f"0.0.0.0:{port}", SINERGI_ENV="demo")
    assert r.returncode != 0
    assert "SINERGI_ENV=demo refuses to listen on 0.0.0.0" in r.stderr
    assert "Listening at" not in r.stderr


def test_the_container_entrypoint_allows_the_public_bind_only_through_the_setting():
    """docker_entrypoint.sh binds 0.0.0.0 inside the container; docker-compose.yml passes
    SINERGI_ALLOW_PUBLIC_DEMO through (default 0) and runs production by default."""
    import yaml

    entry = (ROOT / "scripts" / "docker_entrypoint.sh").read_text()
    assert '--bind "0.0.0.0:' in entry
    env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["app"]["environment"]
    assert env["SINERGI_ALLOW_PUBLIC_DEMO"] == "${SINERGI_ALLOW_PUBLIC_DEMO:-0}"
    assert env["SINERGI_ENV"] == "${SINERGI_ENV:-production}"
