"""The household map's "Sumber data" in a real browser: the operator of Lampung Timur chooses
BDT 2015; the page is built again on it, draws as many points as BDT 2015 lists for the
operator's households (plain SQL over household_snapshot), the legend names the source and shows
BDT's desil 1-4, and a household that moved since BDT 2015 is drawn at its BDT 2015 point.
The host page's URL keeps the choice. Screenshots: test-artifacts/maps_household_snapshot_*.png."""
from __future__ import annotations

from sqlalchemy import text

from tests.browser.conftest import login
from tests.browser.test_maps import TIMEOUT, open_map, settle
from tests.conftest import needs_lampung

OWN = """JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
         JOIN regency r ON r.id = d.regency_id"""


@needs_lampung
def test_choosing_bdt_2015_draws_its_points_and_says_so(page, artifacts, engine):
    with engine.connect() as conn:
        bdt = conn.execute(text("SELECT id FROM targeting_snapshot WHERE source = 'BDT 2015'")).scalar_one()
        latest = conn.execute(text(f"SELECT count(*) FROM household h {OWN} "
                                   "WHERE r.code = '18.07' AND h.location IS NOT NULL")).scalar_one()
        listed = conn.execute(text(f"""SELECT count(*) FROM household_snapshot s JOIN household h ON h.id = s.household_id
                                        {OWN} WHERE s.snapshot_id = :s AND r.code = '18.07' AND s.location IS NOT NULL"""),
                              {"s": bdt}).scalar_one()
        mover = conn.execute(text(f"""
            SELECT h.id, ST_Y(s.location) AS lat, ST_X(s.location) AS lon
              FROM household h JOIN household_snapshot s ON s.household_id = h.id AND s.snapshot_id = :s {OWN}
             WHERE r.code = '18.07' AND ST_Distance(s.location, h.location) > 0.05
             ORDER BY ST_Distance(s.location, h.location) DESC, h.id LIMIT 1"""), {"s": bdt}).one()

    login(page, "op1807")
    frame = open_map(page, "/maps/households/", "households")
    assert int(frame.locator("body").get_attribute("data-households-loaded")) == latest
    legend = frame.locator(".sinergi-legend")
    assert "Sumber Data" not in legend.inner_text() and "Desil 10" in legend.inner_text()
    options = frame.locator("#sinergi-snapshot option").all_inner_texts()
    assert options[0] == "data terbaru" and "BDT 2015" in options and "DTSEN 2025-Q4" in options

    frame.select_option("#sinergi-snapshot", str(bdt))  # the frame is built again on the choice
    page.frame_locator("#sinergi-map-frame").locator(
        f"body[data-snapshot-shown='{bdt}'][data-households-state=ready]").wait_for(timeout=TIMEOUT)
    frame = page.frame(url=lambda url: "/maps/households/frame" in url and f"snapshot={bdt}" in url)
    settle(frame)
    assert int(frame.locator("body").get_attribute("data-households-loaded")) == listed
    legend = frame.locator(".sinergi-legend")
    text_ = legend.inner_text()
    assert "Sumber Data: BDT 2015" in text_ and "Desil 4" in text_ and "Desil 5" not in text_
    assert f"snapshot={bdt}" in page.url  # the host page keeps the choice (a reload opens on it)
    assert frame.locator("#sinergi-snapshot").input_value() == str(bdt)
    page.screenshot(path=str(artifacts / "maps_household_snapshot_bdt2015.png"))

    # The household that moved farthest since BDT 2015 is drawn where BDT 2015 put it.
    drawn = frame.evaluate("""(id) => { let at = null;
        SinergiMaps.current.cluster.eachLayer(m => { if (m.feature.properties.id === id) at = m.getLatLng(); });
        return at && {lat: at.lat, lon: at.lng}; }""", mover.id)
    assert drawn and abs(drawn["lat"] - mover.lat) < 1e-6 and abs(drawn["lon"] - mover.lon) < 1e-6
