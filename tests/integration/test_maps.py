"""The village and household map pages (app/views/maps.py, gis/maps.py) through Flask's
test client on the demo data.

- No CDN: every map page (the FAB host page and both folium documents, in cluster and tile
  mode) loads scripts and styles only from the app, and every one of them is served (the
  vendored copies exist). With SINERGI_BASEMAP_URL empty (as here) no outside URL appears
  at all; with it set, the tile URL appears only as the base layer's JS configuration.
- folium's and branca's asset attributes point at the app's static files after start-up.
- Access: anonymous users are sent to the login page; every staff role opens both maps.
- What the page lets a user choose: an operator is held to their regency, others choose one;
  beyond gis.maps.CLUSTER_LIMIT points the household map switches to vector tiles.
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import text

from tests.conftest import DEMO_PASSWORD, needs_lampung

STAFF = ("admin", "bappeda", "pimpinan", "op1807", "opd_dinkop_lamtim")
HOST_PAGES = ("/maps/villages/", "/maps/households/")
FRAMES = ("/maps/villages/frame", "/maps/villages/frame?regency=18.07&measure=gaps&k=2",
          "/maps/households/frame", "/maps/households/frame?mode=tiles&colour=programs")
ABSOLUTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.I)  # http://, https://, //host, any scheme


def login(app, username):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers["Location"], f"login as {username} failed"
    return client


@pytest.fixture(scope="module")
def admin(app):
    return login(app, "admin")


class Assets(HTMLParser):
    """Every <script src>, <link href>, <img src> and <iframe src> of a page."""

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in {"script": ("src",), "link": ("href",), "img": ("src",), "iframe": ("src",)}.get(tag, ()):
            if attrs.get(name):
                self.urls.append((tag, attrs[name]))


def assets(html: str) -> list[tuple[str, str]]:
    parser = Assets()
    parser.feed(html)
    return parser.urls


def map_config(html: str) -> dict:
    """The JSON configuration the folium page hands to SinergiMaps.<kind>(map, config, handles)."""
    match = re.search(r"SinergiMaps\.(?:villageMap|householdMap)\(\w+, (\{.*\}), \{\s*$", html, re.M)
    assert match, "map start-up call not found in the page"
    return json.loads(match.group(1))


def get_ok(client, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code)
    return r.get_data(as_text=True)


# --- no CDN ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", HOST_PAGES + FRAMES)
def test_map_pages_load_nothing_from_outside(admin, url):
    html = get_ok(admin, url)
    found = assets(html)
    assert any(tag == "script" for tag, _ in found), "no script at all: the page did not render"
    outside = [(tag, u) for tag, u in found if ABSOLUTE.match(u)]
    assert outside == [], f"{url} loads from outside the app: {outside}"
    if "/frame" in url:
        # The base layer is off (SINERGI_BASEMAP_URL empty): no outside URL anywhere, also not in JS.
        assert not re.search(r"https?://", html), re.findall(r"https?://\S+", html)[:5]
        assert "tileLayer" not in html
        for tag, asset in found:
            assert asset.startswith("/static/"), (tag, asset)
            r = admin.get(asset)
            assert r.status_code == 200, f"{asset} is not served: run scripts/vendor_assets.sh"
            r.close()


def test_leaflet_and_folium_plugins_come_from_the_vendored_copies(admin):
    html = get_ok(admin, "/maps/households/frame?mode=tiles")
    scripts = [u for tag, u in assets(html) if tag == "script"]
    assert "/static/vendor/leaflet/leaflet.js" in scripts
    assert "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js" in scripts
    assert "/static/js/maps/sinergi_maps.js" in scripts
    html = get_ok(admin, "/maps/households/frame?mode=cluster")
    found = [u for _, u in assets(html)]
    assert "/static/vendor/leaflet.markercluster/leaflet.markercluster.js" in found
    assert "/static/vendor/leaflet.markercluster/MarkerCluster.Default.css" in found


def test_folium_and_branca_asset_attributes_are_rewritten_at_start_up(app):
    import branca.colormap
    import folium
    from folium import plugins

    from gis.maps import outside_asset_urls

    for cls in (folium.Map, plugins.MarkerCluster, plugins.FastMarkerCluster, plugins.VectorGridProtobuf):
        for name, url in list(cls.default_js) + list(cls.default_css):
            assert url.startswith("/static/"), (cls.__name__, name, url)
    # branca's colormap legend hard-codes d3 from cdnjs; after start-up it is our copy.
    fmap = folium.Map(tiles=None)
    branca.colormap.LinearColormap(["#ffffff", "#ff0000"], vmin=0, vmax=10).add_to(fmap)
    plugins.FastMarkerCluster([[-5.4, 105.3]]).add_to(fmap)
    html = fmap.get_root().render()
    assert "/static/vendor/d3/d3.min.js" in html
    assert outside_asset_urls(html) == [] and not re.search(r"<(?:script|link)[^>]+https?://", html)


def test_base_layer_url_only_as_tile_configuration_when_set(app, admin):
    tiles = "https://tiles.example.invalid/osm/{z}/{x}/{y}.png"
    app.config["SINERGI_BASEMAP_URL"] = tiles
    try:
        for url in ("/maps/villages/frame", "/maps/households/frame"):
            html = get_ok(admin, url)
            assert [u for _, u in assets(html) if ABSOLUTE.match(u)] == []
            assert re.search(r"L\.tileLayer\(\s*\"" + re.escape(tiles) + '"', html), "base layer missing"
            assert set(re.findall(r"https?://[^\s\"']+", html)) == {tiles}
    finally:
        app.config["SINERGI_BASEMAP_URL"] = ""


def test_frame_may_only_be_shown_by_the_app_itself(admin):
    r = admin.get("/maps/villages/frame")
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
    assert "no-store" in r.headers["Cache-Control"]


# --- access ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", HOST_PAGES + ("/maps/villages/frame", "/maps/households/frame"))
def test_anonymous_users_are_sent_to_login(app, url):
    r = app.test_client().get(url)
    assert r.status_code == 302 and "/login" in r.headers["Location"], (url, r.status_code)


@pytest.mark.parametrize("username", STAFF)
def test_every_staff_role_opens_both_maps(app, username):
    client = login(app, username)
    home = get_ok(client, "/")
    assert 'href="/maps/villages/"' in home and 'href="/maps/households/"' in home, "Maps menu missing"
    for url in HOST_PAGES:
        html = get_ok(client, url)
        frame = [u for tag, u in assets(html) if tag == "iframe"]
        assert len(frame) == 1 and frame[0].startswith(url + "frame")
        document = get_ok(client, frame[0])
        assert "L.map(" in document and "SinergiMaps." in document  # the folium map document


# --- what each user may choose ------------------------------------------------------------------

@needs_lampung
def test_operator_is_held_to_own_regency(app):
    client = login(app, "op1807")
    for url in ("/maps/villages/frame?regency=18.71", "/maps/households/frame?regency=18.71"):
        config = map_config(get_ok(client, url))
        assert config["regency"] == "18.07" and config["canChooseRegency"] is False
        assert [r["code"] for r in config["regencies"]] == ["18.07"]
        (south, west), (north, east) = config["bounds"]
        assert 105.0 < west < east < 106.5 and -5.9 < south < north < -4.5  # Lampung Timur's extent


def test_province_user_chooses_a_regency_and_the_measure(admin, engine):
    config = map_config(get_ok(admin, "/maps/villages/frame"))
    assert config["regency"] == "" and config["canChooseRegency"] is True
    with engine.connect() as conn:
        codes = [c for (c,) in conn.execute(text("SELECT code FROM regency ORDER BY code"))]
        last_year = conn.execute(text("SELECT max(year) FROM enrolment")).scalar()
    assert [r["code"] for r in config["regencies"]] == codes
    assert config["year"] == last_year and last_year in config["years"]
    assert [m["value"] for m in config["measures"]] == ["desil1", "coverage", "multi_program", "gaps", "programs_0",
                                                       "programs_1", "programs_2", "programs_3plus",
                                                       # targeting snapshots and duplicates (gis/targeting.py)
                                                       "desil_exit", "entered", "left", "duplicates"]
    assert config["measure"] == "desil1" and config["k"] == 1
    assert config["urls"]["villages"] == "/gis/geojson/villages"
    chosen = map_config(get_ok(admin, "/maps/villages/frame?regency=18.71&measure=coverage&k=3&year=1990"))
    assert chosen["regency"] == "18.71" and chosen["measure"] == "coverage" and chosen["k"] == 3
    assert chosen["year"] == last_year  # a year without data falls back to the default
    bad = map_config(get_ok(admin, "/maps/villages/frame?regency=99.99&measure=drop&k=x"))
    assert bad["regency"] == "" and bad["measure"] == "desil1" and bad["k"] == 1


def test_household_map_clusters_up_to_the_limit_then_switches_to_tiles(admin, engine, monkeypatch):
    from gis import maps

    with engine.connect() as conn:
        located = conn.execute(text("SELECT count(*) FROM household WHERE location IS NOT NULL")).scalar()
    html = get_ok(admin, "/maps/households/frame")
    config = map_config(html)
    assert config["mode"] == "cluster" and config["count"] == located
    assert "L.markerClusterGroup(" in html and "L.vectorGrid.protobuf(" not in html
    monkeypatch.setattr(maps, "CLUSTER_LIMIT", located - 1)
    html = get_ok(admin, "/maps/households/frame")
    assert map_config(html)["mode"] == "tiles"
    assert "L.vectorGrid.protobuf(" in html and "L.markerClusterGroup(" not in html
    assert re.search(r"L\.vectorGrid\.protobuf\(\s*'/gis/tiles/households/\{z\}/\{x\}/\{y\}\.pbf\?year=\d{4}'", html)


def test_household_map_counts_only_the_operators_households(app, engine):
    with engine.connect() as conn:
        expected = conn.execute(text("""
            SELECT count(*) FROM household h JOIN village v ON v.id = h.village_id
              JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
             WHERE h.location IS NOT NULL AND r.code = '18.07'""")).scalar()
    config = map_config(get_ok(login(app, "op1807"), "/maps/households/frame"))
    assert config["count"] == expected > 0
