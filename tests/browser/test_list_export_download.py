"""In a real browser: the operator of Lampung Timur filters the household list, presses the
XLSX button and gets a workbook (opened here with openpyxl) holding exactly the filtered
households of their regency, with the NIK / No KK as text."""
from __future__ import annotations

import re

import openpyxl
from sqlalchemy import text

from tests.browser.conftest import login


def test_operator_downloads_the_filtered_household_list_as_xlsx(page, engine, artifacts):
    login(page, "op1807")
    page.goto("/householdview/list/?_flt_0_desil=1")
    page.wait_for_load_state("networkidle")
    buttons = page.locator("#list-export")
    assert buttons.is_visible()
    page.screenshot(path=str(artifacts / "households_list_export_buttons.png"), full_page=False)
    href = page.get_attribute("#export-xlsx", "href")
    assert "format=xlsx" in href and "_flt_0_desil=1" in href  # the button carries the list's filter
    with page.expect_download() as info:
        page.click("#export-xlsx")
    download = info.value
    assert re.fullmatch(r"rumah_tangga_\d{8}-\d{4}\.xlsx", download.suggested_filename)
    path = artifacts / download.suggested_filename
    download.save_as(path)

    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert header[:3] == ("No KK", "NIK Kepala", "Nama Kepala")
    with engine.connect() as conn:
        expected = conn.execute(text("""SELECT count(*) FROM household h JOIN village v ON v.id = h.village_id
                                         WHERE v.code LIKE '18.07.%' AND h.desil = 1""")).scalar_one()
    assert len(data) == expected > 100
    desil, village_code = header.index("Desil"), header.index("Kode Desa")
    assert all(r[desil] == 1 and r[village_code].startswith("18.07.") for r in data)
    assert all(isinstance(r[0], str) and re.fullmatch(r"\d{16}", r[0]) for r in data)
