"""Geo downloads for QGIS (gis/geo_export.py): GeoPackage and GeoJSON of the villages with
their measures and of the priority zones, per role, with the village map's filters.

Runs on the session app (real Lampung areas, demo users, demo seed). Which villages and
zones a user should get is written here in SQL from domain.md (the regency of each row),
not taken from the code under test; the measures are compared with
``gis.queries.village_measures`` / ``gaps_by_zone`` for the user's own scope, as the
village map shows them.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import text

from tests.conftest import DEMO_PASSWORD, needs_lampung

OWN = "18.07"  # Lampung Timur, op1807's regency
OTHER = "18.01"
GPKG = "/gis/export/sinergi.gpkg"
VILLAGES = "/gis/export/villages.geojson"
ZONES = "/gis/export/zones.geojson"
SAFE_DISPOSITION = re.compile(r'^attachment; filename="?[A-Za-z0-9][A-Za-z0-9._-]*\.(gpkg|geojson)"?$')
INT_FIELDS = ("tahun", "desil_maks", "jml_rt", "desil1", "desil2", "desil3", "desil4", "desil5_10", "penerima", "tanpa_program",
              "prog_1", "prog_2", "prog_3plus", "tumpang_tindih", "belum_jangkau")
TEXT_FIELDS = ("kode_desa", "nama_desa", "jenis", "kode_kec", "kecamatan", "kode_kab", "kabupaten", "nama_zona")


# --- helpers ----------------------------------------------------------------------------------

def sql(app, statement: str, **params):
    from app.extensions import db

    with app.app_context():
        rows = db.session.execute(text(statement), params).fetchall()
        db.session.rollback()
        return rows


def login(app, username: str):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD}, follow_redirects=False)
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), f"login {username} failed"
    return client


def bearer(app, username: str) -> dict:
    r = app.test_client().post("/api/v1/security/login", json={"username": username, "password": DEMO_PASSWORD,
                                                               "provider": "db"})
    assert r.status_code == 200, r.data
    return {"Authorization": f"Bearer {r.json['access_token']}"}


def scope_of(app, username: str):
    """The user's scope by the app's one scope function (what "the same scope" means)."""
    from app.extensions import appbuilder
    from app.security.scope import scope_for

    with app.app_context():
        return scope_for(appbuilder.sm.find_user(username=username))


def measures(app, scope, year: int, k: int = 1, regency_id=None) -> dict[str, dict]:
    from app.extensions import db
    from gis import queries

    with app.app_context():
        rows = queries.village_measures(db.session.connection(), year, scope, k, regency_id=regency_id)
        db.session.rollback()
    return {r["code"]: dict(r) for r in rows}


def zone_gaps(app, scope, year: int, k: int = 1, regency_id=None) -> dict[str, int]:
    from app.extensions import db
    from gis import queries

    with app.app_context():
        rows = queries.gaps_by_zone(db.session.connection(), year, scope, k, regency_id)
        db.session.rollback()
    return {r["zone_name"]: r["gap_households"] for r in rows}


def last_log_id(app) -> int:
    return sql(app, "SELECT coalesce(max(id), 0) FROM export_log")[0][0]


def logs_since(app, since: int) -> list:
    return sql(app, "SELECT username, what, format, filters, rows FROM export_log WHERE id > :i ORDER BY id", i=since)


def read_layer(path: Path, layer: str) -> tuple[dict, dict, np.ndarray]:
    """(info, {field: values}, geometries as shapely) of one GeoPackage layer, by pyogrio's raw reader."""
    info = pyogrio.read_info(path, layer=layer)
    meta, _fids, geometry, field_data = pyogrio.raw.read(path, layer=layer)
    columns = dict(zip(meta["fields"], field_data))
    return info, columns, shapely.from_wkb(geometry)


def save(response, tmp_path: Path, name: str = "export.gpkg") -> Path:
    path = tmp_path / name
    path.write_bytes(response.data)
    return path


def villages_of(app, regency_code: str | None = None) -> set[str]:
    if regency_code is None:
        return {r[0] for r in sql(app, "SELECT code FROM village")}
    return {r[0] for r in sql(app, """SELECT v.code FROM village v JOIN district d ON d.id = v.district_id
                                      JOIN regency r ON r.id = d.regency_id WHERE r.code = :c""", c=regency_code)}


def zones_for_regency(app, year: int, regency_code: str | None) -> set[int]:
    """Zones of the year a user limited to the regency should get: the regency's own zones and
    the province-wide zones that reach into it (all zones of the year without a regency)."""
    if regency_code is None:
        return {r[0] for r in sql(app, "SELECT id FROM priority_zone WHERE year = :y", y=year)}
    return {r[0] for r in sql(app, """SELECT z.id FROM priority_zone z, regency r
                                      WHERE r.code = :c AND z.year = :y
                                        AND (z.regency_id = r.id OR (z.regency_id IS NULL
                                             AND ST_Intersects(z.geom, r.geom)))""", c=regency_code, y=year)}


def regency_id(app, code: str) -> int:
    return sql(app, "SELECT id FROM regency WHERE code = :c", c=code)[0][0]


def assert_counts_match(columns: dict, expected: dict[str, dict]) -> None:
    """The layer's measures equal village_measures; villages it has no row for hold 0."""
    for i, code in enumerate(columns["kode_desa"]):
        m = expected.get(code)
        got = {f: int(columns[f][i]) for f in ("jml_rt", "desil1", "penerima", "tumpang_tindih", "belum_jangkau")}
        if m is None:
            assert got == dict.fromkeys(got, 0), (code, got)
            assert columns["cakupan_pct"][i] is None or np.isnan(columns["cakupan_pct"][i]), code
            continue
        assert got == {"jml_rt": m["households"], "desil1": m["desil1"], "penerima": m["reached"],
                       "tumpang_tindih": m["multi_program"], "belum_jangkau": m["gaps"]}, code
        assert columns["cakupan_pct"][i] == pytest.approx(float(m["coverage"])), code
        desils = sum(int(columns[f"desil{d}"][i]) for d in (1, 2, 3, 4)) + int(columns["desil5_10"][i])
        programs = sum(int(columns[f][i]) for f in ("tanpa_program", "prog_1", "prog_2", "prog_3plus"))
        assert desils == programs == m["households"], code


@pytest.fixture(scope="module")
def year(app) -> int:
    """The year the village map opens on (the last year with enrolments)."""
    return sql(app, "SELECT max(year) FROM enrolment")[0][0]


# --- who may download ---------------------------------------------------------------------------

@pytest.mark.parametrize("url", [GPKG, VILLAGES, ZONES, GPKG + "?year=2017&k=2"])
def test_anonymous_is_refused(app, url):
    before = last_log_id(app)
    r = app.test_client().get(url)
    assert r.status_code in (401, 302), (url, r.status_code)
    assert b"Feature" not in r.data and not r.data.startswith(b"SQLite")
    assert logs_since(app, before) == []


def test_a_bad_token_is_refused(app):
    r = app.test_client().get(VILLAGES, headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code in (401, 422)


def test_every_staff_role_holds_the_permission(app):
    from app.extensions import appbuilder
    from app.security import roles as R

    with app.app_context():
        for name in (R.BAPPEDA, R.OPERATOR, R.OPD, R.PIMPINAN):
            role = appbuilder.sm.find_role(name)
            assert any(pv.permission.name == "can_export" and pv.view_menu.name == "GeoExportView"
                       for pv in role.permissions), name
        public = appbuilder.sm.find_role(R.PUBLIC)
        assert not any(pv.view_menu.name == "GeoExportView" for pv in public.permissions)


# --- the operator: exactly their regency ----------------------------------------------------------

def test_operator_geopackage_holds_exactly_their_regency(app, tmp_path, year):
    client = login(app, "op1807")
    before = last_log_id(app)
    left_over = set(Path(tempfile.gettempdir()).glob("sinergi-gpkg-*"))
    r = client.get(GPKG)
    assert r.status_code == 200, r.data[:300]
    assert r.mimetype == "application/geopackage+sqlite3"
    assert SAFE_DISPOSITION.match(r.headers["Content-Disposition"]), r.headers["Content-Disposition"]
    assert "no-store" in r.headers["Cache-Control"]
    assert r.data.startswith(b"SQLite format 3\x00")
    assert set(Path(tempfile.gettempdir()).glob("sinergi-gpkg-*")) <= left_over, "temporary GeoPackage left behind"
    path = save(r, tmp_path)

    assert {tuple(layer) for layer in pyogrio.list_layers(path)} == {("desa", "MultiPolygon"),
                                                                      ("zona_prioritas", "MultiPolygon")}
    info, columns, geoms = read_layer(path, "desa")
    assert info["crs"] == "EPSG:4326" and info["geometry_type"] == "MultiPolygon"
    own = villages_of(app, OWN)
    assert len(columns["kode_desa"]) == len(own) == info["features"]
    assert set(columns["kode_desa"]) == own
    assert set(columns["kode_kab"]) == {OWN}
    # typed fields: counts are integers, the coverage a float, the zone flag a boolean
    types = dict(zip(info["fields"], info["dtypes"]))
    assert all(types[f] == "int32" for f in INT_FIELDS), types
    assert types["cakupan_pct"] == "float64" and types["di_zona"] == "bool"
    assert all(types[f] == "object" for f in TEXT_FIELDS)
    assert dict(zip(info["fields"], info["ogr_subtypes"]))["di_zona"] == "OFSTBoolean"
    assert set(columns["tahun"]) == {year} and set(columns["desil_maks"]) == {1}

    expected = measures(app, scope_of(app, "op1807"), year)
    assert expected and set(expected) <= own
    assert_counts_match(columns, expected)
    assert int(columns["jml_rt"].sum()) == sql(app, """
        SELECT count(*) FROM household h JOIN village v ON v.id = h.village_id
        JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id WHERE r.code = :c""",
        c=OWN)[0][0]

    # geometry: valid MultiPolygons, the stored ones exactly
    assert all(g.geom_type == "MultiPolygon" and g.is_valid for g in geoms)
    stored = {code: shapely.from_wkb(bytes(wkb)) for code, wkb in sql(
        app, "SELECT code, ST_AsBinary(geom) FROM village WHERE code = ANY(:c)", c=list(own))}
    assert all(shapely.equals_exact(g, stored[c], tolerance=0) for c, g in zip(columns["kode_desa"], geoms))

    # the zones layer: only zones of their regency and province-wide zones reaching into it
    zinfo, zones, zgeoms = read_layer(path, "zona_prioritas")
    assert zinfo["crs"] == "EPSG:4326"
    assert set(int(z) for z in zones["id_zona"]) == zones_for_regency(app, year, OWN)
    assert set(zones["kode_kab"]) <= {OWN, None}
    assert all(g.is_valid and g.geom_type == "MultiPolygon" for g in zgeoms)
    gaps = zone_gaps(app, scope_of(app, "op1807"), year, regency_id=regency_id(app, OWN))
    for name, gap in zip(zones["nama_zona"], zones["belum_jangkau"]):
        assert gaps[name] == gap, name

    # logged: one line per layer, with the row counts and the filters
    logs = logs_since(app, before)
    assert [(u, w, f, n) for u, w, f, _flt, n in logs] == [
        ("op1807", "geo:villages", "gpkg", len(own)), ("op1807", "geo:zones", "gpkg", len(zones["id_zona"]))]
    assert logs[0][3] == {"year": year, "k": 1, "regency": OWN}


def test_operator_geojson_is_their_regency_and_logged(app, year):
    client = login(app, "op1807")
    before = last_log_id(app)
    r = client.get(f"{VILLAGES}?year={year}&k=2&regency={OWN}&measure=gaps")
    assert r.status_code == 200 and r.mimetype == "application/geo+json"
    assert SAFE_DISPOSITION.match(r.headers["Content-Disposition"]), r.headers["Content-Disposition"]
    doc = json.loads(r.data)
    codes = [f["properties"]["kode_desa"] for f in doc["features"]]
    assert set(codes) == villages_of(app, OWN) and len(codes) == len(set(codes))
    expected = measures(app, scope_of(app, "op1807"), year, k=2)
    for f in doc["features"]:
        p, m = f["properties"], expected.get(f["properties"]["kode_desa"])
        assert f["id"] == p["kode_desa"]
        assert p["belum_jangkau"] == (m["gaps"] if m else 0) and p["desil_maks"] == 2
    assert logs_since(app, before) == [("op1807", "geo:villages", "geojson", {"year": year, "k": 2, "regency": OWN},
                                        len(codes))]


def test_operator_cannot_ask_for_another_regency(app):
    client = login(app, "op1807")
    before = last_log_id(app)
    for url in (GPKG, VILLAGES, ZONES):
        r = client.get(f"{url}?regency={OTHER}")
        assert r.status_code == 403, (url, r.status_code)
        assert b"Feature" not in r.data
    assert logs_since(app, before) == []


@pytest.mark.parametrize("query, name", [("year=abc", "year"), ("year=1990", "year"), ("k=9", "k"),
                                         ("regency=99.99", "regency"), ("regency=x", "regency")])
def test_bad_parameters_are_named(app, query, name):
    r = login(app, "bappeda").get(f"{VILLAGES}?{query}")
    assert r.status_code == 400, (query, r.status_code)
    assert r.json["message"].startswith(name), r.json


# --- Bappeda: the province ------------------------------------------------------------------------

@needs_lampung
def test_bappeda_geojson_holds_the_province(app, year):
    headers = bearer(app, "bappeda")  # JWT, as QGIS or a script would call it
    before = last_log_id(app)
    r = app.test_client().get(f"{VILLAGES}?year={year}", headers=headers)
    assert r.status_code == 200, r.data[:300]
    doc = json.loads(r.data)
    assert doc["type"] == "FeatureCollection" and doc["name"] == "desa" and "crs" not in doc
    assert doc["year"] == year and doc["k"] == 1 and doc["regency"] is None
    features = doc["features"]
    assert {f["properties"]["kode_desa"] for f in features} == villages_of(app) and len(features) == 2640
    expected = measures(app, scope_of(app, "bappeda"), year)
    columns = {name: np.array([f["properties"][name] for f in features], dtype=object)
               for name in features[0]["properties"]}
    columns["cakupan_pct"] = np.array([np.nan if v is None else v for v in columns["cakupan_pct"]], dtype=float)
    assert_counts_match(columns, expected)
    for f in features:
        p = f["properties"]
        assert all(type(p[name]) is int for name in INT_FIELDS), p
        assert p["cakupan_pct"] is None or type(p["cakupan_pct"]) is float
        assert type(p["di_zona"]) is bool and (p["nama_zona"] is not None) == p["di_zona"]
        geom = shape(f["geometry"])
        assert geom.geom_type == "MultiPolygon" and geom.is_valid, p["kode_desa"]
        # RFC 7946: lon/lat, exterior rings counter-clockwise, holes clockwise
        assert all(poly.exterior.is_ccw and not any(i.is_ccw for i in poly.interiors) for poly in geom.geoms)
        minx, miny, maxx, maxy = geom.bounds
        assert 103 < minx < maxx < 107 and -7 < miny < maxy < -3
    assert logs_since(app, before) == [("bappeda", "geo:villages", "geojson", {"year": year, "k": 1,
                                                                               "regency": None}, 2640)]


@needs_lampung
def test_bappeda_geopackage_holds_the_province_and_every_zone(app, tmp_path, year):
    r = login(app, "bappeda").get(f"{GPKG}?year={year}")
    assert r.status_code == 200
    path = save(r, tmp_path)
    info, columns, geoms = read_layer(path, "desa")
    assert info["features"] == 2640 and set(columns["kode_desa"]) == villages_of(app)
    assert_counts_match(columns, measures(app, scope_of(app, "bappeda"), year))
    assert all(g.is_valid for g in geoms)
    _zinfo, zones, _zgeoms = read_layer(path, "zona_prioritas")
    assert set(int(z) for z in zones["id_zona"]) == zones_for_regency(app, year, None)
    gaps = zone_gaps(app, scope_of(app, "bappeda"), year)
    assert dict(zip(zones["nama_zona"], (int(g) for g in zones["belum_jangkau"]))) == gaps
    # villages flagged as in a zone lie more than half inside one of the year's zones
    flagged = {c for c, z in zip(columns["kode_desa"], columns["di_zona"]) if z}
    assert flagged == {r[0] for r in sql(app, """
        SELECT DISTINCT v.code FROM village v JOIN priority_zone z ON ST_Intersects(z.geom, v.geom)
        WHERE z.year = :y AND ST_Area(ST_Intersection(z.geom, v.geom)) > 0.5 * ST_Area(v.geom)""", y=year)}


def test_bappeda_can_limit_to_a_regency(app, tmp_path, year):
    r = login(app, "bappeda").get(f"{GPKG}?regency={OWN}&year={year}")
    assert r.status_code == 200
    assert OWN.replace(".", "") in r.headers["Content-Disposition"]
    path = save(r, tmp_path)
    _info, columns, _geoms = read_layer(path, "desa")
    assert set(columns["kode_desa"]) == villages_of(app, OWN)
    _zinfo, zones, _zgeoms = read_layer(path, "zona_prioritas")
    assert set(int(z) for z in zones["id_zona"]) == zones_for_regency(app, year, OWN)


def test_zones_geojson_is_valid_and_scoped(app, year):
    client = login(app, "op1807")
    r = client.get(f"{ZONES}?year={year}")
    assert r.status_code == 200
    doc = json.loads(r.data)
    assert doc["name"] == "zona_prioritas" and "crs" not in doc
    assert {f["properties"]["id_zona"] for f in doc["features"]} == zones_for_regency(app, year, OWN)
    for f in doc["features"]:
        geom = shape(f["geometry"])
        # all stored decimals: rounding made demo zones (unions with slivers) invalid
        assert geom.is_valid and geom.geom_type == "MultiPolygon", f["properties"]["nama_zona"]
        assert type(f["properties"]["jml_rt"]) is int and type(f["properties"]["prioritas"]) is int
    everything = json.loads(login(app, "bappeda").get(f"{ZONES}?year={year}").data)
    assert {f["properties"]["id_zona"] for f in everything["features"]} == zones_for_regency(app, year, None)


def test_a_year_without_zones_gives_empty_layers_with_their_fields(app, tmp_path):
    r = login(app, "bappeda").get(f"{GPKG}?year=2001&regency={OWN}")
    assert r.status_code == 200
    path = save(r, tmp_path)
    info, columns, _geoms = read_layer(path, "zona_prioritas")
    assert info["features"] == 0 and "belum_jangkau" in info["fields"]
    _vinfo, villages, _vgeoms = read_layer(path, "desa")
    assert set(villages["kode_desa"]) == villages_of(app, OWN) and int(villages["jml_rt"].sum()) > 0
    assert int(villages["penerima"].sum()) == 0  # no enrolment in 2001


# --- OPD and Pimpinan ---------------------------------------------------------------------------

@needs_lampung
def test_opd_gets_every_village_counted_over_their_agency(app, tmp_path):
    """As on the village map: every village, measures over the OPD's scope (households of the
    regencies their programs cover, enrolments of their programs); the zones of the year."""
    year = 2017  # the demo programs' year (other tests add enrolments of their own in later years)
    username = "opd_dinkop_lamtim"
    r = login(app, username).get(f"{GPKG}?year={year}")
    assert r.status_code == 200, r.data[:300]
    path = save(r, tmp_path)
    _info, columns, _geoms = read_layer(path, "desa")
    assert set(columns["kode_desa"]) == villages_of(app)
    assert_counts_match(columns, measures(app, scope_of(app, username), year))
    agency = sql(app, "SELECT agency_id FROM ab_user WHERE username = :u", u=username)[0][0]
    reachable = """SELECT h.id FROM household h JOIN village v ON v.id = h.village_id
                   JOIN district d ON d.id = v.district_id
                   WHERE d.regency_id IN (SELECT pr.regency_id FROM program_regency pr
                                          JOIN program p ON p.id = pr.program_id WHERE p.agency_id = :a
                                          UNION SELECT regency_id FROM agency WHERE id = :a)"""
    assert int(columns["jml_rt"].sum()) == sql(app, f"SELECT count(*) FROM ({reachable}) h", a=agency)[0][0]
    enrolled = sql(app, f"""SELECT count(DISTINCT e.household_id) FROM enrolment e
                            JOIN program p ON p.id = e.program_id
                            WHERE p.agency_id = :a AND e.year = :y
                              AND e.status IN ('usulan', 'ditetapkan', 'disalurkan')
                              AND e.household_id IN ({reachable})""", a=agency, y=year)[0][0]
    assert enrolled > 0 and int(columns["penerima"].sum()) == enrolled
    _zinfo, zones, _zgeoms = read_layer(path, "zona_prioritas")
    assert set(int(z) for z in zones["id_zona"]) == zones_for_regency(app, year, None)


@needs_lampung
def test_pimpinan_gets_the_province_read_only_figures(app, year):
    r = login(app, "pimpinan").get(f"{VILLAGES}?year={year}")
    assert r.status_code == 200
    doc = json.loads(r.data)
    assert len(doc["features"]) == 2640
    expected = measures(app, scope_of(app, "pimpinan"), year)
    assert sum(f["properties"]["jml_rt"] for f in doc["features"]) == sum(m["households"] for m in expected.values())
    # aggregates only: nothing about a person
    assert not {"no_kk", "nik", "head_name"} & set(doc["features"][0]["properties"])


# --- the buttons on the village map ---------------------------------------------------------------

def test_the_village_map_offers_the_downloads_with_its_filters(app, year):
    client = login(app, "op1807")
    page = client.get(f"/maps/villages/?year={year}&k=2&measure=gaps")
    assert page.status_code == 200
    html = page.text
    for path in (GPKG, VILLAGES, ZONES):
        assert f'data-sinergi-export="{path}"' in html, path
        assert re.search(rf'href="{re.escape(path)}\?[^"]*year={year}', html), path
    downloads = html.split('id="sinergi-map-downloads"', 1)[1].split("</ul>", 1)[0]
    assert downloads.count("k=2") == 3 and "measure=" not in downloads  # the colour is no filter
    # the household map has no such downloads
    assert 'id="sinergi-map-downloads"' not in client.get("/maps/households/").text
    # a link from the page works as it is
    href = re.search(r'id="sinergi-export-gpkg" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert client.get(href).status_code == 200
