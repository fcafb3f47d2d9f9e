"""GeoJSON, vector tiles and OGC API - Features (gis/http.py): scope, shapes, paging, sizes.

Runs on the session app (real Lampung areas + demo users + the demo seed). What a user
may see is checked against SQL written here (the regency of each returned feature), not
against the code under test.
"""
from __future__ import annotations

import gzip
import json
import math
import re
from urllib.parse import parse_qs, urlparse

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from tests.conftest import DEMO_PASSWORD, needs_lampung

OWN = "18.07"  # Lampung Timur, op1807's regency
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
PROVINCE_Z8_LIMIT = 1_300_000  # bytes: the whole province of villages with measures at zoom 8
PROVINCE_Z8_GZIP_LIMIT = 250_000
BANDAR_LAMPUNG = (105.262, -5.398)  # a point in Kota Bandar Lampung (18.71)


# --- helpers ----------------------------------------------------------------------------------

def sql(app, statement: str, **params):
    from app.extensions import db

    with app.app_context():
        rows = db.session.execute(text(statement), params).fetchall()
        db.session.rollback()
        return rows


def bearer(app, username: str) -> dict:
    client = app.test_client()
    r = client.post("/api/v1/security/login", json={"username": username, "password": DEMO_PASSWORD,
                                                    "provider": "db"})
    assert r.status_code == 200, r.data
    return {"Authorization": f"Bearer {r.json['access_token']}"}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data) if data else {}


def household_regencies(app, ids) -> set[str]:
    rows = sql(app, """SELECT DISTINCT r.code FROM household h JOIN village v ON v.id = h.village_id
                       JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
                       WHERE h.id = ANY(:ids)""", ids=list(ids))
    return {r[0] for r in rows}


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def tokens(app):
    return {u: bearer(app, u) for u in ("admin", "op1807", "pimpinan", "bappeda")}


@pytest.fixture(scope="module")
def own_regency_id(app):
    return sql(app, "SELECT id FROM regency WHERE code = :c", c=OWN)[0][0]


@pytest.fixture(scope="module")
def year(app):
    return sql(app, "SELECT max(fiscal_year) FROM program")[0][0]


@pytest.fixture(scope="module")
def province_tiles(app):
    """The z8 tiles that cover every household point."""
    minx, miny, maxx, maxy = sql(app, """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
                                         FROM (SELECT ST_Extent(location) e FROM household) s""")[0]
    _, x0, y0 = tile_of(minx, maxy, 8)
    _, x1, y1 = tile_of(maxx, miny, 8)
    return [(8, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


# --- anonymous users and permissions ----------------------------------------------------------

SCOPED_URLS = [
    "/gis/geojson/households", "/gis/geojson/households?bbox=105,-6,106,-5", "/gis/geojson/zones",
    "/gis/geojson/villages", "/gis/geojson/villages?zoom=8", "/gis/geojson/villages/search?q=suka",
    "/gis/tiles/households/14/{x14}/{y14}.pbf", "/gis/tiles/households/8/{x8}/{y8}.pbf",
    "/gis/tiles/villages/8/{x8}/{y8}.pbf",
    "/ogc/collections/zones/items", "/ogc/collections/zones/items/1", "/ogc/collections/zones",
    "/ogc/collections/zones/queryables",
]
PUBLIC_URLS = [
    "/gis/geojson/regencies", "/gis/geojson/districts?zoom=8", "/ogc/", "/ogc/api", "/ogc/conformance",
    "/ogc/collections", "/ogc/collections/villages", "/ogc/collections/villages/items",
    "/ogc/collections/regencies/items/18.07", "/ogc/collections/districts/items?regency_code=18.07",
    "/ogc/collections/villages/queryables",
]


def _fill(url: str) -> str:
    _, x14, y14 = tile_of(*BANDAR_LAMPUNG, 14)
    _, x8, y8 = tile_of(*BANDAR_LAMPUNG, 8)
    return url.format(x14=x14, y14=y14, x8=x8, y8=y8)


@pytest.mark.parametrize("url", SCOPED_URLS)
def test_anonymous_gets_no_household_or_zone_data(app, url):
    r = app.test_client().get(_fill(url))
    assert r.status_code in (401, 302, 403), (url, r.status_code)
    assert b"Feature" not in r.data


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_areas_and_service_documents_are_public(app, url):
    r = app.test_client().get(url)
    assert r.status_code == 200, (url, r.status_code, r.data[:300])
    if "/items" in url or "/gis/geojson/" in url:
        assert r.mimetype == GEOJSON
        body = r.json if r.is_json else json.loads(r.data)
        for f in body.get("features", [body] if body.get("type") == "Feature" else []):
            assert not set(f["properties"]) & {"households", "desil1", "reached", "gaps", "no_kk"}


def test_areas_can_be_made_private(app, tokens):
    app.config["SINERGI_PUBLIC_AREAS"] = False
    try:
        anonymous = app.test_client()
        for url in ("/gis/geojson/regencies", "/ogc/collections/villages/items", "/ogc/collections/regencies/items/18.07"):
            assert anonymous.get(url).status_code == 401, url
            r = anonymous.get(url, headers=tokens["op1807"])
            assert r.status_code == 200 and "private" in r.headers["Cache-Control"], url
    finally:
        app.config.pop("SINERGI_PUBLIC_AREAS", None)


def test_logged_in_user_without_the_permission_gets_403(app):
    from app.extensions import appbuilder

    with app.app_context():
        sm = appbuilder.sm
        if sm.find_user(username="geo_norole") is None:
            sm.add_user("geo_norole", "Geo", "Norole", "geo_norole@example.invalid", sm.find_role("Public"),
                        password=DEMO_PASSWORD)
    headers = bearer(app, "geo_norole")
    for url in ("/gis/geojson/households", "/gis/geojson/zones", "/ogc/collections/zones/items",
                "/ogc/collections/zones", _fill("/gis/tiles/households/14/{x14}/{y14}.pbf")):
        assert app.test_client().get(url, headers=headers).status_code == 403, url


# --- scope: op1807 never receives another regency's households or zones ------------------------

def _all_households(client, headers, **params) -> list[dict]:
    url = "/gis/geojson/households?" + "&".join(f"{k}={v}" for k, v in {"limit": 5000, **params}.items())
    features = []
    while url:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.data[:300]
        assert r.mimetype == GEOJSON
        assert "no-store" in r.headers["Cache-Control"] and "private" in r.headers["Cache-Control"]
        body = json.loads(r.data)
        features += body["features"]
        url = body["next"]
        assert len(features) < 100_000
    return features


def test_household_geojson_holds_only_the_scope(app, client, tokens, own_regency_id):
    features = _all_households(client, tokens["op1807"])
    ids = [f["id"] for f in features]
    expected = {r[0] for r in sql(app, """SELECT h.id FROM household h JOIN village v ON v.id = h.village_id
                                          JOIN district d ON d.id = v.district_id WHERE d.regency_id = :r""",
                                  r=own_regency_id)}
    assert ids and len(ids) == len(set(ids))
    assert set(ids) == expected
    assert household_regencies(app, ids) == {OWN}
    for f in features[:50]:
        assert set(f["properties"]) == {"id", "no_kk", "desil", "programs", "location_status"}
        assert f["geometry"] is None or f["geometry"]["type"] == "Point"


def test_household_geojson_regency_parameter(app, client, tokens, own_regency_id):
    """Bappeda asking for one regency gets exactly its households; an operator asking for
    another regency gets none of it (the scope still applies); an unknown code is a 400."""
    features = _all_households(client, tokens["bappeda"], regency=OWN)
    expected = {r[0] for r in sql(app, """SELECT h.id FROM household h JOIN village v ON v.id = h.village_id
                                          JOIN district d ON d.id = v.district_id WHERE d.regency_id = :r""",
                                  r=own_regency_id)}
    assert expected and {f["id"] for f in features} == expected
    assert _all_households(client, tokens["op1807"], regency="18.01") == []
    assert client.get("/gis/geojson/households?regency=99.99", headers=tokens["bappeda"]).status_code == 400


def test_household_geojson_masks_no_kk_and_never_sends_nik(app, client, tokens):
    r = client.get("/gis/geojson/households?limit=300&bbox=105.1,-5.6,105.4,-5.2", headers=tokens["pimpinan"])
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    features = json.loads(body)["features"]
    assert features
    assert all(re.fullmatch(r"[0-9]{4}\*{8}[0-9]{4}", f["properties"]["no_kk"]) for f in features)
    ids = [f["id"] for f in features]
    for no_kk, nik in sql(app, "SELECT no_kk, head_nik FROM household WHERE id = ANY(:ids)", ids=ids):
        assert no_kk not in body and nik not in body
    assert "nik" not in body.lower()


@needs_lampung
def test_household_geojson_bbox_paging_and_programs(app, client, tokens, year):
    bbox = "105.15,-5.5,105.35,-5.3"
    first = json.loads(client.get(f"/gis/geojson/households?bbox={bbox}&limit=50", headers=tokens["admin"]).data)
    assert first["numberReturned"] == 50 and first["next"]
    assert {l["rel"] for l in first["links"]} >= {"self", "next"}
    second = json.loads(client.get(first["next"], headers=tokens["admin"]).data)
    assert not {f["id"] for f in first["features"]} & {f["id"] for f in second["features"]}
    assert [f["id"] for f in first["features"]] == sorted(f["id"] for f in first["features"])
    everything = _all_households(client, tokens["admin"], bbox=bbox)
    expected = {r[0] for r in sql(app, """SELECT id FROM household
                                          WHERE ST_Intersects(location, ST_MakeEnvelope(105.15,-5.5,105.35,-5.3,4326))""")}
    assert {f["id"] for f in everything} == expected
    counts = dict(sql(app, """SELECT household_id, count(DISTINCT program_id) FROM enrolment
                              WHERE year = :y AND status IN ('usulan','ditetapkan','disalurkan')
                              AND household_id = ANY(:ids) GROUP BY 1""", y=year, ids=list(expected)))
    assert all(f["properties"]["programs"] == counts.get(f["id"], 0) for f in everything)
    # limits: clamped above 5,000, refused when not a positive number
    big = json.loads(client.get("/gis/geojson/households?limit=999999", headers=tokens["admin"]).data)
    assert big["limit"] == 5000 and big["numberReturned"] == 5000
    for bad in ("limit=0", "limit=x", "page=0", "bbox=1,2,3", "bbox=a,b,c,d", "bbox=106,-5,105,-4", "year=1800"):
        assert client.get(f"/gis/geojson/households?{bad}", headers=tokens["admin"]).status_code == 400, bad


@needs_lampung
def test_household_tiles_hold_only_the_scope(app, client, tokens, own_regency_id, province_tiles):
    # raw points (z >= 12) inside Lampung Timur: every one is a household of 18.07
    lon, lat = sql(app, """SELECT ST_X(h.location), ST_Y(h.location) FROM household h JOIN village v ON v.id = h.village_id
                           JOIN district d ON d.id = v.district_id WHERE d.regency_id = :r AND h.location IS NOT NULL
                           ORDER BY h.id LIMIT 1""", r=own_regency_id)[0]
    seen = set()
    for z in (12, 14):
        for center in ((lon, lat), BANDAR_LAMPUNG):
            zz, x, y = tile_of(*center, z)
            r = client.get(f"/gis/tiles/households/{zz}/{x}/{y}.pbf", headers=tokens["op1807"])
            assert r.status_code in (200, 204)
            features = decode(r.data).get("households", {}).get("features", [])
            ids = {f["id"] for f in features}
            if ids:
                assert household_regencies(app, ids) == {OWN}, (z, center)
            for f in features:
                assert set(f["properties"]) == {"desil", "programs"}
            inside = {row[0] for row in sql(app, """
                SELECT h.id FROM household h JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
                WHERE d.regency_id = :r AND ST_Intersects(ST_Transform(h.location, 3857), ST_TileEnvelope(:z, :x, :y))""",
                r=own_regency_id, z=zz, x=x, y=y)}
            assert inside <= ids
            seen |= ids
    assert seen, "the tile around an own household is not empty"
    # Bandar Lampung for admin: raw points of several households, none of them a secret
    zz, x, y = tile_of(*BANDAR_LAMPUNG, 14)
    admin_tile = decode(client.get(f"/gis/tiles/households/{zz}/{x}/{y}.pbf", headers=tokens["admin"]).data)
    assert household_regencies(app, {f["id"] for f in admin_tile["households"]["features"]}) == {"18.71"}


def test_low_zoom_household_tiles_count_exactly_the_scope(app, client, tokens, own_regency_id, province_tiles):
    """Below z12 a tile holds one point per village with the number of scoped households
    declared there: over the tiles covering the province every village appears once and
    its count equals SQL's, for the scope only."""
    for user, where, params in (("op1807", "d.regency_id = :r", {"r": own_regency_id}), ("admin", "true", {})):
        expected = {code: (n, d1) for code, n, d1 in sql(app, f"""
            SELECT v.code, count(*), count(*) FILTER (WHERE h.desil = 1) FROM household h
            JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id WHERE {where}
            GROUP BY v.code""", **params)}
        got, biggest = {}, 0
        for z, x, y in province_tiles:
            r = client.get(f"/gis/tiles/households/{z}/{x}/{y}.pbf", headers=tokens[user])
            assert r.status_code in (200, 204)
            if r.status_code == 200:
                assert r.mimetype == "application/vnd.mapbox-vector-tile"
                assert "private" in r.headers["Cache-Control"] and r.headers.get("ETag")
                biggest = max(biggest, len(r.data))
            for f in decode(r.data).get("households", {}).get("features", []):
                p = f["properties"]
                assert set(p) == {"code", "count", "desil1"}
                assert p["code"] not in got, "a village in two tiles"
                got[p["code"]] = (p["count"], p["desil1"])
        assert got == expected, user
        assert biggest < 80 * 1024


@needs_lampung
def test_tile_etag_and_errors(client, tokens):
    z, x, y = tile_of(*BANDAR_LAMPUNG, 12)
    url = f"/gis/tiles/households/{z}/{x}/{y}.pbf"
    first = client.get(url, headers=tokens["admin"])
    assert first.status_code == 200 and first.headers["ETag"]
    again = client.get(url, headers={**tokens["admin"], "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    zipped = client.get(url, headers={**tokens["admin"], "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.data) == first.data
    # the sea south of Sumatra: an empty tile
    z, x, y = tile_of(104.0, -7.5, 12)
    assert client.get(f"/gis/tiles/households/{z}/{x}/{y}.pbf", headers=tokens["admin"]).status_code == 204
    assert client.get("/gis/tiles/households/3/9/0.pbf", headers=tokens["admin"]).status_code == 400
    assert client.get("/gis/tiles/secrets/3/1/1.pbf", headers=tokens["admin"]).status_code == 404


@needs_lampung
def test_village_tiles_carry_the_scoped_measures(app, client, tokens, own_regency_id, year):
    from gis import features as F
    from gis.queries import village_measures
    from app.extensions import db
    from app.security.scope import Scope

    F.measures_cache.clear()
    with app.app_context():
        expected = {m["code"]: m for m in village_measures(db.session.connection(), year,
                                                           Scope("regency", regency_id=own_regency_id))}
        db.session.rollback()
    z, x, y = tile_of(105.6, -5.1, 10)  # Lampung Timur and its neighbours
    r = client.get(f"/gis/tiles/villages/{z}/{x}/{y}.pbf", headers=tokens["op1807"])
    assert r.status_code == 200
    features = decode(r.data)["villages"]["features"]
    assert len(features) > 20
    own_seen = 0
    for f in features:
        p = f["properties"]
        m = expected.get(p["code"])
        if m:
            own_seen += 1
            assert (p["households"], p["desil1"], p["reached"], p["multi_program"], p["gaps"],
                    p["programs_3plus"]) == \
                   (m["households"], m["desil1"], m["reached"], m["multi_program"], m["gaps"], m["programs_3plus"])
            assert p["coverage"] == pytest.approx(float(m["coverage"]))
        else:
            assert p["households"] == 0 and p["gaps"] == 0
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert own_seen > 10


def test_zones_hold_only_the_scope(app, client, tokens, own_regency_id):
    def regencies(ids):
        return {r[0] for r in sql(app, "SELECT regency_id FROM priority_zone WHERE id = ANY(:ids)", ids=list(ids))}

    geo = json.loads(client.get("/gis/geojson/zones?zoom=8", headers=tokens["op1807"]).data)
    ogc = client.get("/ogc/collections/zones/items?limit=100", headers=tokens["op1807"])
    assert ogc.status_code == 200 and ogc.mimetype == GEOJSON
    expected = {r[0] for r in sql(app, "SELECT id FROM priority_zone WHERE regency_id = :r OR regency_id IS NULL",
                                  r=own_regency_id)}
    for ids in ({f["id"] for f in geo["features"]}, {f["id"] for f in ogc.json["features"]}):
        assert ids == expected
        assert regencies(ids) <= {own_regency_id, None}
    assert ogc.json["numberMatched"] == len(expected)
    everything = client.get("/ogc/collections/zones/items?limit=100", headers=tokens["admin"]).json
    assert everything["numberMatched"] == sql(app, "SELECT count(*) FROM priority_zone")[0][0]
    other = sql(app, "SELECT id FROM priority_zone WHERE regency_id <> :r LIMIT 1", r=own_regency_id)[0][0]
    assert client.get(f"/ogc/collections/zones/items/{other}", headers=tokens["op1807"]).status_code == 404
    own = sorted(expected)[0]
    one = client.get(f"/ogc/collections/zones/items/{own}", headers=tokens["op1807"])
    assert one.status_code == 200 and one.mimetype == GEOJSON and one.json["id"] == own


# --- villages GeoJSON: measures and size ------------------------------------------------------

@pytest.mark.parametrize("username", ["op1807", "bappeda"])
def test_village_geojson_measures_equal_village_measures(app, client, tokens, own_regency_id, year, username):
    from app.extensions import db
    from app.security.scope import Scope
    from gis.queries import village_measures

    scope = Scope("regency", regency_id=own_regency_id) if username == "op1807" else Scope("all")
    with app.app_context():
        expected = {m["code"]: m for m in village_measures(db.session.connection(), year, scope)}
        db.session.rollback()
    r = client.get("/gis/geojson/villages?zoom=10", headers=tokens[username])
    assert r.status_code == 200 and r.mimetype == GEOJSON
    assert "private" in r.headers["Cache-Control"]
    features = json.loads(r.data)["features"]
    assert len(features) == sql(app, "SELECT count(*) FROM village")[0][0]
    for f in features:
        p = f["properties"]
        assert {"code", "name", "kind", "district", "regency"} <= set(p)
        m = expected.get(p["code"], {"households": 0, "desil1": 0, "reached": 0, "coverage": 0, "multi_program": 0,
                                      "gaps": 0, "programs_3plus": 0})
        assert [p[k] for k in ("households", "desil1", "reached", "multi_program", "gaps", "programs_3plus")] == \
               [m[k] for k in ("households", "desil1", "reached", "multi_program", "gaps", "programs_3plus")], p["code"]
        assert p["coverage"] == pytest.approx(float(m["coverage"]))
    if username == "op1807":
        assert {f["properties"]["code"][:5] for f in features if f["properties"]["households"]} == {OWN}
    # one regency only
    own = json.loads(client.get(f"/gis/geojson/villages?regency={OWN}&k=2", headers=tokens[username]).data)
    assert {f["id"][:5] for f in own["features"]} == {OWN}
    assert len(own["features"]) == sql(app, """SELECT count(*) FROM village v JOIN district d ON d.id = v.district_id
                                              WHERE d.regency_id = :r""", r=own_regency_id)[0][0]
    assert client.get("/gis/geojson/villages?regency=99.99", headers=tokens[username]).status_code == 400


@needs_lampung
def test_province_villages_at_low_zoom_stay_small(client, tokens):
    r = client.get("/gis/geojson/villages?zoom=8", headers=tokens["admin"])
    assert r.status_code == 200
    size = len(r.data)
    assert size < PROVINCE_Z8_LIMIT, size
    body = json.loads(r.data)
    assert len(body["features"]) == 2640 and all(f["geometry"] for f in body["features"])
    zipped = client.get("/gis/geojson/villages?zoom=8", headers={**tokens["admin"], "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and len(zipped.data) < PROVINCE_Z8_GZIP_LIMIT
    detailed = client.get("/gis/geojson/villages?zoom=13", headers=tokens["admin"])
    assert len(detailed.data) > size * 1.5
    # simplify= in degrees works too, and zoom 8 equals simplify of one z8 pixel
    coarse = client.get("/gis/geojson/villages?simplify=0.02", headers=tokens["admin"])
    assert len(coarse.data) < size
    for bad in ("zoom=99", "zoom=x", "simplify=-1", "simplify=abc", "k=9"):
        assert client.get(f"/gis/geojson/villages?{bad}", headers=tokens["admin"]).status_code == 400, bad


def test_villages_bbox(app, client, tokens):
    r = client.get("/gis/geojson/villages?bbox=105.2,-5.45,105.3,-5.35", headers=tokens["admin"])
    codes = {f["id"] for f in json.loads(r.data)["features"]}
    assert codes == {row[0] for row in sql(app, """SELECT code FROM village
                     WHERE ST_Intersects(geom, ST_MakeEnvelope(105.2,-5.45,105.3,-5.35,4326))""")}


def test_area_borders_public_and_cached(app, client):
    r = client.get("/gis/geojson/regencies?zoom=8")
    assert r.status_code == 200 and "public" in r.headers["Cache-Control"] and r.headers["ETag"]
    assert len(r.json["features"]) == 15
    assert client.get("/gis/geojson/regencies?zoom=8", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    districts = client.get(f"/gis/geojson/districts?regency={OWN}&zoom=9").json["features"]
    assert districts and {f["properties"]["regency_code"] for f in districts} == {OWN}


# --- OGC API - Features -----------------------------------------------------------------------

def rels(doc) -> dict:
    return {l["rel"]: l for l in doc["links"]}


def test_ogc_landing_conformance_and_api(client):
    r = client.get("/ogc/")
    assert r.status_code == 200 and r.mimetype == "application/json"
    links = rels(r.json)
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    assert links["data"]["type"] == "application/json"
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    conf = client.get(urlparse(links["conformance"]["href"]).path).json["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf
    api = client.get(urlparse(links["service-desc"]["href"]).path)
    assert api.status_code == 200 and api.json["openapi"].startswith("3.0")
    limit = api.json["components"]["parameters"]["limit"]["schema"]
    assert (limit["default"], limit["maximum"]) == (10, 10_000)
    assert "/collections/villages/items" in api.json["paths"]
    assert client.get("/ogc/?f=html").status_code == 400
    assert client.get("/ogc/?foo=1").status_code == 400


def test_ogc_collections(client, tokens):
    anonymous = client.get("/ogc/collections")
    assert anonymous.status_code == 200 and anonymous.mimetype == "application/json"
    # zones' items need a login: not listed to anonymous callers (GDAL would meet a 401)
    assert {c["id"] for c in anonymous.json["collections"]} == {"regencies", "districts", "villages"}
    r = client.get("/ogc/collections", headers=tokens["op1807"])
    collections = {c["id"]: c for c in r.json["collections"]}
    assert set(collections) == {"regencies", "districts", "villages", "zones"}
    for cid, c in collections.items():
        assert c["title"] and c["itemType"] == "feature"
        bbox = c["extent"]["spatial"]["bbox"][0]
        assert 103 < bbox[0] < bbox[2] < 107 and -7 < bbox[1] < bbox[3] < -3
        assert c["extent"]["spatial"]["crs"] == CRS84 and CRS84 in c["crs"] and c["storageCrs"] == CRS84
        links = rels(c)
        assert links["items"]["type"] == GEOJSON and links["items"]["href"].endswith(f"/ogc/collections/{cid}/items")
        one = client.get(f"/ogc/collections/{cid}", headers=tokens["op1807"])
        assert one.status_code == 200 and one.json["id"] == cid and rels(one.json)["self"]
    missing = client.get("/ogc/collections/households")
    assert missing.status_code == 404 and missing.json["code"] == "NotFound"
    assert client.get("/ogc/collections/households/items").status_code == 404


def test_ogc_items_paging(app, client):
    first = client.get("/ogc/collections/villages/items")
    assert first.status_code == 200 and first.mimetype == GEOJSON
    body = first.json
    total = sql(app, "SELECT count(*) FROM village")[0][0]
    assert body["type"] == "FeatureCollection" and body["numberMatched"] == total
    assert body["numberReturned"] == len(body["features"]) == 10
    assert body["timeStamp"]
    links = rels(body)
    assert {"self", "alternate", "next"} <= set(links) and "prev" not in links
    assert links["next"]["type"] == GEOJSON
    seen = [f["id"] for f in body["features"]]
    url = links["next"]["href"]
    for _ in range(3):
        page = client.get(url).json
        assert page["numberReturned"] == 10
        assert rels(page)["prev"]
        seen += [f["id"] for f in page["features"]]
        url = rels(page)["next"]["href"]
    assert len(seen) == len(set(seen)) == 40
    assert seen == [r[0] for r in sql(app, "SELECT code FROM village ORDER BY code LIMIT 40")]
    q = parse_qs(urlparse(url).query)
    assert q["offset"] == ["40"] and q["limit"] == ["10"]
    page = client.get("/ogc/collections/villages/items?limit=25&offset=100").json
    assert [f["id"] for f in page["features"]] == \
        [r[0] for r in sql(app, "SELECT code FROM village ORDER BY code LIMIT 25 OFFSET 100")]
    last = client.get(f"/ogc/collections/villages/items?limit=100&offset={total - 5}").json
    assert last["numberReturned"] == 5 and "next" not in rels(last)
    past = client.get(f"/ogc/collections/villages/items?offset={total + 10}").json
    assert past["numberReturned"] == 0 and past["features"] == []
    everything = client.get("/ogc/collections/villages/items?limit=50000").json  # cut to the maximum
    assert everything["numberReturned"] == total
    f = everything["features"][0]
    assert set(f["properties"]) == {"code", "name", "kind", "district_code", "district", "regency_code", "regency"}


def test_ogc_bbox_filter(app, client):
    bbox = (105.2, -5.45, 105.3, -5.35)
    for cid, table in (("villages", "village"), ("districts", "district"), ("regencies", "regency")):
        r = client.get(f"/ogc/collections/{cid}/items?bbox={','.join(map(str, bbox))}&limit=10000")
        assert r.status_code == 200
        got = {f["id"] for f in r.json["features"]}
        expected = {row[0] for row in sql(app, f"""SELECT code FROM {table}
                    WHERE ST_Intersects(geom, ST_MakeEnvelope(:a, :b, :c, :d, 4326))""",
                                          a=bbox[0], b=bbox[1], c=bbox[2], d=bbox[3])}
        assert got == expected and r.json["numberMatched"] == len(expected)
    own = client.get(f"/ogc/collections/villages/items?regency_code={OWN}&limit=10000").json
    assert {f["properties"]["regency_code"] for f in own["features"]} == {OWN}


@pytest.mark.parametrize("query", ["bbox=1,2,3", "bbox=a,b,c,d", "bbox=106,-5,105,-4", "bbox=0,-95,1,1",
                                   "limit=0", "limit=-5", "limit=ten", "offset=-1", "offset=x", "f=xml",
                                   "datetime=yesterday", "crs=EPSG:3857", "unknown=1",
                                   "offset=99999999999999999999", "regency_code=%00", "name=a%00b",
                                   "filter=nosuch%3D1", "filter=name%3D", "filter-lang=cql-json"])
def test_ogc_bad_parameters_answer_400(client, query):
    r = client.get(f"/ogc/collections/villages/items?{query}")
    assert r.status_code == 400, query
    assert r.json["code"] and r.json["description"]


def test_ogc_single_item(client, tokens):
    r = client.get("/ogc/collections/villages/items/18.07.01.2001")
    assert r.status_code == 200 and r.mimetype == GEOJSON
    assert r.json["type"] == "Feature" and r.json["id"] == "18.07.01.2001"
    assert r.json["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert {"self", "collection"} <= set(rels(r.json))
    assert client.get("/ogc/collections/regencies/items/18.07").json["properties"]["name"]
    assert client.get("/ogc/collections/villages/items/18.07.99.9999").status_code == 404
    assert client.get("/ogc/collections/zones/items/999999", headers=tokens["admin"]) \
        .status_code == 404
    assert client.get("/ogc/collections/nothing/items/1").status_code == 404


def test_ogc_zones_with_jwt_and_session(app, tokens):
    jwt_client = app.test_client()
    assert jwt_client.get("/ogc/collections/zones/items").status_code == 401
    r = jwt_client.get("/ogc/collections/zones/items?limit=2", headers=tokens["op1807"])
    assert r.status_code == 200 and r.json["numberReturned"] <= 2
    if r.json["numberMatched"] > 2:
        assert rels(r.json)["next"]["href"].endswith("offset=2")
    assert "private" in r.headers["Cache-Control"]
    year = r.json["features"][0]["properties"]["year"]
    by_year = jwt_client.get(f"/ogc/collections/zones/items?datetime={year}-01-01/{year}-12-31",
                             headers=tokens["op1807"]).json
    everything = jwt_client.get("/ogc/collections/zones/items?limit=1000", headers=tokens["op1807"]).json
    assert everything["numberMatched"] == r.json["numberMatched"]
    # Other test modules may have added zones of other years for this regency.
    assert by_year["numberMatched"] == sum(1 for f in everything["features"] if f["properties"]["year"] == year)
    none = jwt_client.get("/ogc/collections/zones/items?datetime=1999", headers=tokens["op1807"]).json
    assert none["numberMatched"] == 0
    session = app.test_client()
    assert session.post("/login/", data={"username": "op1807", "password": DEMO_PASSWORD}).status_code == 302
    assert session.get("/ogc/collections/zones/items").status_code == 200
    assert session.get("/gis/geojson/zones").status_code == 200


def test_zone_writes_are_cleaned_to_the_published_grid(app):
    """A sliver that is valid in doubles but collapses at 6 decimals (what the API and the
    upload could store) is dropped by gis.zones.clean_zone_geometry, the zone write path."""
    from app.extensions import db
    from gis.zones import clean_zone_geometry

    wkt = ("SRID=4326;MULTIPOLYGON(((105 -5,105.01 -5,105.01 -4.99,105 -4.99,105 -5)),"
           "((105.02 -5,105.0200004 -5,105.0200002 -4.9999999,105.02 -5)))")
    raw_rounded_valid = sql(app, "SELECT ST_IsValid(ST_GeomFromGeoJSON(ST_AsGeoJSON(ST_GeomFromEWKT(:w), 6)))",
                            w=wkt)[0][0]
    assert raw_rounded_valid is False  # the problem this guards against
    with app.app_context():
        cleaned = clean_zone_geometry(db.session, wkt)
        valid, parts, rounded_valid = db.session.execute(text(
            "SELECT ST_IsValid(g), ST_NumGeometries(g), ST_IsValid(ST_GeomFromGeoJSON(ST_AsGeoJSON(g, 6))) "
            "FROM (SELECT CAST(:g AS geometry) g) s"), {"g": cleaned.desc}).one()
        db.session.rollback()
    assert (valid, parts, rounded_valid) == (True, 1, True)


# --- the village map's search box ---------------------------------------------------------------

def test_village_search_finds_by_words_and_code_within_the_users_area(app, client, tokens):
    code, name = sql(app, """SELECT v.code, v.name FROM village v JOIN district d ON d.id = v.district_id
                             JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.01' AND v.name LIKE '% %'
                             ORDER BY v.code LIMIT 1""")[0]
    words = name.split()
    r = client.get(f"/gis/geojson/villages/search?q={words[-1].lower()}+{words[0].upper()}", headers=tokens["bappeda"])
    assert r.status_code == 200
    found = r.get_json()["villages"]
    assert code in [v["code"] for v in found] and len(found) <= 10
    expected = sql(app, """SELECT count(*) FROM village WHERE name ILIKE :a AND name ILIKE :b""",
                   a=f"%{words[-1]}%", b=f"%{words[0]}%")[0][0]
    assert len(found) == min(expected, 10)
    hit = next(v for v in found if v["code"] == code)
    minx, miny, maxx, maxy = sql(app, "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) "
                                      "FROM village WHERE code = :c", c=code)[0]
    assert hit["bbox"] == pytest.approx([minx, miny, maxx, maxy], abs=1e-6) and hit["district"] and hit["regency"]
    # the exact code comes first
    assert client.get(f"/gis/geojson/villages/search?q={code}", headers=tokens["bappeda"]).get_json()["villages"][0][
        "code"] == code
    # Lampung Timur's operator searches Lampung Timur only, whatever regency is asked for
    for url in (f"/gis/geojson/villages/search?q={code}", f"/gis/geojson/villages/search?q={code}&regency=18.01"):
        r = client.get(url, headers=tokens["op1807"])
        assert r.status_code == 200 and r.get_json()["villages"] == [], url
    own = client.get("/gis/geojson/villages/search?q=18.07.01", headers=tokens["op1807"]).get_json()["villages"]
    assert own and all(v["code"].startswith("18.07.") for v in own)


@pytest.mark.parametrize("q", ["%", "_", "\\", "' OR 1=1 --", "", "   ", "x" * 500])
def test_village_search_takes_any_text_literally(app, client, tokens, q):
    r = client.get("/gis/geojson/villages/search", query_string={"q": q}, headers=tokens["bappeda"])
    assert r.status_code == 200 and r.get_json()["villages"] == []


def test_village_search_names_a_bad_regency(app, client, tokens):
    r = client.get("/gis/geojson/villages/search?q=suka&regency=99", headers=tokens["bappeda"])
    assert r.status_code == 400 and "regency" in r.get_data(as_text=True)
