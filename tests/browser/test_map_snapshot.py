"""The village map's "Sumber data" in a real browser: the operator of Lampung Timur chooses
BDT 2015; the villages are recoloured with BDT 2015's figures (checked against plain SQL over
household_snapshot for one village), the legend and a village's popup name the source, the host
page's URL keeps the choice, and the popup's link opens the household list of the village with
the list's own "Sumber data" set to BDT 2015. Screenshots: test-artifacts/maps_village_snapshot_*.png.
"""
from __future__ import annotations

import re

from sqlalchemy import text

from tests.browser.conftest import login
from tests.browser.test_maps import FRAME, TIMEOUT, click_on_map, fills, open_map, settle
from tests.conftest import needs_lampung


@needs_lampung
def test_choosing_bdt_2015_recolours_the_villages_and_says_so(page, artifacts, engine):
    with engine.connect() as conn:
        bdt = conn.execute(text("SELECT id FROM targeting_snapshot WHERE source = 'BDT 2015'")).scalar_one()
        # The Lampung Timur village whose desil-1 count differs most between BDT 2015 and the
        # latest data (households still declared in Lampung Timur: the operator's scope).
        village = conn.execute(text("""
            WITH own AS (SELECT h.id FROM household h JOIN village v ON v.id = h.village_id
                           JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
                          WHERE r.code = '18.07'),
            b AS (SELECT s.village_id, count(*) FILTER (WHERE s.desil = 1) AS d1 FROM household_snapshot s
                   WHERE s.snapshot_id = :s AND s.household_id IN (SELECT id FROM own) GROUP BY 1),
            l AS (SELECT h.village_id, count(*) FILTER (WHERE h.desil = 1) AS d1 FROM household h
                   WHERE h.id IN (SELECT id FROM own) GROUP BY 1)
            SELECT v.id, v.code, coalesce(b.d1, 0) AS bdt_d1, coalesce(l.d1, 0) AS latest_d1,
                   ST_Y(p.p) AS lat, ST_X(p.p) AS lon, ST_XMin(v.geom) AS west, ST_YMin(v.geom) AS south,
                   ST_XMax(v.geom) AS east, ST_YMax(v.geom) AS north
              FROM b FULL JOIN l USING (village_id) JOIN village v ON v.id = village_id,
                   LATERAL (SELECT ST_PointOnSurface(ST_Buffer(v.geom, -0.001)) AS p) p
             WHERE v.code LIKE '18.07.%' AND NOT ST_IsEmpty(ST_Buffer(v.geom, -0.001))
             ORDER BY abs(coalesce(b.d1, 0) - coalesce(l.d1, 0)) DESC, v.code LIMIT 1"""), {"s": bdt}).one()
    assert village.bdt_d1 != village.latest_d1

    login(page, "op1807")
    frame = open_map(page, "/maps/villages/", "villages")
    legend = frame.locator(".sinergi-legend")
    assert "BDT 2015" not in legend.inner_text()
    by_code = lambda: {f["code"]: f["desil1"] for f in frame.evaluate("() => SinergiMaps.current.features()")}
    # each village's fill (the set of colours in use stays the same when villages change class)
    fill_by_code = lambda: frame.evaluate("""() => { const out = {};
        SinergiMaps.current.villages.eachLayer(l => { out[l.feature.properties.code] = l.options.fillColor; });
        return out; }""")
    latest, latest_fills = by_code(), fill_by_code()
    assert fills(frame) == set(latest_fills.values())  # what is drawn is what the layers hold
    assert latest[village.code] == village.latest_d1
    page.screenshot(path=str(artifacts / "maps_village_snapshot_latest.png"))

    # The choice offers the same sources as the household list and the LP2KD, the latest first.
    options = frame.locator("#sinergi-snapshot option").all_inner_texts()
    assert options[0] == "data terbaru" and "BDT 2015" in options and "DTSEN 2025-Q4" in options
    frame.select_option("#sinergi-snapshot", str(bdt))
    frame.locator(f"body[data-snapshot-shown='{bdt}'][data-villages-state=ready]").wait_for(timeout=TIMEOUT)
    settle(frame)
    chosen = by_code()
    assert chosen[village.code] == village.bdt_d1 and chosen != latest  # the numbers change
    chosen_fills = fill_by_code()
    assert chosen_fills != latest_fills and fills(frame) == set(chosen_fills.values())
    assert "Sumber Data: BDT 2015" in legend.inner_text()
    assert f"snapshot={bdt}" in page.url  # the host page keeps the choice (a reload opens on it)

    frame.evaluate("([s, w, n, e]) => { SinergiMaps.current.map.fitBounds([[s, w], [n, e]], {animate: false}); }",
                   [village.south, village.west, village.north, village.east])
    settle(frame)
    assert frame.locator("body").get_attribute("data-snapshot-shown") == str(bdt)  # reloaded for the view, same source
    click_on_map(page, frame, village.lat, village.lon)
    popup = page.frame_locator(FRAME).locator(".sinergi-popup")
    popup.wait_for()
    assert popup.get_attribute("data-village-code") == village.code
    first = popup.locator("tr").first.locator("td").all_inner_texts()
    assert first == ["Sumber Data", "BDT 2015"]
    frame.wait_for_timeout(400)  # the popup fades in
    page.screenshot(path=str(artifacts / "maps_village_snapshot_bdt2015.png"))

    link = popup.locator("a.sinergi-household-list")
    assert re.search(rf"_flt_\d+_snapshot={bdt}", link.get_attribute("href"))
    link.click()
    page.wait_for_url(re.compile(rf"/householdview/list/\?.*_flt_\d+_village={village.id}"), timeout=TIMEOUT)
    page.wait_for_load_state("networkidle")
    assert page.locator("#targeting-snapshot option:checked").inner_text().strip() == "BDT 2015"
    page.screenshot(path=str(artifacts / "maps_village_snapshot_household_list.png"))
