"""The connection every analysis, report, map and tile request reads through.

A statement timeout (``STATEMENT_TIMEOUT_MS``, env ``SINERGI_STATEMENT_TIMEOUT_MS``, default
30 s) so no request holds a thread and a backend for minutes: a query that runs past it is
cancelled by PostgreSQL and app/errors.py answers 503 with an Indonesian message. (JIT is off
on every connection of the app, config.SQLALCHEMY_ENGINE_OPTIONS: PostGIS's high function costs
made the planner JIT-compile map and analysis queries for 0.5 s each, for nothing.)

``SET LOCAL``: it ends with the request's transaction, so a pooled connection goes back to the
pool with the server's default.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy.engine import Connection

from app.extensions import db


def guarded_connection(timeout_key: str = "STATEMENT_TIMEOUT_MS") -> Connection:
    conn = db.session.connection()
    config = current_app.config
    timeout = int(config.get(timeout_key) or config.get("STATEMENT_TIMEOUT_MS", 30_000))
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout:d}")
    return conn


def timeout_seconds() -> float:
    return int(current_app.config.get("STATEMENT_TIMEOUT_MS", 30_000)) / 1000
