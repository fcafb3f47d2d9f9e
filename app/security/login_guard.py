"""Brute-force protection of every way to log in, and the denylist of revoked API tokens.

Flask-Limiter (FAB's AUTH_RATE_LIMIT) counts requests per process and only on the /login/
form; here failures are counted in PostgreSQL (tables ``login_failure``, ``login_lock``,
``jwt_revoked``, models in app/models/security_events.py), so every gunicorn worker and host
sees the same counters:

* an account name gets locked for LOGIN_LOCK_SECONDS after LOGIN_MAX_FAILURES failures within
  LOGIN_WINDOW_SECONDS. Names are counted as typed (lower-cased), whether a user has that name
  or not: an unknown name is locked exactly like a real one, so the answers never tell which
  names exist. During the lock even the right password is refused; the lock ends by itself.
* an IP address is refused once it has LOGIN_IP_MAX_FAILURES failures (any names, failed token
  refreshes included) within the window, until the oldest of them leaves the window.

Taking a lock leaves a row in the audit trail (action ``lock_login``).
The client's address is ``request.remote_addr``: the TCP peer, or what SINERGI_PROXY_HOPS
trusted proxies forwarded (ProxyFix in app/__init__.py).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Optional

from flask import current_app, g, request
from sqlalchemy import text

MAX_NAME = 256  # login_failure.username / login_lock.username
PURGE_AFTER = dt.timedelta(days=1)  # failures are kept at least this long (for whoever investigates)

WRONG_LOGIN = "Nama pengguna atau kata sandi salah. Silakan coba lagi."  # as the /login/ form says
TOO_MANY = "Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam {minutes} menit."


def enabled() -> bool:
    return bool(current_app.config.get("LOGIN_GUARD_ENABLED", True))


def client_ip() -> str:
    return (request.remote_addr or "?")[:64]


def account_key(username: Optional[str]) -> Optional[str]:
    """The name failures are counted under: as typed, trimmed and lower-cased (FAB's user
    lookup ignores case, so 'Admin' and 'admin' must share one counter)."""
    name = (username or "").strip().lower()[:MAX_NAME]
    return name or None


def _settings() -> dict:
    cfg = current_app.config
    return {"window": int(cfg.get("LOGIN_WINDOW_SECONDS", 900)), "lock": int(cfg.get("LOGIN_LOCK_SECONDS", 900)),
            "max": int(cfg.get("LOGIN_MAX_FAILURES", 5)), "ip_max": int(cfg.get("LOGIN_IP_MAX_FAILURES", 50))}


def _engine():
    from app.extensions import db

    return db.engine


# Seconds until the account's lock ends, and until the IP's failure count in the window falls
# below its limit: the IP_MAX-th most recent failure (OFFSET ip_max - 1) leaving the window.
_WAIT_SQL = text("""
    SELECT GREATEST(
        COALESCE((SELECT EXTRACT(EPOCH FROM l.locked_until - now()) FROM login_lock l
                   WHERE l.username = :name AND l.locked_until > now()), 0),
        COALESCE((SELECT EXTRACT(EPOCH FROM f.at + make_interval(secs => :window) - now()) FROM login_failure f
                   WHERE f.ip = :ip AND f.at > now() - make_interval(secs => :window)
                   ORDER BY f.at DESC OFFSET :ip_max - 1 LIMIT 1), 0))""")


def _wait(conn, name: Optional[str], ip: str, s: dict) -> int:
    seconds = conn.execute(_WAIT_SQL, {"name": name, "ip": ip, "window": s["window"],
                                       "ip_max": max(s["ip_max"], 1)}).scalar()
    return math.ceil(float(seconds or 0))


def retry_after(username: Optional[str], ip: Optional[str] = None) -> int:
    """Seconds this attempt must wait (account locked or IP over its limit); 0: go ahead."""
    if not enabled():
        return 0
    with _engine().connect() as conn:
        return _wait(conn, account_key(username), ip or client_ip(), _settings())


def record_failure(username: Optional[str], ip: Optional[str] = None) -> int:
    """Count a failed attempt (``username`` None: a failed token refresh). Locks the account
    when this failure reaches the limit. Returns the seconds to wait now (0: not blocked)."""
    if not enabled():
        return 0
    name, ip, s = account_key(username), ip or client_ip(), _settings()
    with _engine().begin() as conn:
        conn.execute(text("INSERT INTO login_failure (username, ip) VALUES (:name, :ip)"), {"name": name, "ip": ip})
        if name is not None:
            # Failures before the end of the last lock (or the last success) no longer count.
            failures = conn.execute(text("""
                SELECT count(*) FROM login_failure f
                 WHERE f.username = :name AND f.at > now() - make_interval(secs => :window)
                   AND f.at > COALESCE((SELECT locked_until FROM login_lock WHERE username = :name), '-infinity')"""),
                {"name": name, "window": s["window"]}).scalar_one()
            if failures >= s["max"]:
                _lock(conn, name, ip, failures, s)
        return _wait(conn, name, ip, s)


def _lock(conn, name: str, ip: str, failures: int, s: dict) -> None:
    # Only one worker takes a given lock: the upsert changes nothing while a lock is running,
    # and RETURNING then gives no row — so one audit row per lock.
    locked_until = conn.execute(text("""
        INSERT INTO login_lock (username, locked_until, failures)
        VALUES (:name, now() + make_interval(secs => :lock), :failures)
        ON CONFLICT (username) DO UPDATE SET locked_until = EXCLUDED.locked_until, failures = EXCLUDED.failures
         WHERE login_lock.locked_until <= now()
        RETURNING locked_until"""), {"name": name, "lock": s["lock"], "failures": failures}).scalar()
    if locked_until is None:
        return
    user_id = conn.execute(text("SELECT id FROM ab_user WHERE lower(username) = :name"), {"name": name}).scalar()
    _audit(conn, {"action": "lock_login", "entity": "ab_user", "entity_id": user_id,
                  "after": {"username": name, "ip": ip, "failures": failures,
                            "locked_until": locked_until.astimezone(dt.timezone.utc).isoformat()},
                  "note": f"akun dikunci {math.ceil(s['lock'] / 60)} menit setelah {failures} kali gagal masuk"})
    # Opportunistic clean-up, at most once per lock: old failures and denylisted tokens that
    # have expired anyway.
    conn.execute(text("DELETE FROM login_failure WHERE at < now() - make_interval(secs => :keep)"),
                 {"keep": max(s["window"], int(PURGE_AFTER.total_seconds()))})
    conn.execute(text("DELETE FROM jwt_revoked WHERE expires_at < now()"))


def _audit(conn, entry: dict) -> None:
    from flask_jwt_extended import verify_jwt_in_request

    from app.services import audit

    # audit.current_actor asks FAB for the current user, which asks flask-jwt-extended, which
    # raises unless a token check ran in this request. Run the optional one: no token -> "anonim".
    try:
        verify_jwt_in_request(optional=True)
    except Exception:  # a broken Authorization header on a login request: still nobody
        g._jwt_extended_jwt = {}
        g._jwt_extended_jwt_user = {"loaded_user": None}
    audit.record(conn, [entry])


def record_success(username: str) -> None:
    """A successful login: the account's earlier failures stop counting (a user who mistyped
    four times and then got in does not get locked by the next typo)."""
    if not enabled():
        return
    with _engine().begin() as conn:
        conn.execute(text("""
            INSERT INTO login_lock (username, locked_until, failures) VALUES (:name, now(), 0)
            ON CONFLICT (username) DO UPDATE SET locked_until = now(), failures = 0
             WHERE login_lock.locked_until <= now()"""), {"name": account_key(username)})


def wait_message(seconds: int) -> str:
    return TOO_MANY.format(minutes=max(1, math.ceil(seconds / 60)))


# --- revoked API tokens -----------------------------------------------------------------------------

def revoke(payload: dict) -> None:
    """Put a decoded JWT on the denylist until it expires."""
    expires = dt.datetime.fromtimestamp(int(payload["exp"]), dt.timezone.utc) if payload.get("exp") else \
        dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=366)  # a token without expiry: keep a year
    sub = payload.get("sub")
    with _engine().begin() as conn:
        conn.execute(text("""
            INSERT INTO jwt_revoked (jti, user_id, token_type, expires_at) VALUES (:jti, :uid, :kind, :exp)
            ON CONFLICT (jti) DO NOTHING"""),
            {"jti": payload["jti"], "uid": int(sub) if str(sub or "").isdigit() else None,
             "kind": str(payload.get("type", "access"))[:10], "exp": expires})
        conn.execute(text("DELETE FROM jwt_revoked WHERE expires_at < now()"))  # useless once expired


def is_revoked(payload: dict) -> bool:
    jti = payload.get("jti")
    if not jti:
        return True  # every token we issue has one
    with _engine().connect() as conn:
        return conn.execute(text("SELECT 1 FROM jwt_revoked WHERE jti = :jti"), {"jti": jti}).first() is not None
