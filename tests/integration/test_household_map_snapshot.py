"""The household map's "Sumber data" (``snapshot=<id>``): the household GeoJSON, the household
tiles and the household map page then show the households a targeting snapshot lists, with that
snapshot's desil, village and point; without it, each household's latest data, as before.

Checked against SQL written here over ``household_snapshot`` (not the code under test), for
Bappeda (the province), the operator of Lampung Timur (households whose latest village lies in
it, wherever a snapshot put them) and Pimpinan (points on the 0.01° grid, No KK masked); with a
household of the demo that moved between BDT 2015 and the latest data: found at its BDT 2015
point when BDT 2015 is chosen, at its new point otherwise."""
from __future__ import annotations

import json

import mapbox_vector_tile
import pytest

from tests.conftest import sql, session_client
from tests.integration.test_geo_endpoints import bearer, tile_of

YEAR = 2017
OWN = "18.07"  # Lampung Timur, op1807's regency

# The snapshot's households in a scope (:r = the regency of the household's LATEST village, NULL:
# all), with the snapshot's desil and point, and the status of that point against the snapshot's
# village (the declared village wins where villages overlap).
SNAPSHOT_SQL = """
SELECT s.household_id, s.desil, ST_X(s.location), ST_Y(s.location),
       CASE WHEN s.location IS NULL THEN 'tanpa_titik'
            WHEN ST_Intersects((SELECT geom FROM village WHERE id = s.village_id), s.location) THEN 'cocok'
            WHEN EXISTS (SELECT 1 FROM village v WHERE ST_Intersects(v.geom, s.location)) THEN 'beda_desa'
            ELSE 'di_luar_wilayah' END
  FROM household_snapshot s JOIN household h ON h.id = s.household_id
  JOIN village hv ON hv.id = h.village_id JOIN district hd ON hd.id = hv.district_id
  JOIN regency r ON r.id = hd.regency_id
 WHERE s.snapshot_id = :s AND (CAST(:r AS text) IS NULL OR r.code = CAST(:r AS text))"""


def expected(app, snapshot_id, regency=None, grid=None) -> dict[int, tuple]:
    """household id -> (desil, lon, lat, status); lon/lat on the 0.01° grid when ``grid``."""
    out = {}
    for hid, desil, lon, lat, status in sql(app, SNAPSHOT_SQL, s=snapshot_id, r=regency):
        if lon is not None:
            lon, lat = (round(lon / grid) * grid, round(lat / grid) * grid) if grid else (lon, lat)
            lon, lat = round(lon, 6), round(lat, 6)
        out[hid] = (desil, lon, lat, status)
    return out


def served(client, headers, url) -> tuple[dict, dict[int, tuple]]:
    """Every page of a household GeoJSON answer: (first page, id -> (desil, lon, lat, status))."""
    first, got, page = None, {}, 1
    while True:
        r = client.get(f"{url}&limit=5000&page={page}", headers=headers)
        assert r.status_code == 200, r.data[:300]
        doc = json.loads(r.data)
        first = first or doc
        for f in doc["features"]:
            c = f["geometry"]["coordinates"] if f["geometry"] else (None, None)
            got[f["id"]] = (f["properties"]["desil"], c[0], c[1], f["properties"]["location_status"])
        if not doc.get("next"):
            return first, got
        page += 1


@pytest.fixture(scope="module")
def ids(app):
    snapshots = dict(sql(app, "SELECT period, id FROM targeting_snapshot"))
    return {"bdt": snapshots["2015"], "q3": snapshots["2025-Q3"], "q4": snapshots["2025-Q4"]}


@pytest.fixture(scope="module")
def heads(app):
    return {user: bearer(app, user) for user in ("bappeda", "op1807", "pimpinan")}


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def mover(app, ids):
    """The Lampung Timur household (by its latest village) that moved farthest since BDT 2015
    (its two points lie in different z14 tiles). Desil changes are checked above for every household."""
    row = sql(app, """
        SELECT h.id, s.desil AS bdt_desil, h.desil AS latest_desil, ST_X(s.location) AS bx, ST_Y(s.location) AS by,
               ST_X(h.location) AS lx, ST_Y(h.location) AS ly
          FROM household h JOIN household_snapshot s ON s.household_id = h.id AND s.snapshot_id = :s
          JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
          JOIN regency r ON r.id = d.regency_id
         WHERE r.code = :r AND ST_Distance(s.location, h.location) > 0.05
         ORDER BY ST_Distance(s.location, h.location) DESC, h.id LIMIT 1""", s=ids["bdt"], r=OWN)
    assert row, "the demo has no Lampung Timur household that moved far since BDT 2015"
    return dict(row[0]._mapping)


@pytest.mark.parametrize("user, regency", [("bappeda", None), ("op1807", OWN)])
def test_each_snapshot_gives_its_own_households_desil_points_and_statuses(app, client, heads, ids, user, regency):
    latest = None
    for key in ("bdt", "q3", "q4"):
        doc, got = served(client, heads[user], f"/gis/geojson/households?year={YEAR}&snapshot={ids[key]}")
        assert doc["snapshot"]["id"] == ids[key]
        want = expected(app, ids[key], regency)
        assert got == want and got
        if key == "bdt":
            assert doc["snapshot"]["label"] == "BDT 2015"
            assert max(v[0] for v in got.values()) <= 4
    doc, latest = served(client, heads[user], f"/gis/geojson/households?year={YEAR}")
    assert "snapshot" not in doc
    assert latest != expected(app, ids["bdt"], regency)  # the choice changes what is drawn


def test_a_bbox_finds_a_household_where_the_chosen_snapshot_put_it(client, heads, ids, mover):
    def ids_in(point, snapshot):
        x, y = point
        url = f"/gis/geojson/households?year={YEAR}&bbox={x - 0.001},{y - 0.001},{x + 0.001},{y + 0.001}"
        _doc, got = served(client, heads["op1807"], url + (f"&snapshot={snapshot}" if snapshot else ""))
        return got

    old, new = (mover["bx"], mover["by"]), (mover["lx"], mover["ly"])
    assert ids_in(old, ids["bdt"])[mover["id"]][0] == mover["bdt_desil"]
    assert mover["id"] not in ids_in(old, None)
    assert ids_in(new, None)[mover["id"]][0] == mover["latest_desil"]
    assert mover["id"] not in ids_in(new, ids["bdt"])


def test_pimpinan_gets_the_snapshot_on_the_grid_and_masked(app, client, heads, ids):
    doc, got = served(client, heads["pimpinan"], f"/gis/geojson/households?year={YEAR}&snapshot={ids['bdt']}")
    assert got == expected(app, ids["bdt"], grid=0.01)
    assert all("*" in f["properties"]["no_kk"] for f in doc["features"])


def tile_households(client, headers, z, x, y, snapshot=None) -> dict[int, dict]:
    url = f"/gis/tiles/households/{z}/{x}/{y}.pbf?year={YEAR}" + (f"&snapshot={snapshot}" if snapshot else "")
    r = client.get(url, headers=headers)
    assert r.status_code in (200, 204), r.data[:300]
    layer = mapbox_vector_tile.decode(r.data).get("households", {"features": []}) if r.data else {"features": []}
    return {f["id"]: f["properties"] for f in layer["features"]}


@pytest.mark.parametrize("user", ["bappeda", "op1807", "pimpinan"])
def test_the_point_tiles_draw_the_chosen_snapshot(client, heads, ids, mover, user):
    old = tile_of(mover["bx"], mover["by"], 14)
    new = tile_of(mover["lx"], mover["ly"], 14)
    assert old != new
    assert tile_households(client, heads[user], *old, snapshot=ids["bdt"])[mover["id"]]["desil"] == mover["bdt_desil"]
    assert mover["id"] not in tile_households(client, heads[user], *old)
    assert tile_households(client, heads[user], *new)[mover["id"]]["desil"] == mover["latest_desil"]
    assert mover["id"] not in tile_households(client, heads[user], *new, snapshot=ids["bdt"])


@pytest.mark.parametrize("user, regency", [("bappeda", None), ("op1807", OWN)])
def test_the_village_groups_below_z12_count_the_snapshot(app, client, heads, ids, user, regency):
    """Below z12 a village's point carries the snapshot's households declared in it (its desil 1)."""
    want = {code: (n, d1) for code, n, d1 in sql(app, """
        SELECT v.code, count(*), count(*) FILTER (WHERE s.desil = 1)
          FROM household_snapshot s JOIN village v ON v.id = s.village_id
          JOIN household h ON h.id = s.household_id JOIN village hv ON hv.id = h.village_id
          JOIN district hd ON hd.id = hv.district_id JOIN regency r ON r.id = hd.regency_id
         WHERE s.snapshot_id = :s AND (CAST(:r AS text) IS NULL OR r.code = CAST(:r AS text))
         GROUP BY v.code""", s=ids["bdt"], r=regency)}
    _z, west, north = tile_of(103.0, -3.0, 9)  # every z9 tile over Lampung
    _z, east, south = tile_of(106.5, -6.5, 9)

    def groups(snapshot):
        out = {}
        for x in range(west, east + 1):
            for y in range(north, south + 1):
                for props in tile_households(client, heads[user], 9, x, y, snapshot=snapshot).values():
                    assert props["code"] not in out, "a village in two tiles"
                    out[props["code"]] = (props["count"], props["desil1"])
        return out

    got = groups(ids["bdt"])
    assert got == want and got
    assert groups(None) != got


def test_households_outside_the_snapshot_are_not_drawn(app, client, heads, ids):
    """Households that left before 2025-Q4, and those 2025-Q4 added to 2025-Q3, are drawn only
    with the snapshots that list them."""
    def only_in(a, b):
        return {r[0] for r in sql(app, """SELECT household_id FROM household_snapshot WHERE snapshot_id = :a
                                           EXCEPT SELECT household_id FROM household_snapshot WHERE snapshot_id = :b""",
                                  a=a, b=b)}

    left, entered = only_in(ids["bdt"], ids["q4"]), only_in(ids["q4"], ids["q3"])
    assert left and entered
    drawn = {key: set(served(client, heads["bappeda"], f"/gis/geojson/households?year={YEAR}&snapshot={ids[key]}")[1])
             for key in ("bdt", "q3", "q4")}
    assert left <= drawn["bdt"] and not left & drawn["q4"]
    assert entered <= drawn["q4"] and not entered & drawn["q3"]


@pytest.mark.parametrize("value", ["abc", "0", "999999"])
def test_a_bad_snapshot_is_a_400_in_indonesian(client, heads, value):
    for url in (f"/gis/geojson/households?year={YEAR}&snapshot={value}",
                f"/gis/tiles/households/14/13000/8400.pbf?year={YEAR}&snapshot={value}"):
        r = client.get(url, headers=heads["bappeda"])
        assert r.status_code == 400, url
        assert r.get_json()["message"].startswith("snapshot"), r.get_json()


def test_anonymous_callers_get_nothing(client, ids):
    assert client.get(f"/gis/geojson/households?snapshot={ids['bdt']}").status_code == 401
    assert client.get(f"/gis/tiles/households/9/205/133.pbf?snapshot={ids['bdt']}").status_code == 401


def test_the_page_offers_the_sources_and_sets_the_legend_range(app, ids):
    client = session_client(app, "op1807")
    html = client.get(f"/maps/households/frame?snapshot={ids['bdt']}").get_data(as_text=True)
    assert f'"snapshot": {ids["bdt"]}' in html and '"snapshotLabel": "BDT 2015"' in html
    assert '"maxDesil": 4' in html  # BDT 2015's range
    tiles = client.get(f"/maps/households/frame?snapshot={ids['bdt']}&mode=tiles&year={YEAR}").get_data(as_text=True)
    assert f"/gis/tiles/households/{{z}}/{{x}}/{{y}}.pbf?year={YEAR}&snapshot={ids['bdt']}" in tiles
    for label in ("data terbaru", "BDT 2015", "DTSEN 2025-Q3", "DTSEN 2025-Q4"):
        assert label in html
    latest = client.get("/maps/households/frame").get_data(as_text=True)
    assert '"maxDesil": 10' in latest and '"snapshot": ""' in latest  # DTSEN desil 5-10 get their colours
    points = sql(app, """SELECT count(*) FROM household_snapshot s JOIN household h ON h.id = s.household_id
                           JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
                           JOIN regency r ON r.id = d.regency_id
                          WHERE s.snapshot_id = :s AND r.code = :r AND s.location IS NOT NULL""",
                 s=ids["bdt"], r=OWN)[0][0]
    assert f'"count": {points}' in html  # clusters or tiles: decided on the snapshot's points
    for url in ("/maps/households/frame?snapshot=abc", "/maps/households/?snapshot=999999"):
        r = client.get(url)
        assert r.status_code == 400
        assert "snapshot" in r.get_data(as_text=True)
