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
