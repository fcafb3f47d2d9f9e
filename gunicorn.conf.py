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
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # so that config.py is found

import config as sinergi  # noqa: E402  (not as `config`: gunicorn would take that for its own setting)

bind = f"127.0.0.1:{sinergi.SINERGI_PORT}"
workers = sinergi.SINERGI_WORKERS
threads = sinergi.SINERGI_THREADS
worker_class = "gthread"


def on_starting(server):
    """Runs once in the master with the final settings (command line included)."""
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
