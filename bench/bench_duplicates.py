#!/usr/bin/env python3
"""Duplicates and double aid at scale: the scan (app/services/duplicates.py) and the review
queue's queries, on N synthetic households (default 1,000,000, ~2.7 members each) in a
throw-away database.

    python3 scripts/pgcluster.py start
    .venv/bin/python bench/bench_duplicates.py [--households 200000] [--keep-db]

1. A database ``sinergi_dup_<random>``: migrated, the Lampung areas; then, set-based in SQL,
   N households spread over the villages, 1-4 members each (mean ~2.7) with names drawn from
   first name x a syllable pair x family name and birth dates spread over 70 years, a BDT 2015
   snapshot of every household and a DTSEN 2025-Q4 one of 30 % of them, 20 programs of 2017
   (two of synergy type a) with ~2.5 enrolments per household, the rule a + a; planted:
   0.1 % of members copied into a neighbour family (same NIK), 0.1 % copied with a one-letter
   typo under a new NIK into a household of the same village, 0.2 % of the DTSEN rows in
   another village.
2. Baseline in the same run: ``SELECT count(*)`` of household_member joined to household (one
   pass over the data the scan must read at least once).
3. The scan, per rule (target: <= 60 s in all at 1,000,000), and the number found of each.
4. The queue page's queries (count + first page of 50 + per-village counts for the filter)
   for Bappeda (the province) and one regency, median of 5 (target < 300 ms).
5. For the record: rule b driven through the GIN trigram index (one probe per member), timed
   on 20,000 members and extrapolated.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_import import _admin_url, _conninfo, drop_database, make_database  # noqa: E402

SYLLABLES = ["ra", "di", "su", "wa", "ti", "ko", "ma", "ni", "ha", "ya", "to", "ri", "an", "se", "lu", "de",
             "gu", "pa", "wi", "no"]

DATA_SQL = """
CREATE TEMP TABLE vv ON COMMIT DROP AS
SELECT v.id, row_number() OVER (ORDER BY v.id) - 1 AS k, count(*) OVER () AS n FROM village v;

INSERT INTO household (id, no_kk, head_nik, head_name, village_id, desil, member_count, location_status, source)
SELECT g.i, '19' || lpad(g.i::text, 14, '0'), '17' || lpad((g.i * 4)::text, 14, '0'), 'Kepala ' || g.i,
       vv.id, 1 + g.i %% 4, 1, 'tanpa_titik', 'bench_duplicates'
  FROM generate_series(1, %(n)s) g(i)
  JOIN vv ON vv.k = ((g.i - 1) * (SELECT max(n) FROM vv) / %(n)s);
SELECT setval(pg_get_serial_sequence('household', 'id'), %(n)s);

-- 1-4 members (mean ~2.7); member j of household i has NIK 17 + (4 i + j).
INSERT INTO household_member (household_id, nik, name, sex, birth_date, relationship_to_head)
SELECT h.id, '17' || lpad((h.id * 4 + j)::text, 14, '0'),
       (%(first)s::text[])[1 + (hashint8(h.id * 8 + j) & 2147483647) %% cardinality(%(first)s::text[])] || ' '
       || initcap((%(syl)s::text[])[1 + (hashint8(h.id * 8 + j + 100) & 2147483647) %% 20]
                  || (%(syl)s::text[])[1 + (hashint8(h.id * 8 + j + 200) & 2147483647) %% 20]) || ' '
       || (%(family)s::text[])[1 + (hashint8(h.id * 8 + j + 300) & 2147483647) %% cardinality(%(family)s::text[])],
       CASE WHEN j %% 2 = 0 THEN 'L' ELSE 'P' END,
       date '1945-01-01' + ((hashint8(h.id * 8 + j + 400) & 2147483647) %% 25500)::int,
       CASE j WHEN 0 THEN 'kepala' WHEN 1 THEN 'istri/suami' ELSE 'anak' END
  FROM household h
 CROSS JOIN LATERAL generate_series(0, CASE WHEN (hashint8(h.id) & 2147483647) %% 100 < 10 THEN 0
                                            WHEN (hashint8(h.id) & 2147483647) %% 100 < 40 THEN 1
                                            WHEN (hashint8(h.id) & 2147483647) %% 100 < 80 THEN 2 ELSE 3 END) j
 WHERE h.source = 'bench_duplicates';

-- planted a) the same NIK in a neighbour family (0.1 %% of members)
INSERT INTO household_member (household_id, nik, name, sex, birth_date, relationship_to_head)
SELECT m.household_id + 7, m.nik, m.name, m.sex, m.birth_date, 'famili lain'
  FROM household_member m WHERE m.id %% 1000 = 1 AND m.household_id + 7 <= %(n)s
ON CONFLICT DO NOTHING;
-- planted b) the same person, one letter changed, under a new NIK, in a household of the same village
INSERT INTO household_member (household_id, nik, name, sex, birth_date, relationship_to_head)
SELECT m.household_id + 1, '16' || lpad(m.id::text, 14, '0'),
       overlay(m.name placing 'x' from length(m.name) - 2 for 1), m.sex, m.birth_date, 'famili lain'
  FROM household_member m JOIN household h ON h.id = m.household_id
  JOIN household h2 ON h2.id = m.household_id + 1 AND h2.village_id = h.village_id
 WHERE m.id %% 1000 = 7
ON CONFLICT DO NOTHING;
UPDATE household h SET member_count = c.n
  FROM (SELECT household_id, count(*) AS n FROM household_member GROUP BY household_id) c
 WHERE c.household_id = h.id AND h.member_count <> c.n;

-- snapshots: BDT 2015 lists every household; DTSEN 2025-Q4 30 %%, 0.2 %% of those in the next village
INSERT INTO targeting_snapshot (source, period, period_start, desil_max) VALUES
    ('BDT 2015', '2015', '2015-01-01', 4), ('DTSEN', '2025-Q4', '2025-10-01', 10) ON CONFLICT DO NOTHING;
INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id, member_count)
SELECT (SELECT id FROM targeting_snapshot WHERE source = 'BDT 2015'), h.id, 4, h.desil, h.village_id, h.member_count
  FROM household h;
INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id, member_count)
SELECT (SELECT id FROM targeting_snapshot WHERE source = 'DTSEN'), h.id, 10, h.desil,
       CASE WHEN h.id %% 500 = 2 THEN coalesce((SELECT min(v.id) FROM village v WHERE v.id > h.village_id),
                                                h.village_id - 1) ELSE h.village_id END,
       h.member_count
  FROM household h WHERE h.id %% 10 < 3;

-- 20 programs of 2017 (two housing programs, type a), ~2.5 enrolments per household, rule a + a
INSERT INTO agency (name, sector, level) VALUES ('Dinas Bench', 'sosial', 'provinsi');
INSERT INTO program (code, name, cluster, synergy_type, agency_id, level, fiscal_year, budget, realised_budget,
                     target_desil, status)
SELECT 'BENCH-' || k, 'Program ' || k, 1, (ARRAY['a', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'lainnya'])[1 + k %% 10],
       (SELECT max(id) FROM agency), 'provinsi', 2017, 0, 0, 4, 'berjalan'
  FROM generate_series(0, 19) k;
INSERT INTO enrolment (household_id, program_id, year, status)
SELECT h.id, p.id, 2017, 'ditetapkan'
  FROM household h CROSS JOIN LATERAL generate_series(0, (hashint8(h.id + 77) & 2147483647)::int %% 5 - 1) t
  JOIN program p ON p.code = 'BENCH-' || ((hashint8(h.id * 5 + t) & 2147483647) %% 20)
ON CONFLICT DO NOTHING;
INSERT INTO program_exclusion_rule (synergy_type_a, synergy_type_b, note) VALUES ('a', 'a', 'bench');
"""


def statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def build(url, households: int) -> None:
    import psycopg

    from seeds.demo_domain import FAMILY_NAMES, FEMALE_NAMES, MALE_NAMES

    params = {"n": households, "first": list(MALE_NAMES) + list(FEMALE_NAMES), "family": list(FAMILY_NAMES),
              "syl": SYLLABLES}
    with psycopg.connect(_conninfo(url)) as conn:
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET synchronous_commit = off")
        conn.execute("ALTER TABLE household DISABLE TRIGGER USER")
        for statement in statements(DATA_SQL):
            started = time.monotonic()
            cur = psycopg.ClientCursor(conn).execute(statement, params)
            label = " ".join(statement.split()[:3])[:40]
            if cur.rowcount and cur.rowcount > 0:
                print(f"  {label:40} {cur.rowcount:>10,} rows {time.monotonic() - started:6.1f} s", flush=True)
        conn.execute("ALTER TABLE household ENABLE TRIGGER USER")
        conn.commit()
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--keep-db", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--db", help="measure again on a database kept by --keep-db (no build)")
    args = parser.parse_args()
    name = args.db or f"sinergi_dup_{secrets.token_hex(3)}"
    url = _admin_url().set(database=name)
    env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)}
    os.environ["DATABASE_URL"] = env["DATABASE_URL"]
    print(f"database {name}, {args.households:,} households", flush=True)
    if args.db:
        flask_upgrade = __import__("bench_export").flask
        flask_upgrade(env, "db", "upgrade")
        args.keep_db = True
        run(args)
        return
    try:
        t = time.monotonic()
        make_database(name, env)
        print(f"  migrated, areas loaded ({time.monotonic() - t:.1f} s)", flush=True)
        t = time.monotonic()
        build(url, args.households)
        print(f"  data built ({time.monotonic() - t:.1f} s)", flush=True)
        run(args)
    finally:
        if not args.keep_db:
            drop_database(name)


def run(args) -> None:
    from sqlalchemy import text

    from app import create_app
    from app.extensions import db
    from app.security.scope import Scope
    from app.services import duplicates

    app = create_app()
    with app.app_context():
        s = db.session
        counts = dict(s.execute(text("SELECT 'households', count(*) FROM household UNION ALL SELECT 'members', "
                                     "count(*) FROM household_member UNION ALL SELECT 'enrolments', count(*) "
                                     "FROM enrolment")).all())
        print("  " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        base, _ = timed(lambda: s.execute(text("SELECT count(*) FROM household_member m JOIN household h "
                                               "ON h.id = m.household_id")).scalar())
        print(f"\nbaseline: one pass over members x households          {base:7.2f} s")
        total, result = timed(lambda: duplicates.scan(s))
        s.commit()
        print(f"scan (all four rules, committed)                      {total:7.2f} s   "
              f"{'PASS' if total <= 60 * args.households / 1_000_000 else 'FAIL'} (target 60 s at 1 M, scaled)")
        for kind, seconds in result.seconds.items():
            print(f"  {kind:14} {result.found[kind]:>9,} pairs {seconds:7.2f} s")
        s.execute(text("ANALYZE duplicate_candidate"))
        s.commit()
        regency = s.execute(text("SELECT regency_id, count(*) FROM duplicate_candidate WHERE regency_id IS NOT NULL "
                                 "GROUP BY 1 ORDER BY 2 DESC LIMIT 1")).first()
        for label, scope in (("province (Bappeda)", Scope("all", can_unmask=True)),
                             (f"regency {regency[0]} ({regency[1]:,} pairs)", Scope("regency", regency_id=regency[0]))):
            def page():
                n, rows = duplicates.queue(s, scope, limit=50, offset=0)
                duplicates.households_of(s, rows)
                return n, duplicates.duplicate_counts_by_village(s, scope)

            timed(page)
            seconds, (n, by_village) = timed(page, repeat=5)
            print(f"queue page queries, {label:34} {seconds * 1000:7.1f} ms  {n:,} open, "
                  f"{len(by_village):,} villages   {'PASS' if seconds < 0.3 else 'FAIL'} (< 300 ms)")
            seconds, _ = timed(lambda: duplicates.queue(s, scope, kind="orang_sama", limit=50, offset=500), 5)
            print(f"  filtered by kind, page 11                          {seconds * 1000:7.1f} ms")
        s.rollback()
        # For the record: rule b driven by the GIN index, one probe per member, on a sample.
        s.execute(text("SELECT set_config('pg_trgm.similarity_threshold', '0.6', true)"))
        sample = 20_000
        seconds, pairs = timed(lambda: s.execute(text(f"""
            SELECT count(*) FROM (SELECT * FROM household_member ORDER BY id LIMIT {sample}) a
            JOIN household h1 ON h1.id = a.household_id
            CROSS JOIN LATERAL (SELECT b.id FROM household_member b JOIN household h2 ON h2.id = b.household_id
                                 WHERE b.name % a.name AND b.birth_date = a.birth_date AND b.id > a.id
                                   AND h2.village_id = h1.village_id) x""")).scalar())
        print(f"\nrule b through the GIN index, {sample:,} members: {seconds:.2f} s "
              f"-> ~{seconds * counts['members'] / sample:,.0f} s for all {counts['members']:,}")
        s.rollback()


if __name__ == "__main__":
    main()
