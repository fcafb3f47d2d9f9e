"""The spatial and analytical answers of Sinergi, as set-based PostGIS SQL.

Every function takes a connection and the user's ``Scope`` (app.security.scope) and
returns plain rows; the scope predicates of households, enrolments and zones are part of
the SQL, so no answer holds a row the user may not see. None loops over households in
Python. Indexes relied on: idx_village_geom, idx_household_location, idx_priority_zone_geom
(GiST), ix_enrolment_household_id / ix_enrolment_year, ix_household_village_id.

Counted enrolments: status usulan, ditetapkan or disalurkan (a rejected one, ditolak, does
not reach the household).

Which desil, village and point a household has: by default its latest (the household row,
app/models/snapshots.py); inside ``with reading_snapshot(id):`` those of one targeting snapshot
(BDT 2015, DTSEN 2025-Q4 ...), for the households that snapshot lists. The kept per-village
measures hold the latest only, so a chosen snapshot is computed live.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

from sqlalchemy import Integer, Numeric, and_, case, cast, distinct, exists, func, literal, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection

from app.models.areas import District, Regency, Village
from app.models.households import Enrolment, Household
from app.models.measures import village_measure as VM, village_program_pair as VPP, zone_village_measure as ZVM
from app.models.programs import Program
from app.models.snapshots import HouseholdSnapshot
from app.models.zones import PriorityZone
from app.security.scope import Scope, household_villages, in_scope, position
from gis import measures

COUNTED_STATUSES = ("usulan", "ditetapkan", "disalurkan")


# --- geolocation ------------------------------------------------------------------------------

LOCATE_SQL = text("""
    WITH located AS (
        SELECT h.id,
               (SELECT v.id FROM village v
                 WHERE ST_Intersects(v.geom, h.location)
                 ORDER BY (v.id = h.village_id) DESC, v.id LIMIT 1) AS village_id
          FROM household h
         WHERE h.location IS NOT NULL AND (CAST(:ids AS int[]) IS NULL OR h.id = ANY(CAST(:ids AS int[])))
    )
    UPDATE household h
       SET located_village_id = l.village_id,
           location_status = CASE WHEN l.village_id IS NULL THEN 'di_luar_wilayah'
                                  WHEN l.village_id = h.village_id THEN 'cocok' ELSE 'beda_desa' END
      FROM located l
     WHERE l.id = h.id
       AND (h.located_village_id, h.location_status) IS DISTINCT FROM
           (l.village_id, CASE WHEN l.village_id IS NULL THEN 'di_luar_wilayah'
                               WHEN l.village_id = h.village_id THEN 'cocok' ELSE 'beda_desa' END)
""")


def locate_households(conn: Connection, household_ids: Optional[list[int]] = None) -> dict[str, int]:
    """Point-in-polygon for every household with a point (or only ``household_ids``), in one
    statement; households without a point get 'tanpa_titik'. The same rule as the
    household_locate trigger (the declared village wins where villages overlap).
    Returns the number of households per status."""
    conn.execute(text("""UPDATE household SET located_village_id = NULL, location_status = 'tanpa_titik'
                         WHERE location IS NULL AND location_status <> 'tanpa_titik'
                           AND (CAST(:ids AS int[]) IS NULL OR id = ANY(CAST(:ids AS int[])))"""),
                 {"ids": household_ids})
    conn.execute(LOCATE_SQL, {"ids": household_ids})
    return dict(conn.execute(text("SELECT location_status, count(*) FROM household GROUP BY 1")).all())


# --- building blocks ---------------------------------------------------------------------------

_SNAPSHOT: ContextVar[Optional[int]] = ContextVar("sinergi_snapshot", default=None)


def read_snapshot(snapshot_id: Optional[int]) -> None:
    """From now on in this context (a web request: until the next one, which resets it in
    app/__init__.py), households as the snapshot ``snapshot_id`` lists them."""
    _SNAPSHOT.set(snapshot_id)


LIVE_WORK_MEM = "64MB"


def live_work_mem(conn: Connection) -> None:
    """work_mem for the rest of this transaction when a chosen snapshot is computed live (the
    kept measures hold the latest only): at the default 4 MB the DISTINCT (household, program)
    sets of the overlap spill to disk, and PostgreSQL 15's spilled hash aggregate over a Gather
    made program_matrix run for minutes at 1 M households (Lampung Timur, BDT 2015: 472 s;
    2.5 s with 64 MB)."""
    conn.execute(text("SELECT set_config('work_mem', :m, true)"), {"m": LIVE_WORK_MEM})


@contextmanager
def reading_snapshot(snapshot_id: Optional[int]) -> Iterator[None]:
    """Inside: households as the snapshot ``snapshot_id`` lists them (None: the latest)."""
    token = _SNAPSHOT.set(snapshot_id)
    try:
        yield
    finally:
        _SNAPSHOT.reset(token)


def _households(scope: Scope, regency_id: Optional[int] = None):
    """Scoped households with their village, district and regency (of the snapshot read, see
    ``reading_snapshot``; the scope stays the household's own, as on every screen)."""
    snapshot_id = _SNAPSHOT.get()
    if snapshot_id is None:
        query = (select(Household.id.label("household_id"), Household.village_id, Household.desil,
                        Household.location, District.id.label("district_id"), District.regency_id)
                 .join(Village, Village.id == Household.village_id))
    else:
        s = HouseholdSnapshot
        query = (select(s.household_id.label("household_id"), s.village_id, s.desil, s.location,
                        District.id.label("district_id"), District.regency_id)
                 .join(Household, Household.id == s.household_id)
                 .join(Village, Village.id == s.village_id)
                 .where(s.snapshot_id == snapshot_id))
    query = query.join(District, District.id == Village.district_id).where(in_scope(Household, scope))
    if regency_id is not None:
        query = query.where(District.regency_id == regency_id)
    return query


def household_points(scope: Scope, with_status: bool = False):
    """Scoped households as the household map draws them: id, no_kk, desil, village_id, location
    (and ``location_status`` when asked), of the snapshot read (``reading_snapshot``): a chosen
    snapshot gives the households it lists with its desil, village and point (a household that
    moved since is drawn where that snapshot put it). The scope stays the household's own.
    Callers filter on ``location`` (&&): idx_household_location, or idx_household_snapshot_location
    (migration 0018) for a snapshot."""
    snapshot_id = _SNAPSHOT.get()
    if snapshot_id is None:
        columns = [Household.id, Household.no_kk, Household.desil, Household.village_id, Household.location]
        if with_status:
            columns.append(Household.location_status)
        return select(*columns).where(in_scope(Household, scope))
    s = HouseholdSnapshot
    columns = [s.household_id.label("id"), Household.no_kk, s.desil, s.village_id, s.location]
    if with_status:
        # The status of the snapshot's point against the snapshot's village, by the rule of
        # LOCATE_SQL (the declared village wins where villages overlap); only on a page of points.
        columns.append(case(
            (s.location.is_(None), "tanpa_titik"),
            (exists().where(Village.id == s.village_id, func.ST_Intersects(Village.geom, s.location)), "cocok"),
            (exists().where(func.ST_Intersects(Village.geom, s.location)), "beda_desa"),
            else_="di_luar_wilayah").label("location_status"))
    # An outer join that the scope's predicate makes inner (every snapshot row has its household,
    # by its foreign key): for the province, which reads nothing of the household row, PostgreSQL
    # then leaves the join out (a z8 tile of BDT 2015 at 1 M households: 2.3 s -> 1.1 s).
    return (select(*columns).select_from(s).outerjoin(Household, Household.id == s.household_id)
            .where(s.snapshot_id == snapshot_id, in_scope(Household, scope)))


def _counted_enrolments(year: int, scope: Scope, dates=None):
    """Counted enrolments of the year; with ``dates`` (first, last day), only those dated
    inside them (a semester of an LP2KD report)."""
    query = (select(Enrolment.household_id, Enrolment.program_id)
             .where(Enrolment.year == year, Enrolment.status.in_(COUNTED_STATUSES), in_scope(Enrolment, scope)))
    return query if dates is None else query.where(Enrolment.date.between(*dates))


def _program_counts(year: int, scope: Scope, regency_id: Optional[int] = None, dates=None):
    """Per scoped household: the number of distinct counted programs in the year (0 included)."""
    households = _households(scope, regency_id).subquery("h")
    enrolments = _counted_enrolments(year, scope, dates).subquery("e")
    # Count per household first (grouping on the enrolment side only), then attach to every
    # scoped household: no GROUP BY over the household columns and their geometry.
    per_household = (select(enrolments.c.household_id, func.count(distinct(enrolments.c.program_id)).label("n"))
                     .group_by(enrolments.c.household_id).subquery("p"))
    return (select(households, func.coalesce(per_household.c.n, 0).label("programs"))
            .select_from(households.outerjoin(per_household,
                                              per_household.c.household_id == households.c.household_id)))


def _zones(scope: Scope, year: Optional[int] = None):
    query = select(PriorityZone.id, PriorityZone.name, PriorityZone.geom).where(in_scope(PriorityZone, scope))
    if year is not None:
        query = query.where(PriorityZone.year == year)
    return query


# --- kept per-village measures (gis/measures.py) -------------------------------------------------
# For the scopes whose answer is a set of whole villages (everything, or one regency) the
# per-village answers are sums over the kept tables; an OPD's scope (its own programs only)
# and a period inside the year (LP2KD semesters) are computed live below.

def kept_scope(scope: Scope, dates=None) -> bool:
    """Whether the scope's per-village answers are sums of the kept tables (they hold the
    households' latest values: not for a chosen snapshot)."""
    return scope.kind in ("all", "regency") and dates is None and _SNAPSHOT.get() is None


def kept_rows(conn: Connection, table, year: int, scope: Scope, regency_id: Optional[int], village_ids=None):
    """``table``'s rows of the year, limited to the villages whose households the scope reads,
    to ``regency_id`` and to the ``village_ids`` select, joined to their village and district;
    refreshed first."""
    measures.ensure_current(conn, year)
    query = (select(table, Village.code.label("village_code"), Village.name.label("village_name"),
                    District.regency_id)
             .join(Village, Village.id == table.c.village_id).join(District, District.id == Village.district_id)
             .where(table.c.year == year))
    if village_ids is not None:
        query = query.where(table.c.village_id.in_(village_ids))
    scoped = household_villages(scope)  # the Household rule of app.security.scope
    if scoped is not None:
        query = query.where(table.c.village_id.in_(scoped))
    if regency_id is not None:
        query = query.where(District.regency_id == regency_id)
    return query.subquery("k")


def kept_village_measures(conn: Connection, year: int, scope: Scope, max_desil: int = 1,
                          regency_id: Optional[int] = None, village_ids=None):
    """The query of ``village_measures`` on the kept rows (a kept scope), optionally only for
    the villages of the ``village_ids`` select (a tile's)."""
    k = kept_rows(conn, VM, year, scope, regency_id, village_ids)
    households = int_sum(k.c.households)
    reached = int_sum(k.c.households - k.c.programs_0)
    return (select(k.c.village_id, k.c.village_code.label("code"), k.c.village_name.label("name"),
                   households.label("households"), int_sum(k.c.households, k.c.desil == 1).label("desil1"),
                   reached.label("reached"),
                   func.round(cast(100.0 * reached / households, Numeric), 1).label("coverage"),
                   int_sum(k.c.programs_2 + k.c.programs_3plus).label("multi_program"),
                   int_sum(_kept_gaps(k, scope), k.c.desil <= max_desil).label("gaps"),
                   int_sum(k.c.programs_3plus).label("programs_3plus"))
            .group_by(k.c.village_id, k.c.village_code, k.c.village_name).having(households > 0)
            .order_by(k.c.village_code))


def kept_zone_rows(conn: Connection, year: int, scope: Scope, regency_id: Optional[int]):
    """The kept per zone, village and desil rows of the year (households inside the zone, gap
    households among them), villages limited as in ``kept_rows``, zones to the scoped ones."""
    k = kept_rows(conn, ZVM, year, scope, regency_id)
    return (select(k).where(k.c.zone_id.in_(select(PriorityZone.id).where(in_scope(PriorityZone, scope))))
            .subquery("kz"))


def _kept_gaps(k, scope: Scope):
    """Gap households of the kept rows: any zone for a province-wide scope, the zones an
    operator's scope sees (own regency or province-wide) otherwise."""
    return k.c.gaps_all if scope.kind == "all" else k.c.gaps_own


def int_sum(column, *where):
    total = func.sum(column)
    if where:
        total = total.filter(*where)
    return cast(func.coalesce(total, 0), Integer)


# --- overlap ------------------------------------------------------------------------------------

def household_program_counts(conn: Connection, year: int, scope: Scope, regency_id: Optional[int] = None):
    """Rows (household_id, village_id, desil, programs) for every scoped household."""
    counts = _program_counts(year, scope, regency_id).subquery()
    return conn.execute(select(counts.c.household_id, counts.c.village_id, counts.c.desil, counts.c.programs)
                        .order_by(counts.c.household_id)).mappings().all()


def village_overlap(conn: Connection, year: int, scope: Scope, regency_id: Optional[int] = None):
    """Per village with scoped households: households and how many receive 0, 1, 2, 3+ programs."""
    if kept_scope(scope):
        k = kept_rows(conn, VM, year, scope, regency_id)
        query = (select(k.c.village_id, k.c.village_code.label("code"), k.c.village_name.label("name"),
                        int_sum(k.c.households).label("households"),
                        *(int_sum(k.c[c]).label(c) for c in ("programs_0", "programs_1", "programs_2",
                                                               "programs_3plus")))
                 .group_by(k.c.village_id, k.c.village_code, k.c.village_name).order_by(k.c.village_code))
        return conn.execute(query).mappings().all()
    counts = _program_counts(year, scope, regency_id).subquery()
    query = (select(Village.id.label("village_id"), Village.code, Village.name,
                    func.count().label("households"),
                    func.count().filter(counts.c.programs == 0).label("programs_0"),
                    func.count().filter(counts.c.programs == 1).label("programs_1"),
                    func.count().filter(counts.c.programs == 2).label("programs_2"),
                    func.count().filter(counts.c.programs >= 3).label("programs_3plus"))
             .join(counts, counts.c.village_id == Village.id)
             .group_by(Village.id).order_by(Village.code))
    return conn.execute(query).mappings().all()


def program_matrix(conn: Connection, year: int, scope: Scope, regency_id: Optional[int] = None, dates=None):
    """Rows (program_a, code_a, program_b, code_b, households): scoped households receiving
    both programs (a <= b; the diagonal is each program's households)."""
    pa, pb = Program.__table__.alias("pa"), Program.__table__.alias("pb")
    if kept_scope(scope, dates):
        k = kept_rows(conn, VPP, year, scope, regency_id)
        pairs = (select(k.c.program_a, k.c.program_b, int_sum(k.c.households).label("households"))
                 .group_by(k.c.program_a, k.c.program_b).subquery("p"))
    else:
        # Each (household, program) once first, then the pairs: a self-join of two DISTINCT
        # sets, with the regency filter on the villages (no per-household IN list).
        households = _households(scope, regency_id).subquery("h")
        enrolments = (_counted_enrolments(year, scope, dates)
                      .join(households, households.c.household_id == Enrolment.household_id)
                      .distinct().subquery("e"))
        a, b = enrolments.alias("a"), enrolments.alias("b")
        pairs = (select(a.c.program_id.label("program_a"), b.c.program_id.label("program_b"),
                        func.count().label("households"))
                 .select_from(a.join(b, and_(a.c.household_id == b.c.household_id,
                                             a.c.program_id <= b.c.program_id)))
                 .group_by(a.c.program_id, b.c.program_id).subquery("p"))
    query = (select(pairs.c.program_a, pa.c.code.label("code_a"), pairs.c.program_b, pb.c.code.label("code_b"),
                    pairs.c.households)
             .join(pa, pa.c.id == pairs.c.program_a).join(pb, pb.c.id == pairs.c.program_b)
             .order_by(pa.c.code, pb.c.code))
    return conn.execute(query).mappings().all()


def regency_overlap(conn: Connection, year: int, scope: Scope, regency_id: Optional[int] = None):
    """Per regency (or the one ``regency_id``): scoped households, households reached (1+
    program), with 2+ programs, and the number of counted enrolments."""
    if kept_scope(scope):
        k = kept_rows(conn, VM, year, scope, regency_id)
        per_regency = (select(k.c.regency_id, int_sum(k.c.households).label("households"),
                              int_sum(k.c.households - k.c.programs_0).label("reached"),
                              int_sum(k.c.programs_2 + k.c.programs_3plus).label("multi_program"),
                              int_sum(k.c.program_sum).label("program_enrolments"))
                       .group_by(k.c.regency_id).subquery("r"))
        query = (select(Regency.id.label("regency_id"), Regency.code, Regency.name, per_regency.c.households,
                        per_regency.c.reached, per_regency.c.multi_program, per_regency.c.program_enrolments)
                 .join(per_regency, per_regency.c.regency_id == Regency.id).order_by(Regency.code))
        return conn.execute(query).mappings().all()
    counts = _program_counts(year, scope, regency_id).subquery()
    query = (select(Regency.id.label("regency_id"), Regency.code, Regency.name,
                    func.count().label("households"),
                    func.count().filter(counts.c.programs >= 1).label("reached"),
                    func.count().filter(counts.c.programs >= 2).label("multi_program"),
                    cast(func.coalesce(func.sum(counts.c.programs), 0), Integer).label("program_enrolments"))
             .join(counts, counts.c.regency_id == Regency.id)
             .group_by(Regency.id).order_by(Regency.code))
    return conn.execute(query).mappings().all()


# --- zones --------------------------------------------------------------------------------------

def _in_zone_households(scope: Scope, year: Optional[int], regency_id: Optional[int] = None):
    """(zone_id, household_id, village_id, desil) for scoped households in scoped zones: the
    household's point inside the zone, or, without a point, its declared village
    intersecting the zone by more than half of the village's area."""
    zones = _zones(scope, year).subquery("z")
    households = _households(scope, regency_id).subquery("h")
    by_point = (select(zones.c.id.label("zone_id"), households.c.household_id, households.c.village_id,
                       households.c.desil)
                .select_from(zones.join(households, func.ST_Intersects(zones.c.geom, households.c.location))))
    share = (func.ST_Area(func.ST_Intersection(zones.c.geom, Village.geom))
             / func.nullif(func.ST_Area(Village.geom), 0))
    by_village = (select(zones.c.id.label("zone_id"), households.c.household_id, households.c.village_id,
                         households.c.desil)
                  .select_from(households.join(Village, Village.id == households.c.village_id)
                               .join(zones, func.ST_Intersects(zones.c.geom, Village.geom)))
                  .where(households.c.location.is_(None), share > 0.5))
    return by_point.union(by_village)


def zone_households(conn: Connection, scope: Scope, zone_id: int):
    """Household ids of the scoped households inside a scoped zone."""
    members = _in_zone_households(scope, None).subquery()
    return [r.household_id for r in conn.execute(
        select(members.c.household_id).where(members.c.zone_id == zone_id).order_by(members.c.household_id))]


# --- gaps ---------------------------------------------------------------------------------------

def _gap_households(year: int, scope: Scope, max_desil: int, regency_id: Optional[int] = None, dates=None):
    members = _in_zone_households(scope, year, regency_id).subquery("m")
    enrolled = _counted_enrolments(year, scope, dates).subquery("e")
    return (select(members.c.zone_id, members.c.household_id, members.c.village_id)
            .where(members.c.desil <= max_desil,
                   ~select(enrolled.c.household_id).where(enrolled.c.household_id == members.c.household_id)
                   .exists()))


def gaps_by_village(conn: Connection, year: int, scope: Scope, max_desil: int = 1,
                    regency_id: Optional[int] = None):
    """Per village: households with desil <= max_desil inside the year's priority zones that
    have no counted enrolment in the year (each household once, whatever its zones)."""
    if kept_scope(scope):
        k = kept_rows(conn, VM, year, scope, regency_id)
        gaps = int_sum(_kept_gaps(k, scope), k.c.desil <= max_desil)
        query = (select(k.c.village_id, k.c.village_code.label("code"), k.c.village_name.label("name"),
                        gaps.label("gap_households"))
                 .group_by(k.c.village_id, k.c.village_code, k.c.village_name).having(gaps > 0)
                 .order_by(k.c.village_code))
        return conn.execute(query).mappings().all()
    gaps = _gap_households(year, scope, max_desil, regency_id).subquery()
    query = (select(Village.id.label("village_id"), Village.code, Village.name,
                    func.count(distinct(gaps.c.household_id)).label("gap_households"))
             .join(gaps, gaps.c.village_id == Village.id).group_by(Village.id).order_by(Village.code))
    return conn.execute(query).mappings().all()


def gaps_by_zone(conn: Connection, year: int, scope: Scope, max_desil: int = 1, regency_id: Optional[int] = None):
    """Per scoped zone of the year: its households with desil <= max_desil and no counted
    enrolment in the year (zones without any gap are listed with 0)."""
    zones = _zones(scope, year).subquery("z")
    if kept_scope(scope):
        kz = kept_zone_rows(conn, year, scope, regency_id)
        per_zone = (select(kz.c.zone_id, int_sum(kz.c.gaps, kz.c.desil <= max_desil).label("gaps"))
                    .group_by(kz.c.zone_id).subquery("pz"))
        query = (select(zones.c.id.label("zone_id"), zones.c.name.label("zone_name"),
                        func.coalesce(per_zone.c.gaps, 0).label("gap_households"))
                 .select_from(zones.outerjoin(per_zone, per_zone.c.zone_id == zones.c.id))
                 .order_by(zones.c.name))
        return conn.execute(query).mappings().all()
    gaps = _gap_households(year, scope, max_desil, regency_id).subquery()
    query = (select(zones.c.id.label("zone_id"), zones.c.name.label("zone_name"),
                    func.count(distinct(gaps.c.household_id)).label("gap_households"))
             .select_from(zones.outerjoin(gaps, gaps.c.zone_id == zones.c.id))
             .group_by(zones.c.id, zones.c.name).order_by(zones.c.name))
    return conn.execute(query).mappings().all()


# --- per village measures for maps ---------------------------------------------------------------

# The map colours by these; programs_0/1/2 are derived in the browser from households, reached,
# multi_program and programs_3plus (app/static/js/maps/sinergi_maps.js).
MEASURES = ("desil1", "coverage", "multi_program", "gaps", "programs_0", "programs_1", "programs_2", "programs_3plus")


def village_measures(conn: Connection, year: int, scope: Scope, max_desil: int = 1,
                     regency_id: Optional[int] = None):
    """Per village with scoped households: households, desil-1 households, households
    reached (1+ program) and coverage %, households with 2+ programs, gap households and
    households with 3+ programs. The map colours villages by one of ``MEASURES``."""
    if kept_scope(scope):
        return conn.execute(kept_village_measures(conn, year, scope, max_desil, regency_id)).mappings().all()
    counts = _program_counts(year, scope, regency_id).subquery("c")
    gaps = _gap_households(year, scope, max_desil, regency_id).subquery("g")
    gap_counts = (select(gaps.c.village_id, func.count(distinct(gaps.c.household_id)).label("gaps"))
                  .group_by(gaps.c.village_id).subquery("gc"))
    per_village = (select(counts.c.village_id, func.count().label("households"),
                          func.count().filter(counts.c.desil == 1).label("desil1"),
                          func.count().filter(counts.c.programs >= 1).label("reached"),
                          func.count().filter(counts.c.programs >= 2).label("multi_program"),
                          func.count().filter(counts.c.programs >= 3).label("programs_3plus"))
                   .group_by(counts.c.village_id).subquery("pv"))
    query = (select(Village.id.label("village_id"), Village.code, Village.name, per_village.c.households,
                    per_village.c.desil1, per_village.c.reached,
                    func.round(cast(100.0 * per_village.c.reached / per_village.c.households, Numeric), 1)
                    .label("coverage"),
                    per_village.c.multi_program, func.coalesce(gap_counts.c.gaps, 0).label("gaps"),
                    per_village.c.programs_3plus)
             .join(per_village, per_village.c.village_id == Village.id)
             .outerjoin(gap_counts, gap_counts.c.village_id == Village.id)
             .order_by(Village.code))
    return conn.execute(query).mappings().all()


def status_counts(rows, key: str = "location_status") -> dict[str, int]:
    return dict(Counter(r[key] for r in rows))


# --- additions for the analysis screens, API and downloads (app/analysis_answers.py) -------------
# Appended; the functions above keep their behaviour.

def analysis_years(conn: Connection, scope: Scope) -> list[int]:
    """The years an analysis can be asked for: fiscal years of the scoped programs and years of
    the scoped zones (an enrolment's year is always its program's fiscal year)."""
    programs = select(Program.fiscal_year.label("year")).where(in_scope(Program, scope))
    zones = select(PriorityZone.year.label("year")).where(in_scope(PriorityZone, scope))
    years = programs.union(zones).subquery()
    return list(conn.execute(select(years.c.year).order_by(years.c.year)).scalars())


def default_year(conn: Connection, scope: Scope) -> int:
    """The year every screen, map and report opens on: the latest year with a scoped enrolment,
    else the latest scoped program or zone year, else this year."""
    year = latest_enrolment_year(conn, scope)
    if year is None:
        years = analysis_years(conn, scope)
        year = years[-1] if years else dt.date.today().year
    return int(year)


def latest_enrolment_year(conn: Connection, scope: Scope) -> Optional[int]:
    """The latest year with a scoped enrolment (any status), or None. Every map and analysis
    request without a year asks this: the programs' fiscal years (a small table; an enrolment's
    year is its program's) are tried from the latest down, each with an EXISTS that stops at
    the first scoped enrolment (ix_enrolment_year), instead of a max() over every enrolment of
    the scope (an operator's: every household of the regency, at 1 M households ~1 s)."""
    years = conn.execute(select(Program.fiscal_year).distinct().order_by(Program.fiscal_year.desc())).scalars()
    for year in years:
        if conn.execute(select(literal(1)).where(Enrolment.year == year, in_scope(Enrolment, scope))
                        .limit(1)).first():
            return int(year)
    return None


def _household_program_rows(year: int, scope: Scope, regency_id: Optional[int] = None, min_programs: int = 0):
    """Per scoped household: No KK, head, declared village, desil, the number of distinct
    counted programs in the year and their codes ('A, B')."""
    households = _households(scope, regency_id).subquery("h")
    enrolments = _counted_enrolments(year, scope).subquery("e")
    per_household = (select(enrolments.c.household_id,
                            func.count(distinct(enrolments.c.program_id)).label("programs"),
                            func.array_to_string(func.array_agg(aggregate_order_by(distinct(Program.code),
                                                                                   Program.code)), ", ")
                            .label("program_codes"))
                     .join(Program, Program.id == enrolments.c.program_id)
                     .group_by(enrolments.c.household_id).subquery("p"))
    programs = func.coalesce(per_household.c.programs, 0)
    query = (select(households.c.household_id, Household.no_kk, Household.head_name, households.c.village_id,
                    Village.code.label("village_code"), Village.name.label("village_name"), households.c.desil,
                    programs.label("programs"), func.coalesce(per_household.c.program_codes, "").label("program_codes"))
             .select_from(households.join(Household, Household.id == households.c.household_id)
                          .join(Village, Village.id == households.c.village_id)
                          .outerjoin(per_household, per_household.c.household_id == households.c.household_id)))
    if min_programs:
        query = query.where(programs >= min_programs)
    return query


def household_program_page(conn: Connection, year: int, scope: Scope, regency_id: Optional[int] = None,
                           min_programs: int = 0, limit: int = 100, offset: int = 0):
    """(total, rows): one page, in household id order, of the scoped households with their
    number of distinct counted programs in the year (rows as in ``iter_household_programs``)."""
    query = _household_program_rows(year, scope, regency_id, min_programs)
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(Household.id).limit(limit).offset(offset)).mappings().all()
    return total, rows


def iter_household_programs(conn: Connection, year: int, scope: Scope, regency_id: Optional[int] = None,
                            min_programs: int = 0, batch: int = 2000):
    """Rows (household_id, no_kk, head_name, village_id, village_code, village_name, desil,
    programs, program_codes) for every scoped household, streamed from a server-side cursor
    (constant memory, for downloads)."""
    query = _household_program_rows(year, scope, regency_id, min_programs).order_by(Household.id)
    result = conn.execute(query, execution_options={"stream_results": True, "yield_per": batch})
    yield from result.mappings()


def zone_summary(conn: Connection, scope: Scope, zone_id: Optional[int] = None):
    """Rows (zone_id, zone_name, year, priority_level, basis, regency_id, regency_code,
    regency_name, households) for the scoped zones; households = scoped households inside
    the zone by the rule of ``zone_households``."""
    members = _in_zone_households(scope, None).subquery("m")
    counts = (select(members.c.zone_id, func.count(distinct(members.c.household_id)).label("households"))
              .group_by(members.c.zone_id).subquery("c"))
    query = (select(PriorityZone.id.label("zone_id"), PriorityZone.name.label("zone_name"), PriorityZone.year,
                    PriorityZone.priority_level, PriorityZone.basis, PriorityZone.regency_id,
                    Regency.code.label("regency_code"), Regency.name.label("regency_name"),
                    func.coalesce(counts.c.households, 0).label("households"))
             .outerjoin(Regency, Regency.id == PriorityZone.regency_id)
             .outerjoin(counts, counts.c.zone_id == PriorityZone.id)
             .where(in_scope(PriorityZone, scope))
             .order_by(PriorityZone.year.desc(), PriorityZone.name))
    if zone_id is not None:
        query = query.where(PriorityZone.id == zone_id)
    return conn.execute(query).mappings().all()


def _zone_village_query(scope: Scope, zone_id: Optional[int] = None, regency_id: Optional[int] = None,
                        village_ids: Optional[list[int]] = None):
    """(zone_id, zone_name, village_id, code, name, district_name, share): the villages a scoped
    zone intersects and the share of each village's area inside it (0..1), on the current
    geometries. Villages are limited to the user's regency (a regency scope: a province-wide
    zone must not list another regency's villages to an operator), to ``regency_id`` and to
    ``village_ids`` when given."""
    zones = _zones(scope).subquery("z")
    share = (func.ST_Area(func.geography(func.ST_Intersection(zones.c.geom, Village.geom)))
             / func.nullif(func.ST_Area(func.geography(Village.geom)), 0))
    query = (select(zones.c.id.label("zone_id"), zones.c.name.label("zone_name"), Village.id.label("village_id"),
                    Village.code, Village.name, District.name.label("district_name"), share.label("share"))
             .select_from(zones.join(Village, func.ST_Intersects(zones.c.geom, Village.geom))
                          .join(District, District.id == Village.district_id))
             .order_by(zones.c.name, zones.c.id, Village.code))
    if zone_id is not None:
        query = query.where(zones.c.id == zone_id)
    for rid in {r for r in (regency_id, scope.regency_id if scope.kind == "regency" else None) if r is not None}:
        query = query.where(District.regency_id == rid)
    if village_ids is not None:
        query = query.where(Village.id.in_(village_ids))
    return query


def zone_villages_in_scope(conn: Connection, scope: Scope, zone_id: Optional[int] = None, min_share: float = 0.0,
                           regency_id: Optional[int] = None):
    """Rows (zone_id, zone_name, village_id, code, name, district_name, share) of the scoped
    zones and the villages they intersect with share > min_share, villages limited as in
    ``_zone_village_query``."""
    rows = conn.execute(_zone_village_query(scope, zone_id, regency_id)).mappings().all()
    return [r for r in rows if (r["share"] or 0) > min_share]


def zones_of_villages(conn: Connection, scope: Scope, village_ids: list[int]):
    """Rows as ``zone_villages_in_scope`` for the given villages only: the scoped zones each
    village lies in and the share of the village inside (share > 0)."""
    if not village_ids:
        return []
    rows = conn.execute(_zone_village_query(scope, village_ids=list(village_ids))).mappings().all()
    return [r for r in rows if (r["share"] or 0) > 0]


MISMATCH_STATUSES = ("beda_desa", "di_luar_wilayah")


def _location_mismatch_rows(scope: Scope, statuses=MISMATCH_STATUSES, regency_id: Optional[int] = None):
    declared, located = Village.__table__.alias("dv"), Village.__table__.alias("lv")
    district = District.__table__.alias("dd")
    query = (select(Household.id.label("household_id"), Household.no_kk, Household.head_name, Household.desil,
                    Household.village_id, declared.c.code.label("village_code"),
                    declared.c.name.label("village_name"), Household.located_village_id,
                    located.c.code.label("located_code"), located.c.name.label("located_name"),
                    Household.location_status, func.ST_X(position(Household.location, scope)).label("lon"),
                    func.ST_Y(position(Household.location, scope)).label("lat"))
             .select_from(Household.__table__.join(declared, declared.c.id == Household.village_id)
                          .join(district, district.c.id == declared.c.district_id)
                          .outerjoin(located, located.c.id == Household.located_village_id))
             .where(Household.location_status.in_(list(statuses)), in_scope(Household, scope)))
    if regency_id is not None:
        query = query.where(district.c.regency_id == regency_id)
    return query.order_by(declared.c.code, Household.id)


def location_mismatch_page(conn: Connection, scope: Scope, statuses=MISMATCH_STATUSES,
                           regency_id: Optional[int] = None, limit: int = 50, offset: int = 0):
    """(total, rows): scoped households whose point is not in their declared village (status
    beda_desa or di_luar_wilayah by default), by declared village code: household_id, no_kk,
    head_name, desil, village_id/code/name, located_village_id/code/name, location_status,
    lon, lat (ix_household_location_status)."""
    query = _location_mismatch_rows(scope, statuses, regency_id)
    total = conn.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    return total, conn.execute(query.limit(limit).offset(offset)).mappings().all()


def iter_location_mismatches(conn: Connection, scope: Scope, statuses=MISMATCH_STATUSES,
                             regency_id: Optional[int] = None, batch: int = 2000):
    """The rows of ``location_mismatch_page``, all of them, streamed (downloads)."""
    result = conn.execute(_location_mismatch_rows(scope, statuses, regency_id),
                          execution_options={"stream_results": True, "yield_per": batch})
    yield from result.mappings()


def location_mismatch_features(conn: Connection, scope: Scope, household_ids: list[int],
                               tolerance: float = 0.0002):
    """Rows (role, id, household_id, geojson) for a map of the given scoped households: each
    point ('household'), its declared village ('declared') and its located village
    ('located'), villages simplified by ``tolerance`` degrees (~20 m)."""
    if not household_ids:
        return []
    households = (select(Household.id, Household.location, Household.village_id, Household.located_village_id)
                  .where(Household.id.in_(list(household_ids)), in_scope(Household, scope)).subquery("h"))
    points = select(literal("household").label("role"), households.c.id.label("id"),
                    households.c.id.label("household_id"),
                    func.ST_AsGeoJSON(position(households.c.location, scope), 6).label("geojson")
                    ).where(households.c.location.is_not(None))
    village_ids = (select(households.c.village_id.label("vid"), literal("declared").label("role"))
                   .union(select(households.c.located_village_id, literal("located"))
                          .where(households.c.located_village_id.is_not(None))).subquery("v"))
    villages = (select(village_ids.c.role, Village.id.label("id"), literal(None, Integer).label("household_id"),
                       func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(Village.geom, tolerance), 6)
                       .label("geojson"))
                .join(Village, Village.id == village_ids.c.vid))
    return conn.execute(villages.union_all(points)).mappings().all()
