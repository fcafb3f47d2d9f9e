"""Per-village targeting measures of the village map: what changed between the two latest
targeting snapshots, and the open duplicate pairs.

- ``desil_exit`` ("Keluar dari desil 1–4"): households whose desil was 1–4 in snapshot A and is 5
  or more in B, counted in B's village. The desils are compared as raw numbers even when the
  sources differ (BDT 2015 against DTSEN), as app/services/snapshot_diff.py compares them.
- ``entered`` / ``left``: households listed only by B (in B's village) / only by A (in A's), the
  per-village ``entered`` and ``left`` of the diff page (``snapshot_diff.diff_counts_by_village``).
- ``duplicates``: open candidate pairs of the duplicates queue (every kind), a pair spanning
  two villages counted in each, as the queue's village filter counts them
  (``duplicates.duplicate_counts_by_village``).

A and B are the diff page's default pair (``snapshot_diff.choose_pair``: the two latest). The
households behind a figure are the diff's own (``snapshot_diff.changes``), so the scope is the
diff page's: a province-wide user all of them, an operator those of the regency's villages, an
OPD officer the households with a counted enrolment of the year in the agency's programs.

Why a cache: the per-village diff of two 1 M-row snapshots is a full join of ~2 M rows, far too
slow for every map request (EXPLAIN ANALYZE on the 1 M-household benchmark database: a hash full
join of 958,890 and 960,383 rows, 77,339 of them counted, 3.3 s with work_mem 64 MB, 3.8 s with
the default 4 MB spilling in 16 batches; cached, the answer takes 20-30 ms). The counts of a province-wide user are kept per process, keyed on the pair AND a
version stamp (``_stamp``) of everything they depend on:

- each snapshot's id and ``loaded_at``: a new import is a new snapshot (a new id), and the
  import that corrects the rows of an existing period sets ``loaded_at`` anew
  (app/services/household_import/write.py ``write_snapshot_rows``);
- the households registered and the highest household id, read from the kept per-village
  counts (gis/measures.py, made current first): the other way snapshot rows change is a
  household removed from the register, whose snapshot rows go with it (ON DELETE CASCADE).
  A removal lowers the count; a removal and an addition raise the highest id.

So a changed snapshot never serves an old figure: its stamp differs, the entry is not found and
is recomputed. The stamp costs ~20 ms at 1 M households (counting the snapshots' rows instead
cost 0.6 s). Rows written into an existing snapshot by hand, outside the app, are not seen:
restart the app after such a repair (as ``flask gis measures`` after a bulk load).
An operator's figures are the province's, limited to the regency's villages (a household
counted in a village of the regency is one the operator's diff reads, and no other is). An
OPD's figures depend on its enrolments, which change without a new snapshot: computed live and
shared for ``SINERGI_GIS_MEASURES_TTL`` seconds, like its other village measures
(gis/features.py ``measures_cache``).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy import Integer, and_, cast, func, select, text
from sqlalchemy.engine import Connection

from app.models.snapshots import TargetingSnapshot
from app.security.scope import Scope, villages_in
from app.services import duplicates as duplicates_service
from app.services import snapshot_diff as diff
from gis import measures

DIFF_FIELDS = ("desil_exit", "entered", "left")
DUPLICATE_FIELDS = ("duplicates",)
FIELDS = DIFF_FIELDS + DUPLICATE_FIELDS
LOW_DESIL = 4  # "desil 1-4": the poorest 40 %, BDT 2015's whole range and PKH's target
# The screens behind the figures: who may open them sees the figures (app/security/roles.py).
DIFF_PERMISSION = ("can_read", "SnapshotDiffView")
DUPLICATE_PERMISSION = ("can_list", "DuplicateView")


def allowed(sm) -> tuple[bool, bool]:
    """(diff measures, duplicate measure) the current user may see: those whose page they may open."""
    return bool(sm.has_access(*DIFF_PERMISSION)), bool(sm.has_access(*DUPLICATE_PERMISSION))


# --- the per-village diff -----------------------------------------------------------------------

def diff_counts_query(pair: diff.Pair, scope: Scope, year: Optional[int] = None):
    """Per village with a change of the three kinds: village_id, desil_exit, entered, left,
    over the diff's changed households of the scope (``snapshot_diff.changes``; ``year``
    defines an OPD's households). A household counts in B's village, one that left in A's, as
    on the diff page."""
    d = diff.changes(pair, scope, None, year)
    village = func.coalesce(d.c.village_b, d.c.village_a)
    exit_ = and_(d.c.desil_a.between(1, LOW_DESIL), d.c.desil_b > LOW_DESIL)
    count = func.count().filter
    return (select(village.label("village_id"), cast(count(exit_), Integer).label("desil_exit"),
                   cast(count(d.c.is_entered), Integer).label("entered"),
                   cast(count(d.c.is_left), Integer).label("left"))
            .where(d.c.is_entered | d.c.is_left | exit_)
            .group_by(village))


def _diff_rows(conn: Connection, pair: diff.Pair, scope: Scope, year: Optional[int] = None) -> dict[int, dict]:
    # A hash join of two 1 M-row sides spills to disk at the default 4 MB (16 batches).
    conn.execute(text("SELECT set_config('work_mem', '64MB', true)"))
    rows = conn.execute(diff_counts_query(pair, scope, year)).mappings()
    return {r["village_id"]: {k: r[k] for k in DIFF_FIELDS} for r in rows}


def _stamp(conn: Connection, pair: diff.Pair, year: int) -> tuple:
    """What the province's per-village counts of ``pair`` depend on (module docstring)."""
    return snapshot_stamp(conn, (pair.a.id, pair.b.id), year)


def snapshot_stamp(conn: Connection, snapshot_ids, year: int) -> tuple:
    """A version stamp of the rows of the snapshots ``snapshot_ids`` (module docstring): their
    ids and ``loaded_at``, the households registered and the highest household id. Also the
    stamp of gis/snapshot_measures.py, which adds what its figures read besides."""
    measures.ensure_current(conn, year)
    snapshots = conn.execute(select(TargetingSnapshot.id, TargetingSnapshot.loaded_at)
                             .where(TargetingSnapshot.id.in_(tuple(snapshot_ids)))
                             .order_by(TargetingSnapshot.id)).all()
    households = conn.execute(text(
        "SELECT (SELECT coalesce(sum(households), 0) FROM village_measure WHERE year = :y), "
        "(SELECT max(id) FROM household)"), {"y": year}).one()
    return tuple(tuple(r) for r in snapshots) + (tuple(households),)


class DiffCountsCache:
    """The province's per-village counts per (pair, stamp), and an OPD's per (scope, pair, year)
    for ``ttl`` seconds. One lock per key: the requests of one map view wait for the first."""

    def __init__(self):
        self._data: dict = {}
        self._locks: dict = {}
        self._guard = threading.Lock()

    def _cached(self, key, compute, ttl: Optional[float]):
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._data.get(key)
            if hit and (ttl is None or time.monotonic() - hit[0] < ttl):
                return hit[1]
            value = compute()
            with self._guard:
                now = time.monotonic()
                # A province entry of an older stamp will never be asked for again; OPD ones expire.
                stale = [k for k, (t, _) in self._data.items()
                         if (k[0] == "all" and key[0] == "all" and k != key) or (k[0] == "agency" and k[-1] <= now - t)]
                for k in stale:
                    del self._data[k]
                    self._locks.pop(k, None)
                self._data[key] = (now, value)
            return value

    def province(self, conn: Connection, pair: diff.Pair, year: int) -> dict[int, dict]:
        key = ("all", pair.a.id, pair.b.id, _stamp(conn, pair, year))
        return self._cached(key, lambda: _diff_rows(conn, pair, Scope("all")), None)

    def agency(self, conn: Connection, pair: diff.Pair, scope: Scope, year: int, ttl: float) -> dict[int, dict]:
        if ttl <= 0:
            return _diff_rows(conn, pair, scope, year)
        key = ("agency", pair.a.id, pair.b.id, scope, year, ttl)
        return self._cached(key, lambda: _diff_rows(conn, pair, scope, year), ttl)

    def clear(self) -> None:
        with self._guard:
            self._data.clear()
            self._locks.clear()


diff_cache = DiffCountsCache()


def diff_counts(conn: Connection, pair: diff.Pair, scope: Scope, year: int, ttl: float = 30) -> dict[int, dict]:
    """village id -> {desil_exit, entered, left} for the scope (villages without a change absent)."""
    if scope.kind == "none":
        return {}
    if scope.kind == "agency":
        return diff_cache.agency(conn, pair, scope, year, ttl)
    counts = diff_cache.province(conn, pair, year)
    if scope.kind == "regency":
        own = set(conn.execute(villages_in([scope.regency_id])).scalars())
        counts = {v: c for v, c in counts.items() if v in own}
    return counts


# --- what the village map gets ------------------------------------------------------------------

@dataclass
class VillageTargeting:
    """The targeting figures of the villages for one user: ``fields`` (those they may see),
    per village id the counts (absent = 0), and the pair compared (None: fewer than two snapshots)."""
    fields: tuple = ()
    by_village: dict = field(default_factory=dict)
    pair: Optional[diff.Pair] = None

    def as_json(self, conn: Connection, year: int, regency_id: Optional[int] = None) -> dict:
        """The answer of /gis/geojson/villages/targeting: the fields, the pair compared (the
        legend and the popup's link name it) and per village id with a figure not 0 the figures
        in the order of ``fields`` (only ``regency_id``'s villages when given)."""
        own = set(conn.execute(villages_in([regency_id])).scalars()) if regency_id is not None else None
        rows = {}
        for village_id in sorted(self.by_village):
            values = [int(self.by_village[village_id].get(f, 0)) for f in self.fields]
            if any(values) and (own is None or village_id in own):
                rows[str(village_id)] = values
        pair = None if self.pair is None else {
            "a": {"id": self.pair.a.id, "label": self.pair.a.label},
            "b": {"id": self.pair.b.id, "label": self.pair.b.label}, "sourcesDiffer": self.pair.sources_differ}
        return {"year": year, "fields": list(self.fields), "snapshots": pair, "villages": rows}


def village_targeting(conn: Connection, scope: Scope, year: int, *, with_diff: bool, with_duplicates: bool,
                      ttl: float = 30) -> VillageTargeting:
    """The targeting figures for the village map: the diff measures of the default pair (when
    ``with_diff`` and two snapshots exist) and the open duplicate pairs (``with_duplicates``)."""
    fields, by_village, pair = [], {}, None
    if with_diff:
        pair = diff.choose_pair(conn, None, None)
        if pair is not None:
            fields += DIFF_FIELDS
            by_village = {v: dict(c) for v, c in diff_counts(conn, pair, scope, year, ttl).items()}
    if with_duplicates:
        fields += DUPLICATE_FIELDS
        for village_id, n in duplicates_service.duplicate_counts_by_village(conn, scope).items():
            by_village.setdefault(village_id, {})["duplicates"] = n
    return VillageTargeting(tuple(fields), by_village, pair)
