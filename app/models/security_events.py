"""Login failures, account locks and revoked API tokens (app/security/login_guard.py).

Kept in PostgreSQL so that every gunicorn worker (and every host) counts the same failures
and honours the same locks and revocations."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, func


class LoginFailure(Model):
    """One failed (or refused) login attempt. Counted over a sliding window per account name
    and per IP address; rows older than a day are purged when a lock is taken."""
    __tablename__ = "login_failure"
    id = Column(BigInteger, primary_key=True)
    # Lower-cased, as typed: also names that match no user (locking them too hides which exist).
    # NULL for a failed token refresh, which names no account.
    username = Column(String(256))
    ip = Column(String(64), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False, server_default=func.now(), index=True)

    __table_args__ = (
        Index("ix_login_failure_username_at", "username", "at"),
        Index("ix_login_failure_ip_at", "ip", "at"),
    )


class LoginLock(Model):
    """The current (or last) lock of an account name; expired when ``locked_until`` has passed."""
    __tablename__ = "login_lock"
    username = Column(String(256), primary_key=True)
    locked_until = Column(DateTime(timezone=True), nullable=False)
    failures = Column(Integer, nullable=False)  # failures in the window that took the lock


class RevokedToken(Model):
    """A JWT (access or refresh) revoked before its expiry, by its ``jti``. A row is useless
    once the token has expired anyway: purged then (``expires_at``)."""
    __tablename__ = "jwt_revoked"
    jti = Column(String(64), primary_key=True)
    user_id = Column(Integer)  # no FK: the denylist outlives deleted users
    token_type = Column(String(10), nullable=False)  # access | refresh
    expires_at = Column(DateTime(timezone=True), nullable=False, index=True)
    revoked_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
