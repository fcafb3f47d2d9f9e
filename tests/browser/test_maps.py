"""The village and household maps in a real browser (gunicorn, CSRF on, no base layer, and
no request outside the app — the page fixture fails on any, on console errors and on failed
requests, inside the map iframe too).

- The village map draws every village as a polygon; switching the measure changes the legend
  and the colours; a popup link opens the household list of exactly that village.
- The household map clusters the points; a household's popup shows its masked No KK and
  links to the household; beyond the cluster limit the points come as vector tiles.
- The operator of Lampung Timur (op1807) sees only Lampung Timur.
Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import re

from sqlalchemy import text

from tests.conftest import needs_lampung

from tests.browser.conftest import login

FRAME = "#sinergi-map-frame"
TIMEOUT = 60_000


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def open_map(page, path: str, state: str):
    """Open a map page and wait until its data is drawn and nothing is loading any more."""
    page.goto(path)
    page.frame_locator(FRAME).locator(f"body[data-{state}-state=ready]").wait_for(timeout=TIMEOUT)
    frame = page.frame(url=re.compile(r"/maps/\w+/frame"))
    settle(frame)
    return frame


def settle(frame):
    frame.wait_for_function("() => window.SinergiMaps && SinergiMaps.current && !SinergiMaps.busy()",
                            timeout=TIMEOUT)


def click_on_map(page, frame, lat: float, lon: float):
    """A real mouse click on (lat, lon) of the map inside the iframe."""
    point = frame.evaluate("([lat, lon]) => { const p = SinergiMaps.current.map.latLngToContainerPoint([lat, lon]);"
                           " return {x: p.x, y: p.y}; }", [lat, lon])
    page.locator(FRAME).scroll_into_view_if_needed()
    box = page.locator(FRAME).bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


def fills(frame) -> set[str]:
    return set(frame.evaluate("() => [...document.querySelectorAll('.leaflet-sinergi-villages-pane path')]"
                              ".map(p => p.getAttribute('fill'))"))


def test_village_map_draws_polygons_and_the_legend_follows_the_measure(page, artifacts, engine):
    villages = scalar(engine, "SELECT count(*) FROM village")
    login(page, "bappeda")
    frame = open_map(page, "/maps/villages/", "villages")
    assert int(frame.locator("body").get_attribute("data-villages-loaded")) == villages
    paths = frame.locator("svg path.leaflet-interactive").count()
    assert paths >= villages > 0, f"{paths} SVG paths for {villages} villages"
    legend = frame.locator(".sinergi-legend")
    assert legend.get_attribute("data-measure") == "desil1"
    desil1_legend, desil1_fills = legend.inner_text(), fills(frame)
    page.screenshot(path=str(artifacts / "maps_village_desil1.png"))

    frame.select_option("#sinergi-measure", "coverage")
    frame.locator(".sinergi-legend[data-measure=coverage]").wait_for()
    coverage_legend = legend.inner_text()
    assert coverage_legend != desil1_legend and "80–100 %" in coverage_legend
    assert fills(frame) != desil1_fills, "the villages kept their colours"
    page.screenshot(path=str(artifacts / "maps_village_coverage.png"))

    frame.select_option("#sinergi-measure", "gaps")
    frame.locator(".sinergi-legend[data-measure=gaps]").wait_for()
    assert "≤ 1" in legend.locator("h6").inner_text()
    frame.select_option("#sinergi-k", "2")  # k changes the gap figures: reloaded from the endpoint
    frame.locator(".sinergi-legend[data-measure=gaps] h6", has_text="≤ 2").wait_for()
    settle(frame)
    assert frame.evaluate("() => SinergiMaps.current.state.k") == 2
    assert "k=2" in page.url and "measure=gaps" in page.url  # the host page keeps the choice
    page.screenshot(path=str(artifacts / "maps_village_gaps_k2.png"))


@needs_lampung
def test_village_popup_link_opens_the_household_list_of_that_village(page, artifacts, engine):
    with engine.connect() as conn:
        village = conn.execute(text("""
            SELECT v.id, v.code, v.name, count(h.id) AS households,
                   ST_Y(s.p) AS lat, ST_X(s.p) AS lon,
                   ST_XMin(v.geom) AS west, ST_YMin(v.geom) AS south, ST_XMax(v.geom) AS east, ST_YMax(v.geom) AS north
              FROM village v JOIN household h ON h.village_id = v.id,
                   LATERAL (SELECT ST_PointOnSurface(ST_Buffer(v.geom, -0.001)) AS p) s
             WHERE NOT ST_IsEmpty(ST_Buffer(v.geom, -0.001))
             GROUP BY v.id, s.p ORDER BY count(h.id) DESC, v.code LIMIT 1""")).one()
    assert village.households <= 50, "the check below reads one page of the list"
    login(page, "admin")
    frame = open_map(page, "/maps/villages/", "villages")
    frame.evaluate("([s, w, n, e]) => { SinergiMaps.current.map.fitBounds([[s, w], [n, e]], {animate: false}); }",
                   [village.south, village.west, village.north, village.east])
    settle(frame)
    click_on_map(page, frame, village.lat, village.lon)
    popup = page.frame_locator(FRAME).locator(".sinergi-popup")
    popup.wait_for()
    assert popup.get_attribute("data-village-code") == village.code
    assert village.name in popup.inner_text()
    frame.wait_for_timeout(400)  # the popup fades in
    page.screenshot(path=str(artifacts / "maps_village_popup.png"))

    popup.locator("a.sinergi-household-list").click()
    page.wait_for_url(re.compile(rf"/householdview/list/\?_flt_0_village={village.id}$"), timeout=TIMEOUT)
    page.wait_for_load_state("networkidle")
    rows = page.locator("table.table-hover tbody tr:has(a[href*='/householdview/show/'])")
    assert rows.count() == village.households
    for text_ in rows.all_inner_texts():
        assert f"({village.code})" in text_, text_
        assert not re.search(r"\(18\.\d\d\.\d\d\.\d{4}\)", text_.replace(f"({village.code})", ""))
    page.screenshot(path=str(artifacts / "maps_village_household_list.png"))


def test_household_map_clusters_points_and_shows_a_masked_household(page, artifacts, engine):
    located = scalar(engine, "SELECT count(*) FROM household WHERE location IS NOT NULL")
    login(page, "pimpinan")  # province-wide, read-only, may not see full No KK
    frame = open_map(page, "/maps/households/", "households")
    assert int(frame.locator("body").get_attribute("data-households-loaded")) == located
    clusters = frame.locator(".sinergi-cluster").count()
    assert 0 < clusters < located, f"{clusters} clusters for {located} points"
    assert frame.locator(".sinergi-legend").get_attribute("data-colour") == "desil"
    page.screenshot(path=str(artifacts / "maps_household_clusters.png"))

    frame.select_option("#sinergi-colour", "programs")
    frame.locator(".sinergi-legend[data-colour=programs]").wait_for()
    page.screenshot(path=str(artifacts / "maps_household_programs.png"))

    # Zoom until one household stands alone, bring it to the middle (clear of the controls), click it.
    frame.evaluate("""() => new Promise(done => {
        const cluster = SinergiMaps.current.cluster;
        const marker = cluster.getLayers()[0];
        cluster.zoomToShowLayer(marker, () => { window.shownMarker = marker; done(); });
    })""")
    frame.wait_for_timeout(500)  # spiderfy animation
    frame.evaluate("() => { SinergiMaps.current.map.panTo(shownMarker.getLatLng(), {animate: false}); }")
    settle(frame)
    household = frame.evaluate("() => ({id: shownMarker.feature.properties.id, lat: shownMarker.getLatLng().lat,"
                               " lon: shownMarker.getLatLng().lng})")
    click_on_map(page, frame, household["lat"], household["lon"])
    popup = page.frame_locator(FRAME).locator(".sinergi-popup")
    popup.wait_for()
    shown_id = int(popup.get_attribute("data-household-id"))
    no_kk = scalar(engine, "SELECT no_kk FROM household WHERE id = :id", id=shown_id)
    body = popup.inner_text()
    assert no_kk not in body and f"{no_kk[:4]}{'*' * 8}{no_kk[-4:]}" in body, body
    assert popup.locator("a.sinergi-household-show").get_attribute("href") == f"/householdview/show/{shown_id}"
    frame.wait_for_timeout(400)  # the popup fades in
    page.screenshot(path=str(artifacts / "maps_household_popup.png"))


def test_household_map_beyond_the_cluster_limit_uses_vector_tiles(page, artifacts, engine):
    # Where households are dense: the mean point of the village with the most located households.
    with engine.connect() as conn:
        lat, lon = conn.execute(text("""
            SELECT ST_Y(ST_Centroid(ST_Collect(location))), ST_X(ST_Centroid(ST_Collect(location)))
              FROM household WHERE location IS NOT NULL
             GROUP BY village_id ORDER BY count(*) DESC LIMIT 1""")).one()
    login(page, "admin")
    page.goto("/maps/households/?mode=tiles")  # what the page chooses beyond gis.maps.CLUSTER_LIMIT points
    page.frame_locator(FRAME).locator("body[data-households-state=ready]").wait_for(timeout=TIMEOUT)
    frame = page.frame(url=re.compile(r"/maps/households/frame"))
    settle(frame)
    assert frame.locator("canvas.leaflet-tile").count() > 0
    assert frame.locator(".sinergi-cluster").count() == 0
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts / "maps_household_tiles.png"))

    # Zoomed in, the tiles hold single households: click one drawn point for its popup.
    frame.evaluate("([lat, lon]) => { SinergiMaps.current.map.setView([lat, lon], 15, {animate: false}); }", [lat, lon])
    frame.locator("body[data-households-state=ready]").wait_for(timeout=TIMEOUT)
    page.wait_for_load_state("networkidle")
    point = frame.evaluate("""() => {
        const tiles = SinergiMaps.current.tiles, map = SinergiMaps.current.map, size = tiles.getTileSize();
        const centre = map.getSize().divideBy(2);
        let best = null;
        for (const key in tiles._vectorTiles) {
            const drawn = tiles._vectorTiles[key]._features, coord = tiles._vectorTiles[key].getCoord();
            for (const id in drawn) {
                const f = drawn[id].feature;
                if (f.properties.id === undefined || !f._point) continue;
                const ll = map.unproject(L.point(coord.x * size.x + f._point.x, coord.y * size.y + f._point.y), coord.z);
                const p = map.latLngToContainerPoint(ll);
                const d = p.distanceTo(centre);
                if (!best || d < best.d) best = {d, id: f.properties.id, lat: ll.lat, lon: ll.lng};
            }
        }
        return best; }""")
    assert point, "no household drawn from the vector tiles at zoom 15"
    click_on_map(page, frame, point["lat"], point["lon"])
    popup = page.frame_locator(FRAME).locator(".sinergi-popup")
    popup.wait_for()
    shown = int(popup.get_attribute("data-household-id"))  # the point clicked (or one drawn over it)
    assert scalar(engine, "SELECT count(*) FROM household WHERE id = :id AND location IS NOT NULL", id=shown) == 1
    assert popup.locator("a.sinergi-household-show").get_attribute("href") == f"/householdview/show/{shown}"
    frame.wait_for_timeout(400)  # the popup fades in
    page.screenshot(path=str(artifacts / "maps_household_tiles_popup.png"))


def test_operator_maps_hold_only_lampung_timur(page, artifacts, engine):
    in_regency = """FROM household h JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
                    JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.07'"""
    villages_with_households = scalar(engine, f"SELECT count(DISTINCT h.village_id) {in_regency}")
    households = scalar(engine, f"SELECT count(*) {in_regency}")
    located = scalar(engine, f"SELECT count(*) {in_regency} AND h.location IS NOT NULL")
    login(page, "op1807")
    frame = open_map(page, "/maps/villages/?regency=18.71", "villages")  # another regency is not granted
    assert frame.locator("#sinergi-regency").count() == 0  # no regency to choose
    features = frame.evaluate("() => SinergiMaps.current.features()")
    assert features and all(f["code"].startswith("18.07.") for f in features)
    with_households = [f for f in features if f["households"] > 0]
    assert len(with_households) == villages_with_households > 0
    assert sum(f["households"] for f in with_households) == households
    page.screenshot(path=str(artifacts / "maps_village_op1807.png"))

    frame = open_map(page, "/maps/households/", "households")
    assert int(frame.locator("body").get_attribute("data-households-loaded")) == located
    assert frame.locator(".sinergi-cluster").count() > 0
    page.screenshot(path=str(artifacts / "maps_household_op1807.png"))


def test_a_village_found_by_search_or_linked_by_code_opens_zoomed_with_its_figures(page, artifacts, engine):
    """The search box finds a village by a word of its name; choosing it zooms there and opens its
    popup with the 0/1/2/3+ program counts; ?village=<code>&measure=programs_0 (the analysis
    tables' link) does the same on load. The popup stays below the layer switcher; the scale is
    metric only."""
    with engine.connect() as conn:
        village = conn.execute(text("""
            SELECT v.code, v.name FROM village v JOIN district d ON d.id = v.district_id
              JOIN regency r ON r.id = d.regency_id
             WHERE r.code = '18.07' AND EXISTS (SELECT 1 FROM household h WHERE h.village_id = v.id)
               AND v.name ~ '^[A-Za-z]+ [A-Za-z]+$' ORDER BY v.code LIMIT 1""")).one()
    login(page, "op1807")
    frame = open_map(page, "/maps/villages/?measure=programs_3plus", "villages")
    # the whole name, typed in lower case: names starting with it come first among the 10 answers
    frame.fill("#sinergi-village-search", village.name.lower())
    option = frame.locator(f"#sinergi-village-results a[data-code='{village.code}']")
    option.wait_for(timeout=TIMEOUT)
    assert "Kec." in option.inner_text() and village.code in option.inner_text()
    option.click()
    frame.locator(f"body[data-focused-village='{village.code}']").wait_for(timeout=TIMEOUT)
    popup = frame.locator(".sinergi-popup")
    assert popup.get_attribute("data-village-code") == village.code
    text_ = popup.inner_text()
    for label in ("tanpa program", "1 program", "2 program", "3+ program"):
        assert label in text_, text_
    layers = frame.locator(".leaflet-control-layers").bounding_box()
    box = frame.locator(".leaflet-popup-content-wrapper").bounding_box()
    overlap_x = box["x"] < layers["x"] + layers["width"] and layers["x"] < box["x"] + box["width"]
    overlap_y = box["y"] < layers["y"] + layers["height"] and layers["y"] < box["y"] + box["height"]
    assert not (overlap_x and overlap_y), (box, layers)  # the popup does not cover the layer switcher
    scale = frame.locator(".leaflet-control-scale").inner_text()
    assert re.search(r"\d+ k?m", scale) and "mi" not in scale and "ft" not in scale, scale
    page.screenshot(path=str(artifacts / "maps_village_search.png"))

    frame = open_map(page, f"/maps/villages/?measure=programs_0&village={village.code}", "villages")
    frame.locator(f"body[data-focused-village='{village.code}']").wait_for(timeout=TIMEOUT)
    assert frame.locator("#sinergi-measure").input_value() == "programs_0"
    assert frame.locator(".sinergi-legend").get_attribute("data-measure") == "programs_0"
    assert frame.locator(".sinergi-popup").get_attribute("data-village-code") == village.code
    page.screenshot(path=str(artifacts / "maps_village_linked.png"))
