"""The audit trail: who changed what, when, before and after, chained by SHA-256.

Every ORM write of an audited model leaves a row, whatever the path (screen, REST API,
command line), because the rows are written by a session event in the same transaction
as the change. Bulk SQL paths (importers) call ``record`` themselves. Each row's hash
covers its content and the previous row's hash, so ``verify`` finds a row that was
altered, inserted or removed directly in the database.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from typing import Any, Iterable, Optional

from sqlalchemy import event, inspect, insert, select, text
from sqlalchemy.orm import Session

from app.models.audit import AuditLog

GENESIS = "0" * 64
SECRET_FIELDS = {"password"}  # never copied into the trail
# Bookkeeping FAB updates on every login; a change of only these is not worth a row.
NOISE_FIELDS = {"last_login", "login_count", "fail_login_count"}


def _audited_models() -> tuple[type, ...]:
    from flask_appbuilder.security.sqla.models import Role

    from app.models import Enrolment, Household, HouseholdMember, PriorityZone, Program, SinergiUser

    return (Household, HouseholdMember, Enrolment, Program, PriorityZone, SinergiUser, Role)


def _plain(value: Any) -> Any:
    """A JSON value that reads back identically from JSONB (so hashes can be recomputed)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (decimal.Decimal, float)):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    try:  # geometry
        from geoalchemy2.elements import WKBElement, WKTElement
        from geoalchemy2.shape import to_shape

        if isinstance(value, (WKBElement, WKTElement)):
            return to_shape(value).wkt
    except Exception:  # pragma: no cover - a value we cannot turn into WKT is kept as text
        pass
    return str(value)


def _same(old: Any, new: Any) -> bool:
    """Equal for the trail: "" and None alike; geometry text compared as geometry."""
    if old in (None, "") and new in (None, ""):
        return True
    if isinstance(old, str) and isinstance(new, str) and (old.upper().startswith("SRID=") or
                                                          new.upper().startswith("SRID=")):
        try:
            from shapely import wkt

            strip = (lambda t: t.split(";", 1)[1] if t.upper().startswith("SRID=") else t)
            return wkt.loads(strip(old)).equals_exact(wkt.loads(strip(new)), 1e-9)
        except Exception:
            return False
    return old == new


def _columns(obj) -> dict[str, Any]:
    mapper = inspect(obj).mapper
    return {c.key: _plain(getattr(obj, c.key)) for c in mapper.column_attrs
            if c.key not in SECRET_FIELDS and c.columns[0].table is mapper.local_table}


def _changes(obj) -> tuple[dict, dict]:
    state = inspect(obj)
    before, after = {}, {}
    for attr in state.mapper.column_attrs:
        if attr.key in SECRET_FIELDS | NOISE_FIELDS:
            continue
        history = state.attrs[attr.key].history
        if history.has_changes():
            old = _plain(history.deleted[0]) if history.deleted else None
            new = _plain(history.added[0]) if history.added else None
            if _same(old, new):
                continue  # a form writing back what was there (a point as EWKT, "" for None)
            before[attr.key], after[attr.key] = old, new
    return before, after


def _content(row: dict) -> str:
    keys = ("at", "user_id", "username", "action", "entity", "entity_id", "before", "after", "note", "prev_hash")
    return json.dumps({k: row.get(k) for k in keys}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _digest(row: dict) -> str:
    return hashlib.sha256(_content(row).encode("utf-8")).hexdigest()


def _actor() -> tuple[Optional[int], str]:
    from flask import current_app, has_request_context

    if has_request_context():
        user = current_app.appbuilder.sm.current_user
        if user is not None and getattr(user, "is_authenticated", False):
            return user.id, user.username
        return None, "anonim"
    return None, "sistem"


def record(connection, entries: Iterable[dict]) -> int:
    """Append rows (dicts with action, entity, entity_id, before, after, note) to the chain.

    Takes a transaction-scoped advisory lock so concurrent writers chain one after another."""
    entries = list(entries)
    if not entries:
        return 0
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinergi.audit_log'))"))
    prev = connection.execute(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)).scalar() or GENESIS
    user_id, username = _actor()
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for entry in entries:
        row = {"at": now.isoformat(), "user_id": user_id, "username": username, "before": None, "after": None,
               "note": None, **entry, "prev_hash": prev}
        row["hash"] = prev = _digest(row)
        rows.append({**row, "at": now})
    connection.execute(insert(AuditLog), rows)
    return len(rows)


def annotate(session: Session, action: str, note: Optional[str] = None) -> None:
    """Name the next flush's changes with a business action (e.g. accept_location, approve)
    instead of a plain update, and attach a note; used once, then forgotten."""
    session.info["sinergi_audit"] = {"action": action, "note": note}


def _after_flush(session: Session, flush_context) -> None:
    audited = _audited_models()
    label = session.info.pop("sinergi_audit", None)
    entries = []
    for obj in session.new:
        if isinstance(obj, audited):
            entries.append({"action": "create", "entity": obj.__tablename__, "entity_id": obj.id,
                            "after": _columns(obj)})
    for obj in session.dirty:
        if isinstance(obj, audited) and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)
            if before or after:
                entries.append({"action": "update", "entity": obj.__tablename__, "entity_id": obj.id,
                                "before": before, "after": after})
    for obj in session.deleted:
        if isinstance(obj, audited):
            entries.append({"action": "delete", "entity": obj.__tablename__, "entity_id": obj.id,
                            "before": _columns(obj)})
    if entries and label:
        for entry in entries:
            if entry["action"] == "update":
                entry["action"] = label["action"]
            entry["note"] = label["note"]
    if entries:
        record(session.connection(), entries)


def install(session_factory) -> None:
    """Listen on the app's session so every ORM change of an audited model is recorded."""
    if not event.contains(session_factory, "after_flush", _after_flush):
        event.listen(session_factory, "after_flush", _after_flush)


def verify(connection) -> list[str]:
    """Recompute the chain; returns the problems found (empty = intact)."""
    problems = []
    prev = GENESIS
    table = AuditLog.__table__
    for row in connection.execute(select(table).order_by(table.c.id)).mappings():
        row = dict(row)
        at = row["at"].astimezone(dt.timezone.utc).isoformat() if row["at"] else None
        content = {**row, "at": at}
        if row["prev_hash"] != prev:
            problems.append(f"baris {row['id']}: tidak tersambung dengan baris sebelumnya (ada baris dihapus/disisipkan)")
        if _digest(content) != row["hash"]:
            problems.append(f"baris {row['id']}: isi tidak cocok dengan hash-nya (baris diubah)")
        prev = row["hash"]
    return problems
