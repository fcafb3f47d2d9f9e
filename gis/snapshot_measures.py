"""The village map's measures for a chosen targeting snapshot ("Sumber data": BDT 2015, DTSEN
2025-Q4 ...), kept per process.

By default the map reads the kept per-village measures (gis/measures.py), which hold each
household's latest desil and village. With a snapshot chosen the same figures
(``gis.queries.village_measures``: households, desil 1, reached, coverage, 2+ and 3+
programs, gap households) are computed live over the households that snapshot lists, with
their desil and village in it (``gis.queries.reading_snapshot``), scoped as always by the
household's own scope (app/security/scope.py) and with the larger work_mem of every live
snapshot query (``gis.queries.live_work_mem``).

Why a cache: that live query reads every household row of the snapshot in the scope and
their enrolments of the year; the map asks for the villages again at every zoom step and pan,
and the village tiles a dozen times per view. Measured on the 1 M-household database (BDT 2015,
2017, load average 4-6 from other runs): /gis/geojson/villages for Bappeda 12.5 s on the first
request, 0.7 s once kept (the default, kept measures: 0.6 s); for op1807 6.4 s, then 0.16 s
(default 0.14 s). EXPLAIN ANALYZE of the statement (Bappeda, 16.9 s there): each of the three
parallel processes aggregates the year's 2.35 M enrolments per household on its own (5-6 s
each, the hash under the Gather is not shared), and the gaps' anti-join hashes all of them
(2.8 s) for 34,000 candidate households; without parallel workers it took 20.9 s. The figures are kept per (scope, snapshot, year, k),
valid while a version stamp is unchanged:

- ``gis.targeting.snapshot_stamp`` (the snapshot's id and ``loaded_at``, the households
  registered and the highest household id: a new import or a removed household);
- the highest audit row id: every write of households, enrolments, programs and zones by a
  screen, the API or an import leaves one (app/services/audit.py);
- a checksum of the year's kept per-village rows (made current by the stamp above): what a
  write by plain SQL changes in the households, enrolments or zones of the year shows there
  too (the kept tables' triggers).

So a chosen snapshot's figures are never older than the last write the app knows of. The
stamp costs a few ms at 1 M households (a ~20,000-row checksum and two index lookups).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Optional

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.security.scope import Scope
from gis import measures, queries
from gis.features import measure_properties
from gis.targeting import snapshot_stamp

MAX_ENTRIES = 64  # a few scopes x snapshots x years x k; each entry ~2,651 small dicts


def _stamp(conn: Connection, snapshot_id: int, year: int) -> tuple:
    snapshots = snapshot_stamp(conn, (snapshot_id,), year)  # first: it brings the kept rows up to date
    writes = conn.execute(text(
        "SELECT (SELECT max(id) FROM audit_log), "
        "(SELECT coalesce(sum(hashtextextended(vm::text, 0)), 0) FROM village_measure vm WHERE vm.year = :y)"),
        {"y": year}).one()
    return snapshots + (tuple(writes),)


def _compute(conn: Connection, scope: Scope, snapshot_id: int, year: int, max_desil: int) -> dict[int, dict]:
    """The figures, on a connection of its own with the longer timeout of the kept measures'
    refresh (gis/measures.py): like that refresh the work is kept for every later request,
    whereas one cut by the request's 30 s timeout would be lost and started again by each retry
    (under load the province's first computation at 1 M households took 25.6 s). A GET writes
    nothing, so the other connection sees what the request's would."""
    with conn.engine.connect() as side, side.begin():
        side.execute(text("SELECT set_config('statement_timeout', :t, true)"),
                     {"t": str(measures.refresh_timeout_ms())})
        queries.live_work_mem(side)
        with queries.reading_snapshot(snapshot_id):
            rows = queries.village_measures(side, year, scope, max_desil)
        return {r["village_id"]: measure_properties(r) for r in rows}


class SnapshotMeasuresCache:
    """village id -> measure properties per (scope, snapshot, year, k) and stamp. One lock per
    key: the requests of one map view (villages and tiles) wait for the first computation."""

    def __init__(self):
        self._data: OrderedDict = OrderedDict()  # key -> (stamp, figures), least recently used first
        self._locks: dict = {}
        self._guard = threading.Lock()

    def get(self, conn: Connection, scope: Scope, snapshot_id: int, year: int, max_desil: int) -> dict[int, dict]:
        key = (scope, snapshot_id, year, max_desil)
        stamp = _stamp(conn, snapshot_id, year)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                hit = self._data.get(key)
                if hit is not None and hit[0] == stamp:
                    self._data.move_to_end(key)
                    return hit[1]
            figures = _compute(conn, scope, snapshot_id, year, max_desil)
            with self._guard:
                self._data[key] = (stamp, figures)  # an older stamp's figures are replaced
                self._data.move_to_end(key)
                while len(self._data) > MAX_ENTRIES:
                    old, _ = self._data.popitem(last=False)
                    self._locks.pop(old, None)
            return figures

    def clear(self) -> None:
        with self._guard:
            self._data.clear()
            self._locks.clear()


snapshot_measures_cache = SnapshotMeasuresCache()


def village_measures(conn: Connection, scope: Scope, snapshot_id: Optional[int], year: int,
                     max_desil: int) -> Optional[dict[int, dict]]:
    """The chosen snapshot's per-village measures for the scope (villages without a household
    of it absent), or None for the latest data (the caller reads the kept measures then)."""
    if snapshot_id is None:
        return None
    if scope.kind == "none":
        return {}
    return snapshot_measures_cache.get(conn, scope, snapshot_id, year, max_desil)
