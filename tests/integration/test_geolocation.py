"""Geolocation with the real Lampung areas: every desa point is `cocok` in its own village, a
point moved into the neighbouring village is `beda_desa`, a point at sea `di_luar_wilayah`,
and the set-based `gis locate` agrees with the trigger. All inside rolled-back transactions."""
import csv

import pytest
from sqlalchemy import text

from gis.queries import locate_households
from tests.conftest import HAVE_LAMPUNG, NO_LAMPUNG_REASON, SHARED_AREAS, flask_cli

pytestmark = pytest.mark.skipif(not HAVE_LAMPUNG, reason=NO_LAMPUNG_REASON)

INSERT = text("""
    INSERT INTO household (no_kk, head_nik, head_name, village_id, desil, member_count, location)
    SELECT lpad(CAST(9000000000000000 + p.n AS text), 16, '0'), '1801010101700001', 'Uji Titik', v.id, 1, 1,
           ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)
    FROM pts p JOIN village v ON v.code = p.declared""")


def _points():
    with open(SHARED_AREAS / "desa_points.csv", newline="") as f:
        return [(r["code"], float(r["lon"]), float(r["lat"])) for r in csv.DictReader(f)]


def _load(conn, rows):
    conn.execute(text("CREATE TEMP TABLE pts (n int, declared text, lon float8, lat float8) ON COMMIT DROP"))
    conn.execute(text("INSERT INTO pts VALUES (:n, :d, :x, :y)"),
                 [{"n": i, "d": d, "x": x, "y": y} for i, (d, x, y) in enumerate(rows)])
    conn.execute(INSERT)


def test_every_desa_point_is_cocok_in_its_own_village(engine):
    points = _points()
    with engine.connect() as conn, conn.begin() as trans:
        _load(conn, points)
        statuses = dict(conn.execute(text(
            "SELECT location_status, count(*) FROM household WHERE head_name = 'Uji Titik' GROUP BY 1")).all())
        wrong = conn.execute(text("""SELECT count(*) FROM household h WHERE head_name = 'Uji Titik'
                                     AND h.located_village_id IS DISTINCT FROM h.village_id""")).scalar()
        trans.rollback()
    assert statuses == {"cocok": 2640} and wrong == 0


def test_neighbour_and_sea(engine):
    with engine.connect() as conn, conn.begin() as trans:
        # A village and the desa point of one of its neighbours (sharing a border).
        declared, neighbour, lon, lat = conn.execute(text("""
            SELECT a.code, b.code, ST_X(p.pt), ST_Y(p.pt)
            FROM village a JOIN village b ON a.id <> b.id AND ST_Touches(a.geom, b.geom)
            CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) AS pt) p
            WHERE NOT ST_Intersects(a.geom, p.pt) ORDER BY a.code, b.code LIMIT 1""")).one()
        _load(conn, [(declared, lon, lat), (declared, 106.6, -5.0)])  # the second: Java Sea, east of Lampung
        rows = conn.execute(text("""SELECT h.location_status, v.code FROM household h
                                    LEFT JOIN village v ON v.id = h.located_village_id
                                    WHERE head_name = 'Uji Titik' ORDER BY h.no_kk""")).all()
        trans.rollback()
    assert [tuple(r) for r in rows] == [("beda_desa", neighbour), ("di_luar_wilayah", None)]


def test_set_based_locate_agrees_with_the_trigger(engine):
    points = _points()[:300]
    with engine.connect() as conn, conn.begin() as trans:
        _load(conn, points)
        before = conn.execute(text("SELECT id, located_village_id, location_status FROM household "
                                   "WHERE head_name = 'Uji Titik' ORDER BY id")).all()
        conn.execute(text("UPDATE household SET located_village_id = NULL, location_status = 'tanpa_titik' "
                          "WHERE head_name = 'Uji Titik'"))  # the trigger does not fire on these columns
        locate_households(conn, [r.id for r in before])
        after = conn.execute(text("SELECT id, located_village_id, location_status FROM household "
                                  "WHERE head_name = 'Uji Titik' ORDER BY id")).all()
        trans.rollback()
    assert before == after and len(after) == 300


def test_gis_locate_command():
    result = flask_cli("gis", "locate", check=True)
    assert "cocok" in result.stdout
