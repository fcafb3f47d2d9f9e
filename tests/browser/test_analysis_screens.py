"""As bappeda in a real browser: the Overlap page, another year, an XLSX download opened with
openpyxl; the Location check page with its map, and accepting one located village."""
from __future__ import annotations

import re
import secrets

import openpyxl
import pytest
from sqlalchemy import text

from tests.conftest import needs_lampung

from tests.browser.conftest import login

LAMTIM = "18.07"


def _sql(app, statement, **params):
    from app.extensions import db

    with app.app_context():
        result = db.session.execute(text(statement), params)
        rows = result.fetchall() if result.returns_rows else None
        db.session.commit()
        return rows


@pytest.fixture(scope="module", autouse=True)
def analysed(app):
    """Planner statistics after the bulk demo seed (gis.queries.program_matrix needs them)."""
    _sql(app, "ANALYZE")


def test_bappeda_overlap_other_year_and_xlsx_download(page, app, artifacts):
    login(page, "bappeda")
    page.goto("/analysis/overlap/?year=2017")
    page.wait_for_selector("#table-overlap-villages")
    page.screenshot(path=str(artifacts / "analysis_overlap.png"), full_page=False)
    page.locator("#table-overlap-matrix").screenshot(path=str(artifacts / "analysis_overlap_matrix.png"))
    reached_2017 = page.locator("#table-overlap-regencies tfoot th").nth(3).inner_text()
    assert int(re.sub(r"\D", "", reached_2017)) > 0
    assert page.locator("#table-overlap-matrix td.sinergi-diagonal").count() > 0

    # Another year: every table follows it (no enrolments in the year: nobody reached).
    years = [o for o in page.locator("#filter-year option").evaluate_all("els => els.map(e => e.value)")
             if o != "2017"]
    assert years, "the year selector offers other years"
    other = max(years)
    page.select_option("#filter-year", other)
    page.click("#filter-submit")
    page.wait_for_url(re.compile(rf"year={other}"))
    assert other in page.locator(".page-header h2").inner_text()
    assert page.locator("#filter-year").input_value() == other
    page.screenshot(path=str(artifacts / "analysis_overlap_other_year.png"), full_page=False)

    # Back to 2017, one regency, and download the village table as XLSX.
    lamtim_id = str(_sql(app, "SELECT id FROM regency WHERE code = :c", c=LAMTIM)[0][0])
    page.select_option("#filter-year", "2017")
    page.select_option("#filter-regency", lamtim_id)
    page.click("#filter-submit")
    page.wait_for_url(re.compile(r"year=2017.*regency_id=|regency_id=.*year=2017"))
    table = page.locator("#table-overlap-villages")
    expected_rows = int(table.get_attribute("data-rows"))
    first_code = table.locator("tbody tr").first.locator("td").first.inner_text().strip()
    first_households = table.locator("tbody tr").first.locator("td").nth(3).inner_text().strip()
    with page.expect_download() as info:
        table.locator("a[data-download=XLSX]").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx") and "2017" in download.suggested_filename
    path = artifacts / "analysis_overlap_villages.xlsx"
    download.save_as(str(path))
    book = openpyxl.load_workbook(path)
    sheet = book.active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == expected_rows + 1
    assert all(str(r[0]).startswith(LAMTIM + ".") for r in rows[1:])
    first = next(r for r in rows[1:] if r[0] == first_code)
    assert first[3] == int(re.sub(r"\D", "", first_households))
    assert sheet.cell(row=2, column=4).data_type == "n"  # numbers are numbers


def test_bappeda_accepts_a_located_village(page, app, artifacts):
    # A Lampung Timur household whose point lies in another village of the regency.
    serial = secrets.randbelow(10 ** 6)
    hid, declared, located = _sql(app, """
        WITH lt AS (SELECT v.id, v.geom, v.code FROM village v JOIN district d ON d.id = v.district_id
                    JOIN regency r ON r.id = d.regency_id WHERE r.code = :c ORDER BY v.code)
        INSERT INTO household (no_kk, head_name, head_nik, village_id, desil, member_count, source, location)
        SELECT :kk, 'Uji Browser Titik', :nik, (SELECT id FROM lt LIMIT 1), 1, 2, 'uji',
               (SELECT ST_PointOnSurface(geom) FROM lt OFFSET 3 LIMIT 1)
        RETURNING id, village_id, located_village_id""",
                                  c=LAMTIM, kk=f"180701{serial:06d}0001", nik=f"180701010180{serial % 10000:04d}")[0]
    assert located and located != declared
    lamtim_id = _sql(app, "SELECT id FROM regency WHERE code = :c", c=LAMTIM)[0][0]

    login(page, "bappeda")
    page.goto(f"/locationcheck/list/?regency_id={lamtim_id}&status=beda_desa&page_size=1000")
    page.wait_for_selector("#location-map[data-loaded='1']", timeout=20000)
    assert int(page.locator("#location-map").get_attribute("data-points")) > 0
    assert page.locator("#location-map path").count() > 0  # villages and points drawn
    row = page.locator(f"tr[data-household='{hid}']")
    assert row.count() == 1
    row.locator("a.location-zoom").click()  # zooms the map to the point and opens its popup
    page.wait_for_selector(".leaflet-popup-content")
    assert "Uji Browser Titik" in page.locator(".leaflet-popup-content").inner_text()
    page.screenshot(path=str(artifacts / "analysis_location_check.png"), full_page=False)

    row.locator("input[name=rowid]").check()
    with page.expect_navigation():
        page.click("#accept-located")
    page.wait_for_load_state("networkidle")
    assert page.locator(".alert-success").count() == 1
    page.screenshot(path=str(artifacts / "analysis_location_accepted.png"), full_page=False)
    assert page.locator(f"tr[data-household='{hid}']").count() == 0
    state = _sql(app, "SELECT village_id, location_status FROM household WHERE id = :h", h=hid)[0]
    assert tuple(state) == (located, "cocok")
    audit = _sql(app, """SELECT action, username FROM audit_log WHERE entity = 'household' AND entity_id = :h
                         ORDER BY id DESC LIMIT 1""", h=hid)[0]
    assert tuple(audit) == ("accept_location", "bappeda")


@needs_lampung
def test_zone_membership_and_gaps_pages(page, artifacts):
    login(page, "op1807")
    page.goto("/analysis/gaps/?year=2017&k=2")
    page.wait_for_selector("#table-gaps-zones")
    page.screenshot(path=str(artifacts / "analysis_gaps.png"), full_page=False)
    page.goto("/analysis/zones/")
    page.wait_for_selector("#table-zones")
    page.fill("#lookup-village", "Sukadana")
    page.click("#village-lookup button[type=submit]")
    page.wait_for_selector(".sinergi-village-zones")
    page.screenshot(path=str(artifacts / "analysis_zones.png"), full_page=True)
    codes = page.locator(".sinergi-village-zones").evaluate_all("els => els.map(e => e.dataset.village)")
    assert codes and all(c.startswith(LAMTIM + ".") for c in codes)
