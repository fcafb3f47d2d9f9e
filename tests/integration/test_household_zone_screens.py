"""Household and priority-zone screens against a real PostGIS, through Flask's test client.

The operator of Lampung Timur (op1807) adds households with a point (typed latitude and
longitude -> ``location``), is refused points outside Lampung (with the swapped case named),
makes zones from villages (the PostGIS union) or from an uploaded GeoJSON file, and cannot
make zones of another regency. The GeoJSON endpoints of both show pages are scoped and
never send NIK / No KK to a user without the right. Messages are checked in English (the
session language is switched), so the test does not depend on the Indonesian catalog.
"""
from __future__ import annotations

import io
import itertools
import json
import random

import pytest
from sqlalchemy import text

from gis.zones import CLEAN_ZONE_SQL
from tests.conftest import DEMO_PASSWORD, needs_lampung

pytestmark = needs_lampung  # real village codes and points throughout

_serial = itertools.count(random.randrange(1000, 5000))


def new_no_kk() -> str:
    """A valid No KK no demo row uses: area code 18.99.99 does not exist, date 01-01-90."""
    return f"189999010190{next(_serial):04d}"


def login(app, username):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers["Location"], f"login as {username} failed"
    client.get("/lang/en")
    return client


@pytest.fixture(scope="module")
def engine(app):
    """The database engine, for checks. (Not the conftest fixture: that one keeps an app context
    pushed during the test, which the test client's requests would then share — with it
    Flask-Login's cached user, so a second login in the same test would not take effect.)"""
    from app.extensions import db

    with app.app_context():
        return db.engine


@pytest.fixture(scope="module")
def op1807(app):
    return login(app, "op1807")


@pytest.fixture(scope="module")
def admin(app):
    """Only Admin edits a household's point or members directly (app/security/duties.py)."""
    return login(app, "admin")


@pytest.fixture(scope="module")
def lampung_timur(engine):
    """Ids and a few facts of Lampung Timur (18.07) and of another regency (Bandar Lampung)."""
    with engine.connect() as conn:
        regency_id = conn.execute(text("SELECT id FROM regency WHERE code = '18.07'")).scalar_one()
        other_regency_id = conn.execute(text("SELECT id FROM regency WHERE code = '18.71'")).scalar_one()
        # A kecamatan of Lampung Timur with several villages, and a point inside one of them.
        district_id, village_ids = conn.execute(text("""
            SELECT d.id, array_agg(v.id ORDER BY v.code)
            FROM district d JOIN village v ON v.district_id = d.id
            WHERE d.regency_id = :r GROUP BY d.id HAVING count(*) >= 4 ORDER BY d.code LIMIT 1"""),
            {"r": regency_id}).one()
        village_id = village_ids[0]
        lon, lat = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                                     "FROM village WHERE id = :v) s"), {"v": village_id}).one()
        other_village_ids = conn.execute(text("""
            SELECT array_agg(v.id) FROM (SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
            WHERE d.regency_id = :r ORDER BY v.code LIMIT 3) v"""), {"r": other_regency_id}).scalar_one()
        inner_polygon = conn.execute(text("""
            SELECT ST_AsGeoJSON(ST_Buffer(ST_PointOnSurface(geom), 0.01, 8), 9) FROM regency WHERE id = :r"""),
            {"r": regency_id}).scalar_one()
    return {"regency_id": regency_id, "other_regency_id": other_regency_id, "district_id": district_id,
            "village_ids": village_ids, "village_id": village_id, "lon": lon, "lat": lat,
            "other_village_ids": other_village_ids, "inner_polygon": json.loads(inner_polygon)}


def household_form(village_id, lat="", lon="", **extra):
    form = {"no_kk": new_no_kk(), "head_nik": "1807015203990002", "head_name": "Siti Uji Peta", "address": "Jl. Uji",
            "rt": "001", "rw": "002", "village": str(village_id), "latitude": str(lat), "longitude": str(lon),
            "desil": "2", "member_count": "3", "source": "BDT", "source_date": ""}
    form.update(extra)
    return form


def household_row(engine, no_kk):
    with engine.connect() as conn:
        return conn.execute(text("SELECT id, village_id, ST_X(location) AS lon, ST_Y(location) AS lat, "
                                 "ST_SRID(location) AS srid FROM household WHERE no_kk = :k"), {"k": no_kk}).first()


def zone_rows(engine, name):
    with engine.connect() as conn:
        return conn.execute(text("SELECT id, regency_id, GeometryType(geom) AS kind FROM priority_zone "
                                 "WHERE name = :n"), {"n": name}).all()


# --- households ---------------------------------------------------------------------------------

def test_household_added_with_point_and_seen_by_the_operator(app, engine, op1807, admin, lampung_timur):
    """Admin adds (no other role adds a household directly: app/security/duties.py); the
    operator of its regency sees it, with the limited edit form and the map."""
    lt = lampung_timur
    form = household_form(lt["village_id"], f"{lt['lat']:.7f}", f"{lt['lon']:.7f}")
    form["head_name"] = name = f"Siti Peta {form['no_kk'][-6:]}"  # its own name: the village may hold many
    r = admin.post("/householdview/add", data=form)
    assert r.status_code == 302, r.text[:2000]
    row = household_row(engine, form["no_kk"])
    assert row is not None and row.village_id == lt["village_id"] and row.srid == 4326
    assert row.lon == pytest.approx(lt["lon"], abs=1e-7) and row.lat == pytest.approx(lt["lat"], abs=1e-7)

    # Admin's edit form shows the current point (the operator's has none); the show page has the map.
    r = admin.get(f"/householdview/edit/{row.id}")
    assert r.status_code == 200
    assert f'value="{lt["lat"]:.7f}'.rstrip("0") in r.text and 'id="point-picker"' in r.text
    r = op1807.get(f"/householdview/edit/{row.id}")
    assert r.status_code == 200 and 'id="point-picker"' not in r.text and 'id="request-only-note"' in r.text
    r = op1807.get(f"/householdview/show/{row.id}")
    assert r.status_code == 200 and 'id="feature-map"' in r.text and "/householdview/geojson/" in r.text

    # The list filtered by village (the URL a map popup links to) holds it; another village does not.
    r = op1807.get(f"/householdview/list/?_flt_0_village={lt['village_id']}&_flt_2_head_name={name}")
    assert r.status_code == 200 and f"/householdview/show/{row.id}" in r.text
    r = op1807.get(f"/householdview/list/?_flt_0_village={lt['village_ids'][1]}&_flt_2_head_name={name}")
    assert r.status_code == 200 and f"/householdview/show/{row.id}\"" not in r.text


def test_household_without_point_and_decimal_comma(app, engine, op1807, admin, lampung_timur):
    lt = lampung_timur
    form = household_form(lt["village_id"])
    assert admin.post("/householdview/add", data=form).status_code == 302
    row = household_row(engine, form["no_kk"])
    assert row is not None and row.lon is None

    # Edit (Admin): a point typed with decimal commas is stored; then both emptied = no point again.
    edit = dict(form, latitude=f"{lt['lat']:.6f}".replace(".", ","), longitude=f"{lt['lon']:.6f}".replace(".", ","))
    assert admin.post(f"/householdview/edit/{row.id}", data=edit).status_code == 302
    assert household_row(engine, form["no_kk"]).lat == pytest.approx(lt["lat"], abs=1e-6)
    assert admin.post(f"/householdview/edit/{row.id}", data=form).status_code == 302
    assert household_row(engine, form["no_kk"]).lat is None


def _error_near(html: str, field_id: str, message: str) -> bool:
    """The message stands in the form row of the field (after the input, before the next row)."""
    start = html.find(f'id="{field_id}"')
    end = html.find("</tr>", start)
    return start >= 0 and message in html[start:end]


@pytest.mark.parametrize("lat, lon, message", [
    ("-6.2088", "106.8456", "lies outside Lampung"),                                 # Jakarta
    ("105.2", "-5.1", "latitude and longitude look swapped"),                     # swapped, set below
    ("-5.2", "", "Longitude is missing"),
    ("", "105.3", "Latitude is missing"),
    ("lima", "105.3", "is not a number"),
])
def test_bad_point_is_refused_at_the_field(app, engine, op1807, admin, lampung_timur, lat, lon, message):
    lt = lampung_timur
    if message.endswith("swapped"):
        lat, lon = f"{lt['lon']:.6f}", f"{lt['lat']:.6f}"
    form = household_form(lt["village_id"], lat, lon, head_name="Budi Titik Salah")
    r = admin.post("/householdview/add", data=form)
    assert r.status_code == 200  # the form again, not a redirect
    assert _error_near(r.text, "location", message), r.text[r.text.find('id="location"'):][:1500]
    # Nothing typed is lost, nothing written.
    assert f'value="{form["no_kk"]}"' in r.text and 'value="Budi Titik Salah"' in r.text
    assert f'value="{lat}"' in r.text and f'value="{lon}"' in r.text
    assert household_row(engine, form["no_kk"]) is None


def test_bad_numbers_are_refused_at_their_fields(app, engine, op1807, admin, lampung_timur):
    form = household_form(lampung_timur["village_id"], no_kk="12345", head_nik="1807016213990002")
    r = admin.post("/householdview/add", data=form)
    assert r.status_code == 200
    assert _error_near(r.text, "no_kk", "must be exactly 16 digits")
    assert _error_near(r.text, "head_nik", "impossible date")
    assert household_row(engine, "12345") is None


def test_duplicate_no_kk_is_refused(app, engine, op1807, admin, lampung_timur):
    form = household_form(lampung_timur["village_id"])
    assert admin.post("/householdview/add", data=form).status_code == 302
    r = admin.post("/householdview/add", data=dict(form, head_name="Kembar"))
    assert r.status_code == 200 and _error_near(r.text, "no_kk", "already registered")


def test_operator_cannot_add_a_household_directly(app, engine, op1807, lampung_timur):
    """A household enters the data through a "new household" request, in the own regency or
    any other: the add form and its save answer 403, nothing written."""
    for village_id in (lampung_timur["village_id"], lampung_timur["other_village_ids"][0]):
        form = household_form(village_id)
        assert op1807.get("/householdview/add").status_code == 403
        assert op1807.post("/householdview/add", data=form).status_code == 403
        assert household_row(engine, form["no_kk"]) is None


def test_member_nik_is_checked_at_the_field(app, engine, op1807, admin, lampung_timur):
    form = household_form(lampung_timur["village_id"])
    assert admin.post("/householdview/add", data=form).status_code == 302
    household_id = household_row(engine, form["no_kk"]).id
    member = {"household": form["no_kk"], "nik": "1807019999990001", "name": "Anak Uji", "sex": "L",
              "birth_date": "", "relationship_to_head": "anak"}
    # Members are Admin's to add directly (an operator proposes them: app/security/duties.py).
    assert op1807.post("/householdmemberview/add", data=member).status_code == 403
    r = admin.post("/householdmemberview/add", data=member)
    assert r.status_code == 200 and _error_near(r.text, "nik", "impossible date")
    r = admin.post("/householdmemberview/add", data=dict(member, nik="1807011203100001"))
    assert r.status_code == 302


def test_household_geojson_is_scoped_and_masked(app, engine, op1807, admin, lampung_timur):
    lt = lampung_timur
    form = household_form(lt["village_id"], f"{lt['lat']:.7f}", f"{lt['lon']:.7f}")
    assert admin.post("/householdview/add", data=form).status_code == 302
    hid = household_row(engine, form["no_kk"]).id

    r = op1807.get(f"/householdview/geojson/{hid}")
    assert r.status_code == 200
    features = {f["properties"]["role"]: f for f in r.get_json()["features"]}
    assert features["household"]["geometry"]["type"] == "Point"
    assert features["household"]["geometry"]["coordinates"] == pytest.approx([lt["lon"], lt["lat"]], abs=1e-6)
    assert features["household"]["properties"]["inside_village"] is True
    assert features["village"]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert features["household"]["properties"]["no_kk"] == form["no_kk"]  # the operator may see it

    # Pimpinan (no right to personal data): no NIK / No KK at all, not even masked.
    r = login(app, "pimpinan").get(f"/householdview/geojson/{hid}")
    assert r.status_code == 200
    assert form["no_kk"] not in r.text and form["head_nik"] not in r.text
    keys = {key for feature in r.get_json()["features"] for key in feature["properties"]}
    assert not {key for key in keys if "nik" in key or "kk" in key}, keys
    # Another regency's operator: the household does not exist for them.
    assert login(app, "op1871").get(f"/householdview/geojson/{hid}").status_code == 404


# --- priority zones --------------------------------------------------------------------------------

def zone_form(name, regency_id, villages=(), **extra):
    form = {"name": name, "year": "2017", "priority_level": "1", "basis": "kewilayahan",
            "regency": str(regency_id) if regency_id else "__None", "description": "uji",
            "source_villages": [str(v) for v in villages]}
    form.update(extra)
    return form


def upload(content: bytes | str, filename="zona.geojson"):
    data = content.encode() if isinstance(content, str) else content
    return io.BytesIO(data), filename


def test_zone_from_the_villages_of_one_kecamatan(app, engine, op1807, lampung_timur):
    lt = lampung_timur
    r = op1807.post("/priorityzoneview/add", data=zone_form("Zona Kecamatan Uji", lt["regency_id"], lt["village_ids"]))
    assert r.status_code == 302, r.text[:2000]
    (zone,) = zone_rows(engine, "Zona Kecamatan Uji")
    assert zone.regency_id == lt["regency_id"] and zone.kind == "MULTIPOLYGON"
    with engine.connect() as conn:
        sources = conn.execute(text("SELECT array_agg(village_id ORDER BY village_id) FROM zone_source_village "
                                    "WHERE zone_id = :z"), {"z": zone.id}).scalar_one()
        equal, area_diff = conn.execute(text("""
            SELECT ST_Equals(z.geom, u.geom), abs(ST_Area(z.geom) - ST_Area(u.geom))
            FROM priority_zone z, (SELECT """ + CLEAN_ZONE_SQL.format(g="ST_Union(geom)") + """ AS geom
                                   FROM village WHERE district_id = :d) u
            WHERE z.id = :z"""), {"z": zone.id, "d": lt["district_id"]}).one()
    assert sources == sorted(lt["village_ids"])
    assert equal or area_diff < 1e-9

    # Show page: the map and the source villages; the GeoJSON holds the zone and each village.
    r = op1807.get(f"/priorityzoneview/show/{zone.id}")
    assert r.status_code == 200 and 'id="feature-map"' in r.text
    assert f"/villageview/show/{lt['village_ids'][0]}" in r.text
    collection = op1807.get(f"/priorityzoneview/geojson/{zone.id}").get_json()
    roles = [f["properties"]["role"] for f in collection["features"]]
    assert roles.count("zone") == 1 and roles.count("village") == len(lt["village_ids"])
    # Scoped: another regency's operator gets 404.
    assert login(app, "op1871").get(f"/priorityzoneview/geojson/{zone.id}").status_code == 404

    # Edit: fewer villages -> the geometry follows; no change of villages and no file keeps it.
    fewer = lt["village_ids"][:2]
    r = op1807.post(f"/priorityzoneview/edit/{zone.id}", data=zone_form("Zona Kecamatan Uji", lt["regency_id"], fewer))
    assert r.status_code == 302, r.text[:2000]
    with engine.connect() as conn:
        equal = conn.execute(text("""
            SELECT ST_Equals(z.geom, (SELECT """ + CLEAN_ZONE_SQL.format(g="ST_Union(geom)") + """
                                      FROM village WHERE id = ANY(:v)))
            FROM priority_zone z WHERE z.id = :z"""), {"z": zone.id, "v": fewer}).scalar_one()
    assert equal
    r = op1807.post(f"/priorityzoneview/edit/{zone.id}", data=zone_form("Zona Kecamatan Uji", lt["regency_id"]))
    assert r.status_code == 200 and _error_near(r.text, "source_villages", "keep at least one")


def test_zone_from_an_uploaded_geojson_file(app, engine, op1807, lampung_timur):
    lt = lampung_timur
    collection = {"type": "FeatureCollection",
                  "features": [{"type": "Feature", "properties": {"nama": "kantong"}, "geometry": lt["inner_polygon"]}]}
    form = zone_form("Zona Unggah Uji", lt["regency_id"], geojson_file=upload(json.dumps(collection)))
    r = op1807.post("/priorityzoneview/add", data=form, content_type="multipart/form-data")
    assert r.status_code == 302, r.text[:2000]
    (zone,) = zone_rows(engine, "Zona Unggah Uji")
    assert zone.kind == "MULTIPOLYGON"
    with engine.connect() as conn:
        equal, sources = conn.execute(text("""
            SELECT ST_Equals(z.geom, """ + CLEAN_ZONE_SQL.format(g="ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326)") + """),
                   (SELECT count(*) FROM zone_source_village WHERE zone_id = z.id)
            FROM priority_zone z WHERE z.id = :z"""), {"z": zone.id, "g": json.dumps(lt["inner_polygon"])}).one()
    assert equal and sources == 0

    # Edit without a file keeps the area; a new file (a bare Polygon) replaces it.
    r = op1807.post(f"/priorityzoneview/edit/{zone.id}", data=zone_form("Zona Unggah Uji 2", lt["regency_id"]))
    assert r.status_code == 302
    with engine.connect() as conn:
        assert conn.execute(text("SELECT ST_Equals(geom, " + CLEAN_ZONE_SQL.format(
            g="ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326)") + ") FROM priority_zone "
                                 "WHERE id = :z"), {"z": zone.id, "g": json.dumps(lt["inner_polygon"])}).scalar_one()
    ring = lt["inner_polygon"]["coordinates"][0]
    x, y = ring[0]
    bowtie = {"type": "Polygon", "coordinates": [[[x, y], [x + 0.01, y + 0.01], [x + 0.01, y], [x, y + 0.01], [x, y]]]}
    r = op1807.post(f"/priorityzoneview/edit/{zone.id}", content_type="multipart/form-data",
                    data=zone_form("Zona Unggah Uji 2", lt["regency_id"], geojson_file=upload(json.dumps(bowtie))))
    assert r.status_code == 302, r.text[:2000]
    with engine.connect() as conn:
        valid, kind, area = conn.execute(text("SELECT ST_IsValid(geom), GeometryType(geom), ST_Area(geom) "
                                              "FROM priority_zone WHERE id = :z"), {"z": zone.id}).one()
    assert valid and kind == "MULTIPOLYGON" and area == pytest.approx(0.00005, rel=1e-6)  # made valid: 2 triangles


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ('{"type": "Point", "coordinates": [105.3, -5.1]}', "holds no polygon (found: Point)"),
    ('{"type": "Polygon", "coordinates": [[[106.8, -6.2], [106.9, -6.2], [106.9, -6.1], [106.8, -6.2]]]}',
     "lies outside Lampung"),
    ('{"type": "Polygon", "coordinates": [[[-5.2, 105.3], [-5.2, 105.4], [-5.1, 105.4], [-5.2, 105.3]]]}',
     "look swapped"),
    # In Lampung, but in Bandar Lampung, not in the zone's regency Lampung Timur.
    ('{"type": "Polygon", "coordinates": [[[105.25, -5.43], [105.27, -5.43], [105.27, -5.41], [105.25, -5.43]]]}',
     "does not touch"),
    ('{"type": "Polygon", "coordinates": [[[500000, 9400000], [501000, 9400000], [501000, 9401000], '
     '[500000, 9400000]]]}', "not longitude/latitude degrees"),
    ('{"type": "Polygon", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32748"}}, '
     '"coordinates": [[[105.3, -5.2], [105.4, -5.2], [105.4, -5.1], [105.3, -5.2]]]}', "EPSG::32748"),
])
def test_bad_geojson_upload_is_refused_at_the_field(app, engine, op1807, lampung_timur, content, message):
    form = zone_form("Zona Berkas Salah", lampung_timur["regency_id"], geojson_file=upload(content))
    r = op1807.post("/priorityzoneview/add", data=form, content_type="multipart/form-data")
    assert r.status_code == 200
    assert _error_near(r.text, "geojson_file", message), r.text[r.text.find('id="geojson_file"'):][:1500]
    assert 'value="Zona Berkas Salah"' in r.text
    assert zone_rows(engine, "Zona Berkas Salah") == []


def test_zone_needs_exactly_one_source(app, engine, op1807, lampung_timur):
    lt = lampung_timur
    r = op1807.post("/priorityzoneview/add", data=zone_form("Zona Tanpa Sumber", lt["regency_id"]))
    assert r.status_code == 200 and _error_near(r.text, "source_villages", "Choose the villages of the zone")
    polygon = json.dumps(lt["inner_polygon"])
    r = op1807.post("/priorityzoneview/add", content_type="multipart/form-data",
                    data=zone_form("Zona Tanpa Sumber", lt["regency_id"], lt["village_ids"][:1],
                                   geojson_file=upload(polygon)))
    assert r.status_code == 200 and _error_near(r.text, "source_villages", "not both")
    assert zone_rows(engine, "Zona Tanpa Sumber") == []


def test_operator_cannot_make_a_zone_of_another_regency(app, engine, op1807, lampung_timur):
    lt = lampung_timur
    # Another regency, with villages of that regency.
    r = op1807.post("/priorityzoneview/add",
                    data=zone_form("Zona Curian", lt["other_regency_id"], lt["other_village_ids"]))
    assert r.status_code == 200 and _error_near(r.text, "regency", "outside your area")
    # Own regency, but villages of another regency.
    r = op1807.post("/priorityzoneview/add", data=zone_form("Zona Curian", lt["regency_id"], lt["other_village_ids"]))
    assert r.status_code == 200 and _error_near(r.text, "source_villages", "outside your area")
    # No regency (a province-wide zone).
    r = op1807.post("/priorityzoneview/add", data=zone_form("Zona Curian", None, lt["village_ids"]))
    assert r.status_code == 200 and _error_near(r.text, "regency", "Choose your regency")
    assert zone_rows(engine, "Zona Curian") == []


def test_operator_form_is_prefilled_and_scoped(app, engine, op1807, lampung_timur):
    lt = lampung_timur
    r = op1807.get("/priorityzoneview/add")
    assert r.status_code == 200
    assert f'<option selected value="{lt["regency_id"]}"' in r.text or \
        f'value="{lt["regency_id"]}" selected' in r.text
    assert f'value="{lt["other_regency_id"]}"' not in r.text
    assert f'value="{lt["other_village_ids"][0]}"' not in r.text
    assert f'value="{lt["village_ids"][0]}"' in r.text


def test_bappeda_zone_villages_must_lie_in_its_regency(app, engine, lampung_timur):
    lt = lampung_timur
    bappeda = login(app, "bappeda")
    r = bappeda.post("/priorityzoneview/add", data=zone_form("Zona Campur", lt["regency_id"], lt["other_village_ids"]))
    assert r.status_code == 200 and _error_near(r.text, "source_villages", "not in")
    # Province-wide (no regency) from villages of two regencies is fine for the province.
    r = bappeda.post("/priorityzoneview/add",
                     data=zone_form("Zona Campur", None, lt["village_ids"][:1] + lt["other_village_ids"][:1]))
    assert r.status_code == 302
    assert [z.regency_id for z in zone_rows(engine, "Zona Campur")] == [None]

