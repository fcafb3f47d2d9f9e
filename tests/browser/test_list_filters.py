"""In a real browser: the household list's village filter carries no list of villages; the
user types part of a village's name, picks it from what the server sends back, searches,
and sees exactly that village's households; after the reload the filter still shows the
village's name (app/views/remote_filters.py, static/js/remote_select.js)."""
from __future__ import annotations

import re

from sqlalchemy import text

from tests.browser.conftest import login

VILLAGE_CODE = re.compile(r"18\.\d{2}\.\d{2}\.\d{4}")
# Every option holds every typed word (the server looks for each word in the name, code, kecamatan).
EVERY_OPTION_MATCHES = """typed => {
    const words = typed.split(/\\s+/).filter(Boolean);
    const texts = [...document.querySelectorAll('.select2-results__option[role=option]:not(.loading-results)')].map(o => o.textContent);
    return texts.length > 0 && texts.every(t => words.every(w => t.toLowerCase().includes(w)));
}"""


def open_search(page):
    page.click("a.accordion-toggle[href='#accordion1_href']")
    page.wait_for_selector("#filter_form button.dropdown-toggle", state="visible")


def test_bappeda_filters_households_by_typing_a_village_name(page, artifacts, engine):
    with engine.connect() as conn:
        # A village with households whose name, less its last letter, matches few villages: what
        # the user types then brings it into the first page of choices.
        village = conn.execute(text("""
            SELECT v.id, v.code, v.name, d.name AS district, count(h.id) AS households,
                   lower(left(v.name, length(v.name) - 1)) AS typed
            FROM village v JOIN district d ON d.id = v.district_id JOIN household h ON h.village_id = v.id
            WHERE length(v.name) >= 6
              AND (SELECT count(*) FROM village o WHERE o.name ILIKE '%' || left(v.name, length(v.name) - 1) || '%') <= 5
            GROUP BY v.id, d.name HAVING count(h.id) <= 50 ORDER BY count(h.id) DESC, v.code LIMIT 1""")).one()
    login(page, "bappeda")
    response = page.goto("/householdview/list/")
    html = response.text()
    scripts = "".join(re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S))
    assert VILLAGE_CODE.findall(scripts) == [], "the page carries villages"
    assert "\\u003coption" not in scripts and "<option" not in scripts
    assert len(html) < 200_000

    open_search(page)
    page.click("#filter_form button.dropdown-toggle")
    page.click("#filter_form a.filter[name=village]")
    # Opening the field loads the first choices; typing then asks the server for the typed text.
    with page.expect_response(lambda r: "filter_choices/village?q=&" in r.url):
        page.click("#filter_form td.filter .select2-selection--single >> nth=-1")
    typed = village.typed  # part of the name, lower case
    with page.expect_response(lambda r: "filter_choices/village" in r.url and "q=&" not in r.url) as answer:
        page.fill(".select2-container--open .select2-search__field", typed)
    assert answer.value.ok
    # What is offered is what the server found for the typed text (every option matches it).
    page.wait_for_function(EVERY_OPTION_MATCHES, arg=typed)
    label = f"{village.name} — {village.district} ({village.code})"
    option = page.locator(".select2-results__option[role=option]", has_text=f"({village.code})")
    page.screenshot(path=str(artifacts / "household_list_village_filter_typing.png"))
    assert option.inner_text().strip() == label
    option.click()
    page.click("#filter_form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert f"_flt_0_village={village.id}" in page.url

    rows = page.locator("table tbody tr:has(a[href*='/householdview/show/'])")
    assert rows.count() == village.households
    assert set(rows.locator(f"a[href*='/villageview/show/']").all_inner_texts()) == {
        f"{village.name} ({village.code})"}
    assert re.search(rf"Jumlah data:\s*{village.households}\b", page.inner_text("body"))

    # After the reload the chosen filter shows its label.
    open_search(page)
    chosen = page.locator("#filter_form .select2-selection__rendered").last
    chosen.wait_for()
    assert chosen.inner_text().strip() == label
    page.screenshot(path=str(artifacts / "household_list_village_filter_result.png"), full_page=True)


def test_the_filter_widgets_speak_indonesian(page):
    """select2's own strings (FAB's filter widgets): the clear button's tooltip and the
    "nothing found" line are Indonesian, not select2's built-in English (static/js/select2_language.js)."""
    login(page, "bappeda")
    page.goto("/programview/list/")
    open_search(page)
    page.click("#filter_form button.dropdown-toggle")
    page.click("#filter_form a.filter[name=agency]")
    clear = page.locator("#filter_form .select2-selection__clear").first
    clear.wait_for(state="attached")
    assert clear.get_attribute("title") == "Hapus semua pilihan"
    page.click("#filter_form td.filter .select2-selection--single >> nth=-1")
    # The first choices loaded before typing (typing meanwhile would abort their request).
    page.wait_for_selector(".select2-results__option[role=option]:not(.loading-results)")
    page.fill(".select2-container--open .select2-search__field", "zzzz-tidak-ada")
    page.wait_for_selector(".select2-results__message")
    assert page.inner_text(".select2-results__message").strip() == "Tidak ada yang cocok"
    assert "Remove all items" not in page.content()
