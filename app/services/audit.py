"""The audit trail: who changed what, when, before and after, chained by SHA-256.

Every ORM write of an audited model leaves a row, whatever the path (screen, REST API,
command line), because the rows are written by a session event in the same transaction
as the change. Bulk SQL paths (importers) call ``record`` themselves, or ``record_select``
for a row per changed record computed in the database. Each row's hash covers its content
and the previous row's hash, so ``verify`` finds a row that was altered, inserted or removed
directly in the database; removed LAST rows leave no gap, so ``head`` gives a line to note
outside the database and ``verify(heads=...)`` checks it is still there. The table itself
refuses UPDATE, DELETE and TRUNCATE (trigger ``audit_log_append_only``, migration 0006).
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from typing import Any, Iterable, Optional

import sqlalchemy as sa
from sqlalchemy import event, func, inspect, insert, select, text
from sqlalchemy.orm import Session

from app.models.audit import AuditLog

GENESIS = "0" * 64
SECRET_FIELDS = {"password"}  # never copied into the trail
# Bookkeeping FAB updates on every login; a change of only these is not worth a row.
NOISE_FIELDS = {"last_login", "login_count", "fail_login_count"}
# What a row's hash covers (with the previous row's hash), serialised by _content.
CONTENT_KEYS = ("at", "user_id", "username", "action", "entity", "entity_id", "before", "after", "note", "prev_hash")
# Every writer appends under this transaction-scoped lock, so chains never fork.
LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('sinergi.audit_log'))"


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


def same_value(old: Any, new: Any) -> bool:
    """True when the trail would record no change from ``old`` to ``new``."""
    return _same(_plain(old), _plain(new))


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
    return json.dumps({k: row.get(k) for k in CONTENT_KEYS}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))


def _digest(row: dict) -> str:
    return hashlib.sha256(_content(row).encode("utf-8")).hexdigest()


def current_actor() -> tuple[Optional[int], str]:
    """(user id, username) of whoever acts now: the logged-in user, "anonim" for a request
    without one, "sistem" outside a request (CLI, jobs). Audit rows and the export log use it."""
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
    connection.execute(text(LOCK_SQL))
    prev = _last_hash(connection)
    user_id, username = current_actor()
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for entry in entries:
        row = {"at": now.isoformat(), "user_id": user_id, "username": username, "before": None, "after": None,
               "note": None, **entry, "prev_hash": prev}
        row["hash"] = prev = _digest(row)
        rows.append({**row, "at": now})
    connection.execute(insert(AuditLog), rows)
    return len(rows)


def _last_hash(connection) -> str:
    return connection.execute(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)).scalar() or GENESIS


# --- bulk paths: the rows built and chained in SQL --------------------------------------------------
#
# A million-row import cannot afford a Python round-trip per audit row. ``record_select`` builds
# each row's hashed text in SQL exactly as _content serialises it (json.dumps with sorted keys,
# "," and ":" separators, non-ASCII kept) and chains the hashes with the aggregate
# ``audit_chain`` (migration 0006) used as a running window aggregate. ``before``/``after`` come
# as JSON text written by ``json_text_sql``, which holds to what _plain + json.dumps give for
# values read back from the database: integers as numbers, Decimal as a string, dates ISO, points
# as shapely's WKT. PostgreSQL escapes strings in JSON as Python does with ensure_ascii=False
# (\" \\ \b \f \n \r \t, other control characters \u00xx, everything else as is), and
# JSONB reads these texts back to the same Python values, so ``verify`` recomputes every hash.

def json_text_sql(column: sa.Column, expr: str) -> str:
    """SQL: the JSON text ``json.dumps(_plain(value))`` of ``expr``, a value of ``column``."""
    from geoalchemy2 import Geometry

    kind = column.type
    if isinstance(kind, Geometry):
        if (kind.geometry_type or "").upper() != "POINT":
            raise NotImplementedError(f"{column}: only points are written by bulk paths")
        # shapely's WKT of a point: 'POINT (x y)', each number the shortest text that reads back
        # to the same double. That is float8's text when extra_float_digits = 1 (the caller runs
        # POINT_TEXT_SQL in its transaction) and the number needs no exponent (|x| between 1e-4
        # and 1e15: every coordinate in Indonesia but 0).
        value = f"'POINT (' || ST_X({expr})::text || ' ' || ST_Y({expr})::text || ')'"
    elif isinstance(kind, (sa.DateTime, sa.Float, sa.Interval, sa.Time)):
        raise NotImplementedError(f"{column}: no bulk path writes this type")
    elif isinstance(kind, sa.Date):
        value = f"to_char({expr}, 'YYYY-MM-DD')"
    elif isinstance(kind, sa.Numeric):  # Decimal: str(Decimal) of the stored scale = numeric's text
        value = f"({expr})::text"
    elif isinstance(kind, (sa.Integer, sa.String, sa.Boolean)):
        value = expr
    else:
        raise NotImplementedError(f"{column}: no JSON text for {kind!r}")
    return f"COALESCE(to_json({value})::text, 'null')"


# float8's text must be the shortest exact form (PostgreSQL's default, unless a client raised it).
POINT_TEXT_SQL = "SET LOCAL extra_float_digits = 1"


def _key(name: str) -> str:
    return "'" + json.dumps(name).replace("'", "''") + ":'"


def image_sql(table: sa.Table, alias: str) -> str:
    """SQL: the JSON text of a whole row of ``table`` (alias ``alias``) — what the ORM records
    for a create (``_columns``): every column but secrets, keys sorted."""
    columns = sorted((c for c in table.columns if c.key not in SECRET_FIELDS), key=lambda c: c.key)
    pieces = [f"{_key(c.key)} || {json_text_sql(c, f'{alias}.{c.name}')}" for c in columns]
    return "'{' || " + " || ',' || ".join(pieces) + " || '}'"


def diff_sql(table: sa.Table, names, old: str, new: str) -> tuple[str, str]:
    """SQL: (before, after) JSON texts of the columns ``names`` that differ between the row
    images ``old`` and ``new`` — what the ORM records for an update (``_changes``)."""
    columns = sorted((table.c[n] for n in names), key=lambda c: c.key)
    out = []
    for side in (old, new):
        pieces = [f"CASE WHEN {old}.{c.name} IS DISTINCT FROM {new}.{c.name} "
                  f"THEN {_key(c.key)} || {json_text_sql(c, f'{side}.{c.name}')} END" for c in columns]
        out.append("'{' || concat_ws(',', " + ", ".join(pieces) + ") || '}'")
    return out[0], out[1]


def record_select(connection, source: str, params: Optional[dict] = None,
                  actor: tuple[Optional[int], Optional[str]] = (None, None)) -> int:
    """Append the rows of ``source`` to the chain in ONE ``INSERT ... SELECT``, hashes included.

    ``source``: a SELECT with the columns seq (order in the chain, unique), action, entity,
    entity_id, before, after (JSON text from ``json_text_sql``/``image_sql``/``diff_sql``, or
    NULL) and note. ``actor``: (user id, username) named in the rows; default: as ``record``.
    Same lock, same ``at`` for all rows and same hash as ``record``. Returns the rows added."""
    connection.execute(text(LOCK_SQL))
    prev = _last_hash(connection)
    user_id, username = actor if actor[1] else current_actor()
    now = dt.datetime.now(dt.timezone.utc)

    def dumps(value) -> str:
        return json.dumps(value, ensure_ascii=False)

    fields = {  # SQL of each key's JSON text; prev_hash is where the chain goes
        "at": ":audit_at_json", "user_id": ":audit_user_json", "username": ":audit_username_json",
        "action": "to_json(s.action::text)::text", "entity": "to_json(s.entity::text)::text",
        "entity_id": "COALESCE((s.entity_id)::bigint::text, 'null')", "before": "COALESCE(s.before, 'null')",
        "after": "COALESCE(s.after, 'null')", "note": "COALESCE(to_json(s.note::text)::text, 'null')",
    }
    keys = sorted(CONTENT_KEYS)
    split = keys.index("prev_hash")
    head = " || ',' || ".join(f"{_key(k)} || {fields[k]}" for k in keys[:split])
    tail = " || ',' || ".join(f"{_key(k)} || {fields[k]}" for k in keys[split + 1:])
    prefix = f"""'{{' || {head} || ',' || {_key('prev_hash')} || '"'"""
    suffix = f"""'"' || ',' || {tail} || '}}'"""
    result = connection.execute(text(f"""
        INSERT INTO audit_log (at, user_id, username, action, entity, entity_id, before, after, note, prev_hash, hash)
        SELECT :audit_at, :audit_user_id, :audit_username, c.action, c.entity, c.entity_id, c.before::jsonb,
               c.after::jsonb, c.note, COALESCE(lag(c.hash) OVER (ORDER BY c.seq), :audit_prev), c.hash
          FROM (SELECT s.*, audit_chain({prefix}, {suffix}, :audit_prev) OVER (ORDER BY s.seq) AS hash
                  FROM ({source}) s) c
         ORDER BY c.seq"""), {
        **(params or {}), "audit_at": now, "audit_user_id": user_id, "audit_username": username,
        "audit_prev": prev, "audit_at_json": dumps(now.isoformat()), "audit_user_json": dumps(user_id),
        "audit_username_json": dumps(username)})
    return result.rowcount


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


def head(connection) -> tuple[int, int, str]:
    """(rows, id of the last row, its hash) — the chain's head, (0, 0, GENESIS) when empty.
    Written down outside the database, it lets ``verify`` detect removed LAST rows, which
    leave no gap in the chain."""
    count, last = connection.execute(select(func.count(), func.max(AuditLog.id))).one()
    if not last:
        return 0, 0, GENESIS
    return int(count), int(last), connection.execute(select(AuditLog.hash).where(AuditLog.id == last)).scalar_one()


def parse_head(value: str) -> tuple[int, str]:
    """``ID:HASH`` (as ``flask audit head`` prints it) -> (id, hash); ValueError otherwise."""
    ident, sep, digest = value.strip().partition(":")
    digest = digest.strip().lower()
    if not sep or not ident.strip().isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"bukan ID:HASH (contoh 1234:{'0' * 64}): {value!r}")
    return int(ident), digest


def verify(connection, heads: Iterable[tuple[int, str]] = ()) -> list[str]:
    """Recompute the chain; returns the problems found (empty = intact). ``heads``: (id, hash)
    noted earlier (``head``); each must still be in the chain, with that hash — otherwise rows
    were removed from the end (or replaced)."""
    problems = []
    prev = GENESIS
    table = AuditLog.__table__
    for ident, digest in heads:
        if (ident, digest) == (0, GENESIS):
            continue  # the head of an empty trail: nothing to find
        found = connection.execute(select(table.c.hash).where(table.c.id == ident)).scalar()
        if found is None:
            problems.append(f"kepala yang dicatat {ident}:{digest[:12]}… tidak ada lagi: baris {ident} "
                            f"(dan mungkin baris-baris sesudahnya) dihapus")
        elif found != digest:
            problems.append(f"baris {ident}: hash {found[:12]}… bukan {digest[:12]}… yang dicatat sebagai kepala "
                            f"(baris diganti)")
    # Streamed: the trail of a million-row import does not have to fit in memory.
    rows = connection.execute(select(table).order_by(table.c.id).execution_options(yield_per=5000))
    for row in rows.mappings():
        row = dict(row)
        at = row["at"].astimezone(dt.timezone.utc).isoformat() if row["at"] else None
        content = {**row, "at": at}
        if row["prev_hash"] != prev:
            problems.append(f"baris {row['id']}: tidak tersambung dengan baris sebelumnya (ada baris dihapus/disisipkan)")
        if _digest(content) != row["hash"]:
            problems.append(f"baris {row['id']}: isi tidak cocok dengan hash-nya (baris diubah)")
        prev = row["hash"]
    return problems
