#!/usr/bin/env python3
"""Benchmark of the household list export (app/list_exports.py + app/exports.py) at a million rows.

    .venv/bin/python bench/bench_export.py [--rows 1000000] [--xlsx] [--keep-db]

Makes its OWN throw-away database (as bench_import.py does: migrated, real Lampung areas,
roles, the demo users and demo data), adds ``--rows`` generated households through the
household import, then times, each in a fresh child process whose peak RSS is measured:

- baseline: ``COPY (SELECT <the same columns, joins and order>) TO STDOUT WITH CSV HEADER``
  through psycopg, written to a file;
- the CSV export as Bappeda sees it (``/householdview/export/?format=csv``), through the
  Flask app (login, scope filter, FAB filters, streaming response), written to a file;
- the same for a quarter of the rows (``desil = 1``), to show that memory does not grow with
  the number of rows;
- with ``--xlsx``: the XLSX export of all rows (xlsxwriter, constant_memory).

Prints the figures and the ratios to the baseline. The dev database is never touched; the
bench database is dropped at the end (unless --keep-db).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_import import (_admin_url, _conninfo, drop_database, generate_csv, make_database,  # noqa: E402
                          peak_rss_mb)

# The columns of app.list_exports.HOUSEHOLDS, their joins and the list's order, as one SELECT.
BASELINE_SQL = """
    SELECT h.no_kk, h.head_nik, h.head_name, h.address, h.rt, h.rw, v.code, h.desil, h.member_count,
           ST_Y(h.location), ST_X(h.location), h.source, v.name, d.name, r.name, h.location_status, lv.code
      FROM household h
      LEFT JOIN village v ON v.id = h.village_id
      LEFT JOIN district d ON d.id = v.district_id
      LEFT JOIN regency r ON r.id = d.regency_id
      LEFT JOIN village lv ON lv.id = h.located_village_id
     ORDER BY h.no_kk, h.id"""


# --- the measured steps (each runs in a child process) ------------------------------------------

def child_baseline(out_path: str) -> dict:
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = _conninfo(make_url(os.environ["DATABASE_URL"]))
    started = time.monotonic()
    size = 0
    with psycopg.connect(conninfo) as conn, open(out_path, "wb") as out:
        with conn.cursor().copy(f"COPY ({BASELINE_SQL}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            for block in copy:
                out.write(block)
                size += len(block)
    return {"total": time.monotonic() - started, "bytes": size, "rss_mb": peak_rss_mb()}


def child_export(out_path: str, query: str) -> dict:
    """The export as a user gets it: log in as Bappeda, GET the export URL, write the streamed body."""
    from app import create_app

    app = create_app(WTF_CSRF_ENABLED=False)
    client = app.test_client()
    login = client.post("/login/", data={"username": "bappeda", "password": "sinergi-demo"})
    if login.status_code != 302:
        raise SystemExit("login as bappeda failed")
    started = time.monotonic()
    response = client.get(f"/householdview/export/?{query}", buffered=False)
    if response.status_code != 200:
        raise SystemExit(f"export answered {response.status_code}: {response.get_data(as_text=True)[:500]}")
    first = None
    size = lines = 0
    with open(out_path, "wb") as out:
        for chunk in response.response:
            if first is None:
                first = time.monotonic() - started
            out.write(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
    response.close()
    return {"total": time.monotonic() - started, "first_bytes": first, "bytes": size, "lines": lines,
            "rss_mb": peak_rss_mb()}


def run_child(env: dict, *args: str) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", *args], cwd=ROOT, env=env, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{r.stdout}\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def flask(env: dict, *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "flask", "--app", "run", *args], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


# --- main ----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="households added to the demo data")
    parser.add_argument("--xlsx", action="store_true", help="also time the XLSX export of every row")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database at the end")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, out_path, *rest = args.child
        out = child_baseline(out_path) if step == "baseline" else child_export(out_path, rest[0])
        print(json.dumps(out))
        return

    name = f"sinergi_bench_{secrets.token_hex(4)}"
    url = _admin_url().set(database=name)
    env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False), "RATELIMIT_ENABLED": "0"}
    work = Path(tempfile.mkdtemp(prefix="sinergi-bench-export-"))
    source = work / "households.csv"
    files = {step: work / f"{step}.out" for step in ("baseline", "csv", "csv-quarter", "xlsx")}
    print(f"bench database {name}; files in {work}")
    try:
        t = time.monotonic()
        make_database(name, env)
        flask(env, "sinergi", "init")
        flask(env, "seed", "demo")
        generate_csv(_conninfo(url), source, args.rows)
        flask(env, "households", "import", str(source), "--report", str(work))
        source.unlink()
        print(f"database ready ({args.rows:,} generated households + the demo data) in {time.monotonic() - t:.0f} s")

        base = run_child(env, "baseline", str(files["baseline"]))
        full = run_child(env, "export", str(files["csv"]), "format=csv")
        quarter = run_child(env, "export", str(files["csv-quarter"]), "format=csv&_flt_0_desil=1")
        xlsx = run_child(env, "export", str(files["xlsx"]), "format=xlsx") if args.xlsx else None

        rows = full["lines"] - 1
        print()
        print(f"households exported: {rows:,}")
        print(f"baseline  COPY (SELECT ...) TO STDOUT  {base['total']:6.1f} s   {base['bytes'] / 1e6:6.1f} MB   "
              f"peak RSS {base['rss_mb']:.0f} MB")
        print(f"CSV export (Bappeda, all rows)        {full['total']:6.1f} s   {full['bytes'] / 1e6:6.1f} MB   "
              f"peak RSS {full['rss_mb']:.0f} MB   = {full['total'] / base['total']:.2f} x baseline   "
              f"first bytes after {full['first_bytes']:.2f} s   {rows / full['total']:,.0f} rows/s")
        print(f"CSV export, desil 1 ({quarter['lines'] - 1:,} rows)  {quarter['total']:6.1f} s   "
              f"peak RSS {quarter['rss_mb']:.0f} MB (vs {full['rss_mb']:.0f} MB for all rows: memory does not grow "
              f"with the rows)")
        if xlsx:
            print(f"XLSX export (all rows)                {xlsx['total']:6.1f} s   {xlsx['bytes'] / 1e6:6.1f} MB   "
                  f"peak RSS {xlsx['rss_mb']:.0f} MB   = {xlsx['total'] / base['total']:.2f} x baseline")
    finally:
        if args.keep_db:
            print(f"kept database {name}")
        else:
            drop_database(name)
        for path in [source, *files.values(), *work.glob("*")]:
            if path.exists():
                path.unlink()
        try:
            work.rmdir()
        except OSError:
            pass


if __name__ == "__main__":
    main()
