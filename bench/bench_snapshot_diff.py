#!/usr/bin/env python3
"""The snapshot diff (app/services/snapshot_diff.py) at N households, against a hand-written
FULL JOIN on household_id measured in the same run.

    python3 scripts/pgcluster.py start
    .venv/bin/python bench/bench_snapshot_diff.py [--households 1000000] [--pairs 5] [--keep-db]
                                                  [--explain]

1. A throw-away database ``sinergi_bench_diff_<random>`` on the project's cluster (or on
   DATABASE_URL's server): migrated, the real Lampung areas; N synthetic households spread over
   the villages and two DTSEN snapshots written set-based (INSERT ... SELECT generate_series):
   A lists every household but 2 % (they enter in B), B every household but another 2 % (they
   leave); in B 10 % change desil (half up, half down), 1 % move village, 5 % gain a member,
   5 % lose one. Each household has 1-4 member NIKs (sorted arrays, as the import writes them).
2. Each answer of the service (province-wide scope, as Bappeda) and the baseline, alternately
   (A B A B ...), ``--pairs`` times after one unmeasured warm-up of each, both with jit off as
   app/query_guard.py sets it. Prints median per side and the ratio (target <= 2).

The baseline: the bare FULL JOIN of the two snapshots counting entered, left, desil up / down,
moved and "member arrays differ" — the least any diff must read. ``--explain`` prints
EXPLAIN (ANALYZE, BUFFERS) of the service's summary and per-village statements.
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

BASELINE = """
SELECT count(a.household_id) AS households_a, count(b.household_id) AS households_b,
       count(*) FILTER (WHERE a.household_id IS NULL) AS entered,
       count(*) FILTER (WHERE b.household_id IS NULL) AS left,
       count(*) FILTER (WHERE b.desil > a.desil) AS desil_up,
       count(*) FILTER (WHERE b.desil < a.desil) AS desil_down,
       count(*) FILTER (WHERE a.village_id <> b.village_id) AS moved,
       count(*) FILTER (WHERE a.member_niks <> b.member_niks) AS members_changed
  FROM (SELECT * FROM household_snapshot WHERE snapshot_id = %(a)s) a
  FULL JOIN (SELECT * FROM household_snapshot WHERE snapshot_id = %(b)s) b USING (household_id)
"""

BUILD = [
    # households: real villages, round robin by a stride so each village gets a spread of ids
    """
    INSERT INTO household (id, no_kk, head_nik, head_name, village_id, desil, member_count, source)
    SELECT i, lpad((1800000000000000 + i)::text, 16, '0'), lpad((1871000000000000 + i)::text, 16, '0'),
           'Kepala ' || i, v.ids[1 + (i * 7919) %% array_length(v.ids, 1)], 1 + i %% 4, 1 + i %% 4, 'bench'
      FROM generate_series(1, %(n)s) AS i, (SELECT array_agg(id ORDER BY id) AS ids FROM village) v
    """,
    "SELECT setval(pg_get_serial_sequence('household', 'id'), %(n)s)",
    """INSERT INTO targeting_snapshot (source, period, period_start, desil_max)
       VALUES ('DTSEN', '2025-Q3', DATE '2025-07-01', 10), ('DTSEN', '2025-Q4', DATE '2025-10-01', 10)""",
    # A: every household but i % 50 = 0 (they enter in B)
    """
    INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id, member_count, member_niks)
    SELECT (SELECT id FROM targeting_snapshot WHERE period = '2025-Q3'), h.id, 10, h.desil, h.village_id,
           h.member_count,
           ARRAY(SELECT lpad((3200000000000000 + h.id * 10 + k)::text, 16, '0') FROM generate_series(1, h.member_count) k
                  ORDER BY 1)
      FROM household h WHERE h.id %% 50 <> 0
    """,
    # B: every household but i % 50 = 1 (they leave); desil, village and members changed for some
    """
    INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id, member_count, member_niks)
    SELECT (SELECT id FROM targeting_snapshot WHERE period = '2025-Q4'), h.id, 10,
           CASE WHEN h.id %% 20 = 2 THEN h.desil + 1 WHEN h.id %% 20 = 3 AND h.desil > 1 THEN h.desil - 1
                ELSE h.desil END,
           CASE WHEN h.id %% 100 = 4 THEN (SELECT min(id) FROM village) ELSE h.village_id END,
           h.member_count + CASE WHEN h.id %% 20 = 5 THEN 1 WHEN h.id %% 20 = 6 AND h.member_count > 1 THEN -1
                                 ELSE 0 END,
           ARRAY(SELECT lpad((3200000000000000 + h.id * 10 + k)::text, 16, '0')
                   FROM generate_series(CASE WHEN h.id %% 20 = 6 AND h.member_count > 1 THEN 2 ELSE 1 END,
                                        h.member_count + CASE WHEN h.id %% 20 = 5 THEN 1 ELSE 0 END) k ORDER BY 1)
      FROM household h WHERE h.id %% 50 <> 1
    """,
    "VACUUM (ANALYZE) household_snapshot",
    "VACUUM (ANALYZE) household",
]


def build(conninfo: str, households: int) -> None:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in BUILD:
            started = time.perf_counter()
            conn.execute(statement, {"n": households})
            print(f"  {' '.join(statement.split())[:70]}… {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--db", help="an already built database to reuse (kept)")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    name = args.db or f"sinergi_bench_diff_{secrets.token_hex(4)}"
    url = _admin_url().set(database=name)
    env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)}
    os.environ["DATABASE_URL"] = env["DATABASE_URL"]
    try:
        if not args.db:
            print(f"building {name} with {args.households:,} households …", flush=True)
            make_database(name, env)
            build(_conninfo(url), args.households)
        run(url, args)
    finally:
        if not (args.db or args.keep_db):
            drop_database(name)
        elif args.keep_db:
            print(f"kept {name}")


def run(url, args) -> None:
    import psycopg
    from sqlalchemy import create_engine

    from app.security.scope import Scope
    from app.services import snapshot_diff as D

    engine = create_engine(url.render_as_string(hide_password=False))
    scope = Scope("all", can_unmask=True)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET jit = off")
        pair = D.choose_pair(conn, None, None)
        ids = {"a": pair.a.id, "b": pair.b.id}
        last_page = max(0, (D.household_count(conn, pair, scope) - 1) // 50 * 50)
        workloads = {
            "summary (counts of each kind)": lambda: D.summary(conn, pair, scope),
            "per village (diff_counts_by_village)": lambda: D.diff_counts_by_village(conn, pair.a.id, pair.b.id, scope),
            "per regency": lambda: D.counts_by_regency(conn, pair, scope),
            "households page 1 with total (every change)": lambda: D.household_page(conn, pair, scope),
            "households page 1 with total (kind=moved)": lambda: D.household_page(conn, pair, scope, "moved"),
            "households last page (every change)": lambda: D.household_page(conn, pair, scope, offset=last_page),
        }
        with psycopg.connect(_conninfo(url), autocommit=True) as raw:
            raw.execute("SET jit = off")
            expected = raw.execute(BASELINE, ids).fetchone()
            summary = D.summary(conn, pair, scope)
            print(f"\n{pair.a.label} -> {pair.b.label}: baseline {tuple(expected)}\n  service {summary}")
            assert (summary["households_a"], summary["households_b"], summary["entered"], summary["left"],
                    summary["desil_up"], summary["desil_down"], summary["moved"]) == tuple(expected[:7])

            def baseline():
                raw.execute(BASELINE, ids).fetchall()

            print(f"\n{'workload':45} {'service':>10} {'baseline':>10} {'ratio':>7}")
            for label, work in workloads.items():
                work(), baseline()  # warm-up
                service_t, base_t = [], []
                for _ in range(args.pairs):
                    started = time.perf_counter()
                    work()
                    service_t.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    baseline()
                    base_t.append(time.perf_counter() - started)
                s, b = statistics.median(service_t), statistics.median(base_t)
                print(f"{label:45} {s:9.3f}s {b:9.3f}s {s / b:6.2f}×  {'PASS' if s / b <= 2 else 'FAIL'}",
                      flush=True)
            if args.explain:
                explain(conn, pair, scope)


def explain(conn, pair, scope) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements the service sends for the summary and the
    per-village counts (caught as they are executed, compiled with their literal values)."""
    from sqlalchemy import event
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.sql import Select

    from app.services import snapshot_diff as D

    captured = []

    def capture(_conn, clauseelement, *_args):
        if isinstance(clauseelement, Select):
            captured.append(clauseelement)

    event.listen(conn, "before_execute", capture)
    D.summary(conn, pair, scope)
    D.diff_counts_by_village(conn, pair.a.id, pair.b.id, scope)
    event.remove(conn, "before_execute", capture)
    # summary, the snapshot list of choose_pair, per village
    for name, statement in (("summary", captured[0]), ("per village", captured[-1])):
        sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        print(f"\n--- EXPLAIN (ANALYZE, BUFFERS) {name}")
        for (line,) in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql):
            print(line)


if __name__ == "__main__":
    main()
