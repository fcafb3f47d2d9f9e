#!/usr/bin/env python3
"""Benchmark of the household import (app/services/household_import/) at a million rows.

    .venv/bin/python bench/bench_import.py [--rows 1000000] [--keep-db]

Makes its OWN throw-away database on the project's cluster (or on DATABASE_URL's server),
migrates it and loads the real Lampung areas, generates a realistic CSV (real village
codes, points inside the villages, valid NIK / No KK, 3 % without a point), then times,
each in a fresh child process whose peak RSS is measured:

- baseline: plain COPY of the same file into an unindexed all-text table, plus ONE indexed
  ST_Intersects join of its points against the villages;
- the import's dry run (read + every check + the spatial join + the report);
- the commit into an empty household table (read, checks, upsert, geolocation, audit);
- the re-import of the same file (everything unchanged);
- a dry run of a tenth of the file, to show that memory does not grow with the file.

Prints the figures and the ratios to the baseline. The dev database is never touched; the
bench database is dropped at the end (unless --keep-db).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMES = ("Suparman", "Siti Aminah", "Sukardi", "Wayan Sudarsa", "Nyoman Ariani", "Yahya", "Rohmah", "Slamet Riyadi",
         "Ketut Widana", "Marsinah", "Darmawan", "Sri Wahyuni", "Agus Salim", "Nurhayati", "Bambang Irawan",
         "Made Suarta", "Komang Ayu", "Joko Susilo", "Puji Lestari", "Hasanudin")
DUSUN = ("I", "II", "III", "IV", "V", "VI")


def _admin_url():
    from sqlalchemy.engine import make_url

    base = os.environ.get("DATABASE_URL") or \
        f"postgresql+psycopg://postgres@127.0.0.1:{os.environ.get('SINERGI_DB_PORT', '5433')}/postgres"
    return make_url(base)


def _conninfo(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


# --- set-up ------------------------------------------------------------------------------------

def make_database(name: str, env: dict) -> None:
    import psycopg

    admin = _admin_url().set(database="postgres")
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(_conninfo(admin.set(database=name)), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for args in (("db", "upgrade"), ("areas", "load-demo")):
        r = subprocess.run([sys.executable, "-m", "flask", "--app", "run", *args], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"flask {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_conninfo(_admin_url().set(database="postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def generate_csv(conninfo: str, path: Path, rows: int, seed: int = 2017) -> dict:
    """A BDT-like household CSV, streamed to disk: real village codes, sorted by village as BDT
    exports are, points drawn inside each village by PostGIS (ST_GeneratePoints, 100 per
    village, reused), valid NIK / No KK, 3 % without a point."""
    import psycopg

    rnd = random.Random(seed)
    with psycopg.connect(conninfo) as conn:
        villages = conn.execute("""
            SELECT v.code, array_agg(ST_Y(p.geom) ORDER BY p.path), array_agg(ST_X(p.geom) ORDER BY p.path)
              FROM village v, LATERAL ST_Dump(ST_GeneratePoints(v.geom, 100, 17)) p
             GROUP BY v.code ORDER BY v.code""").fetchall()
    if not villages:
        raise SystemExit("no villages in the bench database")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["no_kk", "nik_kepala", "nama_kepala", "alamat", "rt", "rw", "kode_desa", "desil",
                    "jumlah_anggota", "lintang", "bujur"])
        for i in range(rows):
            code, lats, lons = villages[i * len(villages) // rows]
            district = code[:8].replace(".", "")
            k = i % len(lats)
            d = i // 10000
            issued = f"{d % 28 + 1:02d}{d // 28 % 12 + 1:02d}15"
            day = rnd.randrange(1, 29) + (40 if rnd.random() < 0.3 else 0)
            born = f"{day:02d}{rnd.randrange(1, 13):02d}{rnd.randrange(40, 99):02d}"
            point = ("", "") if rnd.random() < 0.03 else (f"{lats[k]:.7f}", f"{lons[k]:.7f}")
            w.writerow([f"{district}{issued}{i % 10000:04d}", f"{district}{born}{rnd.randrange(10000):04d}",
                        rnd.choice(NAMES), f"Dusun {rnd.choice(DUSUN)}", f"{rnd.randrange(1, 20):03d}",
                        f"{rnd.randrange(1, 9):03d}", code, rnd.randrange(1, 5), rnd.randrange(1, 9), *point])
    return {"villages": len(villages), "bytes": path.stat().st_size}


# --- the measured steps (each runs in a child process) ------------------------------------------

def child_baseline(csv_path: str) -> dict:
    import psycopg

    from config import SQLALCHEMY_DATABASE_URI
    from sqlalchemy.engine import make_url

    with psycopg.connect(_conninfo(make_url(SQLALCHEMY_DATABASE_URI))) as conn:
        conn.execute("""CREATE TABLE bench_baseline (no_kk text, nik_kepala text, nama_kepala text, alamat text,
                        rt text, rw text, kode_desa text, desil text, jumlah_anggota text, lintang text, bujur text)""")
        started = time.monotonic()
        with conn.cursor() as cur, open(csv_path, "rb") as f:
            with cur.copy("COPY bench_baseline FROM STDIN (FORMAT csv, HEADER true)") as copy:
                while block := f.read(1 << 20):
                    copy.write(block)
        copied = time.monotonic()
        joined = conn.execute("""
            SELECT count(*) FROM bench_baseline b JOIN village v
                ON ST_Intersects(v.geom, ST_SetSRID(ST_MakePoint(b.bujur::float8, b.lintang::float8), 4326))
             WHERE b.lintang <> ''""").fetchone()[0]
        done = time.monotonic()
        conn.commit()
        # Not part of the baseline, a reference for the commit: the bare INSERT of the same rows,
        # already parsed and located, into household (its 8 indexes and 2 foreign keys), undone.
        conn.execute("""CREATE TEMP TABLE bench_parsed AS
            SELECT b.no_kk, b.nik_kepala, b.nama_kepala, b.alamat, b.rt, b.rw, v.id AS village_id,
                   b.desil::int AS desil, b.jumlah_anggota::int AS member_count, p.pt AS location,
                   CASE WHEN p.pt IS NULL THEN NULL ELSE v.id END AS located_village_id,
                   CASE WHEN p.pt IS NULL THEN 'tanpa_titik' ELSE 'cocok' END AS location_status
              FROM bench_baseline b JOIN village v ON v.code = b.kode_desa,
                   LATERAL (SELECT CASE WHEN b.lintang <> '' THEN ST_SetSRID(ST_MakePoint(b.bujur::float8,
                            b.lintang::float8), 4326) END AS pt) p""")
        conn.commit()
        before_insert = time.monotonic()
        conn.execute("ALTER TABLE household DISABLE TRIGGER household_locate")
        conn.execute("""INSERT INTO household (no_kk, head_nik, head_name, address, rt, rw, village_id, desil,
                                               member_count, location, located_village_id, location_status)
                        SELECT * FROM bench_parsed""")
        inserted = time.monotonic()
        conn.rollback()
        conn.execute("DROP TABLE bench_baseline")
        conn.commit()
    return {"copy": copied - started, "join": done - copied, "total": done - started, "joined": joined,
            "insert": inserted - before_insert, "rss_mb": peak_rss_mb()}


def child_import(csv_path: str, dry_run: bool, target=None) -> dict:
    from app import create_app
    from app.extensions import db
    from app.services.household_import import run_import

    app = create_app()
    with app.app_context():
        engine = db.engine
        started = time.monotonic()
        result = run_import(engine, csv_path, dry_run=dry_run, report_dir=tempfile.gettempdir(), target=target)
        seconds = time.monotonic() - started
        os.remove(result.report_path)
    return {"total": seconds, "timings": result.timings, "rows": result.rows, "problems": result.problems,
            "inserted": result.inserted, "updated": result.updated, "unchanged": result.unchanged,
            "locations": result.locations, "committed": result.committed, "rss_mb": peak_rss_mb()}


def run_child(env: dict, *args: str) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", *args], cwd=ROOT, env=env, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{r.stdout}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# --- main ----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database at the end")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, csv_path = args.child
        if step == "baseline":
            out = child_baseline(csv_path)
        elif step == "commit-dtsen":
            from app.services.household_import import SnapshotTarget

            out = child_import(csv_path, dry_run=False, target=SnapshotTarget("DTSEN", "2025-Q4"))
        else:
            out = child_import(csv_path, dry_run=(step == "dry-run"))
        print(json.dumps(out))
        return

    name = f"sinergi_bench_{secrets.token_hex(4)}"
    url = _admin_url().set(database=name)
    env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False), "RATELIMIT_ENABLED": "0"}
    work = Path(tempfile.mkdtemp(prefix="sinergi-bench-"))
    csv_path = work / "households.csv"
    small_path = work / "households-small.csv"
    print(f"bench database {name}; files in {work}")
    try:
        t = time.monotonic()
        make_database(name, env)
        print(f"database migrated and areas loaded in {time.monotonic() - t:.1f} s")
        t = time.monotonic()
        info = generate_csv(_conninfo(url), csv_path, args.rows)
        generate_csv(_conninfo(url), small_path, max(args.rows // 10, 1), seed=1)
        print(f"generated {args.rows:,} rows ({info['bytes'] / 1e6:.0f} MB, {info['villages']} villages) "
              f"in {time.monotonic() - t:.1f} s")

        base = run_child(env, "baseline", str(csv_path))
        dry = run_child(env, "dry-run", str(csv_path))
        small = run_child(env, "dry-run", str(small_path))
        commit = run_child(env, "commit", str(csv_path))
        again = run_child(env, "commit", str(csv_path))
        # The same file as the next targeting snapshot (DTSEN 2025-Q4): the households stay, a
        # second snapshot of 1 M rows is written beside the BDT 2015 one (issue 12).
        dtsen = run_child(env, "commit-dtsen", str(csv_path))

        print()
        print(f"rows: {args.rows:,}")
        print(f"baseline  COPY {base['copy']:6.1f} s + indexed ST_Intersects join {base['join']:5.1f} s "
              f"= {base['total']:6.1f} s   ({base['joined']:,} points joined)   peak RSS {base['rss_mb']:.0f} MB")
        for label, r in (("dry run", dry), ("commit", commit), ("re-import", again), ("DTSEN", dtsen)):
            phases = ", ".join(f"{k} {v:.1f}" for k, v in r["timings"].items() if k != "total")
            print(f"{label:9} {r['total']:6.1f} s  = {r['total'] / base['total']:4.1f} x baseline   "
                  f"peak RSS {r['rss_mb']:.0f} MB   ({phases})")
            print(f"          inserted {r['inserted']:,}, updated {r['updated']:,}, unchanged {r['unchanged']:,}, "
                  f"problems {r['problems']:,}, committed {r['committed']}, locations {r['locations']}")
        print(f"reference (not in the baseline): bare INSERT of the parsed, located rows into household "
              f"(8 indexes, 2 foreign keys) {base['insert']:.1f} s")
        print(f"dry run of {max(args.rows // 10, 1):,} rows: {small['total']:.1f} s, peak RSS {small['rss_mb']:.0f} MB "
              f"(vs {dry['rss_mb']:.0f} MB for {args.rows:,} rows: memory does not grow with the file)")
        print(f"ratios: dry run {dry['total'] / base['total']:.2f}, commit {commit['total'] / base['total']:.2f}, "
              f"re-import {again['total'] / base['total']:.2f}, DTSEN snapshot {dtsen['total'] / base['total']:.2f} "
              f"(import time / baseline time)")
    finally:
        if args.keep_db:
            print(f"kept database {name}")
        else:
            drop_database(name)
        for p in (csv_path, small_path):
            if p.exists():
                p.unlink()
        try:
            work.rmdir()
        except OSError:
            pass


if __name__ == "__main__":
    main()
