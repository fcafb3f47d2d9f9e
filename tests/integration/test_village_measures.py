"""The kept per-village measures (gis/measures.py) against the figures computed from scratch.

After each kind of write — an import, an enrolment edited on its screen, an approved update
request, a zone change — the answers the analysis, the map and the tiles read from the kept
tables equal one independent SQL over household / enrolment / priority_zone, for three
regencies (an operator's scope) and for the province. Also: the map's measure follows an
enrolment edited on the screen at once, and a query cancelled by the statement timeout gets
the Indonesian 503 while the app keeps answering.
"""
from __future__ import annotations

import threading

import pytest
from flask_babel import force_locale
from sqlalchemy import text

from app.security.scope import Scope
from gis import queries
from tests.conftest import DEMO_PASSWORD, sql
from tests.integration.test_household_import import household_row, write_csv
from tests.integration.test_analysis import token
from tests.integration.test_update_requests import make_request, service_transition

REGENCIES = ("18.07", "18.01", "18.71")
pytestmark = pytest.mark.usefixtures("remove_import_uploads")

# The figures per village from scratch: households declared in the village, desil 1, reached
# (1+ distinct counted program of the year), 2+ programs, 0/1/2/3+ programs and gap
# households (desil <= :k, inside a zone of the year the scope sees, no counted program).
SCRATCH = """
WITH h AS (
    SELECT h.*, d.regency_id FROM household h JOIN village v ON v.id = h.village_id
      JOIN district d ON d.id = v.district_id
     WHERE CAST(:rid AS int) IS NULL OR d.regency_id = :rid
), n AS (
    SELECT h.id, (SELECT count(DISTINCT e.program_id) FROM enrolment e
                   WHERE e.household_id = h.id AND e.year = :year
                     AND e.status IN ('usulan', 'ditetapkan', 'disalurkan')) AS programs
      FROM h
), zoned AS (
    SELECT DISTINCT h.id FROM h JOIN priority_zone z ON z.year = :year
       AND (CAST(:rid AS int) IS NULL OR z.regency_id IS NULL OR z.regency_id = :rid)
      JOIN village v ON v.id = h.village_id
     WHERE ST_Covers(z.geom, h.location) OR ST_Intersects(z.geom, h.location)
        OR (h.location IS NULL AND ST_Area(ST_Intersection(z.geom, v.geom)) / ST_Area(v.geom) > 0.5)
)
SELECT h.village_id, count(*) AS households, count(*) FILTER (WHERE h.desil = 1) AS desil1,
       count(*) FILTER (WHERE n.programs >= 1) AS reached, count(*) FILTER (WHERE n.programs >= 2) AS multi_program,
       count(*) FILTER (WHERE n.programs = 0) AS programs_0, count(*) FILTER (WHERE n.programs = 1) AS programs_1,
       count(*) FILTER (WHERE n.programs = 2) AS programs_2, count(*) FILTER (WHERE n.programs >= 3) AS programs_3plus,
       count(*) FILTER (WHERE h.desil <= :k AND n.programs = 0 AND h.id IN (SELECT id FROM zoned)) AS gaps
  FROM h JOIN n ON n.id = h.id GROUP BY h.village_id ORDER BY h.village_id
"""
MEASURES = ("households", "desil1", "reached", "multi_program", "gaps", "programs_3plus")
OVERLAP = ("households", "programs_0", "programs_1", "programs_2", "programs_3plus")


def _year(app) -> int:
    from app.extensions import db

    with app.app_context():
        return queries.default_year(db.session.connection(), Scope("all"))


def _regency_id(app, code):
    return sql(app, "SELECT id FROM regency WHERE code = :c", c=code)[0][0]


def assert_kept_equals_scratch(app, k: int = 1):
    """The kept answers (as the map, the analysis and the tiles read them) equal the scratch SQL
    for three regencies and the province."""
    from app.extensions import db

    year = _year(app)
    for code in (*REGENCIES, None):
        rid = _regency_id(app, code) if code else None
        scope = Scope("regency", regency_id=rid) if rid else Scope("all")
        expected = {r.village_id: r for r in sql(app, SCRATCH, rid=rid, year=year, k=k)}
        with app.app_context():
            conn = db.session.connection()
            measures = {m["village_id"]: m for m in queries.village_measures(conn, year, scope, k)}
            overlap = {m["village_id"]: m for m in queries.village_overlap(conn, year, scope)}
            db.session.rollback()
        assert set(measures) == set(expected) == set(overlap), code
        for vid, row in expected.items():
            assert tuple(measures[vid][c] for c in MEASURES) == tuple(getattr(row, c) for c in MEASURES), (code, vid)
            assert tuple(overlap[vid][c] for c in OVERLAP) == tuple(getattr(row, c) for c in OVERLAP), (code, vid)


def login(app, username):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers["Location"], f"login as {username} failed"
    return client


def village_props(client, code: str, village_id: int) -> dict:
    collection = client.get(f"/gis/geojson/villages?regency={code}").get_json()
    return next(f["properties"] for f in collection["features"] if f["properties"]["id"] == village_id)


def test_kept_measures_equal_scratch_on_the_demo(app):
    assert_kept_equals_scratch(app, k=1)
    assert_kept_equals_scratch(app, k=4)


def test_an_enrolment_edited_on_its_screen_moves_the_map_measure(app):
    year = _year(app)
    # a Lampung Timur household with exactly one counted program this year
    enrolment, household, village = sql(app, """
        SELECT min(e.id), e.household_id, h.village_id FROM enrolment e JOIN household h ON h.id = e.household_id
          JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
          JOIN regency r ON r.id = d.regency_id
         WHERE r.code = '18.07' AND e.year = :y AND e.status IN ('usulan', 'ditetapkan', 'disalurkan')
         GROUP BY e.household_id, h.village_id HAVING count(*) = 1 ORDER BY e.household_id LIMIT 1""", y=year)[0]
    client = login(app, "op1807")
    before = village_props(client, "18.07", village)
    row = sql(app, "SELECT program_id, year, benefit_value, date FROM enrolment WHERE id = :i", i=enrolment)[0]
    no_kk = sql(app, "SELECT no_kk FROM household WHERE id = :i", i=household)[0][0]
    form = {"household": no_kk, "program": str(row.program_id), "year": str(row.year), "status": "ditolak",
            "benefit_value": "" if row.benefit_value is None else str(int(row.benefit_value)),
            "date": "" if row.date is None else row.date.isoformat()}
    r = client.post(f"/enrolmentview/edit/{enrolment}", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    assert sql(app, "SELECT status FROM enrolment WHERE id = :i", i=enrolment)[0][0] == "ditolak"
    after = village_props(client, "18.07", village)
    assert after["reached"] == before["reached"] - 1
    assert after["households"] == before["households"]
    assert_kept_equals_scratch(app)


@pytest.fixture(scope="module")
def places(app):
    """A point well inside the first villages of Lampung Timur and Lampung Selatan (the import
    tests' rule, without their check that no household uses their numbering yet: their module
    may have run first in this session; the numbers come from their same counter)."""
    rows = sql(app, """
        SELECT DISTINCT ON (r.code, v.code) r.code AS regency, v.id, v.code, ST_X(p) AS lon, ST_Y(p) AS lat
          FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id,
               LATERAL (SELECT ST_PointOnSurface(ST_Buffer(v.geom, -0.002)) AS p) s
         WHERE r.code IN ('18.07', '18.01') AND NOT ST_IsEmpty(ST_Buffer(v.geom, -0.002))
         ORDER BY r.code, v.code""")
    timur = [r._mapping for r in rows if r.regency == "18.07"]
    selatan = [r._mapping for r in rows if r.regency == "18.01"]
    return {"timur": timur[1], "timur2": timur[6], "selatan": selatan[1]}


def test_an_import_is_counted_at_once(app, places, tmp_path):
    from app.extensions import db
    from app.services.household_import import run_import

    # Own No KK numbers (issued 15 Nov 1998: nobody else's): the import tests' generator runs out
    # of its four serial digits when the whole suite has used it.
    rows = [household_row(places["timur"], desil="1", no_kk="1807011511980001"),
            household_row(places["selatan"], desil="2", no_kk="1801011511980002"),
            household_row(None, kode_desa=places["timur2"]["code"], desil="1", no_kk="1807011511980003")]
    with app.app_context():
        result = run_import(db.engine, write_csv(tmp_path / "baru.csv", rows), dry_run=False,
                            report_dir=str(tmp_path))
    assert result.inserted == 3
    assert_kept_equals_scratch(app)


def test_an_approved_change_is_counted_at_once(app):
    areas = {"village": sql(app, """SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
                                     JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.07'
                                     ORDER BY v.code LIMIT 1 OFFSET 3""")[0][0],
             "other_village": None, "regency": _regency_id(app, "18.07"), "other_regency": _regency_id(app, "18.01")}
    other = sql(app, """SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
                         JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.07' ORDER BY v.code DESC LIMIT 1""")[0][0]
    pk = make_request(app, areas, "diverifikasi", proposed={"desil": 1, "village_id": other})
    assert_kept_equals_scratch(app)  # the household (desil 2) counted where it was
    with force_locale("en"):
        assert service_transition(app, pk, "disetujui", "bappeda") is None
    assert tuple(sql(app, """SELECT desil, village_id FROM household h JOIN update_request u
                              ON u.household_id = h.id WHERE u.id = :i""", i=pk)[0]) == (1, other)
    assert_kept_equals_scratch(app)


def test_a_zone_change_moves_the_gaps(app):
    year = _year(app)
    zone = sql(app, "SELECT id FROM priority_zone WHERE year = :y AND regency_id IS NOT NULL ORDER BY id LIMIT 1",
               y=year)[0][0]
    before = sql(app, "SELECT geom FROM priority_zone WHERE id = :i", i=zone)[0][0]
    try:
        # half the zone: a bounding box cut through its middle
        sql(app, """UPDATE priority_zone SET geom = ST_Multi(ST_CollectionExtract(ST_Intersection(geom,
                        ST_MakeEnvelope(ST_XMin(geom), ST_YMin(geom), (ST_XMin(geom) + ST_XMax(geom)) / 2,
                                        ST_YMax(geom), 4326)), 3)) WHERE id = :i""", i=zone)
        assert_kept_equals_scratch(app, k=2)
    finally:
        sql(app, "UPDATE priority_zone SET geom = :g WHERE id = :i", g=before, i=zone)
    assert_kept_equals_scratch(app, k=2)


def test_a_query_past_the_statement_timeout_gets_the_indonesian_503(app):
    client = login(app, "bappeda")
    client.get("/lang/id")
    headers = token(app.test_client(), "bappeda")
    # Warm first (the kept measures current), then hold the kept tables these pages read
    # locked from another connection: a lock wait counts toward statement_timeout, so the
    # request is cancelled whatever the data (a 1 ms timeout alone is met by a fast empty year).
    assert client.get("/api/v1/analysis/overlap/matrix", headers=headers).status_code == 200
    assert client.get("/analysis/overlap/").status_code == 200
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with app.app_context():
            from app.extensions import db

            with db.engine.connect() as conn, conn.begin():
                conn.execute(text("LOCK TABLE village_measure, village_program_pair IN ACCESS EXCLUSIVE MODE"))
                locked.set()
                release.wait(60)  # never longer: a broken path fails the test instead of hanging it

    holder = threading.Thread(target=hold_lock, daemon=True)
    holder.start()
    assert locked.wait(30)
    app.config["STATEMENT_TIMEOUT_MS"] = 50
    try:
        r = client.get("/api/v1/analysis/overlap/matrix", headers=headers)
        html = client.get("/analysis/overlap/")
    finally:
        app.config["STATEMENT_TIMEOUT_MS"] = 30_000
        release.set()
        holder.join(30)
    assert r.status_code == 503 and r.is_json, r.get_data(as_text=True)[:500]
    assert "melebihi batas waktu" in r.get_json()["message"]
    assert html.status_code == 503 and "Permintaan terlalu lama" in html.get_data(as_text=True)
    # the connections went back to the pool usable: the same requests answer afterwards
    assert client.get("/api/v1/analysis/overlap/matrix", headers=headers).status_code == 200
    assert client.get("/analysis/overlap/").status_code == 200
    with app.app_context():
        from app.extensions import db

        assert db.session.execute(text("SHOW statement_timeout")).scalar() in ("0", "0ms")


def test_the_kept_tile_geometries_are_the_runtime_simplification_and_follow_a_boundary_change(app):
    check = """SELECT count(*) FILTER (WHERE NOT ST_Equals(t.geom,
                        ST_Transform(ST_Simplify(v.geom, 360.0 / 2 ^ t.zoom / 512, true), 3857))
                     OR NOT ST_Equals(t.label_point, ST_Transform(ST_PointOnSurface(v.geom), 3857))),
                      count(*)
                 FROM village_tile_geom t JOIN village v ON v.id = t.village_id WHERE v.id = ANY(:ids)"""
    ids = [r[0] for r in sql(app, "SELECT id FROM village ORDER BY code LIMIT 40")]
    assert tuple(sql(app, check, ids=ids)[0]) == (0, 40 * 12)
    village = ids[0]
    before = sql(app, "SELECT geom FROM village WHERE id = :i", i=village)[0][0]
    try:
        sql(app, "UPDATE village SET geom = ST_Multi(ST_Buffer(geom, -0.001)) WHERE id = :i", i=village)
        assert tuple(sql(app, check, ids=[village])[0]) == (0, 12)
    finally:
        sql(app, "UPDATE village SET geom = :g WHERE id = :i", g=before, i=village)
    assert tuple(sql(app, check, ids=[village])[0]) == (0, 12)
