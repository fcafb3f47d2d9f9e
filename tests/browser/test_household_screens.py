"""In a real browser (gunicorn, CSRF on, no base layer, no request outside the app): the operator
of Lampung Timur adds a household by clicking the map picker, finds it in the village's list
and sees its map; and makes a priority zone from the villages of one kecamatan."""
from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from tests.browser.conftest import login
from tests.conftest import HAVE_LAMPUNG, needs_lampung


@pytest.fixture()
def village(engine):
    """A village of Lampung Timur (18.07) and a point well inside it."""
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT v.id, v.code, v.name, d.id AS district_id, d.name AS district,
                   ST_X(p) AS lon, ST_Y(p) AS lat
            FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id,
                 LATERAL (SELECT ST_PointOnSurface(ST_Buffer(v.geom, -0.002)) AS p) s
            WHERE r.code = '18.07' AND NOT ST_IsEmpty(ST_Buffer(v.geom, -0.002))
            ORDER BY v.code LIMIT 1""")).one()
    return row


def choose_select2(page, select_id, search):
    page.click(f"#{select_id} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", search)
    page.wait_for_selector(".select2-results__option--highlighted")
    page.keyboard.press("Enter")


def map_point(page, selector, lat, lon):
    """Page coordinates of (lat, lon) on the Leaflet map in ``selector``."""
    return page.evaluate("""([sel, lat, lon]) => {
        const el = document.querySelector(sel);
        const p = el.sinergiMap.latLngToContainerPoint([lat, lon]);
        const box = el.getBoundingClientRect();
        return {x: box.left + p.x, y: box.top + p.y};
    }""", [selector, lat, lon])


@needs_lampung
def test_admin_adds_household_with_the_map_picker(page, artifacts, engine, village):
    """Admin adds directly (every other role proposes a new household: app/security/duties.py)."""
    no_kk = f"189999010190{random.randrange(5000, 9999):04d}"
    login(page, "admin")
    page.goto("/householdview/add")
    page.wait_for_selector("#point-picker[data-loaded='1']")
    page.fill("#no_kk", no_kk)
    page.fill("#head_nik", "1807015203990002")
    page.fill("#head_name", "Sari Peta Klik")
    page.fill("#address", "Dusun Uji Peta")
    choose_select2(page, "village", village.code)
    page.wait_for_selector(f"#point-picker[data-village-loaded='{village.id}']")
    assert page.locator("#point-picker path.leaflet-interactive, #point-picker svg path").count() >= 1

    # Click the map inside the village: the inputs follow, a marker appears.
    # The navbar may wrap to two rows: bring the whole map into the viewport before clicking on it.
    page.locator("#point-picker").scroll_into_view_if_needed()
    spot = map_point(page, "#point-picker", village.lat, village.lon)
    page.mouse.click(spot["x"], spot["y"])
    page.wait_for_selector("#point-picker .leaflet-marker-icon")
    lat, lon = float(page.input_value("#latitude")), float(page.input_value("#longitude"))
    pixel = page.evaluate("""() => { const m = document.querySelector('#point-picker').sinergiMap;
        const a = m.containerPointToLatLng([0, 0]), b = m.containerPointToLatLng([1, 1]);
        return Math.max(Math.abs(a.lat - b.lat), Math.abs(a.lng - b.lng)); }""")
    assert lat == pytest.approx(village.lat, abs=3 * pixel) and lon == pytest.approx(village.lon, abs=3 * pixel)
    page.screenshot(path=str(artifacts / "household_add_picker.png"), full_page=True)

    # Dragging the marker moves the point; typing moves the marker.
    icon = page.locator("#point-picker .leaflet-marker-icon").bounding_box()
    page.mouse.move(icon["x"] + icon["width"] / 2, icon["y"] + icon["height"] - 4)
    page.mouse.down()
    page.mouse.move(icon["x"] + icon["width"] / 2 + 6, icon["y"] + icon["height"] - 4 + 6, steps=4)
    page.mouse.up()
    dragged = float(page.input_value("#latitude")), float(page.input_value("#longitude"))
    assert dragged != (lat, lon)
    page.fill("#latitude", f"{village.lat:.6f}")
    page.fill("#longitude", f"{village.lon:.6f}")
    marker = page.evaluate("""() => { const m = document.querySelector('#point-picker').sinergiMap;
        let at = null; m.eachLayer(l => { if (l.getLatLng && l.dragging) { at = l.getLatLng(); } }); return at; }""")
    assert marker["lat"] == pytest.approx(village.lat, abs=1e-6)
    assert marker["lng"] == pytest.approx(village.lon, abs=1e-6)

    page.click("form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".alert-success").count() == 1, page.content()[:3000]

    page.goto(f"/householdview/list/?_flt_0_village={village.id}")
    page.wait_for_load_state("networkidle")
    row = page.locator("tbody tr", has_text="Sari Peta Klik")
    assert row.count() == 1
    assert village.name in row.inner_text()
    page.screenshot(path=str(artifacts / "household_list_village.png"), full_page=True)

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT ST_Y(location), ST_X(location) FROM household WHERE no_kk = :k"),
                              {"k": no_kk}).one()
    assert stored[0] == pytest.approx(village.lat, abs=1e-6) and stored[1] == pytest.approx(village.lon, abs=1e-6)

    # The show page: the point on the village, from the household's GeoJSON endpoint.
    row.locator("a[href*='/householdview/show/']").first.click()
    page.wait_for_selector("#feature-map[data-loaded='1']")
    assert page.get_attribute("#feature-map", "data-features") == "2"
    assert page.locator("#feature-map svg path").count() >= 2  # village outline + the point
    page.screenshot(path=str(artifacts / "household_show_map.png"), full_page=True)

    # The operator's edit form has no point (separation of duties: a change of the point is
    # proposed); Admin's edit form opens on the stored point.
    edit_url = page.url.replace("/show/", "/edit/")
    page.goto("/logout/")
    login(page, "op1807")
    page.goto(edit_url)
    assert page.locator("#request-only-note").count() == 1 and page.locator("#point-picker").count() == 0
    page.goto("/logout/")
    login(page, "admin")
    page.goto(edit_url)
    page.wait_for_selector("#point-picker[data-loaded='1']")
    assert float(page.input_value("#latitude")) == pytest.approx(village.lat, abs=1e-6)
    page.wait_for_selector("#point-picker .leaflet-marker-icon")
    page.wait_for_selector(f"#point-picker[data-village-loaded='{village.id}']")
    page.screenshot(path=str(artifacts / "household_edit_picker.png"), full_page=True)


def test_operator_proposes_a_new_household_from_the_list(page, artifacts):
    """No direct add for an operator: one click on the list opens the "new household" request."""
    login(page, "op1807")
    page.goto("/householdview/list/")
    assert page.locator("a[href*='/householdview/add']").count() == 0
    page.click("#propose-new-household")
    page.wait_for_load_state("networkidle")
    assert "/updaterequestview/add" in page.url
    assert page.locator("#kind").input_value() == "baru"
    page.screenshot(path=str(artifacts / "household_propose_new.png"), full_page=True)


def test_bad_point_comes_back_with_the_message_and_the_input(page, artifacts, village):
    login(page, "admin")
    page.goto("/householdview/add")
    page.wait_for_selector("#point-picker[data-loaded='1']")
    page.fill("#no_kk", f"189999010190{random.randrange(5000, 9999):04d}")
    page.fill("#head_nik", "1807015203990002")
    page.fill("#head_name", "Titik Tertukar")
    choose_select2(page, "village", village.code)
    page.fill("#latitude", f"{village.lon:.6f}")  # swapped
    page.fill("#longitude", f"{village.lat:.6f}")
    page.click("form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.input_value("#head_name") == "Titik Tertukar"
    assert page.input_value("#latitude") == f"{village.lon:.6f}"
    error = page.locator("#location").locator("xpath=ancestor::td[1]").locator(".alert-danger")
    assert error.count() == 1
    page.screenshot(path=str(artifacts / "household_add_swapped.png"), full_page=True)


@pytest.mark.skipif(not HAVE_LAMPUNG, reason="needs the real Lampung villages")
def test_operator_makes_a_zone_from_a_kecamatan(page, artifacts, engine, village):
    name = f"Zona Kecamatan {village.district} {random.randrange(1000, 9999)}"
    login(page, "op1807")
    page.goto("/priorityzoneview/add")
    page.wait_for_selector("#zone-district")
    page.fill("#name", name)
    page.select_option("#zone-district", str(village.district_id))
    page.click("#zone-district-add")
    chosen = page.locator("#source_villages + .select2 .select2-selection__choice").count()
    with engine.connect() as conn:
        expected = conn.execute(text("SELECT count(*) FROM village WHERE district_id = :d"),
                                {"d": village.district_id}).scalar_one()
    assert chosen == expected
    page.screenshot(path=str(artifacts / "zone_add_kecamatan.png"), full_page=True)
    page.click("form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".alert-success").count() == 1, page.content()[:3000]

    page.goto("/priorityzoneview/list/")
    page.locator("tbody tr", has_text=name).locator("a[href*='/priorityzoneview/show/']").first.click()
    page.wait_for_selector("#feature-map[data-loaded='1']")
    assert page.get_attribute("#feature-map", "data-features") == str(expected + 1)
    page.screenshot(path=str(artifacts / "zone_show_map.png"), full_page=True)
