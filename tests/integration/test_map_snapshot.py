"""The village map's "Sumber data" (``snapshot=<id>``): /gis/geojson/villages then serves the
desil-based measures over the households a targeting snapshot lists, with the snapshot's desil
and village. Checked against SQL written here from the tables (not the code under test), for
Bappeda (the province) and the operator of Lampung Timur (its households only); the default
answer stays the latest data's; a bad value is a 400 in Indonesian; the page offers the choice
and a bad one is refused there too; the cached figures follow a write made by plain SQL."""
from __future__ import annotations

import json
import re

import pytest

from tests.conftest import sql, session_client
from tests.integration.test_geo_endpoints import bearer

YEAR = 2017
OWN = "18.07"  # Lampung Timur, op1807's regency
COUNTED = ["usulan", "ditetapkan", "disalurkan"]
FIELDS = ("households", "desil1", "reached", "multi_program", "programs_3plus", "gaps")

# Per village (of the source's village): households, desil 1, reached (1+ program), 2+, 3+, gap
# households (desil <= k, in a zone of the year, no counted program), for the households whose
# latest (declared) village lies in :regencies (NULL: all); zones of :regency or province-wide
# (NULL: all zones); only the programs of :agency (NULL: all). An operator's scope: regencies =
# [R], regency = R; an OPD's: the regencies its programs cover and its own, agency = its id. A
# household is in a zone by its point, or without a point by its village lying more than half
# inside the zone.
EXPECTED_SQL = """
WITH src AS ({source}),
scoped AS (
    SELECT src.* FROM src JOIN household h ON h.id = src.id JOIN village hv ON hv.id = h.village_id
      JOIN district hd ON hd.id = hv.district_id
     WHERE CAST(:regencies AS int[]) IS NULL OR hd.regency_id = ANY(CAST(:regencies AS int[]))),
n AS (
    SELECT s.*, (SELECT count(DISTINCT e.program_id) FROM enrolment e
                  WHERE e.household_id = s.id AND e.year = :y AND e.status = ANY(:st)
                    AND (CAST(:agency AS int) IS NULL
                         OR e.program_id IN (SELECT id FROM program WHERE agency_id = CAST(:agency AS int)))) AS n
      FROM scoped s),
z AS (SELECT id, geom FROM priority_zone
       WHERE year = :y AND (CAST(:regency AS int) IS NULL OR regency_id IS NULL OR regency_id = CAST(:regency AS int))),
inzone AS (
    SELECT n.id FROM n JOIN z ON ST_Intersects(z.geom, n.location)
    UNION
    SELECT n.id FROM n JOIN village v ON v.id = n.village_id JOIN z ON ST_Intersects(z.geom, v.geom)
     WHERE n.location IS NULL AND ST_Area(ST_Intersection(z.geom, v.geom)) / nullif(ST_Area(v.geom), 0) > 0.5)
SELECT v.code, count(*), count(*) FILTER (WHERE n.desil = 1), count(*) FILTER (WHERE n.n >= 1),
       count(*) FILTER (WHERE n.n >= 2), count(*) FILTER (WHERE n.n >= 3),
       count(*) FILTER (WHERE n.desil <= :k AND n.n = 0 AND n.id IN (SELECT id FROM inzone))
  FROM n JOIN village v ON v.id = n.village_id
 GROUP BY v.code"""
LATEST = "SELECT id, village_id, desil, location FROM household"
SNAPSHOT = ("SELECT household_id AS id, village_id, desil, location FROM household_snapshot "
            "WHERE snapshot_id = CAST(:s AS int)")


def expected(app, snapshot_id, regency_id=None, k=1, regencies=None, agency=None) -> dict[str, tuple]:
    source = LATEST if snapshot_id is None else SNAPSHOT
    if regencies is None and regency_id is not None:
        regencies = [regency_id]
    rows = sql(app, EXPECTED_SQL.format(source=source), s=snapshot_id, regency=regency_id, regencies=regencies,
               agency=agency, y=YEAR, st=COUNTED, k=k)
    return {r[0]: tuple(r[1:]) for r in rows}


def served(client, headers, url) -> tuple[dict, dict[str, tuple]]:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, r.data[:300]
    doc = json.loads(r.data)
    figures = {f["properties"]["code"]: tuple(f["properties"][k] for k in FIELDS) for f in doc["features"]}
    return doc, {code: v for code, v in figures.items() if v[0] > 0}


@pytest.fixture(scope="module")
def ids(app):
    snapshots = dict(sql(app, "SELECT period, id FROM targeting_snapshot"))
    regency = sql(app, "SELECT id FROM regency WHERE code = :c", c=OWN)[0][0]
    return {"bdt": snapshots["2015"], "q3": snapshots["2025-Q3"], "q4": snapshots["2025-Q4"], "own": regency}


@pytest.fixture(scope="module")
def heads(app):
    return {user: bearer(app, user) for user in ("bappeda", "op1807", "opd_dinkop_lamtim", "pimpinan")}


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def test_bdt_2015_chosen_gives_its_figures_to_bappeda_and_op1807(app, client, heads, ids):
    bdt = ids["bdt"]
    province = expected(app, bdt)
    doc, got = served(client, heads["bappeda"], f"/gis/geojson/villages?year={YEAR}&zoom=8&snapshot={bdt}")
    assert doc["snapshot"] == {"id": bdt, "label": "BDT 2015"}
    assert got == province
    own = expected(app, bdt, ids["own"])
    doc, got = served(client, heads["op1807"], f"/gis/geojson/villages?year={YEAR}&regency={OWN}&zoom=10&snapshot={bdt}")
    assert got == own and own
    assert all(code.startswith(OWN + ".") for code in got)
    # Households that moved out of Lampung Timur since BDT 2015 make the operator's figures
    # smaller than the province's for some of the regency's villages, never larger.
    assert all(own[c][0] <= province.get(c, (0,))[0] for c in own)
    # The operator asking for another regency gets its villages without a household.
    _doc, other = served(client, heads["op1807"], f"/gis/geojson/villages?year={YEAR}&regency=18.71&zoom=10&snapshot={bdt}")
    assert other == {}


def test_an_opd_and_pimpinan_get_their_own_scope_of_the_snapshot(app, client, heads, ids):
    """An OPD officer: the households of the regencies its programs cover (and its own), reached
    only by its agency's programs; Pimpinan: the province's figures, as Bappeda."""
    bdt = ids["bdt"]
    agency, own = sql(app, "SELECT a.id, a.regency_id FROM ab_user u JOIN agency a ON a.id = u.agency_id "
                           "WHERE u.username = 'opd_dinkop_lamtim'")[0]
    regencies = [r[0] for r in sql(app, """SELECT pr.regency_id FROM program_regency pr JOIN program p
                                              ON p.id = pr.program_id WHERE p.agency_id = :a""", a=agency)]
    want = expected(app, bdt, regencies=sorted(set(regencies) | {own}), agency=agency)
    _doc, got = served(client, heads["opd_dinkop_lamtim"], f"/gis/geojson/villages?year={YEAR}&zoom=8&snapshot={bdt}")
    assert got == want and got
    assert got != expected(app, bdt, own)  # not the operator's figures: only the agency's programs reach
    _doc, got = served(client, heads["pimpinan"], f"/gis/geojson/villages?year={YEAR}&zoom=8&snapshot={bdt}")
    assert got == expected(app, bdt)


def test_a_dtsen_quarter_with_a_wider_gap_threshold(app, client, heads, ids):
    q3 = ids["q3"]
    _doc, got = served(client, heads["op1807"], f"/gis/geojson/villages?year={YEAR}&regency={OWN}&zoom=10&k=4&snapshot={q3}")
    assert got == expected(app, q3, ids["own"], k=4)


def test_the_default_is_the_latest_data_and_differs_from_bdt_2015(app, client, heads, ids):
    for user, regency_id, extra in (("bappeda", None, ""), ("op1807", ids["own"], f"&regency={OWN}")):
        url = f"/gis/geojson/villages?year={YEAR}&zoom=8{extra}"
        doc, got = served(client, heads[user], url)
        assert "snapshot" not in doc
        assert got == expected(app, None, regency_id)
        # snapshot= empty is the default, byte for byte
        assert client.get(url + "&snapshot=", headers=heads[user]).data == client.get(url, headers=heads[user]).data
        _doc, bdt = served(client, heads[user], url + f"&snapshot={ids['bdt']}")
        assert bdt != got  # the choice changes the figures


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "999999", "99999999999"])
def test_a_bad_snapshot_is_a_400_in_indonesian(client, heads, value):
    r = client.get(f"/gis/geojson/villages?year={YEAR}&snapshot={value}", headers=heads["bappeda"])
    assert r.status_code == 400
    message = r.get_json()["message"]
    assert "snapshot" in message
    assert re.search(r"harus bilangan bulat|tidak ada snapshot|tidak ada", message), message
    tile = client.get(f"/gis/tiles/villages/8/205/133.pbf?year={YEAR}&snapshot={value}", headers=heads["bappeda"])
    assert tile.status_code == 400


def test_anonymous_callers_get_nothing(client, ids):
    assert client.get(f"/gis/geojson/villages?year={YEAR}&snapshot={ids['bdt']}").status_code == 401


def test_the_village_tiles_follow_the_choice(app, client, heads, ids):
    import mapbox_vector_tile

    from tests.integration.test_geo_endpoints import tile_of

    z, x, y = tile_of(105.6, -5.1, 9)  # Lampung Timur
    url = f"/gis/tiles/villages/{z}/{x}/{y}.pbf?year={YEAR}"
    want = expected(app, ids["bdt"])
    r = client.get(url + f"&snapshot={ids['bdt']}", headers=heads["bappeda"])
    assert r.status_code == 200
    layer = mapbox_vector_tile.decode(r.data)["villages"]
    seen = {f["properties"]["code"]: f["properties"]["desil1"] for f in layer["features"]}
    assert seen and all(want.get(code, (0, 0))[1] == d1 for code, d1 in seen.items())
    latest = mapbox_vector_tile.decode(client.get(url, headers=heads["bappeda"]).data)["villages"]
    assert {f["properties"]["code"]: f["properties"]["desil1"] for f in latest["features"]} != seen


def test_the_page_offers_the_sources_and_refuses_a_bad_one(app, ids):
    client = session_client(app, "op1807")
    frame = client.get(f"/maps/villages/frame?snapshot={ids['bdt']}")
    assert frame.status_code == 200
    html = frame.get_data(as_text=True)
    assert re.search(r'"snapshot": (\d+)', html).group(1) == str(ids["bdt"])  # the map opens on it
    for label in ("data terbaru", "BDT 2015", "DTSEN 2025-Q3", "DTSEN 2025-Q4"):
        assert label in html
    assert "_snapshot" in html  # the household list's "Sumber data" argument, for the popup's link
    for url in ("/maps/villages/frame?snapshot=abc", "/maps/villages/?snapshot=999999"):
        r = client.get(url)
        assert r.status_code == 400
        assert "snapshot" in r.get_data(as_text=True)


def test_a_write_is_seen_through_the_cache(app, client, heads, ids):
    """An enrolment written by plain SQL (no audit row) shows at the next request, and its
    removal too: the checksum of the kept measures is part of the cache's stamp."""
    bdt = ids["bdt"]
    url = f"/gis/geojson/villages?year={YEAR}&regency={OWN}&zoom=10&snapshot={bdt}"
    _doc, before = served(client, heads["op1807"], url)
    # A BDT 2015 household of Lampung Timur, still declared in the same village, without a
    # counted program in the year: one enrolment written by plain SQL makes it reached.
    household_id, code = sql(app, """
        SELECT s.household_id, v.code FROM household_snapshot s
          JOIN village v ON v.id = s.village_id JOIN household h ON h.id = s.household_id
         WHERE s.snapshot_id = :s AND v.code LIKE '18.07.%' AND h.village_id = s.village_id
           AND NOT EXISTS (SELECT 1 FROM enrolment e WHERE e.household_id = h.id AND e.year = :y
                              AND e.status = ANY(:st))
         ORDER BY s.household_id LIMIT 1""", s=bdt, y=YEAR, st=COUNTED)[0]
    enrolment = sql(app, """INSERT INTO enrolment (household_id, program_id, year, status, date)
                            SELECT :h, p.id, :y, 'usulan', make_date(:y, 6, 1) FROM program p
                             WHERE p.fiscal_year = :y ORDER BY p.id LIMIT 1 RETURNING id""",
                    h=household_id, y=YEAR)[0][0]
    try:
        _doc, after = served(client, heads["op1807"], url)
        assert after[code][2] == before[code][2] + 1  # reached
        assert after == expected(app, bdt, ids["own"])
    finally:
        sql(app, "DELETE FROM enrolment WHERE id = :i", i=enrolment)
    _doc, again = served(client, heads["op1807"], url)
    assert again == before


def test_the_map_downloads_follow_the_choice(app, ids):
    """/gis/export/villages.geojson (the map's download button; host.js passes the map's
    snapshot) counts the chosen snapshot's households too, logs the choice, refuses a bad one."""
    from tests.integration.test_geo_export import last_log_id, logs_since

    bdt = ids["bdt"]
    client = session_client(app, "op1807")
    before = last_log_id(app)
    r = client.get(f"/gis/export/villages.geojson?year={YEAR}&regency={OWN}&snapshot={bdt}")
    assert r.status_code == 200
    assert f"sumber{bdt}" in r.headers["Content-Disposition"]
    doc = json.loads(r.data)
    assert doc["snapshot"] == bdt
    got = {f["properties"]["kode_desa"]: tuple(f["properties"][k] for k in
                                               ("jml_rt", "desil1", "penerima", "tumpang_tindih", "prog_3plus",
                                                "belum_jangkau"))
           for f in doc["features"] if f["properties"]["jml_rt"] > 0}
    assert got == expected(app, bdt, ids["own"])
    assert logs_since(app, before) == [("op1807", "geo:villages", "geojson",
                                        {"year": YEAR, "k": 1, "regency": OWN, "snapshot": bdt}, len(doc["features"]))]
    r = client.get(f"/gis/export/villages.geojson?year={YEAR}&snapshot=abc")
    assert r.status_code == 400 and r.json["message"].startswith("snapshot")
