#!/usr/bin/env python3
"""Every heavy workload of Sinergi, through HTTP, at 1,000,000 households, each against a
bare-SQL baseline measured in the same run.

    .venv/bin/python bench/bench_scale.py [--keep-db] [--db sinergi_scale] [--households 1000000]
                                          [--pairs 10] [--only PATTERN] [--json PATH]

1. The data set. A database (default ``sinergi_scale``) on the project's cluster (or on
   DATABASE_URL's server): migrated, ``sinergi init``, the real Lampung areas (``areas
   load-demo``), the demo users and data (``seed demo``), then N generated households (default
   1,000,000) with ~2.7 listed members each and ~2.5 enrolments each, written set-based in SQL
   (INSERT ... SELECT over generate_series / ST_GeneratePoints, no Python loop over rows).
   With ``--keep-db`` an existing, completely built database is reused (after ``flask db
   upgrade``, so new migrations apply) and kept at the end; without it the database is built
   afresh and dropped at the end.
2. The server. gunicorn as ``make run`` starts it (gunicorn.conf.py, ``run:app``, one process)
   on a free local port, rate limits off (RATELIMIT_ENABLED=0, as the tests run) so they do not
   distort the figures; its peak RSS is read from /proc (VmHWM) at the end.
3. The workloads, each for Bappeda and the Lampung Timur operator op1807 (tiles also for
   Pimpinan): the request through HTTP (JWT from the REST login; a session from the login form
   for HTML pages) and its bare-SQL baseline (psycopg on the same database, the same rows),
   alternately, ``--pairs`` times after one unmeasured warm-up of each. Prints median, p95,
   bytes on the wire, the ratio to the baseline and PASS/FAIL against the target; writes the
   same as JSON (bench/results/ unless --json). A request slower than 60 s is cut and FAILs;
   any non-2xx answer FAILs and is listed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_export import flask  # noqa: E402  (the same `flask --app run ...` runner)
from bench_import import _admin_url, _conninfo, drop_database  # noqa: E402  (same DB handling)

DEFAULT_DB = "sinergi_scale"
MARKER = "sinergi bench_scale complete"  # in COMMENT ON DATABASE once a build has finished
CLIENT_TIMEOUT = 60.0  # seconds; a slower request is cut and reported as FAIL
PASSWORD = os.environ.get("SINERGI_DEMO_PASSWORD", "sinergi-demo")
ROLES = {"bappeda": "bappeda", "op1807": "op1807", "pimpinan": "pimpinan"}
COUNTED = "('usulan', 'ditetapkan', 'disalurkan')"  # gis.queries.COUNTED_STATUSES
LAMPUNG_TIMUR = "18.07"
BANDAR_LAMPUNG = "18.71"


# --- 1. the data set ---------------------------------------------------------------------------

def database_state(name: str) -> tuple[str, str]:
    """('missing' | 'complete' (a finished build) | 'partial', the database's comment)."""
    import psycopg

    with psycopg.connect(_conninfo(_admin_url().set(database="postgres")), autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (name,)).fetchone()
    if row is None:
        return "missing", ""
    return ("complete" if (row[0] or "").startswith(MARKER) else "partial"), row[0] or ""


# Household i (0-based) of the generated ones gets id BASE + 1 + i. Every number below is a
# function of i or of the id (hashint8 of it, salted), so a build is deterministic and the
# No KK / NIK are unique by construction:
#   No KK = kecamatan (6) + ddmm + '16' (issued 2016, after every demo No KK) + i % 10000,
#           the day and month from i / 10000;
#   NIK   = kecamatan (6) + birth ddmmyy (day + 40 for women) + serial, the serial numbering
#           the people of one kecamatan, birth date and sex from 1000 up (demo serials stay
#           below 1000), as Dukcapil numbers them. The birth date is any day of the member's
#           20-year window (a hash of id and j); 3 % carry 1 July, the placeholder registers
#           use for an unknown day, so a village holds a realistic number of shared birth
#           dates (the duplicates scan compares the people of one village and birth date).
HOUSEHOLDS_SQL = """
CREATE TEMP TABLE vplan ON COMMIT DROP AS
WITH w AS (
    SELECT v.id, d.regency_id, replace(d.code, '.', '') AS kec,
           CASE WHEN r.code IN ('18.03', '18.09', '18.07', '18.13', '18.08') THEN 1.6      -- poorest five
                WHEN r.code IN ('18.71', '18.72') THEN 0.9 ELSE 1.0 END                   -- kota
           * (0.4 + 1.2 * (hashint4(v.id) & 2147483647) / 2147483647.0) AS w
      FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
), c AS (SELECT *, sum(w) OVER (ORDER BY id) AS cum, sum(w) OVER () AS total FROM w)
SELECT id, regency_id, kec, floor(%(n)s * (cum - w) / total)::int AS first,
       floor(%(n)s * cum / total)::int AS last
  FROM c;

CREATE TEMP TABLE bh ON COMMIT DROP AS
WITH pts AS (  -- ST_GeneratePoints splits n over the parts of a multipolygon: a few more or fewer
    SELECT v.id AS village_id, d.path[1] AS k, ST_SetSRID(d.geom, 4326) AS geom
      FROM vplan v CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints((SELECT geom FROM village WHERE id = v.id),
                                                                 v.last - v.first, v.id)) d
     WHERE v.last > v.first
)
SELECT %(base)s + 1 + g.i AS id, g.i, v.id AS village_id, v.regency_id, v.kec,
       CASE WHEN (hashint8(g.i * 16 + 1) & 2147483647) %% 100 < 3 THEN NULL ELSE p.geom END AS location,
       (hashint8(g.i * 16 + 2) & 2147483647) %% 100 AS r_desil,
       (hashint8(g.i * 16 + 3) & 2147483647) %% 100 AS r_size,
       (hashint8(g.i * 16 + 4) & 2147483647) %% 100 AS r_sex,
       hashint8(g.i * 16 + 5) & 2147483647 AS r_name,
       hashint8(g.i * 16 + 6) & 2147483647 AS r_addr,
       (hashint8(g.i * 16 + 7) & 2147483647) %% 100 AS r_programs
  FROM vplan v CROSS JOIN LATERAL generate_series(v.first, v.last - 1) g(i)
  LEFT JOIN pts p ON p.village_id = v.id AND p.k = g.i - v.first + 1
 ORDER BY g.i;

CREATE TEMP TABLE bm ON COMMIT DROP AS
SELECT b.id AS household_id, j, b.kec,
       CASE WHEN j = 0 THEN CASE WHEN b.r_sex < 14 THEN 'P' ELSE 'L' END
            WHEN j = 1 THEN CASE WHEN b.r_sex < 14 THEN 'L' ELSE 'P' END
            ELSE CASE WHEN (b.r_name >> 3) %% 2 = 0 THEN 'L' ELSE 'P' END END AS sex,
       (CASE j WHEN 0 THEN date '1950-01-01' WHEN 1 THEN date '1953-01-01' ELSE date '1985-01-01' END
        + CASE WHEN (hashint8(b.id * 4 + j) & 2147483647) %% 100 < 3
               THEN ((hashint8(b.id * 4 + j) & 2147483647) %% 20) * 365 + 181
               ELSE ((hashint8(b.id * 4 + j) >> 8) & 2147483647) %% 7300 END::int) AS birth_date,
       b.r_name >> (4 * j) AS r_name
  FROM bh b
 CROSS JOIN LATERAL generate_series(0, least(
       CASE WHEN b.r_size < 6 THEN 1 WHEN b.r_size < 18 THEN 2 ELSE 3 END, 3) - 1) j;

ALTER TABLE bm ADD COLUMN nik text, ADD COLUMN name text, ADD COLUMN serial int;
UPDATE bm SET serial = n.serial
  FROM (SELECT household_id, j, 999 + row_number() OVER (PARTITION BY kec, birth_date, sex) AS serial FROM bm) n
 WHERE n.household_id = bm.household_id AND n.j = bm.j;
UPDATE bm SET
    nik = kec || to_char(extract(day FROM birth_date)::int + CASE WHEN sex = 'P' THEN 40 ELSE 0 END, 'FM00')
              || to_char(birth_date, 'MMYY') || to_char(serial, 'FM0000'),
    name = CASE WHEN sex = 'L' THEN (%(male)s::text[])[1 + (r_name %% cardinality(%(male)s::text[]))::int]
                                    || CASE WHEN r_name %% 5 < 2 THEN ' ' || (%(family)s::text[])[
                                       1 + ((r_name >> 8) %% cardinality(%(family)s::text[]))::int] ELSE '' END
                ELSE (%(female)s::text[])[1 + (r_name %% cardinality(%(female)s::text[]))::int] END;

ALTER TABLE household DISABLE TRIGGER household_locate;
-- The points lie inside their declared village by construction, so the located village is that
-- village ('cocok') or none ('tanpa_titik'); gis.queries.locate_households checks it after.
INSERT INTO household (id, no_kk, head_nik, head_name, address, rt, rw, village_id, desil, member_count,
                       location, located_village_id, location_status, source, source_date)
SELECT b.id,
       b.kec || to_char((b.i / 10000) %% 28 + 1, 'FM00') || to_char((b.i / 10000 / 28) %% 12 + 1, 'FM00') || '16'
             || to_char(b.i %% 10000, 'FM0000'),
       m.nik, m.name,
       'Dusun ' || (ARRAY['I', 'II', 'III', 'IV', 'V', 'VI'])[1 + (b.r_addr %% 6)::int],
       to_char(1 + (b.r_addr >> 4) %% 12, 'FM000'), to_char(1 + (b.r_addr >> 8) %% 5, 'FM000'),
       b.village_id,
       CASE WHEN b.r_desil < 28 THEN 1 WHEN b.r_desil < 56 THEN 2 WHEN b.r_desil < 78 THEN 3 ELSE 4 END,
       CASE WHEN b.r_size < 6 THEN 1 WHEN b.r_size < 18 THEN 2 WHEN b.r_size < 38 THEN 3 WHEN b.r_size < 62 THEN 4
            WHEN b.r_size < 79 THEN 5 WHEN b.r_size < 90 THEN 6 WHEN b.r_size < 96 THEN 7 ELSE 8 END,
       b.location, CASE WHEN b.location IS NULL THEN NULL ELSE b.village_id END,
       CASE WHEN b.location IS NULL THEN 'tanpa_titik' ELSE 'cocok' END,
       'BDT 2015 (bench_scale)', date '2015-07-01' + ((b.r_addr >> 12) %% 120)::int
  FROM bh b JOIN bm m ON m.household_id = b.id AND m.j = 0
 ORDER BY b.id;
ALTER TABLE household ENABLE TRIGGER household_locate;
SELECT setval(pg_get_serial_sequence('household', 'id'), (SELECT max(id) FROM household));

INSERT INTO household_member (household_id, nik, name, sex, birth_date, relationship_to_head)
SELECT household_id, nik, name, sex, birth_date,
       CASE j WHEN 0 THEN 'kepala' WHEN 1 THEN 'istri/suami' ELSE 'anak' END
  FROM bm ORDER BY household_id, j;

-- Enrolments: 0-4 distinct programs per household (mean ~2.5) among the programs covering its
-- regency (program_regency or the regency's own agencies: the operator's rule in
-- app/security/scope.py), picked by an offset and a stride over that list; year = the
-- program's fiscal year; statuses mixed.
CREATE TEMP TABLE reg_prog ON COMMIT DROP AS
SELECT r.id AS regency_id, array_agg(p.id ORDER BY p.id) AS progs, count(*)::int AS n
  FROM regency r JOIN program p
    ON p.id IN (SELECT program_id FROM program_regency WHERE regency_id = r.id)
    OR p.agency_id IN (SELECT id FROM agency WHERE regency_id = r.id)
 GROUP BY r.id;

INSERT INTO enrolment (household_id, program_id, year, status, benefit_value, date)
SELECT e.household_id, p.id, p.fiscal_year, e.status,
       CASE WHEN e.status = 'ditolak' THEN NULL
            ELSE (ARRAY[450000, 600000, 1000000, 1200000, 1500000, 2000000, 2500000, 3000000, 5000000])[1 + p.id %% 9]
       END,
       make_date(p.fiscal_year, 1, 5) + (e.r %% 330)::int
  FROM (SELECT b.id AS household_id, t,
               rp.progs[(1 + ((hashint8(b.id * 16 + 8) & 2147483647) %% rp.n
                              + t * (1 + (hashint8(b.id * 16 + 9) & 2147483647) %% greatest(rp.n - 1, 1))) %% rp.n)::int]
                   AS program_id,
               CASE WHEN r2 < 50 THEN 'disalurkan' WHEN r2 < 78 THEN 'ditetapkan' WHEN r2 < 92 THEN 'usulan'
                    ELSE 'ditolak' END AS status,
               r2 * 7 + t * 13 AS r
          FROM bh b JOIN reg_prog rp ON rp.regency_id = b.regency_id
         CROSS JOIN LATERAL generate_series(0, CASE WHEN b.r_programs < 8 THEN 0 WHEN b.r_programs < 15 THEN 1
                                                    WHEN b.r_programs < 43 THEN 2 WHEN b.r_programs < 81 THEN 3
                                                    ELSE 4 END - 1) t
         CROSS JOIN LATERAL (SELECT (hashint8(b.id * 16 + 10 + t) & 2147483647) %% 100 AS r2) s) e
  JOIN program p ON p.id = e.program_id
 ORDER BY e.household_id, p.id
    ON CONFLICT (household_id, program_id, year) DO NOTHING;
"""


def build_database(name: str, households: int, env: dict) -> dict:
    """Create, migrate, seed and fill ``name``; returns the timings (s) and row counts."""
    import psycopg
    from sqlalchemy import create_engine, text

    from seeds.demo_domain import FAMILY_NAMES, FEMALE_NAMES, MALE_NAMES

    timings = {}
    t = time.monotonic()
    drop_database(name)
    admin = _admin_url().set(database="postgres")
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(_conninfo(admin.set(database=name)), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    flask(env, "db", "upgrade")
    flask(env, "sinergi", "init")
    out = flask(env, "areas", "load-demo")
    print("  " + (out.strip().splitlines() or ["areas loaded"])[-1], flush=True)
    flask(env, "seed", "demo")
    timings["migrate, init, areas, demo seed"] = time.monotonic() - t

    url = _admin_url().set(database=name)
    with psycopg.connect(_conninfo(url)) as conn:
        villages = conn.execute("SELECT count(*) FROM village").fetchone()[0]
        if villages < 1000:
            print(f"  WARNING: only {villages} villages: the real Lampung areas were not found "
                  f"(SINERGI_AREAS_DIR), the synthetic geography was loaded", flush=True)
        base = conn.execute("SELECT coalesce(max(id), 0) FROM household").fetchone()[0]
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")  # the build is repeatable: nothing to lose
        t = time.monotonic()
        params = {"n": households, "base": base, "male": MALE_NAMES, "female": FEMALE_NAMES,
                  "family": FAMILY_NAMES}
        for statement in _statements(HOUSEHOLDS_SQL):
            started = time.monotonic()
            cur = psycopg.ClientCursor(conn).execute(statement, params)  # CREATE TABLE AS takes no server params
            label = " ".join(statement.split()[:3])
            if cur.rowcount and cur.rowcount > 0 and label.split()[0] in ("INSERT", "CREATE", "UPDATE"):
                print(f"  {label[:40]:40} {cur.rowcount:>10,} rows {time.monotonic() - started:7.1f} s", flush=True)
        conn.commit()
        timings["households, members, enrolments (SQL)"] = time.monotonic() - t

    engine = create_engine(url.render_as_string(hide_password=False))
    t = time.monotonic()
    with engine.begin() as conn:
        conn.execute(text("SET work_mem = '256MB'"))
        snapshots = targeting_snapshots(conn)
    print(f"  targeting snapshots: {snapshots}", flush=True)
    timings["targeting snapshots (BDT 2015, DTSEN 2025-Q3/Q4)"] = time.monotonic() - t

    # The app's set-based geolocation, as the import runs it: confirms the located villages
    # written above (it rewrites only the rows whose answer differs).
    t = time.monotonic()
    from gis.queries import locate_households
    with engine.begin() as conn:
        conn.execute(text("SET work_mem = '256MB'"))
        statuses = locate_households(conn)
    timings["locate_households (check)"] = time.monotonic() - t
    t = time.monotonic()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE household"))
        conn.execute(text("VACUUM ANALYZE household_member"))
        conn.execute(text("VACUUM ANALYZE enrolment"))
        conn.execute(text("VACUUM ANALYZE household_snapshot"))
        counts = dict(conn.execute(text(
            "SELECT 'household', count(*) FROM household UNION ALL SELECT 'household_member', count(*) "
            "FROM household_member UNION ALL SELECT 'enrolment', count(*) FROM enrolment")).all())
        conn.execute(text(f"COMMENT ON DATABASE \"{name}\" IS "
                          f"'{MARKER}: {households} generated households, {dt.date.today()}'"))
    engine.dispose()
    timings["vacuum analyze"] = time.monotonic() - t
    t = time.monotonic()
    flask(env, "gis", "measures")  # the kept per-village figures, as the import worker leaves them
    timings["flask gis measures"] = time.monotonic() - t
    t = time.monotonic()
    flask(env, "duplicates", "scan")  # the review queue's candidates, as the scan button leaves them
    timings["flask duplicates scan"] = time.monotonic() - t
    return {"timings": timings, "counts": counts, "location_status": statuses}


def targeting_snapshots(conn) -> dict:
    """The demo's targeting snapshots again, over every household: BDT 2015 for the generated
    ones, then DTSEN 2025-Q3 and 2025-Q4 rebuilt by the demo seed's rules (seeds/demo_snapshots.py:
    left, entered, desil up / down, moved, newborns), and each household carrying its latest."""
    from sqlalchemy import text

    from seeds.demo_snapshots import seed_snapshots

    bdt = conn.execute(text("SELECT id FROM targeting_snapshot WHERE source = 'BDT 2015'")).scalar_one()
    conn.execute(text("""UPDATE household h SET snapshot_id = s.snapshot_id, desil = s.desil, village_id = s.village_id,
                                location = s.location, member_count = s.member_count
                           FROM household_snapshot s
                          WHERE s.snapshot_id = :b AND s.household_id = h.id AND h.snapshot_id <> :b"""), {"b": bdt})
    conn.execute(text("DELETE FROM targeting_snapshot WHERE source = 'DTSEN'"))
    # One PL/pgSQL call per moved row otherwise: locate_households below does them set-based.
    conn.execute(text("ALTER TABLE household DISABLE TRIGGER household_locate"))
    written = seed_snapshots(conn)
    conn.execute(text("ALTER TABLE household ENABLE TRIGGER household_locate"))
    return written


def ensure_targeting_data(url, env: dict) -> None:
    """A database built before the targeting snapshots (migration 0012 made its BDT 2015
    snapshot): the DTSEN quarters and the duplicate candidates, once."""
    from sqlalchemy import create_engine, text

    from gis.queries import locate_households

    engine = create_engine(url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        built = conn.execute(text("SELECT count(*) FROM household_snapshot s JOIN targeting_snapshot t "
                                  "ON t.id = s.snapshot_id WHERE t.period = '2025-Q4'")).scalar() > 100_000
        scanned = conn.execute(text("SELECT EXISTS (SELECT FROM duplicate_candidate)")).scalar()
        if not built:
            started = time.monotonic()
            conn.execute(text("SET work_mem = '256MB'"))
            print(f"  targeting snapshots: {targeting_snapshots(conn)}", flush=True)
            locate_households(conn)
            print(f"  snapshots and geolocation in {time.monotonic() - started:.0f} s", flush=True)
    # Each step is checked on its own, so a build cut after the snapshots finishes here.
    if not scanned:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE household"))
            conn.execute(text("VACUUM ANALYZE household_snapshot"))
        print("  " + flask(env, "duplicates", "scan").strip().replace("\n", "; "), flush=True)
    engine.dispose()


def _statements(sql: str) -> list[str]:
    """The statements of a script (no semicolons inside them), comments dropped."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


# --- 2. the server -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    """gunicorn as `make run` starts it (gunicorn.conf.py: one process, 8 threads)."""
    log = open(log_path, "w")
    proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py",
                             "--bind", f"127.0.0.1:{port}", "run:app"],
                            cwd=ROOT, env={**env, "SINERGI_PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT)
    import requests

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}; see {log_path}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"gunicorn did not answer /health within 120 s; see {log_path}")


def process_tree(pid: int) -> list[int]:
    """The pid and its children (gunicorn's master and its worker)."""
    pids = [pid]
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        pids += [int(p) for p in child.read_text().split()]
    return pids


def peak_rss_mb(pid: int) -> dict[int, float]:
    """Peak resident memory (VmHWM: the kernel's high-water mark, so nothing between samples is
    missed) of each process of the tree, in MB."""
    out = {}
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        if found:
            out[p] = int(found.group(1)) / 1024
    return out


# --- 3. logins ---------------------------------------------------------------------------------

def jwt_login(base: str, username: str) -> dict:
    """Authorization header from the REST login (what API clients and QGIS do)."""
    import requests

    r = requests.post(f"{base}/api/v1/security/login", json={"username": username, "password": PASSWORD,
                                                             "provider": "db"}, timeout=30)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def session_login(base: str, username: str):
    """A browser-like session: GET the login form for its CSRF token, POST it."""
    import requests

    s = requests.Session()
    page = s.get(f"{base}/login/", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    r = s.post(f"{base}/login/", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token.group(1) if token else ""},
               allow_redirects=False, timeout=30)
    if r.status_code != 302 or "login" in r.headers.get("Location", "/login/"):
        raise SystemExit(f"session login of {username} failed: {r.status_code} {r.headers.get('Location')}")
    return s


# --- 4. workloads ------------------------------------------------------------------------------

@dataclass
class Workload:
    name: str
    role: str
    path: str              # URL path and query
    baseline: list[str]    # SQL statements run one after the other; their times add up
    ceiling: Optional[float] = None  # absolute p95 target (s) besides "<= 2 x baseline"
    html: bool = False     # needs a session (HTML page) rather than the JWT
    # Other ways to write the baseline: name -> (SET statements, statements or None for
    # ``baseline``). Each is tried twice; the fastest is the baseline of the pairs.
    variants: dict = field(default_factory=dict)
    note: str = ""


def _hh_join(role: str, ctx: dict, regency_id: Optional[int] = None, alias: str = "h") -> str:
    """The households of the role's scope (app/security/scope.py: op1807 sees Lampung Timur)
    and of the regency filter, written as the plain join a person would write (both restrict
    to the same regency here)."""
    rid = ctx["lt_id"] if role == "op1807" else regency_id
    if rid is None:
        return ""
    return (f" JOIN village sv ON sv.id = {alias}.village_id"
            f" JOIN district sd ON sd.id = sv.district_id AND sd.regency_id = {rid}")


def _zone_scope(role: str, ctx: dict) -> str:
    return f"(z.regency_id = {ctx['lt_id']} OR z.regency_id IS NULL)" if role == "op1807" else "true"


def overlap_sql(role, ctx, regency_id=None) -> str:
    """Distinct (household, program) of the year's counted enrolments first, then the self-join."""
    return f"""
        WITH e AS (SELECT DISTINCT e.household_id, e.program_id
                     FROM enrolment e JOIN household h ON h.id = e.household_id{_hh_join(role, ctx, regency_id)}
                    WHERE e.year = {ctx['year']} AND e.status IN {COUNTED})
        SELECT a.program_id, b.program_id, count(*) FROM e a JOIN e b
            ON a.household_id = b.household_id AND a.program_id <= b.program_id GROUP BY 1, 2"""


def gaps_sql(role, ctx, regency_id=None) -> str:
    """Gap households (desil <= 1, in a zone of the year by point or, without a point, by a
    village more than half inside, no counted enrolment) per village; zones outer, so the
    GiST index on household.location finds the points of each zone."""
    join = _hh_join(role, ctx, regency_id)
    return f"""
        WITH z AS (SELECT z.geom FROM priority_zone z WHERE z.year = {ctx['year']} AND {_zone_scope(role, ctx)}),
        inz AS (SELECT h.id, h.village_id FROM z JOIN household h ON ST_Intersects(z.geom, h.location){join}
                 WHERE h.desil <= 1
                UNION
                SELECT h.id, h.village_id FROM z JOIN village v ON ST_Intersects(z.geom, v.geom)
                  JOIN household h ON h.village_id = v.id{join}
                 WHERE h.location IS NULL AND h.desil <= 1
                   AND ST_Area(ST_Intersection(z.geom, v.geom)) > 0.5 * ST_Area(v.geom))
        SELECT v.id, v.code, v.name, count(*) FROM inz JOIN village v ON v.id = inz.village_id
         WHERE NOT EXISTS (SELECT 1 FROM enrolment e WHERE e.household_id = inz.id AND e.year = {ctx['year']}
                                                       AND e.status IN {COUNTED})
         GROUP BY v.id ORDER BY v.code"""


def gap_list_sql(role, ctx) -> list[str]:
    """Count + first page of the dashboard's gap link (desil 1, no counted program in the year,
    in a zone of the year): the zones' members found through the GiST index as gaps_sql does,
    then the page by No KK."""
    join = _hh_join(role, ctx)
    gaps = f"""
        WITH z AS (SELECT z.geom FROM priority_zone z WHERE z.year = {ctx['year']} AND {_zone_scope(role, ctx)}),
        inz AS (SELECT h.id FROM z JOIN household h ON ST_Intersects(z.geom, h.location){join} WHERE h.desil <= 1
                UNION
                SELECT h.id FROM z JOIN village v ON ST_Intersects(z.geom, v.geom)
                  JOIN household h ON h.village_id = v.id{join}
                 WHERE h.location IS NULL AND h.desil <= 1
                   AND ST_Area(ST_Intersection(z.geom, v.geom)) > 0.5 * ST_Area(v.geom)),
        g AS (SELECT inz.id FROM inz WHERE NOT EXISTS (SELECT 1 FROM enrolment e WHERE e.household_id = inz.id
                                                          AND e.year = {ctx['year']} AND e.status IN {COUNTED}))"""
    return [f"{gaps} SELECT count(*) FROM g",
            f"{gaps} SELECT h.id, h.no_kk, h.head_nik, h.head_name, h.address, h.rt, h.rw, v.code, v.name, h.desil, "
            f"h.member_count, ST_AsGeoJSON(h.location) AS location, h.source, h.source_date "
            f"FROM g JOIN household h ON h.id = g.id JOIN village v ON v.id = h.village_id ORDER BY h.no_kk LIMIT 50"]


def village_map_sql(role, ctx) -> str:
    """Every village, simplified for zoom 8, with the scope's measures (households, desil 1,
    reached, 2+ programs, gaps) computed by hand."""
    tolerance = 360.0 / (256 * 2 ** 8)
    decimals = max(3, min(6, math.ceil(-math.log10(tolerance / 4))))
    return f"""
        WITH p AS (SELECT e.household_id, count(DISTINCT e.program_id) AS n
                     FROM enrolment e JOIN household h ON h.id = e.household_id{_hh_join(role, ctx)}
                    WHERE e.year = {ctx['year']} AND e.status IN {COUNTED} GROUP BY 1),
        m AS (SELECT h.village_id, count(*) AS households, count(*) FILTER (WHERE h.desil = 1) AS desil1,
                     count(p.n) AS reached, count(*) FILTER (WHERE p.n >= 2) AS multi_program
                FROM household h{_hh_join(role, ctx)} LEFT JOIN p ON p.household_id = h.id GROUP BY 1),
        g AS ({gaps_sql(role, ctx)})
        SELECT v.id, v.code, v.name, v.kind, ST_AsGeoJSON(ST_SimplifyPreserveTopology(v.geom, {tolerance}), {decimals}),
               m.households, m.desil1, m.reached, m.multi_program, g.count AS gaps
          FROM village v LEFT JOIN m ON m.village_id = v.id LEFT JOIN g ON g.id = v.id ORDER BY v.code"""


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def household_tile_sql(role, ctx, z, x, y, snapshot_id: Optional[int] = None) -> str:
    """``snapshot_id``: the points, desil and villages of that snapshot (the map's "Sumber data"),
    for the households of the role's scope (by their latest village, as the app scopes)."""
    env = f"ST_TileEnvelope({z}, {x}, {y})"
    if snapshot_id:
        source = (f"(SELECT h.id, s.desil, s.village_id, s.location FROM household_snapshot s"
                  f" JOIN household h ON h.id = s.household_id{_hh_join(role, ctx)}"
                  f" WHERE s.snapshot_id = {snapshot_id}) h")
    else:
        source = f"household h{_hh_join(role, ctx)}"
    if z < 12:  # one point per village with its counts, as gis/tiles.py answers below z12
        return f"""
            WITH own AS (SELECT v.id, v.code, ST_Transform(ST_PointOnSurface(v.geom), 3857) AS p FROM village v
                          WHERE v.geom && ST_Transform({env}, 4326)),
            c AS (SELECT h.village_id, count(*) AS n, count(*) FILTER (WHERE h.desil = 1) AS d1
                    FROM {source} WHERE h.village_id IN (SELECT id FROM own) GROUP BY 1)
            SELECT ST_AsMVT(t, 'households', 4096, 'geom', 'id') FROM (
                SELECT ST_AsMVTGeom(own.p, {env}, 4096, 64, true) AS geom, own.id, own.code, c.n, c.d1
                  FROM own JOIN c ON c.village_id = own.id) t WHERE geom IS NOT NULL"""
    point = "ST_SnapToGrid(h.location, 0.01)" if role == "pimpinan" else "h.location"
    return f"""
        SELECT ST_AsMVT(t, 'households', 4096, 'geom', 'id') FROM (
            SELECT ST_AsMVTGeom(ST_Transform({point}, 3857), {env}, 4096, 64, true) AS geom, h.id, h.desil,
                   (SELECT count(DISTINCT e.program_id) FROM enrolment e WHERE e.household_id = h.id
                       AND e.year = {ctx['year']} AND e.status IN {COUNTED}) AS programs
              FROM {source}
             WHERE h.location && ST_Expand(ST_Transform({env}, 4326), 0.01)) t
         WHERE geom IS NOT NULL"""


def village_tile_sql(z, x, y) -> str:
    env = f"ST_TileEnvelope({z}, {x}, {y})"
    tolerance = 360.0 / 2 ** z / 512
    return f"""
        SELECT ST_AsMVT(t, 'villages', 4096, 'geom', 'id') FROM (
            SELECT ST_AsMVTGeom(ST_Transform(ST_Simplify(v.geom, {tolerance}, true), 3857), {env}, 4096, 64, true)
                   AS geom, v.id, v.code, v.name, v.kind
              FROM village v WHERE v.geom && ST_Transform({env}, 4326)) t WHERE geom IS NOT NULL"""


def list_sql(role, ctx, page_size: int, offset: int, village_id: Optional[int] = None,
             order: str = "no_kk", materialize: bool = False, snapshot_id: Optional[int] = None) -> list[str]:
    """Count + page. ``materialize``: read the scoped rows first and sort them, instead of
    walking the order's index until the scope's rows come (the faster for one regency)."""
    where = f"h.village_id = {village_id}" if village_id else "true"
    columns = ("h.id, h.no_kk, h.head_nik, h.head_name, h.address, h.rt, h.rw, v.code, v.name, h.desil, "
               "h.member_count, ST_AsGeoJSON(h.location) AS location, h.source, h.source_date")
    if snapshot_id:  # the "Sumber data" filter: households the snapshot lists
        where += (f" AND EXISTS (SELECT 1 FROM household_snapshot s WHERE s.snapshot_id = {snapshot_id}"
                  f" AND s.household_id = h.id)")
    rows = (f"SELECT {columns} FROM household h JOIN village v ON v.id = h.village_id{_hh_join(role, ctx)} "
            f"WHERE {where}")
    page = (f"WITH s AS MATERIALIZED ({rows}) SELECT * FROM s" if materialize else rows)
    return [f"SELECT count(*) FROM household h{_hh_join(role, ctx)} WHERE {where}",
            f"{page} ORDER BY {order} LIMIT {page_size} OFFSET {offset}"]


def snapshot_overlap_sql(role, ctx, snapshot_id: int) -> str:
    """Per village as a snapshot lists its households: households and 0 / 1 / 2 / 3+ programs."""
    join = _hh_join(role, ctx, alias="s")
    return f"""
        WITH p AS (SELECT e.household_id, count(DISTINCT e.program_id) AS n FROM enrolment e
                    WHERE e.year = {ctx['year']} AND e.status IN {COUNTED} GROUP BY 1)
        SELECT s.village_id, count(*), count(*) FILTER (WHERE p.n IS NULL), count(*) FILTER (WHERE p.n = 1),
               count(*) FILTER (WHERE p.n = 2), count(*) FILTER (WHERE p.n >= 3)
          FROM household_snapshot s{join} LEFT JOIN p ON p.household_id = s.household_id
         WHERE s.snapshot_id = {snapshot_id} GROUP BY 1"""


def snapshot_diff_sql(role, ctx) -> str:
    """The hand-written FULL JOIN of DTSEN 2025-Q3 and 2025-Q4 on the household, counting each change."""
    a_join, b_join = _hh_join(role, ctx, alias="a2"), _hh_join(role, ctx, alias="b2")
    return f"""
        WITH a AS (SELECT a2.* FROM household_snapshot a2{a_join} WHERE a2.snapshot_id = {ctx['q3']}),
             b AS (SELECT b2.* FROM household_snapshot b2{b_join} WHERE b2.snapshot_id = {ctx['q4']})
        SELECT count(a.household_id), count(b.household_id), count(*) FILTER (WHERE a.household_id IS NULL),
               count(*) FILTER (WHERE b.household_id IS NULL), count(*) FILTER (WHERE b.desil > a.desil),
               count(*) FILTER (WHERE b.desil < a.desil), count(*) FILTER (WHERE b.village_id <> a.village_id),
               count(*) FILTER (WHERE NOT a.member_niks @> b.member_niks),
               count(*) FILTER (WHERE NOT b.member_niks @> a.member_niks)
          FROM a FULL JOIN b ON a.household_id = b.household_id"""


def duplicate_queue_sql(role, ctx) -> list[str]:
    where = f"regency_id = {ctx['lt_id']}" if role == "op1807" else "true"
    return [f"SELECT count(*) FROM duplicate_candidate WHERE {where}",
            f"SELECT * FROM duplicate_candidate WHERE {where} ORDER BY score DESC, id LIMIT 50"]


def duplicate_village_choices_sql(role, ctx) -> str:
    """The queue's village filter, first page of choices: villages of the scope with open pairs,
    with their number, in code order (the way a person would write it: a semi-join)."""
    scope = f" AND c.regency_id = {ctx['lt_id']}" if role == "op1807" else ""
    villages = f" AND d.regency_id = {ctx['lt_id']}" if role == "op1807" else ""
    return f"""
        SELECT v.id, v.name, v.code, d.name,
               (SELECT count(*) FROM duplicate_candidate c WHERE v.id IN (c.village_id, c.other_village_id){scope})
          FROM village v JOIN district d ON d.id = v.district_id
         WHERE v.id IN (SELECT c.village_id FROM duplicate_candidate c WHERE true{scope}
                        UNION SELECT c.other_village_id FROM duplicate_candidate c WHERE true{scope}){villages}
         ORDER BY v.code LIMIT 21"""


def lp2kd_sql(role, ctx, regency_id=None) -> list[str]:
    """The report's four heavy sections by hand: coverage by desil, beneficiaries by program,
    the program pairs and the gaps."""
    join = _hh_join(role, ctx, regency_id)
    return [
        f"""WITH p AS (SELECT e.household_id, count(DISTINCT e.program_id) AS n
                      FROM enrolment e JOIN household h ON h.id = e.household_id{join}
                     WHERE e.year = {ctx['year']} AND e.status IN {COUNTED} GROUP BY 1)
            SELECT h.desil, count(*), count(p.n), count(*) FILTER (WHERE p.n >= 2), count(*) FILTER (WHERE p.n >= 3)
              FROM household h{join} LEFT JOIN p ON p.household_id = h.id GROUP BY 1""",
        f"""SELECT e.program_id, count(DISTINCT e.household_id), count(*), sum(e.benefit_value)
              FROM enrolment e JOIN household h ON h.id = e.household_id{join}
             WHERE e.year = {ctx['year']} AND e.status IN {COUNTED} GROUP BY 1""",
        overlap_sql(role, ctx, regency_id),
        gaps_sql(role, ctx, regency_id),
    ]


NO_PARALLEL = {"default": ([], None), "no parallel": (["SET max_parallel_workers_per_gather = 0"], None)}


def sorted_variant(statements: list[str]) -> dict:
    return {"index order": ([], None), "sorted in memory": ([], statements)}


def workloads(ctx: dict) -> list[Workload]:
    year, lt = ctx["year"], ctx["lt_id"]
    out = [
        Workload("overlap matrix province", "bappeda", f"/api/v1/analysis/overlap/matrix?year={year}",
                 [overlap_sql("bappeda", ctx)], ceiling=4.0, variants=NO_PARALLEL),
    ]
    for role in ("bappeda", "op1807"):
        out.append(Workload("overlap matrix Lampung Timur", role,
                            f"/api/v1/analysis/overlap/matrix?year={year}&regency_id={lt}",
                            [overlap_sql(role, ctx, lt)], ceiling=1.0, variants=NO_PARALLEL))
    for role in ("bappeda", "op1807"):
        out.append(Workload("village map data zoom 8", role, f"/gis/geojson/villages?zoom=8&year={year}",
                            [village_map_sql(role, ctx)], ceiling=1.0, variants=NO_PARALLEL))
    tiles = [("z8 Bandar Lampung", 8, *ctx["z8"]), ("z12 Lampung Timur", 12, *ctx["z12"]),
             ("z14 Lampung Timur", 14, *ctx["z14"]), ("z14 empty", 14, *ctx["z14_empty"])]
    for role in ("bappeda", "op1807", "pimpinan"):
        for label, z, x, y in tiles:
            out.append(Workload(f"household tile {label}", role, f"/gis/tiles/households/{z}/{x}/{y}.pbf?year={year}",
                                [household_tile_sql(role, ctx, z, x, y)], ceiling=0.15))
        for label, z, x, y in tiles:  # the household map's "Sumber data": BDT 2015's points (issue 12)
            out.append(Workload(f"household tile {label}, Sumber data BDT 2015", role,
                                f"/gis/tiles/households/{z}/{x}/{y}.pbf?year={year}&snapshot={ctx['bdt']}",
                                [household_tile_sql(role, ctx, z, x, y, ctx["bdt"])], ceiling=0.15))
        for label, z, x, y in tiles:
            out.append(Workload(f"village tile {label}", role, f"/gis/tiles/villages/{z}/{x}/{y}.pbf?year={year}",
                                [village_tile_sql(z, x, y)], ceiling=0.15,
                                note="measures come from the app's 30 s cache; the baseline omits them"))
    for role in ("bappeda", "op1807"):
        out += [
            Workload("household list page 1", role, "/householdview/list/", list_sql(role, ctx, 50, 0),
                     ceiling=0.3, html=True, variants=sorted_variant(list_sql(role, ctx, 50, 0, materialize=True))),
            Workload("household list page 500", role, "/householdview/list/?page_HouseholdView=499",
                     list_sql(role, ctx, 50, 499 * 50), ceiling=0.3, html=True,
                     variants=sorted_variant(list_sql(role, ctx, 50, 499 * 50, materialize=True))),
            Workload("household list one village", role, f"/householdview/list/?_flt_0_village={ctx['village_id']}",
                     list_sql(role, ctx, 50, 0, ctx["village_id"]), ceiling=0.3, html=True),
            Workload("REST households page_size 100", role, "/api/v1/household/?q=(page_size:100)",
                     list_sql(role, ctx, 100, 0, order="id"), ceiling=0.3,
                     variants=sorted_variant(list_sql(role, ctx, 100, 0, order="id", materialize=True))),
            Workload("gaps per village k=1", role, f"/api/v1/analysis/gaps/villages?year={year}&k=1",
                     [gaps_sql(role, ctx)]),
            Workload("household list: gap households (dashboard link)", role,
                     f"/householdview/list/?_flt_7_desil=1&_flt_0_program_year={year}&_flt_0_programs=0&_flt_0_zone=1",
                     gap_list_sql(role, ctx), ceiling=0.3, html=True, variants=NO_PARALLEL),
        ]
    # Targeting snapshots (issue 12): the list's "Sumber data", the analysis of a chosen snapshot,
    # the diff of the two latest, the duplicate queue.
    for role in ("bappeda", "op1807"):
        out += [
            Workload("household list Sumber data DTSEN 2025-Q4", role,
                     f"/householdview/list/?_flt_0_snapshot={ctx['q4']}",
                     list_sql(role, ctx, 50, 0, snapshot_id=ctx["q4"]), ceiling=0.3, html=True,
                     variants=sorted_variant(list_sql(role, ctx, 50, 0, materialize=True, snapshot_id=ctx["q4"]))),
            Workload("overlap per village, snapshot BDT 2015", role,
                     f"/api/v1/analysis/overlap/villages?year={year}&snapshot={ctx['bdt']}&page_size=1000",
                     [snapshot_overlap_sql(role, ctx, ctx["bdt"])], variants=NO_PARALLEL),
            Workload("snapshot diff summary Q3 -> Q4", role, "/api/v1/snapshot-diff/summary",
                     [snapshot_diff_sql(role, ctx)], variants=NO_PARALLEL),
            Workload("duplicate review queue", role, "/duplicates/", duplicate_queue_sql(role, ctx), ceiling=0.3,
                     html=True),
            Workload("duplicate queue village choices", role, "/duplicates/filter_choices/village?q=",
                     [duplicate_village_choices_sql(role, ctx)], ceiling=0.3, html=True),
            Workload("village map targeting measures", role, f"/gis/geojson/villages/targeting?year={year}",
                     [snapshot_diff_sql(role, ctx)], variants=NO_PARALLEL,
                     note="per-village changes kept per process (gis/targeting.py); the baseline is the bare diff"),
        ]
    out.append(Workload("LP2KD province", "bappeda", f"/lp2kd/?area=province&year={year}&period=tahunan",
                        lp2kd_sql("bappeda", ctx), ceiling=5.0, html=True, variants=NO_PARALLEL))
    for role in ("bappeda", "op1807"):
        out.append(Workload("LP2KD Lampung Timur", role, f"/lp2kd/?area={LAMPUNG_TIMUR}&year={year}&period=tahunan",
                            lp2kd_sql(role, ctx, lt), html=True, variants=NO_PARALLEL))
    return out


def context(conninfo: str) -> dict:
    """Ids and tile coordinates the workloads need, read from the database."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        q = lambda sql, *a: conn.execute(sql, a).fetchone()  # noqa: E731
        year = q("SELECT fiscal_year FROM program GROUP BY 1 ORDER BY count(*) DESC, 1 DESC LIMIT 1")[0]
        lt_id = q("SELECT id FROM regency WHERE code = %s", LAMPUNG_TIMUR)[0]
        bl = q("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM regency WHERE code = %s) s",
               BANDAR_LAMPUNG)
        # The Lampung Timur village with the most households: its list and its z12/z14 tiles.
        village_id, lon, lat = q("""
            SELECT v.id, ST_X(ST_PointOnSurface(v.geom)), ST_Y(ST_PointOnSurface(v.geom))
              FROM village v JOIN district d ON d.id = v.district_id
              JOIN household h ON h.village_id = v.id
             WHERE d.regency_id = %s GROUP BY v.id ORDER BY count(*) DESC, v.id LIMIT 1""", lt_id)
        snapshot = {period: q("SELECT id FROM targeting_snapshot WHERE period = %s", period)[0]
                    for period in ("2015", "2025-Q3", "2025-Q4")}
        households = q("SELECT count(*) FROM household")[0]
        enrolments = q("SELECT count(*) FROM enrolment")[0]
    return {"year": year, "lt_id": lt_id, "village_id": village_id, "z8": tile_xy(*bl, 8),
            "z12": tile_xy(lon, lat, 12), "z14": tile_xy(lon, lat, 14),
            "z14_empty": tile_xy(104.5, -6.6, 14),  # the Indian Ocean south-west of Lampung
            "households": households, "enrolments": enrolments,
            "bdt": snapshot["2015"], "q3": snapshot["2025-Q3"], "q4": snapshot["2025-Q4"]}


# --- 5. measuring ------------------------------------------------------------------------------

def run_baseline(conn, statements: list[str], settings: list[str]) -> float:
    """Seconds to run the statements and fetch every row, in one transaction (rolled back);
    infinity when they take more than the client timeout."""
    import psycopg

    started = time.perf_counter()
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(f"SET LOCAL statement_timeout = {int(CLIENT_TIMEOUT * 1000)}")
            for s in settings:
                conn.execute(s.replace("SET ", "SET LOCAL ", 1))
            for s in statements:
                conn.execute(s).fetchall()
    except psycopg.errors.QueryCanceled:
        return math.inf
    return time.perf_counter() - started


def run_request(client, base: str, w: Workload, headers: dict) -> tuple[float, int, int, str]:
    """(seconds, status, bytes on the wire, error) of one request, body read to the end."""
    import requests

    started = time.perf_counter()
    try:
        r = client.get(base + w.path, headers=headers, timeout=CLIENT_TIMEOUT, stream=True, allow_redirects=False)
        size = 0
        for chunk in r.raw.stream(65536, decode_content=False):
            size += len(chunk)
            if time.perf_counter() - started > CLIENT_TIMEOUT:
                r.close()
                return time.perf_counter() - started, 0, size, f"cut after {CLIENT_TIMEOUT:.0f} s"
        seconds = time.perf_counter() - started
        error = "" if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"
        return seconds, r.status_code, size, error
    except requests.RequestException as exc:
        return time.perf_counter() - started, 0, 0, f"{type(exc).__name__} (client timeout {CLIENT_TIMEOUT:.0f} s)"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def cancel_runaway(conn, seconds: float = CLIENT_TIMEOUT - 5) -> int:
    """Cancel the app's queries still running after the client gave up (the server would
    otherwise go on computing for minutes and slow every later measurement). The bench
    database is the bench's own, so every other long query on it is the app's."""
    return len(conn.execute(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state = 'active' AND now() - query_start > %s * interval '1 second'",
        (seconds,)).fetchall())


CUT = ("cut", "ReadTimeout", "ConnectionError")


def measure(w: Workload, conn, client, base: str, headers: dict, pairs: int, budget: float) -> dict:
    """Warm-up of both, the fastest baseline variant, then ``pairs`` x (baseline, request);
    fewer pairs (at least 3) when they would take more than ``budget`` seconds, so that a slow
    endpoint bounds the run instead of stretching it by many minutes (n says how many ran).
    A request cut at the client timeout is not repeated: its baseline is still measured."""
    first = run_request(client, base, w, headers)
    cut = first[3].startswith(CUT)
    if cut:
        cancel_runaway(conn, 0)
    variants = {name: (sets, statements or w.baseline)
                for name, (sets, statements) in (w.variants or {"default": ([], None)}).items()}
    trial = {}
    for name, (sets, statements) in variants.items():
        trial[name] = run_baseline(conn, statements, sets)
        if len(variants) > 1 and trial[name] < CLIENT_TIMEOUT:  # a second try of those that finish
            trial[name] = min(trial[name], run_baseline(conn, statements, sets))
    variant = min(trial, key=trial.get)
    sets, statements = variants[variant]
    base_times, times, errors, size, status = [], [], [], first[2], first[1]
    if first[3]:
        errors.append(first[3])
    if cut:  # the baseline alone, three times
        base_times = [run_baseline(conn, statements, sets) for _ in range(3)]
        times = [first[0]]
    started = time.monotonic()
    for n in range(0 if cut else pairs):
        if n >= 3 and time.monotonic() - started > budget:
            break
        base_times.append(run_baseline(conn, statements, sets))
        seconds, status, got, error = run_request(client, base, w, headers)
        times.append(seconds)
        size = got if not error else size  # the size of a whole answer, not of a cut one
        if error:
            errors.append(error)
            if error.startswith(CUT):
                cancel_runaway(conn, 0)
                break
    return {"first_s": first[0], "errors": errors, "sinergi": times, "baseline": base_times, "bytes": size,
            "status": status, "variant": variant, "variant_trials": trial,
            "requests": 1 if cut else 1 + len(times)}


def verdict(w: Workload, r: dict) -> tuple[str, str]:
    """PASS when every answer was 2xx and (p50 <= 2 x baseline p50, or p95 under the ceiling)."""
    if r["errors"]:
        return "FAIL", "non-2xx/timeout"
    if not r["baseline"]:
        return "FAIL", "no baseline"
    if r["ratio"] <= 2.0:
        return "PASS", "<= 2x"
    if w.ceiling is not None and r["p95"] < w.ceiling:
        return "PASS", f"p95 < {w.ceiling:g} s"
    return "FAIL", ""


def target_text(w: Workload) -> str:
    return "<= 2x" + (f" or p95 < {w.ceiling * 1000:.0f} ms" if w.ceiling and w.ceiling < 1 else
                      f" or p95 < {w.ceiling:g} s" if w.ceiling else "")


def report(results: list[tuple[Workload, dict]], rss: dict, ctx: dict, out_path: Path, meta: dict) -> None:
    def ms(s):
        return "-" if s is None else f"{s * 1000:,.0f}"

    header = (f"{'workload':36} {'role':9} {'n':>3} {'base p50':>9} {'p50':>8} {'p95':>8} {'first':>8} {'ratio':>6} "
              f"{'bytes':>10}  {'target':24} result")
    print()
    print(f"{ctx['households']:,} households, {ctx['enrolments']:,} enrolments, year {ctx['year']}; "
          f"times in ms (client side, body read to the end); ratio = Sinergi p50 / baseline p50")
    print(header)
    print("-" * len(header))
    rows = []
    for w, r in results:
        print(f"{w.name:36} {w.role:9} {len(r['sinergi']):>3} {ms(r.get('baseline_p50')):>9} {ms(r.get('p50')):>8} {ms(r.get('p95')):>8} "
              f"{ms(r['first_s']):>8} {r['ratio']:>6.2f} {r['bytes']:>10,}  {target_text(w):24} "
              f"{r['verdict']}{' (' + r['why'] + ')' if r['why'] else ''}")
        rows.append({"workload": w.name, "role": w.role, "path": w.path, "target": target_text(w),
                     "baseline_variant": r.get("variant"), "note": w.note, **{k: v for k, v in r.items()}})
    worst = max(rss.values()) if rss else 0.0
    print()
    print(f"peak RSS of the gunicorn processes (VmHWM): {', '.join(f'pid {p}: {m:.0f} MB' for p, m in rss.items())}"
          f" -> largest {worst:.0f} MB (target < 500 MB): {'PASS' if worst < 500 else 'FAIL'}")
    failed = [(w, r) for w, r in results if r["errors"]]
    if failed:
        print("requests that did not answer 2xx:")
        for w, r in failed:
            print(f"  {w.name} [{w.role}] {w.path}: {', '.join(sorted(set(r['errors'])))} "
                  f"({len(r['errors'])} of {r['requests']} requests)")
    else:
        print("every request answered 2xx")
    passed = sum(1 for _, r in results if r["verdict"] == "PASS")
    print(f"{passed} of {len(results)} workloads PASS")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({**meta, "context": ctx, "peak_rss_mb": rss, "results": rows}, indent=1,
                                   default=str))
    print(f"JSON: {out_path}")


# --- main --------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB, help=f"database name (default {DEFAULT_DB})")
    parser.add_argument("--households", type=int, default=1_000_000, help="generated households when building")
    parser.add_argument("--keep-db", action="store_true",
                        help="reuse the database if completely built (else build it), and keep it at the end")
    parser.add_argument("--pairs", type=int, default=10, help="(baseline, request) pairs per workload")
    parser.add_argument("--budget", type=float, default=240.0,
                        help="seconds per workload after which no further pair starts (at least 3 pairs run)")
    parser.add_argument("--only", help="only workloads whose 'name [role]' matches this glob (case-insensitive); "
                                       "several globs separated by |")
    parser.add_argument("--json", type=Path, help="where to write the results (default bench/results/...)")
    parser.add_argument("--build-only", action="store_true", help="build (or check) the database, measure nothing")
    args = parser.parse_args()

    url = _admin_url().set(database=args.db)
    env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False),
           "RATELIMIT_ENABLED": "0",             # Flask-Limiter off, as the tests run: no 429 in the figures
           "SINERGI_JWT_ACCESS_MINUTES": "600",  # tokens outlive a long run
           "SINERGI_ENV": "demo"}
    meta = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "db": args.db,
            "load_average_start": os.getloadavg(), "cpus": os.cpu_count()}
    state, comment = database_state(args.db)
    if args.keep_db and state == "complete":
        print(f"reusing {args.db} ({comment}); flask db upgrade, sinergi init, gis measures", flush=True)
        flask(env, "db", "upgrade")
        flask(env, "sinergi", "init")  # the roles' permissions on views added since the build
        ensure_targeting_data(url, env)
        print("  " + flask(env, "gis", "measures").strip(), flush=True)
    else:
        if state == "partial":
            print(f"{args.db} exists but its build did not finish: building it again", flush=True)
        print(f"building {args.db} with {args.households:,} generated households", flush=True)
        started = time.monotonic()
        built = build_database(args.db, args.households, env)
        meta["build_s"] = time.monotonic() - started
        meta["build"] = built
        for step, seconds in built["timings"].items():
            print(f"  {step:40} {seconds:7.1f} s")
        print(f"  rows: {built['counts']}; location_status: {built['location_status']}")
        print(f"built in {meta['build_s']:.0f} s ({meta['build_s'] / 60:.1f} min)", flush=True)
    if args.build_only:
        return

    import psycopg
    import requests

    ctx = context(_conninfo(url))
    selected = [w for w in workloads(ctx)
                if not args.only or any(fnmatch.fnmatch(f"{w.name} [{w.role}]".lower(), f"*{p.strip().lower()}*")
                                        for p in args.only.split("|"))]
    if not selected:
        raise SystemExit(f"no workload matches {args.only!r}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below: stop gunicorn
    port = free_port()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_scale_gunicorn_{port}.log"
    server = start_server(env, port, log_path)
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        tokens = {role: jwt_login(base, user) for role, user in ROLES.items()}
        sessions = {role: session_login(base, user) for role, user in ROLES.items()}
        plain = requests.Session()
        with psycopg.connect(_conninfo(url), autocommit=True) as conn:
            conn.execute("SET jit = off")  # as gis/http.py runs its queries; JIT only adds compile time here
            for i, w in enumerate(selected, 1):
                client, headers = (sessions[w.role], {}) if w.html else (plain, tokens[w.role])
                print(f"[{i}/{len(selected)}] {w.name} [{w.role}] ...", end=" ", flush=True)
                r = measure(w, conn, client, base, headers, args.pairs, args.budget)
                r["p50"] = statistics.median(r["sinergi"])
                r["p95"] = p95(r["sinergi"])
                r["baseline_p50"] = statistics.median(r["baseline"]) if r["baseline"] else None
                r["baseline_p95"] = p95(r["baseline"]) if r["baseline"] else None
                r["ratio"] = r["p50"] / r["baseline_p50"] if r["baseline_p50"] else float("inf")
                r["verdict"], r["why"] = verdict(w, r)
                print(f"p50 {r['p50'] * 1000:,.0f} ms, baseline {(r['baseline_p50'] or 0) * 1000:,.0f} ms "
                      f"({r.get('variant')}), {r['verdict']}", flush=True)
                results.append((w, r))
        rss = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        try:  # gunicorn waits for its requests: end the queries of a cut one
            with psycopg.connect(_conninfo(url), autocommit=True) as conn:
                cancel_runaway(conn, 0)
        except psycopg.Error:
            pass
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep_db:
            drop_database(args.db)
            print(f"dropped {args.db}")
    meta["load_average_end"] = os.getloadavg()
    meta["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    print(f"load average at start {meta['load_average_start'][0]:.1f}, at end {meta['load_average_end'][0]:.1f} "
          f"({meta['cpus']} CPUs); server log {log_path}")
    out = args.json or ROOT / "bench" / "results" / f"bench_scale-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    report(results, rss, ctx, out, meta)


if __name__ == "__main__":
    main()
