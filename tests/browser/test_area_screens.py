"""As bappeda in a real browser: the home page counts, the village list, a village page with its map."""
import re

import pytest

from tests.browser.conftest import login
from tests.conftest import HAVE_LAMPUNG


def test_bappeda_opens_village_list_and_village_page(page, artifacts):
    login(page, "bappeda")
    page.screenshot(path=str(artifacts / "area_home.png"), full_page=True)
    regencies = page.locator("[data-count=regency]").inner_text()
    assert regencies == "15"
    # Indonesian is the default language.
    assert "Wilayah" in page.locator(".navbar").inner_text()

    page.goto("/villageview/list/")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts / "area_village_list.png"), full_page=True)
    rows = page.locator("tbody tr:has(a[href*='/villageview/show/'])")
    assert rows.count() > 0
    first_code = rows.first.locator("td").nth(1).inner_text().strip()
    assert re.fullmatch(r"18\.\d{2}\.\d{2}\.\d{4}", first_code), first_code

    # Search by name narrows the list (the real village Hajimena when the Lampung files are here).
    name = "Hajimena" if HAVE_LAMPUNG else "Sintetis"
    page.goto(f"/villageview/list/?_flt_2_name={name}")
    page.wait_for_load_state("networkidle")
    assert name in rows.first.inner_text()

    rows.first.locator("a[href*='/villageview/show/']").first.click()
    page.wait_for_selector("#area-map[data-loaded='1']", timeout=15000)
    paths = page.locator("#area-map svg path").count()
    assert paths > 0
    assert name in page.locator(".panel-body, .card-body").first.inner_text()
    page.screenshot(path=str(artifacts / "area_village_show.png"), full_page=True)


def test_anonymous_user_is_sent_to_login(page):
    response = page.goto("/villageview/list/")
    assert "/login" in page.url
    assert response.ok
