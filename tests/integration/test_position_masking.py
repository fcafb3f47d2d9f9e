"""Users without the right to see personal data (Pimpinan) see where a household lives to
~1 km (its point snapped to a 0.01° grid), never the house: on the show page and its map,
the REST API, the household GeoJSON layer (bbox included: small boxes cannot narrow the point
down), the vector tiles, the location check and the list export. Bappeda and the regency's
operator see the exact point everywhere."""
from __future__ import annotations

import csv
import io
import json
import math

import mapbox_vector_tile
import pytest
from sqlalchemy import select, text

from app.models import District, Household, Regency, Village
from app.security.scope import Scope
from gis import queries
from tests.conftest import DEMO_PASSWORD

NO_KK = "1807031204170077"
HEAD = "Siti Titik Rahasia"
USERS = [("pimpinan", True), ("bappeda", False), ("op1807", False)]  # (user, sees the point snapped)


def _off_grid(value: float) -> float:
    return abs(value * 100 - round(value * 100)) / 100


@pytest.fixture(scope="module")
def house(app):
    """A household of Lampung Timur whose point lies well off the 0.01° grid (>= 0.001° in both
    axes), declared in another village than the one holding the point (the location check lists it)."""
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    with engine.connect() as conn:
        # A point inside the village but moved off its (perhaps round) point-on-surface: the
        # synthetic geography's villages are squares on round coordinates.
        candidates = conn.execute(text("""
            SELECT v.id, ST_X(p), ST_Y(p)
            FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id,
                 LATERAL (SELECT ST_Translate(ST_PointOnSurface(v.geom), 0.00137, 0.00163) AS p) s
            WHERE r.code = '18.07' AND ST_Covers(v.geom, p) ORDER BY v.code LIMIT 50""")).all()
    village_id, lon, lat = next((v, x, y) for v, x, y in candidates if min(_off_grid(x), _off_grid(y)) > 0.001)
    with app.app_context():
        item = db.session.execute(select(Household).where(Household.no_kk == NO_KK)).scalar()
        if item is None:
            declared = db.session.execute(select(Village).join(District).join(Regency)
                                          .where(Regency.code == "18.07", Village.id != village_id)
                                          .order_by(Village.code).limit(1)).scalar_one()
            item = Household(no_kk=NO_KK, head_nik="1807035508800077", head_name=HEAD, village=declared,
                             desil=1, member_count=3, location=f"SRID=4326;POINT({lon!r} {lat!r})")
            db.session.add(item)
            db.session.commit()
        pk = item.id
    with engine.begin() as conn:
        queries.locate_households(conn, [pk])
        assert conn.execute(text("SELECT location_status FROM household WHERE id = :i"), {"i": pk}).scalar() \
            == "beda_desa"
    return {"id": pk, "exact": (lon, lat), "snapped": (round(lon, 2), round(lat, 2))}


def _seen(house, snapped: bool):
    return house["snapped"] if snapped else house["exact"]


def _client(app, username):
    client = app.test_client()
    assert client.post("/login/", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
    return client


def _bearer(app, username):
    r = app.test_client().post("/api/v1/security/login",
                               json={"username": username, "password": DEMO_PASSWORD, "provider": "db"})
    return {"Authorization": f"Bearer {r.json['access_token']}"}


def _coordinate_text(value: float) -> str:  # as the show page writes it
    return f"{value:.7f}".rstrip("0").rstrip(".")


def _household_point(collection: dict, pk: int):
    points = [f["geometry"]["coordinates"] for f in collection["features"]
              if f["properties"].get("id") == pk and f["geometry"] and f["geometry"]["type"] == "Point"]
    assert len(points) <= 1
    return tuple(points[0]) if points else None


@pytest.mark.parametrize("username,snapped", USERS)
def test_show_page_and_its_map(app, house, username, snapped):
    client = _client(app, username)
    lon, lat = _seen(house, snapped)
    body = client.get(f"/householdview/show/{house['id']}").get_data(as_text=True)
    assert _coordinate_text(lat) in body and _coordinate_text(lon) in body
    if snapped:
        assert _coordinate_text(house["exact"][1]) not in body and _coordinate_text(house["exact"][0]) not in body
    r = client.get(f"/householdview/geojson/{house['id']}")
    assert r.status_code == 200
    assert _household_point(r.json, house["id"]) == pytest.approx((lon, lat), abs=1e-7)


@pytest.mark.parametrize("username,snapped", USERS)
def test_rest_api(app, house, username, snapped):
    r = app.test_client().get(f"/api/v1/household/{house['id']}", headers=_bearer(app, username))
    assert r.status_code == 200
    assert tuple(r.json["result"]["location"]["coordinates"]) == pytest.approx(_seen(house, snapped), abs=1e-9)
    listed = app.test_client().get(
        "/api/v1/household/?q=(filters:!((col:head_name,opr:ct,value:'Titik Rahasia')))",
        headers=_bearer(app, username))
    assert [tuple(row["location"]["coordinates"]) for row in listed.json["result"]] \
        == [pytest.approx(_seen(house, snapped), abs=1e-9)]


def _box(point, half=0.0005):
    x, y = point
    return f"{x - half},{y - half},{x + half},{y + half}"


@pytest.mark.parametrize("username,snapped", USERS)
def test_geojson_layer_and_its_bbox(app, house, username, snapped):
    """The small box around the point the user may see finds it; the box around the other one
    does not (for Pimpinan: no narrowing down the house by trying boxes)."""
    client = _client(app, username)
    seen, other = (house["snapped"], house["exact"]) if snapped else (house["exact"], house["snapped"])
    assert _point_in_box(client, _box(seen), house["id"]) == pytest.approx(seen, abs=1e-6)
    assert _point_in_box(client, _box(other), house["id"]) is None


def _point_in_box(client, box, pk):
    """The household's point among every page of the box: for Pimpinan every household of the
    0.01° cell shares the box, and the whole suite's imports put thousands there."""
    url = f"/gis/geojson/households?bbox={box}&limit=5000"
    for _ in range(100):
        r = client.get(url)
        assert r.status_code == 200
        point = _household_point(r.json, pk)
        following = [link["href"] for link in r.json.get("links", []) if link["rel"] == "next"]
        if point is not None or not following:
            return point
        url = following[0].replace("http://localhost", "")
    raise AssertionError("more than 100 pages of households in a 0.001° box")


def _pixel(lon, lat, z):
    """Tile (x, y) and the position in it (0..4096, y down) of a point at zoom z."""
    n = 2 ** z
    fx = (lon + 180) / 360 * n
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return (int(fx), int(fy)), ((fx % 1) * 4096, (fy % 1) * 4096)


def _tile_position(client, pk, z, tile):
    r = client.get(f"/gis/tiles/households/{z}/{tile[0]}/{tile[1]}.pbf")
    assert r.status_code in (200, 204)
    if r.status_code == 204:  # an empty tile
        return None
    layer = mapbox_vector_tile.decode(r.data, default_options={"y_coord_down": True}).get("households", {})
    found = [f["geometry"]["coordinates"] for f in layer.get("features", []) if f["id"] == pk]
    return tuple(found[0]) if found else None


@pytest.mark.parametrize("username,snapped", USERS)
def test_vector_tiles(app, house, username, snapped):
    client = _client(app, username)
    z = 15  # one pixel ~0.6 m; snapping moves the point by 100+ m
    tile, position = _pixel(*_seen(house, snapped), z)
    assert _tile_position(client, house["id"], z, tile) == pytest.approx(position, abs=1.5)
    if snapped:
        exact_tile, exact_position = _pixel(*house["exact"], z)
        found = _tile_position(client, house["id"], z, exact_tile)
        assert found is None or math.dist(found, exact_position) > 100


@pytest.mark.parametrize("snapped", [True, False])
def test_location_check(engine, house, snapped):
    scope = Scope("all", can_unmask=not snapped)
    with engine.connect() as conn:
        features = queries.location_mismatch_features(conn, scope, [house["id"]])
        rows = [r for r in queries.iter_location_mismatches(conn, scope) if r["household_id"] == house["id"]]
    points = [json.loads(f["geojson"])["coordinates"] for f in features if f["role"] == "household"]
    assert [tuple(p) for p in points] == [pytest.approx(_seen(house, snapped), abs=1e-6)]
    assert [(r["lon"], r["lat"]) for r in rows] == [pytest.approx(_seen(house, snapped), abs=1e-9)]


@pytest.mark.parametrize("username,snapped", USERS)
def test_list_export(app, house, username, snapped):
    client = _client(app, username)
    r = client.get("/householdview/export/?format=csv&_flt_2_head_name=Titik+Rahasia")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(float(row["Bujur"]), float(row["Lintang"])) for row in rows] \
        == [pytest.approx(_seen(house, snapped), abs=1e-7)]


@pytest.mark.parametrize("username,snapped", [("pimpinan", True), ("bappeda", False)])
def test_workflow_pages(app, house, username, snapped):
    """A proposed new point in an update request and the point given with a public complaint
    (perhaps the complainant's house) are rounded on the staff pages Pimpinan may read."""
    from app.extensions import db
    from app.services.complaints import new_ticket

    lon, lat = house["exact"]
    with app.app_context():
        with db.engine.begin() as conn:
            ids = conn.execute(text("SELECT v.id, d.regency_id FROM household h JOIN village v ON v.id = h.village_id "
                                    "JOIN district d ON d.id = v.district_id WHERE h.id = :h"), {"h": house["id"]}).one()
            request_id = conn.execute(text("""
                INSERT INTO update_request (kind, state, household_id, regency_id, proposed, created_by)
                VALUES ('ubah', 'diajukan', :h, :r, CAST(:p AS jsonb), 'uji') RETURNING id"""),
                {"h": house["id"], "r": ids.regency_id,
                 "p": json.dumps({"location": f"SRID=4326;POINT({lon + 0.0123!r} {lat - 0.0077!r})"})}).scalar()
            complaint_id = conn.execute(text("""
                INSERT INTO complaint (ticket, category, village_id, regency_id, description, state, deadline, location)
                VALUES (:t, 'lainnya', :v, :r, 'titik uji', 'baru', current_date + 14,
                        ST_GeomFromText(:p, 4326)) RETURNING id"""),
                {"t": new_ticket(), "v": ids.id, "r": ids.regency_id, "p": f"POINT({lon!r} {lat!r})"}).scalar()
    client = _client(app, username)
    request_page = client.get(f"/updaterequestview/show/{request_id}").get_data(as_text=True)
    complaint_page = client.get(f"/complaintview/show/{complaint_id}").get_data(as_text=True)
    proposed = (lon + 0.0123, lat - 0.0077)
    for page, (x, y) in ((request_page, proposed), (complaint_page, house["exact"])):
        exact = f"{y:.6f}, {x:.6f}"
        shown = f"{round(y, 2):.6f}, {round(x, 2):.6f}" if snapped else exact
        assert shown in page
        assert (exact in page) is not snapped
