"""Per-village measures, kept current instead of recomputed on every request.

The tables (app/models/measures.py, migration 0010) hold per year, village and desil the
households, their counted programs (0 / 1 / 2 / 3+ and the sum), gap households and location
statuses, and per year and village the households of every program pair. Writes only mark
villages dirty (statement triggers, in the writer's transaction); ``ensure_current`` refreshes
the dirty villages, and adds a year not kept yet, before any reader reads. A reader therefore
never sees a stale figure, and a write never pays for a recomputation.

Why this is exact for every scope that reads it: an operator's (or a regional Pimpinan's)
scope is "households declared in villages of regency R, their enrolments, zones of R or
province-wide", so the figures of R's villages are the same rows the live query would count,
with ``gaps_own`` (zones of the village's own regency or province-wide) instead of
``gaps_all``. An OPD's scope counts only its agency's programs: it is not kept, and
gis/queries.py computes it live.

The rule of every figure is gis/queries.py's (counted statuses, the zone rule: the point
inside the zone, or without a point the declared village more than half inside it);
tests/integration/test_village_measures.py checks the kept rows against a from-scratch SQL.
"""
from __future__ import annotations

from typing import Optional, Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.models.measures import MEASURE_COUNTS

COUNTED_STATUSES = ("usulan", "ditetapkan", "disalurkan")  # = gis.queries.COUNTED_STATUSES
KEPT_TABLES = ("village_measure", "village_program_pair", "village_program", "zone_village_measure")
_LOCK = 0x5A1E_0010  # pg_advisory lock key: one refresh at a time (they delete and insert the same rows)

# Households of the villages to compute (:villages NULL = all), with their regency.
_COMPUTE = f"""
WITH h AS MATERIALIZED (  -- no geometry here: 1 M points would be copied for nothing
    SELECT h.id, h.village_id, h.desil, h.location_status, d.regency_id
      FROM household h JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
     WHERE CAST(:villages AS int[]) IS NULL OR h.village_id = ANY(CAST(:villages AS int[]))
), base AS (
    SELECT village_id, desil, count(*) AS households,
           count(*) FILTER (WHERE location_status = 'tanpa_titik') AS tanpa_titik,
           count(*) FILTER (WHERE location_status = 'beda_desa') AS beda_desa,
           count(*) FILTER (WHERE location_status = 'di_luar_wilayah') AS di_luar_wilayah
      FROM h GROUP BY village_id, desil
), e AS MATERIALIZED (
    -- (household, program, year) is unique (uq_enrolment_household_program_year): no DISTINCT
    SELECT e.year, e.household_id, e.program_id, e.benefit_value, p.cluster, h.village_id, h.desil
      FROM enrolment e JOIN h ON h.id = e.household_id JOIN program p ON p.id = e.program_id
     WHERE e.year = ANY(CAST(:years AS int[])) AND e.status IN {COUNTED_STATUSES}
), per_household AS MATERIALIZED (
    SELECT year, household_id, village_id, desil, array_agg(program_id ORDER BY program_id) AS programs,
           count(*) AS n, sum(benefit_value) AS benefit_value, array_agg(cluster) AS clusters
      FROM e GROUP BY year, household_id, village_id, desil
), reach AS (
    SELECT year, village_id, desil,
           count(*) FILTER (WHERE n = 1) AS programs_1, count(*) FILTER (WHERE n = 2) AS programs_2,
           count(*) FILTER (WHERE n >= 3) AS programs_3plus, sum(n) AS program_sum,
           sum(benefit_value) AS benefit_value, count(*) FILTER (WHERE 1 = ANY(clusters)) AS cluster_1,
           count(*) FILTER (WHERE 2 = ANY(clusters)) AS cluster_2,
           count(*) FILTER (WHERE 3 = ANY(clusters)) AS cluster_3
      FROM per_household GROUP BY year, village_id, desil
), programs AS (
    INSERT INTO village_program (year, village_id, program_id, households, benefit_value)
    SELECT year, village_id, program_id, count(*), coalesce(sum(benefit_value), 0)
      FROM e GROUP BY year, village_id, program_id
    RETURNING 1
), village_zones AS MATERIALIZED (
    -- zones holding more than half of a village, for its households without a point; only the
    -- villages asked for (the intersection areas are the costly part)
    SELECT z.year, z.id AS zone_id, z.regency_id, v.id AS village_id
      FROM village v JOIN priority_zone z ON ST_Intersects(z.geom, v.geom)
     WHERE z.year = ANY(CAST(:years AS int[]))
       AND (CAST(:villages AS int[]) IS NULL OR v.id = ANY(CAST(:villages AS int[])))
       AND ST_Area(ST_Intersection(z.geom, v.geom)) / nullif(ST_Area(v.geom), 0) > 0.5
), zone_members AS (
    -- from each zone into the households' GiST index (a handful of zones, a million points)
    SELECT z.year, z.id AS zone_id, hh.id AS household_id, z.regency_id AS zone_regency
      FROM priority_zone z JOIN household hh ON ST_Intersects(z.geom, hh.location)
     WHERE z.year = ANY(CAST(:years AS int[]))
       AND (CAST(:villages AS int[]) IS NULL OR hh.village_id = ANY(CAST(:villages AS int[])))
    UNION ALL
    SELECT vz.year, vz.zone_id, hh.id, vz.regency_id
      FROM household hh JOIN village_zones vz ON vz.village_id = hh.village_id
     WHERE hh.location IS NULL
       AND (CAST(:villages AS int[]) IS NULL OR hh.village_id = ANY(CAST(:villages AS int[])))
), gaps AS (
    SELECT m.year, h.village_id, h.desil, count(*) AS gaps_all,
           count(*) FILTER (WHERE m.zone_regencies && ARRAY[0, h.regency_id]) AS gaps_own
      FROM (SELECT year, household_id, array_agg(coalesce(zone_regency, 0)) AS zone_regencies
              FROM zone_members GROUP BY year, household_id) m
      JOIN h ON h.id = m.household_id
     WHERE NOT EXISTS (SELECT 1 FROM per_household p WHERE p.year = m.year AND p.household_id = m.household_id)
     GROUP BY m.year, h.village_id, h.desil
), zones AS (
    INSERT INTO zone_village_measure (year, zone_id, village_id, desil, households, gaps)
    SELECT m.year, m.zone_id, h.village_id, h.desil, count(*), count(*) FILTER (WHERE p.household_id IS NULL)
      FROM zone_members m JOIN h ON h.id = m.household_id
      LEFT JOIN per_household p ON p.year = m.year AND p.household_id = m.household_id
     GROUP BY m.year, m.zone_id, h.village_id, h.desil
    RETURNING 1
), measures AS (
    INSERT INTO village_measure (year, village_id, desil, {", ".join(MEASURE_COUNTS)}, benefit_value)
    SELECT y.year, b.village_id, b.desil, b.households,
           b.households - coalesce(r.programs_1 + r.programs_2 + r.programs_3plus, 0),
           coalesce(r.programs_1, 0), coalesce(r.programs_2, 0), coalesce(r.programs_3plus, 0),
           coalesce(r.program_sum, 0), coalesce(g.gaps_all, 0), coalesce(g.gaps_own, 0),
           b.tanpa_titik, b.beda_desa, b.di_luar_wilayah, coalesce(r.cluster_1, 0), coalesce(r.cluster_2, 0),
           coalesce(r.cluster_3, 0), coalesce(r.benefit_value, 0)
      FROM base b CROSS JOIN unnest(CAST(:years AS int[])) AS y(year)
      LEFT JOIN reach r ON r.year = y.year AND r.village_id = b.village_id AND r.desil = b.desil
      LEFT JOIN gaps g ON g.year = y.year AND g.village_id = b.village_id AND g.desil = b.desil
    RETURNING 1  -- a data-modifying WITH runs to completion whether or not it is read
), combinations AS (
    -- households of a village with the same set of programs, counted once: the pairs come
    -- from a few thousand combinations instead of a self-join of two million enrolments
    SELECT year, village_id, programs, count(*) AS households
      FROM per_household GROUP BY year, village_id, programs
)
INSERT INTO village_program_pair (year, village_id, program_a, program_b, households)
SELECT c.year, c.village_id, a.program_id, b.program_id, sum(c.households)
  FROM combinations c, unnest(c.programs) AS a(program_id), unnest(c.programs) AS b(program_id)
 WHERE b.program_id >= a.program_id
 GROUP BY c.year, c.village_id, a.program_id, b.program_id
"""


def _compute(conn: Connection, years: Sequence[int], villages: Optional[Sequence[int]]) -> None:
    """Replace the kept rows of ``years`` x ``villages`` (None: every village) by fresh ones."""
    params = {"years": list(years), "villages": None if villages is None else list(villages)}
    # A full year hashes a million households and two million enrolments: at the default 4 MB
    # every hash and sort spills to disk (measured at 1 M households: 73 s, 41 s with 256 MB).
    conn.execute(text("SELECT set_config('work_mem', '256MB', true)"))
    for table in KEPT_TABLES:
        conn.execute(text(f"DELETE FROM {table} WHERE year = ANY(CAST(:years AS int[])) AND "
                          f"(CAST(:villages AS int[]) IS NULL OR village_id = ANY(CAST(:villages AS int[])))"),
                     params)
    conn.execute(text(_COMPUTE), params)


def _stale(conn: Connection, year: Optional[int]) -> bool:
    return bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM village_measure_dirty) OR "
        "(CAST(:year AS int) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM village_measure_year WHERE year = :year))"),
        {"year": year}).scalar())


def refresh(conn: Connection, year: Optional[int] = None) -> None:
    """Bring the kept measures up to date on ``conn`` (in its transaction): recompute the
    dirty villages for every kept year, and compute ``year`` for every village when it is not
    kept yet. Waits for a refresh running elsewhere (the lock ends with the transaction)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    kept = list(conn.execute(text("SELECT year FROM village_measure_year ORDER BY year")).scalars())
    if year is not None and year not in kept:
        _compute(conn, [year], None)
        conn.execute(text("INSERT INTO village_measure_year (year) VALUES (:y)"), {"y": year})
    # Only the marks this statement sees: a writer still open keeps its own for the next refresh.
    dirty = sorted(set(conn.execute(text("DELETE FROM village_measure_dirty RETURNING village_id")).scalars()))
    if dirty and kept:
        _compute(conn, kept, dirty)


def refresh_all(conn: Connection, years: Optional[Sequence[int]] = None) -> list[int]:
    """Recompute ``years`` (default: the kept years and the programs' fiscal years) for every
    village, and keep them (after a bulk load, or to repair). Returns the years."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    conn.execute(text("DELETE FROM village_measure_dirty"))
    if years is None:
        years = conn.execute(text("SELECT year FROM village_measure_year UNION "
                                  "SELECT fiscal_year FROM program ORDER BY 1")).scalars().all()
    years = sorted(set(years))
    if years:
        _compute(conn, years, None)
        conn.execute(text("INSERT INTO village_measure_year (year) SELECT unnest(CAST(:y AS int[])) "
                          "ON CONFLICT DO NOTHING"), {"y": years})
    return years


def refresh_timeout_ms() -> int:
    from flask import current_app, has_app_context

    default = 300_000
    return int(current_app.config.get("MEASURES_REFRESH_TIMEOUT_MS", default)) if has_app_context() else default


def ensure_current(conn: Connection, year: Optional[int] = None) -> None:
    """Make the kept measures current (and ``year`` kept) for a reader on ``conn``.

    The refresh runs on a connection of its own and commits, so the next request finds the
    work done (a reader's own transaction is rolled back at the end of a GET). If that cannot
    take the lock at once, or ``conn``'s transaction has uncommitted writes of its own that the
    other connection cannot see, it is done once more inside ``conn``'s transaction."""
    if not _stale(conn, year):
        return
    with conn.engine.connect() as side, side.begin():
        # Its own, longer timeout: the work is committed for every later request, whereas a
        # refresh cut by the request's timeout would be rolled back and tried again by each one
        # (a whole year at 1 M households takes 15-40 s; writers' villages a fraction of a second).
        side.execute(text("SELECT set_config('statement_timeout', :t, true)"),
                     {"t": str(refresh_timeout_ms())})
        if side.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK}).scalar():
            refresh(side, year)
    if _stale(conn, year):
        refresh(conn, year)
