#!/usr/bin/env python3
"""The project's private PostgreSQL 15 + PostGIS cluster under ``instance/``.

Used when ``DATABASE_URL`` is not set. Standard library only, so it runs before
the virtualenv exists. Idempotent: every command checks before it acts.

    python3 scripts/pgcluster.py start            # initdb if needed, start, create DB + postgis
    python3 scripts/pgcluster.py start --fast     # the same with fsync off: throw-away test data only
    python3 scripts/pgcluster.py stop
    python3 scripts/pgcluster.py status
    python3 scripts/pgcluster.py createdb NAME    # (re)create NAME with postgis, for throw-away test DBs
    python3 scripts/pgcluster.py dropdb NAME

Durability: `start` keeps fsync ON (people type real data into the `make run` database; with
fsync off a power cut can corrupt the whole cluster). The test runner asks for `--fast` (or
SINERGI_PG_FAST=1): fsync off, for speed, on data that is thrown away anyway. Every start sets
what is asked through ALTER SYSTEM + reload (fsync needs no restart), so a cluster that is
already running, or was initialised by an older version with fsync off, follows the request.

initdb and pg_ctl refuse to run as root, so as root they run as the
``postgres`` system user and the data directory belongs to that user.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("SINERGI_INSTANCE_DIR", ROOT / "instance"))
DATA_DIR = INSTANCE / "pgdata"
SOCKET_DIR = INSTANCE / "pgsocket"
LOG_FILE = INSTANCE / "postgresql.log"
PORT = int(os.environ.get("SINERGI_DB_PORT", "5433"))
DB_NAME = os.environ.get("SINERGI_DB_NAME", "sinergi")
PG_BIN = Path(os.environ.get("SINERGI_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGIS_PACKAGE = "postgresql-15-postgis-3"
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")


def fail(message: str) -> None:
    print(f"pgcluster: {message}", file=sys.stderr)
    sys.exit(1)


def as_db_user(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """Run a server command as the postgres user when we are root."""
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, **kw)


def ensure_binaries() -> None:
    if not (PG_BIN / "initdb").exists():
        fail(
            f"PostgreSQL 15 server not found in {PG_BIN}. Install it with:\n"
            f"  sudo apt-get update && sudo apt-get install -y postgresql-15 {POSTGIS_PACKAGE}"
        )
    if POSTGIS_CONTROL.exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"pgcluster: PostGIS is missing; installing {POSTGIS_PACKAGE} ...", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", POSTGIS_PACKAGE], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        if POSTGIS_CONTROL.exists():
            return
    fail(
        "PostGIS is not installed and cannot be installed from here. Run:\n"
        f"  sudo apt-get update && sudo apt-get install -y {POSTGIS_PACKAGE}"
    )


def prepare_dirs() -> None:
    INSTANCE.mkdir(parents=True, exist_ok=True)
    for d in (DATA_DIR, SOCKET_DIR):
        d.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        for d in (DATA_DIR, SOCKET_DIR):
            os.chown(d, pg.pw_uid, pg.pw_gid)
        if not LOG_FILE.exists():
            LOG_FILE.touch()
        os.chown(LOG_FILE, pg.pw_uid, pg.pw_gid)
        # The postgres user must be able to walk down to the data directory.
        probe = as_db_user(["test", "-w", str(DATA_DIR)])
        if probe.returncode != 0:
            fail(
                f"the postgres user cannot reach {DATA_DIR}; make its parent folders "
                f"traversable (chmod o+x on each) or set SINERGI_INSTANCE_DIR to a folder it can reach"
            )
    os.chmod(DATA_DIR, 0o700)


def is_running() -> bool:
    if not (DATA_DIR / "PG_VERSION").exists():
        return False
    r = as_db_user([str(PG_BIN / "pg_ctl"), "status", "-D", str(DATA_DIR)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def psql(sql: str, db: str = "postgres", check: bool = True) -> str:
    r = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", str(SOCKET_DIR), "-p", str(PORT),
         "-U", "postgres", "-d", db, "-c", sql],
        capture_output=True, text=True,
    )
    if check and r.returncode != 0:
        fail(f"SQL failed ({sql}): {r.stderr.strip()}")
    return r.stdout.strip()


def start(fast: bool = False) -> None:
    ensure_binaries()
    prepare_dirs()
    if not (DATA_DIR / "PG_VERSION").exists():
        print(f"pgcluster: creating a new cluster in {DATA_DIR}", flush=True)
        r = as_db_user([str(PG_BIN / "initdb"), "-D", str(DATA_DIR), "--auth=trust", "-U", "postgres",
                        "-E", "UTF8", "--locale=C.UTF-8"], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"initdb failed: {r.stderr.strip() or r.stdout.strip()}")
    if is_running():
        print(f"pgcluster: already running on 127.0.0.1:{PORT}")
    else:
        # fsync is not on this command line: a command-line setting would beat ALTER SYSTEM below.
        opts = f"-p {PORT} -k {SOCKET_DIR} -c listen_addresses=127.0.0.1"
        r = as_db_user([str(PG_BIN / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(DATA_DIR),
                        "-l", str(LOG_FILE), "-o", opts], capture_output=True, text=True)
        if r.returncode != 0:
            tail = LOG_FILE.read_text(errors="replace").splitlines()[-5:] if LOG_FILE.exists() else []
            fail(f"could not start PostgreSQL on port {PORT}: {r.stderr.strip()} {' | '.join(tail)}\n"
                 f"(another server on that port? set SINERGI_DB_PORT)")
        print(f"pgcluster: started on 127.0.0.1:{PORT} (socket {SOCKET_DIR})")
    set_durability(fast)
    createdb(DB_NAME, recreate=False)


def wait_ready() -> None:
    for _ in range(30):
        if subprocess.run(["pg_isready", "-q", "-h", str(SOCKET_DIR), "-p", str(PORT)]).returncode == 0:
            return
        time.sleep(0.5)


def set_durability(fast: bool) -> None:
    """fsync on (the default) or off (--fast, tests), idempotently, without a restart."""
    wait_ready()
    wanted = "off" if fast else "on"
    psql(f"ALTER SYSTEM SET fsync = {wanted}")
    psql("SELECT pg_reload_conf()")
    for _ in range(20):  # the reload is asynchronous
        if psql("SHOW fsync") == wanted:
            break
        time.sleep(0.1)
    actual = psql("SHOW fsync")
    if actual != wanted:
        source = psql("SELECT source FROM pg_settings WHERE name = 'fsync'")
        print(f"pgcluster: WARNING fsync is {actual} (set by the server's {source}); restart the cluster "
              f"(pgcluster.py stop, then start) to turn it {wanted}", file=sys.stderr)
    elif fast:
        print("pgcluster: fsync off (--fast): for throw-away test data only")


def createdb(name: str, recreate: bool = True) -> None:
    wait_ready()
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") == "1"
    if exists and recreate:
        psql(f'DROP DATABASE "{name}" WITH (FORCE)')
        exists = False
    if not exists:
        psql(f'CREATE DATABASE "{name}"')
        print(f"pgcluster: database {name} created")
    psql("CREATE EXTENSION IF NOT EXISTS postgis", db=name)


def dropdb(name: str) -> None:
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stop() -> None:
    if not is_running():
        print("pgcluster: not running")
        return
    as_db_user([str(PG_BIN / "pg_ctl"), "stop", "-D", str(DATA_DIR), "-m", "fast", "-w"], check=True,
               stdout=subprocess.DEVNULL)
    print("pgcluster: stopped")


def main(argv: list[str]) -> None:
    if os.environ.get("DATABASE_URL"):
        # An external server is configured: the local cluster is none of our business.
        print("pgcluster: DATABASE_URL is set; the local cluster is not used")
        return
    fast = "--fast" in argv or os.environ.get("SINERGI_PG_FAST") == "1"
    argv = [a for a in argv if a != "--fast"]
    cmd = argv[0] if argv else "status"
    if cmd == "start":
        start(fast)
    elif cmd == "stop":
        stop()
    elif cmd == "status":
        print(f"running on 127.0.0.1:{PORT}" if is_running() else "not running")
    elif cmd in ("createdb", "dropdb") and len(argv) == 2:
        if not is_running():
            start(fast)
        (createdb if cmd == "createdb" else dropdb)(argv[1])
    else:
        fail(__doc__.strip())


if __name__ == "__main__":
    main(sys.argv[1:])
