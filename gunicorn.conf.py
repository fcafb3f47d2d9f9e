"""gunicorn settings of `make run`, the Docker entrypoint, and any `gunicorn run:app` started in
this folder (gunicorn reads ./gunicorn.conf.py by itself). Options on the command line win.

Why ONE process by default: the per-IP limits (login, public complaints) are counted by
Flask-Limiter in RATELIMIT_STORAGE_URI. With the default memory:// each process keeps its own
counter, so N workers would let an address send N times the limit (and a request's count
would depend on which worker got it). One process with threads keeps one exact counter and
still serves requests concurrently (the app waits on PostgreSQL most of the time). With a
storage shared between processes (redis://, memcached://) config.py defaults to 2 workers,
and SINERGI_WORKERS sets any number.
"""
import ipaddress
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # so that config.py is found

import config as sinergi  # noqa: E402  (not as `config`: gunicorn would take that for its own setting)

bind = f"127.0.0.1:{sinergi.SINERGI_PORT}"
workers = sinergi.SINERGI_WORKERS
threads = sinergi.SINERGI_THREADS
worker_class = "gthread"


def public_binds(binds) -> list[str]:
    """The addresses of ``binds`` that other machines can reach: all but loopback and unix sockets."""
    public = []
    for bind in binds:
        if bind.startswith(("unix:", "fd://")):
            continue
        host = bind.rsplit(":", 1)[0] if ":" in bind else bind
        host = host.strip("[]")
        if host == "localhost":
            continue
        try:
            if ipaddress.ip_address(host).is_loopback:
                continue
        except ValueError:
            pass  # a host name other than localhost: may resolve to anything
        public.append(bind)
    return public


def refuse_public_demo(binds, env: str, allowed: bool) -> None:
    """Demo mode runs with the PUBLIC demo secret key and demo passwords: anyone who can reach it
    can forge an admin session. So it listens on loopback only, unless told explicitly."""
    public = public_binds(binds)
    if env == "demo" and public and not allowed:
        raise RuntimeError(
            f"SINERGI_ENV=demo refuses to listen on {', '.join(public)}: demo mode uses a public secret key "
            "and demo passwords. Bind 127.0.0.1, run with SINERGI_ENV=production, or set "
            "SINERGI_ALLOW_PUBLIC_DEMO=1 if this address is really private (e.g. inside a container "
            "whose port is published on the host's loopback only).")


def on_starting(server):
    """Runs once in the master with the final settings (command line included), before listening."""
    refuse_public_demo(server.cfg.bind, sinergi.SINERGI_ENV, sinergi.SINERGI_ALLOW_PUBLIC_DEMO)
    storage = sinergi.RATELIMIT_STORAGE_URI
    shared = not storage.startswith("memory:")
    n = server.cfg.workers
    if not sinergi.RATELIMIT_ENABLED:
        server.log.info("Rate limits are off (RATELIMIT_ENABLED=0)")
    elif n > 1 and not shared:
        server.log.warning(
            "Rate limits are counted in memory:// by each of the %d worker processes: every per-IP "
            "limit is effectively %d times higher. Run one worker (SINERGI_WORKERS=1, more "
            "SINERGI_THREADS) or set RATELIMIT_STORAGE_URI to a shared store (redis://, memcached://).",
            n, n)
    else:
        server.log.info("Rate limits counted in %s by %d process(es) x %d thread(s)",
                        "memory://" if not shared else storage.split("://", 1)[0] + "://", n, server.cfg.threads)
