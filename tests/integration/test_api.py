"""The REST API (/api/v1/...): JWT login, OpenAPI, GeoJSON geometry in and out, exact money,
validation (422 naming the field), write scope (403), read scope (404) and the masking of
NIK / No KK for users without the right to see them.

Every row these tests need is made here (the demo domain seed may be absent); numbers
carry a per-run random part so the tests can run again on the same database.
"""
from __future__ import annotations

import itertools
import json
import re
import secrets

import pytest
import shapely.geometry

from tests.conftest import DEMO_PASSWORD, sql

OWN, OTHER = "18.07", "18.01"  # Lampung Timur (op1807's) and Lampung Selatan
RUN = secrets.randbelow(90) + 10  # two digits that differ between runs
_serial = itertools.count(1)
SIXTEEN_DIGITS = re.compile(r"(?<![0-9.])[0-9]{16}(?![0-9])")  # not the fraction of a coordinate


def new_kk(regency: str = OWN) -> str:
    """A fresh, well-formed No KK: region + 15-01-99 + serial."""
    return f"{regency.replace('.', '')}01150199{RUN}{next(_serial) % 100:02d}"


def new_nik(regency: str = OWN, woman: bool = False) -> str:
    day = 41 if woman else 1  # a woman's NIK carries day + 40
    return f"{regency.replace('.', '')}01{day:02d}0170{RUN}{next(_serial) % 100:02d}"


# --- helpers ----------------------------------------------------------------------------------

def token(client, username: str) -> dict:
    r = client.post("/api/v1/security/login",
                    json={"username": username, "password": DEMO_PASSWORD, "provider": "db", "refresh": True})
    assert r.status_code == 200, (username, r.data)
    assert r.json["access_token"]
    return {"Authorization": f"Bearer {r.json['access_token']}"}




def assert_422(response, field: str):
    assert response.status_code == 422, (response.status_code, response.data[:500])
    message = response.json["message"]
    assert isinstance(message, dict) and field in message, message
    reasons = message[field]
    assert reasons and all(isinstance(m, str) and m.strip() for m in reasons), message
    return reasons


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def areas(app):
    """A village of each regency and a point inside the own one (6 decimals, as a GPS gives)."""
    def village(code):
        return sql(app, """
            SELECT v.id, round(ST_X(ST_PointOnSurface(v.geom))::numeric, 6)::float8,
                   round(ST_Y(ST_PointOnSurface(v.geom))::numeric, 6)::float8
            FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
            WHERE r.code = :code ORDER BY v.code LIMIT 1""", code=code)[0]

    own_id, lon, lat = village(OWN)
    other_id, _, _ = village(OTHER)
    rid = {code: sql(app, "SELECT id FROM regency WHERE code = :c", c=code)[0][0] for code in (OWN, OTHER)}
    return {"village": own_id, "other_village": other_id, "lon": lon, "lat": lat,
            "regency": rid[OWN], "other_regency": rid[OTHER]}


@pytest.fixture(scope="module")
def op(client):
    return token(client, "op1807")


@pytest.fixture(scope="module")
def pimpinan(client):
    return token(client, "pimpinan")


@pytest.fixture(scope="module")
def admin(client):
    """Only Admin changes a household's point, village, desil or members directly
    (separation of duties, app/security/duties.py)."""
    return token(client, "admin")


def household_body(areas, **overrides):
    body = {"no_kk": new_kk(), "head_nik": new_nik(), "head_name": "Kepala Uji API", "address": "Jl. Uji 1",
            "rt": "001", "rw": "002", "village": areas["village"], "desil": 1, "member_count": 3,
            "location": {"type": "Point", "coordinates": [areas["lon"], areas["lat"]]}}
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def own_household(client, admin, areas):
    """A household of Lampung Timur (the operator's regency), added by Admin: no other role adds
    one directly (it enters through a "new household" request, app/security/duties.py)."""
    r = client.post("/api/v1/household/", json=household_body(areas), headers=admin)
    assert r.status_code == 201, r.data
    return r.json["id"]


@pytest.fixture(scope="module")
def own_member(client, admin, own_household):
    r = client.post("/api/v1/household_member/", headers=admin,
                    json={"household": own_household, "nik": new_nik(woman=True), "name": "Istri Uji API",
                          "sex": "P", "relationship_to_head": "istri/suami"})
    assert r.status_code == 201, r.data
    return r.json["id"]


@pytest.fixture(scope="module")
def other_household(app, areas):
    """A household of Lampung Selatan, written straight to the database."""
    return sql(app, """
        INSERT INTO household (no_kk, head_nik, head_name, village_id, desil, member_count, source)
        VALUES (:kk, :nik, 'Kepala Lampung Selatan', :v, 2, 4, 'BDT') RETURNING id""",
               kk=new_kk(OTHER), nik=new_nik(OTHER), v=areas["other_village"])[0][0]


@pytest.fixture(scope="module")
def program(client, op, areas):
    """An agency of Lampung Timur and its 2024 program, both made through the API."""
    r = client.post("/api/v1/agency/", headers=op, json={"name": f"Dinas Sosial Uji API {RUN}", "sector": "sosial",
                                                          "level": "kabupaten", "regency": areas["regency"]})
    assert r.status_code == 201, r.data
    agency = r.json["id"]
    r = client.post("/api/v1/program/", headers=op, json=program_body(areas, agency))
    assert r.status_code == 201, r.data
    return {"id": r.json["id"], "agency": agency, "result": r.json["result"]}


def program_body(areas, agency_id, **overrides):
    body = {"code": f"API-{RUN}-{next(_serial)}", "name": "Program Uji API", "cluster": 1, "synergy_type": "a",
            "agency": agency_id, "level": "kabupaten", "fiscal_year": 2024, "budget": "1500000.00",
            "realised_budget": 0, "target_households": 10, "target_desil": 1, "status": "berjalan",
            "regencies": [areas["regency"]]}
    body.update(overrides)
    return body


# --- login, OpenAPI, Swagger ------------------------------------------------------------------

def test_jwt_login_gives_a_token_and_a_wrong_password_does_not(client):
    assert token(client, "op1807")
    r = client.post("/api/v1/security/login", json={"username": "op1807", "password": "salah", "provider": "db"})
    assert r.status_code == 401
    assert client.get("/api/v1/household/").status_code == 401  # no token, no session


def test_openapi_lists_every_resource_and_describes_geometry_and_money(client):
    admin = token(client, "admin")
    r = client.get("/api/v1/_openapi", headers=admin)
    assert r.status_code == 200
    spec = json.loads(r.data)  # valid JSON
    assert spec["openapi"].startswith("3.")
    for resource in ("household", "household_member", "enrolment", "program", "agency", "tkpk_institution",
                     "tkpk_member", "tkpk_document", "priority_zone", "poverty_indicator", "regency", "district",
                     "village"):
        assert f"/api/v1/{resource}/" in spec["paths"], resource
        assert f"/api/v1/{resource}/{{pk}}" in spec["paths"], resource
    schemas = spec["components"]["schemas"]
    for name in ("HouseholdApi.get", "HouseholdApi.get_list", "HouseholdApi.post", "HouseholdApi.put"):
        assert schemas[name]["properties"]["location"]["type"] == "object", name
    for name in ("PriorityZoneApi.get", "PriorityZoneApi.get_list", "PriorityZoneApi.post", "PriorityZoneApi.put"):
        assert schemas[name]["properties"]["geom"]["type"] == "object", name
    for name in ("ProgramApi.get", "ProgramApi.post"):
        assert schemas[name]["properties"]["budget"]["type"] == "string", name
    assert "geom" in schemas["PriorityZoneApi.post"].get("required", [])


def test_swagger_ui_is_served(client):
    browser = client.application.test_client()
    r = browser.post("/login/", data={"username": "admin", "password": DEMO_PASSWORD})
    assert r.status_code == 302
    r = browser.get("/swagger/v1")
    assert r.status_code == 200
    assert b"swagger" in r.data.lower() and b"_openapi" in r.data
    assert browser.get("/api/v1/_openapi").status_code == 200  # the page fetches the spec with its session


# --- households: geometry, validation, scope --------------------------------------------------

def test_household_point_goes_in_and_comes_out_as_geojson(client, op, admin, areas):
    point = {"type": "Point", "coordinates": [areas["lon"], areas["lat"]]}
    body = household_body(areas, location=point)
    r = client.post("/api/v1/household/", json=body, headers=admin)
    assert r.status_code == 201, r.data
    pk = r.json["id"]
    assert r.json["result"]["location"] == point
    shown = client.get(f"/api/v1/household/{pk}", headers=op)
    assert shown.status_code == 200
    assert shown.json["result"]["location"] == point
    listed = client.get(f"/api/v1/household/?q=(filters:!((col:no_kk,opr:eq,value:'{body['no_kk']}')))",
                        headers=op).json
    assert listed["ids"] == [pk] and listed["result"][0]["location"] == point
    stored = sql(client.application, "SELECT ST_AsText(location), ST_SRID(location) FROM household WHERE id = :id",
                 id=pk)[0]
    assert stored[1] == 4326 and stored[0].startswith("POINT(")

    moved = {"type": "Point", "coordinates": [round(areas["lon"] + 0.001, 6), areas["lat"]]}
    # the operator proposes a move (a data update request); Admin moves the point directly
    assert client.put(f"/api/v1/household/{pk}", json={"location": moved}, headers=op).status_code == 403
    r = client.put(f"/api/v1/household/{pk}", json={"location": moved}, headers=admin)
    assert r.status_code == 200, r.data
    assert client.get(f"/api/v1/household/{pk}", headers=op).json["result"]["location"] == moved
    r = client.put(f"/api/v1/household/{pk}", json={"location": None}, headers=admin)  # the point is optional
    assert r.status_code == 200, r.data
    assert client.get(f"/api/v1/household/{pk}", headers=op).json["result"]["location"] is None


@pytest.mark.parametrize("location", [
    {"type": "Point", "coordinates": [106.8272, -6.1754]},  # Jakarta
    {"type": "Point", "coordinates": [-5.1127, 105.3131]},  # latitude and longitude swapped
])
def test_household_point_outside_lampung_is_422_on_location(client, admin, areas, location):
    body = household_body(areas, location=location)
    assert_422(client.post("/api/v1/household/", json=body, headers=admin), "location")
    assert not sql(client.application, "SELECT 1 FROM household WHERE no_kk = :kk", kk=body["no_kk"])


@pytest.mark.parametrize("location", [
    "POINT(105.3 -5.1)",  # WKT is not GeoJSON
    [105.3, -5.1],
    {"type": "Polygon", "coordinates": [[[105.3, -5.1], [105.4, -5.1], [105.4, -5.2], [105.3, -5.1]]]},
    {"type": "Point", "coordinates": [105.3]},
    {"type": "Point", "coordinates": ["a", "b"]},
    {"type": "Point", "coordinates": [305.3, -5.1]},
    {"coordinates": [105.3, -5.1]},
])
def test_household_location_must_be_a_geojson_point(client, admin, areas, location):
    assert_422(client.post("/api/v1/household/", json=household_body(areas, location=location), headers=admin),
               "location")


@pytest.mark.parametrize("field, value", [
    ("no_kk", "180701150199123"),  # 15 digits
    ("head_nik", "1807013213701234"),  # day 32: an impossible date
    ("desil", 5),
    ("desil", 1.5),
    ("village", 999999999),  # no such village
    ("village", "desa"),
    ("member_count", 0),
])
def test_household_bad_field_is_422_naming_it(client, admin, areas, field, value):
    body = household_body(areas, **{field: value})
    assert_422(client.post("/api/v1/household/", json=body, headers=admin), field)
    assert not sql(client.application, "SELECT 1 FROM household WHERE no_kk = :kk", kk=body["no_kk"])


def test_duplicate_no_kk_is_422_on_no_kk(client, admin, areas, own_household):
    kk = client.get(f"/api/v1/household/{own_household}", headers=admin).json["result"]["no_kk"]
    assert_422(client.post("/api/v1/household/", json=household_body(areas, no_kk=kk), headers=admin), "no_kk")


def test_validation_messages_are_in_the_default_language(client, admin, areas):
    """The default locale is Indonesian; the catalog may lag behind, so only check the
    reason is there and names nothing but the field."""
    r = client.post("/api/v1/household/", json=household_body(areas, no_kk="123", desil=9), headers=admin)
    reasons = assert_422(r, "no_kk") + assert_422(r, "desil")
    assert all(len(m) > 5 for m in reasons)


def test_household_in_a_village_of_another_regency_is_403_and_not_written(client, op, admin, areas):
    body = household_body(areas, village=areas["other_village"], no_kk=new_kk(OTHER), head_nik=new_nik(OTHER))
    r = client.post("/api/v1/household/", json=body, headers=op)
    assert r.status_code == 403, r.data
    assert not sql(client.application, "SELECT 1 FROM household WHERE no_kk = :kk", kk=body["no_kk"])
    # moving an own household into another regency is refused the same way
    own = client.post("/api/v1/household/", json=household_body(areas), headers=admin).json["id"]
    # (moving needs a data update request anyway: the village is not the operator's to change directly)
    r = client.put(f"/api/v1/household/{own}", json={"village": areas["other_village"]}, headers=op)
    assert r.status_code == 403, r.data
    assert sql(client.application, "SELECT village_id FROM household WHERE id = :id", id=own)[0][0] == \
        areas["village"]


def test_household_of_another_regency_is_404_for_get_put_delete(client, op, other_household):
    url = f"/api/v1/household/{other_household}"
    assert client.get(url, headers=op).status_code == 404
    assert client.put(url, json={"head_name": "Diubah"}, headers=op).status_code == 404
    # no delete of any household for an operator (a removal request): 403 before the row is looked up
    assert client.delete(url, headers=op).status_code == 403
    assert sql(client.application, "SELECT head_name FROM household WHERE id = :id", id=other_household)[0][0] == \
        "Kepala Lampung Selatan"
    listed = client.get("/api/v1/household/?q=(page_size:100)", headers=op).json
    assert other_household not in listed["ids"]


def test_member_of_a_household_of_another_regency_is_refused(client, op, other_household):
    r = client.post("/api/v1/household_member/", headers=op,
                    json={"household": other_household, "nik": new_nik(OTHER), "name": "Anak", "sex": "L",
                          "relationship_to_head": "anak"})
    assert r.status_code == 403  # members are Admin's to add directly (app/security/duties.py), anywhere


# --- programs, money, enrolments --------------------------------------------------------------

def test_program_money_is_an_exact_string(client, op, program):
    assert program["result"]["budget"] == "1500000.00"
    shown = client.get(f"/api/v1/program/{program['id']}", headers=op).json["result"]
    assert shown["budget"] == "1500000.00" and shown["realised_budget"] == "0.00"
    listed = client.get(f"/api/v1/program/?q=(filters:!((col:code,opr:eq,value:'{shown['code']}')))",
                        headers=op).json["result"]
    assert listed[0]["budget"] == "1500000.00"


def test_program_money_accepts_integers_and_strings(client, op, areas, program):
    r = client.post("/api/v1/program/", headers=op,
                    json=program_body(areas, program["agency"], budget=2000000, realised_budget="12.5"))
    assert r.status_code == 201, r.data
    assert r.json["result"]["budget"] == "2000000.00" and r.json["result"]["realised_budget"] == "12.50"
    r = client.put(f"/api/v1/program/{r.json['id']}", headers=op, json={"budget": "123456789012345.67"})
    assert r.status_code == 200, r.data
    assert r.json["result"]["budget"] == "123456789012345.67"


@pytest.mark.parametrize("field, value", [
    ("budget", -1),
    ("budget", "-1"),
    ("budget", 1500000.5),  # a JSON float is not an exact amount
    ("budget", 1500000.0),
    ("realised_budget", "1.001"),
    ("budget", "satu juta"),
    ("budget", "1e30"),
    ("budget", "NaN"),
    ("target_desil", 7),
    ("cluster", 4),
    ("agency", 999999999),
])
def test_program_bad_field_is_422_naming_it(client, op, areas, program, field, value):
    body = program_body(areas, program["agency"], **{field: value})
    assert_422(client.post("/api/v1/program/", json=body, headers=op), field)
    assert not sql(client.application, "SELECT 1 FROM program WHERE code = :c", c=body["code"])


def test_program_float_is_refused_on_put_too(client, op, program):
    reasons = assert_422(client.put(f"/api/v1/program/{program['id']}", json={"budget": 99.99}, headers=op),
                         "budget")
    assert reasons
    shown = client.get(f"/api/v1/program/{program['id']}", headers=op).json["result"]
    assert shown["budget"] == "1500000.00"


def test_enrolment_year_must_be_the_program_year(client, op, program, own_household):
    body = {"household": own_household, "program": program["id"], "year": 2023, "status": "usulan",
            "benefit_value": "500000.00", "date": "2023-03-01"}
    assert_422(client.post("/api/v1/enrolment/", json=body, headers=op), "year")
    r = client.post("/api/v1/enrolment/", json={**body, "year": 2024, "date": "2024-03-01"}, headers=op)
    assert r.status_code == 201, r.data
    assert r.json["result"]["benefit_value"] == "500000.00"
    shown = client.get(f"/api/v1/enrolment/{r.json['id']}", headers=op).json["result"]
    assert shown["program"]["id"] == program["id"] and shown["benefit_value"] == "500000.00"
    assert_422(client.post("/api/v1/enrolment/", json={**body, "year": 2024, "benefit_value": 1.5}, headers=op),
               "benefit_value")


# --- zones ------------------------------------------------------------------------------------

def test_zone_polygon_is_stored_as_multipolygon(client, op, areas):
    lon, lat = areas["lon"], areas["lat"]
    ring = [[lon - 0.01, lat - 0.01], [lon + 0.01, lat - 0.01], [lon + 0.01, lat + 0.01], [lon - 0.01, lat + 0.01],
            [lon - 0.01, lat - 0.01]]
    ring = [[round(x, 6), round(y, 6)] for x, y in ring]
    r = client.post("/api/v1/priority_zone/", headers=op,
                    json={"name": "Zona Uji API", "year": 2024, "priority_level": 1, "basis": "kewilayahan",
                          "regency": areas["regency"], "geom": {"type": "Polygon", "coordinates": [ring]}})
    assert r.status_code == 201, r.data
    pk = r.json["id"]
    kind, srid = sql(client.application, "SELECT ST_GeometryType(geom), ST_SRID(geom) FROM priority_zone "
                                         "WHERE id = :id", id=pk)[0]
    assert (kind, srid) == ("ST_MultiPolygon", 4326)
    shown = client.get(f"/api/v1/priority_zone/{pk}", headers=op).json["result"]
    # Stored cleaned (valid, on the 6-decimal grid): the same polygon, perhaps from another vertex.
    assert shown["geom"]["type"] == "MultiPolygon"
    assert shapely.geometry.shape(shown["geom"]).equals(shapely.geometry.Polygon(ring))
    listed = client.get(f"/api/v1/priority_zone/?q=(filters:!((col:name,opr:eq,value:'Zona Uji API')))",
                        headers=op).json["result"]
    assert listed[0]["geom"]["type"] == "MultiPolygon"
    r = client.put(f"/api/v1/priority_zone/{pk}", headers=op, json={"name": "Zona Uji API 2"})  # geometry kept
    assert r.status_code == 200, r.data
    assert client.get(f"/api/v1/priority_zone/{pk}", headers=op).json["result"]["geom"] == shown["geom"]


@pytest.mark.parametrize("geom", [
    None,
    {"type": "Point", "coordinates": [105.3, -5.1]},
    {"type": "Polygon", "coordinates": [[[105.3, -5.1], [105.4, -5.2], [105.4, -5.1], [105.3, -5.2],
                                         [105.3, -5.1]]]},  # self-intersecting
])
def test_zone_geometry_must_be_a_valid_polygon(client, op, areas, geom):
    r = client.post("/api/v1/priority_zone/", headers=op,
                    json={"name": "Zona Salah", "year": 2024, "regency": areas["regency"], "geom": geom})
    assert_422(r, "geom")


# --- masking for Pimpinan ---------------------------------------------------------------------

def test_operator_sees_full_numbers(client, op, own_household):
    """The operator holds the unmask right, so the masking tests below are not vacuous."""
    result = client.get(f"/api/v1/household/{own_household}", headers=op).json["result"]
    assert re.fullmatch(r"[0-9]{16}", result["no_kk"]) and re.fullmatch(r"[0-9]{16}", result["head_nik"])


@pytest.mark.parametrize("path", [
    "/api/v1/household/?q=(page_size:100)",
    "/api/v1/household/?q=(columns:!(id,no_kk,head_nik))",
    "/api/v1/household/?q=(columns:!(no_kk))",
    "/api/v1/household/{household}",
    "/api/v1/household/{household}?q=(columns:!(no_kk,head_nik))",
    "/api/v1/household_member/?q=(page_size:100)",
    "/api/v1/household_member/?q=(columns:!(nik))",
    "/api/v1/household_member/{member}",
])
def test_pimpinan_never_gets_a_full_number(client, pimpinan, own_household, own_member, path):
    r = client.get(path.format(household=own_household, member=own_member), headers=pimpinan)
    assert r.status_code == 200, r.data
    body = r.get_data(as_text=True)
    assert not SIXTEEN_DIGITS.search(body), SIXTEEN_DIGITS.search(body).group()
    result = r.json["result"]
    rows = result if isinstance(result, list) else [result]
    assert rows
    for row in rows:
        for field in ("no_kk", "head_nik", "nik"):
            if field in row:
                assert "*" in row[field], row


@pytest.mark.parametrize("path", [
    "/api/v1/household/?q=(filters:!((col:no_kk,opr:sw,value:'1807')))",
    "/api/v1/household/?q=(filters:!((col:no_kk,opr:eq,value:'{kk}')))",
    "/api/v1/household/?q=(filters:!((col:head_nik,opr:ct,value:'0170')))",
    "/api/v1/household/?q=(order_column:no_kk,order_direction:asc)",
    "/api/v1/household_member/?q=(filters:!((col:nik,opr:sw,value:'1807')))",
    "/api/v1/household_member/?q=(order_column:nik,order_direction:desc)",
])
def test_pimpinan_cannot_search_or_sort_by_masked_numbers(client, op, pimpinan, own_household, own_member, path):
    kk = client.get(f"/api/v1/household/{own_household}", headers=op).json["result"]["no_kk"]
    r = client.get(path.format(kk=kk), headers=pimpinan)
    assert r.status_code == 400, (r.status_code, r.data[:300])
    assert not SIXTEEN_DIGITS.search(r.get_data(as_text=True))


def test_operator_can_search_by_no_kk(client, op, own_household):
    kk = client.get(f"/api/v1/household/{own_household}", headers=op).json["result"]["no_kk"]
    r = client.get(f"/api/v1/household/?q=(filters:!((col:no_kk,opr:eq,value:'{kk}')))", headers=op)
    assert r.status_code == 200 and r.json["ids"] == [own_household]


def test_pimpinan_cannot_write(client, pimpinan, areas, own_household):
    assert client.post("/api/v1/household/", json=household_body(areas), headers=pimpinan).status_code == 403
    assert client.put(f"/api/v1/household/{own_household}", json={"head_name": "X"},
                      headers=pimpinan).status_code == 403
    assert client.delete(f"/api/v1/household/{own_household}", headers=pimpinan).status_code == 403


def test_write_responses_are_masked_for_a_writer_without_the_unmask_right(client, op, admin, areas, monkeypatch):
    """None of the shipped roles writes households without the unmask right; should one
    ever do, the 201/200 bodies of POST/PUT are masked too (op1807 with the right taken away)."""
    from app.security import scope as scope_mod

    monkeypatch.setattr(scope_mod, "_has_unmask", lambda user: False)
    r = client.post("/api/v1/household/", json=household_body(areas), headers=admin)
    assert r.status_code == 201, r.data
    assert not SIXTEEN_DIGITS.search(r.get_data(as_text=True)) and "*" in r.json["result"]["no_kk"]
    pk = r.json["id"]
    r = client.put(f"/api/v1/household/{pk}", json={"head_name": "Diubah"}, headers=op)
    assert r.status_code == 200, r.data
    assert not SIXTEEN_DIGITS.search(r.get_data(as_text=True)) and "*" in r.json["result"]["head_nik"]
    # members are written by Admin alone (separation of duties): Admin with the right taken away
    r = client.post("/api/v1/household_member/", headers=admin, json={"household": pk, "nik": new_nik(),
                                                                      "name": "Anak", "sex": "L",
                                                                      "relationship_to_head": "anak"})
    assert r.status_code == 201, r.data
    assert not SIXTEEN_DIGITS.search(r.get_data(as_text=True)) and "*" in r.json["result"]["nik"]
    # and a filter on the masked number is refused to them
    assert client.get("/api/v1/household/?q=(filters:!((col:no_kk,opr:sw,value:'18')))",
                      headers=op).status_code == 400


def test_a_constraint_refused_by_the_database_is_422_naming_the_field(client, op, admin, areas, own_household,
                                                                      own_member):
    """Rules only the database knows (a NIK twice in one household; an agency at province
    level bound to a regency) answer 422 on the field, not 500 and not the raw SQL."""
    nik = client.get(f"/api/v1/household_member/{own_member}", headers=op).json["result"]["nik"]
    r = client.post("/api/v1/household_member/", headers=admin,
                    json={"household": own_household, "nik": nik, "name": "Kembar", "sex": "P",
                          "relationship_to_head": "anak"})
    assert_422(r, "nik")
    assert b"INSERT" not in r.data
    r = client.post("/api/v1/agency/", headers=op, json={"name": f"Dinas Salah {RUN}", "level": "provinsi",
                                                          "regency": areas["regency"]})
    assert_422(r, "level") and assert_422(r, "regency")
    assert not sql(client.application, "SELECT 1 FROM agency WHERE name = :n", n=f"Dinas Salah {RUN}")
