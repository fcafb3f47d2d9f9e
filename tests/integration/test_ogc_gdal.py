"""GIS clients read every layer right: GDAL's OAPIF driver (what QGIS uses) against the
served app (gunicorn, ``live_server``), as each role, with the real ``ogrinfo``/``ogr2ogr``
of GDAL 3.6 (Debian 12; scripts/bootstrap.sh --test installs gdal-bin).

What GDAL reads is loaded into the test database by ogr2ogr and checked there with PostGIS:
the count equals what the user's scope allows, no geometry is missing or invalid, and GDAL
printed no warning or error (a 401 on a listed collection, a ring of too few points, an
unsupported GeoPackage version all show up on stderr)."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tests.conftest import DEMO_PASSWORD, TEST_URL, sql

pytestmark = pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="GDAL (gdal-bin) is not installed")

ROLES = [None, "bappeda", "pimpinan", "op1807"]
AREAS = {"regencies": "regency", "districts": "district", "villages": "village"}
OWN = "18.07"


def _pg_conninfo() -> str:
    url = make_url(TEST_URL)
    parts = [f"dbname={url.database}", f"host={url.host or '127.0.0.1'}", f"port={url.port or 5432}",
             f"user={url.username or 'postgres'}"]
    if url.password:
        parts.append(f"password={url.password}")
    return "PG:" + " ".join(parts)




def http(url: str, token: str | None = None, data: dict | None = None):
    """(status, content type, body bytes) of a GET (or a JSON POST when ``data``)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


@pytest.fixture(scope="module")
def tokens(live_server):
    out = {None: None}
    for user in ROLES[1:] + ["admin"]:
        status, _, body = http(f"{live_server}/api/v1/security/login", data={
            "username": user, "password": DEMO_PASSWORD, "provider": "db"})
        assert status == 200, body
        out[user] = json.loads(body)["access_token"]
    return out


def gdal(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    config = ["--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {token}"] if token else []
    # GDAL_HTTP_UNSAFESSL etc. are not needed: plain http on 127.0.0.1
    return subprocess.run([args[0], *config, *args[1:]], capture_output=True, text=True, timeout=600)


def gdal_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and ("Warning" in line or "ERROR" in line)]


def load(app, live_server, layer: str, token: str | None, table: str, where: str | None = None) -> tuple:
    """ogr2ogr the OAPIF layer into ``table`` of the test database; returns (stderr problems,
    rows, missing geometries, invalid geometries)."""
    args = ["ogr2ogr", "-f", "PostgreSQL", _pg_conninfo(), f"OAPIF:{live_server}/ogc/", layer, "-nln", table,
            "-overwrite", "-lco", "GEOMETRY_NAME=geom", "-lco", "FID=gdal_fid", "-nlt", "PROMOTE_TO_MULTI"]
    if where:
        args += ["-where", where]
    result = gdal(*args, token=token)
    assert result.returncode == 0, result.stderr
    n, missing, invalid = sql(app, f"""SELECT count(*), count(*) FILTER (WHERE geom IS NULL OR ST_IsEmpty(geom)),
                                              count(*) FILTER (WHERE NOT ST_IsValid(geom))
                                       FROM "{table}" """)[0]
    return gdal_problems(result.stderr), n, missing, invalid


def scoped_zone_count(app, username: str | None, year: int | None = None) -> int:
    """What the user's scope allows (of one year, if given), counted by SQL through the one
    scope function."""
    from app.extensions import appbuilder, db
    from app.models.zones import PriorityZone
    from app.security.scope import in_scope, scope_for

    with app.app_context():
        user = appbuilder.sm.find_user(username=username)
        query = select(func.count()).select_from(PriorityZone).where(in_scope(PriorityZone, scope_for(user)))
        if year is not None:
            query = query.where(PriorityZone.year == year)
        n = db.session.execute(query).scalar_one()
        db.session.rollback()
        return n


# --- every collection, every role ------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_gdal_reads_every_collection_as_each_role(app, live_server, tokens, role):
    token = tokens[role]
    listing = gdal("ogrinfo", "-ro", "-q", f"OAPIF:{live_server}/ogc/", token=token)
    assert listing.returncode == 0 and not gdal_problems(listing.stderr), listing.stderr
    expected = {name: sql(app, f"SELECT count(*) FROM {table}")[0][0] for name, table in AREAS.items()}
    if role is not None:
        expected["zones"] = scoped_zone_count(app, role)
        assert expected["zones"] > 0
    listed = {line.split(":", 1)[1].strip().split(" ")[0] for line in listing.stdout.splitlines()
              if line[:1].isdigit() and ":" in line}
    # anonymous: no collection whose items need a login (GDAL met a 401 there before)
    assert listed == set(expected), listing.stdout
    for layer, count in expected.items():
        table = f"gdal_{layer}_{role or 'anon'}"
        problems, n, missing, invalid = load(app, live_server, layer, token, table)
        try:
            assert problems == [], (layer, problems)
            assert (n, missing, invalid) == (count, 0, 0), layer
        finally:
            sql(app, f'DROP TABLE IF EXISTS "{table}"')


def test_zones_arrive_valid_at_the_published_precision(app, live_server, tokens):
    """Every zone read back from /ogc/ and /gis/geojson/zones (6 decimals) is a valid polygon."""
    status, _, body = http(f"{live_server}/gis/geojson/zones", tokens["bappeda"])
    assert status == 200
    features = json.loads(body)["features"]
    assert len(features) == scoped_zone_count(app, "bappeda")
    invalid = sql(app, """SELECT count(*) FROM unnest(CAST(:g AS text[])) g
                          WHERE NOT ST_IsValid(ST_GeomFromGeoJSON(g))""",
                  g=[json.dumps(f["geometry"]) for f in features])[0][0]
    assert invalid == 0


# --- server-side filters ---------------------------------------------------------------------

def test_where_on_a_property_gives_the_right_answer(app, live_server, tokens):
    """``-where "regency='<name>'"``: GDAL sends ?regency=<name> (the API lists the property as
    a parameter); it used to clash with a regency *code* parameter (400, or 264 wrong features)."""
    name = sql(app, "SELECT name FROM regency WHERE code = :c", c=OWN)[0][0]
    for layer, table in (("villages", "village"), ("districts", "district")):
        expected = sql(app, f"""SELECT count(*) FROM {table} t JOIN {'district d ON d.id = t.district_id JOIN '
                                if table == 'village' else ''}regency r ON r.id = {'d' if table == 'village'
                                else 't'}.regency_id WHERE r.name = :n""", n=name)[0][0]
        assert expected > 0
        target = f"gdal_where_{layer}"
        problems, n, missing, invalid = load(app, live_server, layer, None, target, where=f"regency='{name}'")
        try:
            assert problems == [] and (n, missing, invalid) == (expected, 0, 0), (layer, problems)
            assert {r[0] for r in sql(app, f'SELECT DISTINCT regency FROM "{target}"')} == {name}
        finally:
            sql(app, f'DROP TABLE IF EXISTS "{target}"')
    # the same through the HTTP parameters
    q = urllib.parse.urlencode({"regency": name, "limit": 10000})
    status, _, body = http(f"{live_server}/ogc/collections/villages/items?{q}")
    doc = json.loads(body)
    assert status == 200 and {f["properties"]["regency"] for f in doc["features"]} == {name}
    status, _, body = http(f"{live_server}/ogc/collections/villages/items?regency={OWN}")
    assert status == 200 and json.loads(body)["numberMatched"] == 0  # a code is not a name
    status, _, body = http(f"{live_server}/ogc/collections/villages/items?regency_code={OWN}&limit=1")
    assert json.loads(body)["numberMatched"] == sql(app, """SELECT count(*) FROM village v JOIN district d
        ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id WHERE r.code = :c""", c=OWN)[0][0]


def test_queryables_and_cql2_filter(app, live_server, tokens):
    status, ctype, body = http(f"{live_server}/ogc/collections/villages/queryables")
    assert status == 200 and ctype.startswith("application/schema+json")
    schema = json.loads(body)
    assert schema["type"] == "object" and {"code", "name", "kind", "regency", "regency_code"} <= set(
        schema["properties"])
    status, _, body = http(f"{live_server}/ogc/conformance")
    conf = json.loads(body)["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in conf
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in conf

    expected = sql(app, """SELECT count(*) FROM village v JOIN district d ON d.id = v.district_id
                           JOIN regency r ON r.id = d.regency_id WHERE r.code = :c AND v.kind = 'desa'""",
                   c=OWN)[0][0]
    cql = f"regency_code = '{OWN}' AND kind = 'desa'"
    q = urllib.parse.urlencode({"filter": cql, "filter-lang": "cql2-text", "limit": 10000})
    status, _, body = http(f"{live_server}/ogc/collections/villages/items?{q}")
    doc = json.loads(body)
    assert status == 200 and doc["numberMatched"] == len(doc["features"]) == expected > 0
    assert {(f["properties"]["regency_code"], f["properties"]["kind"]) for f in doc["features"]} == {(OWN, "desa")}

    # zones: year and LIKE on text, scoped
    zone_year = sql(app, "SELECT max(year) FROM priority_zone")[0][0]
    q = urllib.parse.urlencode({"filter": f"year = {zone_year} AND name LIKE '%'"})
    status, _, body = http(f"{live_server}/ogc/collections/zones/items?{q}", tokens["op1807"])
    assert status == 200 and json.loads(body)["numberMatched"] == scoped_zone_count(app, "op1807", zone_year)

    for bad in ("nosuch = 1", "regency = ", "year = 'x'", "name = 5", "S_INTERSECTS(geometry, POINT(105 -5))",
                "code = 'a\x00b'", "year = 99999999999999999999"):
        for layer, token in (("villages", None), ("zones", tokens["op1807"])):
            q = urllib.parse.urlencode({"filter": bad})
            status, ctype, body = http(f"{live_server}/ogc/collections/{layer}/items?{q}", token)
            if layer == "villages" and bad.startswith("year"):
                continue  # villages have no year: any answer must still be a 400, checked below
            assert status == 400 and ctype.startswith("application/json"), (layer, bad, status, body[:200])
            assert json.loads(body)["description"]
    status, _, _ = http(f"{live_server}/ogc/collections/villages/items?filter=year%3D1")
    assert status == 400
    status, _, _ = http(f"{live_server}/ogc/collections/villages/items?filter=code%3D'1'&filter-lang=cql-json")
    assert status == 400


# --- the GeoPackage download -----------------------------------------------------------------

def test_geopackage_opens_without_warning_in_gdal_36(live_server, tokens, tmp_path):
    status, _, body = http(f"{live_server}/gis/export/sinergi.gpkg", tokens["bappeda"])
    assert status == 200
    path = tmp_path / "sinergi.gpkg"
    path.write_bytes(body)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] in (10200, 10300)  # GeoPackage 1.2 / 1.3
    result = gdal("ogrinfo", "-ro", "-so", "-al", str(path))
    assert result.returncode == 0 and gdal_problems(result.stderr) == [], result.stderr


# --- no parameter gives a 500 ----------------------------------------------------------------

HUGE = "99999999999999999999"
ABUSE = [
    f"/ogc/collections/zones/items/{HUGE}", "/ogc/collections/zones/items/-1", "/ogc/collections/zones/items/%00",
    "/ogc/collections/villages/items/%00", "/ogc/collections/%00", "/ogc/collections/%00/items",
    f"/ogc/collections/villages/items?offset={HUGE}",  # (a huge limit is cut to the maximum: 200)
    "/ogc/collections/villages/items?limit=x", "/ogc/collections/villages/items?bbox=%00",
    "/ogc/collections/villages/items?regency_code=%00", f"/ogc/collections/zones/items?year={HUGE}",
    f"/ogc/collections/zones/items?id={HUGE}", "/ogc/collections/zones/items?year=abc",
    "/ogc/collections/zones/items?datetime=%00", "/ogc/?f=%00", "/ogc/collections/villages/queryables?x=1",
    f"/gis/geojson/households?page={HUGE}", "/gis/geojson/households?page=x", "/gis/geojson/households?limit=-1",
    f"/gis/geojson/households?year={HUGE}", "/gis/geojson/households?regency=%00",
    "/gis/geojson/villages?zoom=-1", f"/gis/geojson/villages?zoom={HUGE}", "/gis/geojson/villages?k=%00",
    "/gis/geojson/villages?simplify=nan", "/gis/geojson/zones?bbox=1,2,3,%00", "/gis/geojson/districts?regency=x",
    f"/gis/tiles/households/{HUGE}/0/0.pbf", "/gis/tiles/households/-1/0/0.pbf", "/gis/tiles/villages/3/-1/0.pbf",
    f"/gis/tiles/villages/3/{HUGE}/0.pbf", "/gis/tiles/villages/a/b/c.pbf", "/gis/tiles/nothing/1/1/1.pbf",
    f"/gis/tiles/households/3/1/1.pbf?year={HUGE}", "/gis/tiles/villages/3/1/1.pbf?k=%00",
    f"/gis/export/villages.geojson?year={HUGE}", "/gis/export/villages.geojson?regency=%00",
    "/gis/export/zones.geojson?k=x",
]


@pytest.mark.parametrize("path", ABUSE)
def test_no_gis_parameter_gives_a_500(live_server, tokens, path):
    status, ctype, body = http(live_server + path, tokens["admin"])
    assert status in (400, 404), (path, status, body[:300])
    assert ctype.startswith("application/json"), (path, ctype)
    message = json.loads(body)
    assert message.get("message") or message.get("description"), message
