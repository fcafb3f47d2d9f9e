"""The village map coloured by the targeting measures in a real browser (gis/targeting.py):
"Keluar dari desil 1–4", "Masuk data", "Keluar data" (the two latest snapshots) and open duplicate
pairs. Each recolours the villages with its own legend (the diff measures name the snapshots
compared); a village's popup shows its figure and links to the diff page (the village's regency,
the kind of change) and to the duplicates queue filtered to the village; the operator of Lampung
Timur sees only Lampung Timur. Screenshots go to test-artifacts/maps_village_<measure>.png.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from tests.browser.conftest import login
from tests.browser.test_maps import FRAME, TIMEOUT, click_on_map, fills, open_map, settle
from tests.conftest import needs_lampung

MEASURES = ("desil_exit", "entered", "left", "duplicates")


def choose(frame, measure: str) -> None:
    frame.select_option("#sinergi-measure", measure)
    frame.locator(f".sinergi-legend[data-measure={measure}]").wait_for()
    frame.locator("body[data-targeting-state=ready]").wait_for(timeout=TIMEOUT)
    settle(frame)


@needs_lampung
def test_each_targeting_measure_colours_the_villages_with_its_legend(page, artifacts, engine):
    with engine.connect() as conn:
        latest = conn.execute(text("SELECT source || ' ' || period FROM targeting_snapshot "
                                   "ORDER BY period_start DESC, id DESC LIMIT 2")).scalars().all()
    login(page, "bappeda")
    frame = open_map(page, "/maps/villages/", "villages")
    legend = frame.locator(".sinergi-legend")
    seen = {"desil1": fills(frame)}
    for measure in MEASURES:
        choose(frame, measure)
        colours = fills(frame)
        assert colours not in seen.values(), f"{measure}: the villages kept the colours of another measure"
        assert len(colours) >= 3, (measure, colours)  # zero, some classes, grey (no households)
        seen[measure] = colours
        if measure != "duplicates":
            assert latest[1] in legend.inner_text() and latest[0] in legend.inner_text()
        page.screenshot(path=str(artifacts / f"maps_village_{measure}.png"))
    assert "measure=duplicates" in page.url  # the host page keeps the choice


@needs_lampung
def test_the_popup_shows_the_figure_and_links_the_diff_and_the_queue(page, artifacts, engine):
    with engine.connect() as conn:
        village = conn.execute(text("""
            WITH c AS (SELECT village_id AS v FROM duplicate_candidate
                       UNION ALL SELECT other_village_id FROM duplicate_candidate WHERE other_village_id <> village_id)
            SELECT v.id, v.code, d.regency_id, count(*) AS pairs, ST_Y(s.p) AS lat, ST_X(s.p) AS lon,
                   ST_XMin(v.geom) AS west, ST_YMin(v.geom) AS south, ST_XMax(v.geom) AS east, ST_YMax(v.geom) AS north
              FROM c JOIN village v ON v.id = c.v JOIN district d ON d.id = v.district_id,
                   LATERAL (SELECT ST_PointOnSurface(ST_Buffer(v.geom, -0.001)) AS p) s
             WHERE NOT ST_IsEmpty(ST_Buffer(v.geom, -0.001)) AND d.regency_id = (SELECT id FROM regency WHERE code = '18.07')
             GROUP BY v.id, d.regency_id, s.p ORDER BY count(*) DESC, v.code LIMIT 1""")).one()
    login(page, "op1807")
    frame = open_map(page, "/maps/villages/?measure=left", "villages")
    frame.locator("body[data-targeting-state=ready]").wait_for(timeout=TIMEOUT)
    features = frame.evaluate("() => SinergiMaps.current.features()")
    assert features and all(f["code"].startswith("18.07.") for f in features)
    page.screenshot(path=str(artifacts / "maps_village_left_op1807.png"))
    choose(frame, "duplicates")
    frame.evaluate("([s, w, n, e]) => { SinergiMaps.current.map.fitBounds([[s, w], [n, e]], {animate: false}); }",
                   [village.south, village.west, village.north, village.east])
    settle(frame)
    click_on_map(page, frame, village.lat, village.lon)
    popup = page.frame_locator(FRAME).locator(".sinergi-popup")
    popup.wait_for()
    assert popup.get_attribute("data-village-code") == village.code
    row = popup.locator("tr", has_text=re.compile("duplikat", re.I))
    assert row.locator("td.num").inner_text() == str(village.pairs)
    diff_link = popup.locator("a.sinergi-snapshot-diff").get_attribute("href")
    assert f"regency_id={village.regency_id}" in diff_link and "a=" in diff_link and "b=" in diff_link
    frame.wait_for_timeout(400)  # the popup fades in
    page.screenshot(path=str(artifacts / "maps_village_duplicates_popup.png"))

    popup.locator("a.sinergi-village-duplicates").click()
    page.wait_for_url(re.compile(rf"/duplicates/\?village={village.id}$"), timeout=TIMEOUT)
    page.wait_for_load_state("networkidle")
    # the queue, filtered to the village, counts what the popup said
    assert page.locator("tr.duplicate-pair").count() == village.pairs
    assert f"{village.pairs}" in page.locator("#duplicates-total").inner_text()


@pytest.mark.parametrize("measure, kind", [("desil_exit", "desil_up"), ("entered", "entered")])
def test_the_diff_link_carries_the_kind_of_change(page, engine, measure, kind):
    login(page, "bappeda")
    frame = open_map(page, f"/maps/villages/?measure={measure}", "villages")
    frame.locator("body[data-targeting-state=ready]").wait_for(timeout=TIMEOUT)
    code = frame.evaluate("() => SinergiMaps.current.features()[0].code")
    html = frame.evaluate("(code) => { const l = SinergiMaps.current.villageLayer(code); l.fire('click', "
                          "{latlng: l.getBounds().getCenter()}); return document.querySelector('.sinergi-popup')"
                          ".outerHTML; }", code)
    assert f"kind={kind}" in html
