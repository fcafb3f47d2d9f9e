"""In a real browser: the operator of Lampung Timur lists "desil-1 households of village X that
receive no program in the year" with the targeting panel of the household list in four actions
(village, desil up to 1, 0 programs, Show), and exports exactly those rows as XLSX."""
from __future__ import annotations

import re

import openpyxl
from sqlalchemy import text

from tests.browser.conftest import login

COUNTED = ["usulan", "ditetapkan", "disalurkan"]


def expected_targets(engine):
    """(village id, year, No KK set): the Lampung Timur village with the most desil-1 households
    without a counted enrolment in the latest year with an enrolment of the regency (the year the
    list opens on), computed with plain SQL."""
    with engine.connect() as conn:
        year = conn.execute(text("""
            SELECT max(e.year) FROM enrolment e JOIN household h ON h.id = e.household_id
              JOIN village v ON v.id = h.village_id WHERE v.code LIKE '18.07.%'""")).scalar_one()
        targets = conn.execute(text("""
            SELECT h.village_id, h.no_kk FROM household h JOIN village v ON v.id = h.village_id
             WHERE v.code LIKE '18.07.%' AND h.desil = 1
               AND h.id NOT IN (SELECT household_id FROM enrolment WHERE year = :y AND status = ANY(:st))"""),
                               {"y": year, "st": COUNTED}).all()
    by_village = {}
    for village_id, no_kk in targets:
        by_village.setdefault(village_id, set()).add(no_kk)
    village_id = max(by_village, key=lambda v: (len(by_village[v]), -v))
    return village_id, year, by_village[village_id]


def test_operator_lists_and_exports_unreached_desil1_households_of_a_village(page, engine, artifacts):
    village_id, year, expected = expected_targets(engine)
    assert len(expected) >= 2, "the demo data holds no village with such households: the test would prove nothing"
    login(page, "op1807")
    page.goto("/householdview/list/")
    page.wait_for_load_state("networkidle")
    panel = page.locator("#targeting-form")
    assert panel.is_visible()
    assert page.locator("#targeting-year").input_value() == str(year)  # opens on the latest year

    actions = 0
    page.select_option("#targeting-village", str(village_id)); actions += 1
    page.select_option("#targeting-desil-to", "1"); actions += 1
    page.select_option("#targeting-programs", "0"); actions += 1
    with page.expect_navigation():
        page.click("#targeting-submit"); actions += 1
    page.wait_for_load_state("networkidle")
    assert actions <= 4

    # The URL holds only the criteria set, as the list's own filters.
    assert re.search(rf"_flt_\d_village={village_id}", page.url) and re.search(r"_flt_\d_programs=0", page.url)
    assert f"program_year={year}" in page.url and "_number=" not in page.url
    body = page.inner_text("body")
    count = re.search(r"(?:Jumlah data|Record Count):\s*([\d.]+)", body)
    assert count and int(count.group(1).replace(".", "")) == len(expected)
    # The panel shows what was chosen, so the list says what it is.
    assert page.locator("#targeting-village").input_value() == str(village_id)
    assert page.locator("#targeting-programs").input_value() == "0"
    page.screenshot(path=str(artifacts / "households_targeting.png"), full_page=True)

    href = page.get_attribute("#export-xlsx", "href")
    assert "format=xlsx" in href and "_programs=0" in href
    with page.expect_download() as info:
        page.click("#export-xlsx")
    path = artifacts / ("targeting_" + info.value.suggested_filename)
    info.value.save_as(path)
    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert {r[header.index("No KK")] for r in data} == expected and len(data) == len(expected)
    assert all(r[header.index("Desil")] == 1 for r in data)
