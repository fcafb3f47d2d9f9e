"""In a real browser: the duplicates queue's village filter carries no list of villages; the
operator types part of a village's name, picks it from what the server sends back (each
choice with its number of open pairs), shows its pairs, finds the village still chosen after
the reload, and clears it to see every village again (app/views/duplicates.py)."""
from __future__ import annotations

import random
import re

from sqlalchemy import text

from tests.browser.conftest import login

TAG = f"queue-filter-{random.randint(10_000, 99_999)}"


def test_op1807_filters_the_queue_by_typing_a_village_name(page, artifacts, engine):
    with engine.begin() as conn:
        # A Lampung Timur village whose name is rare enough to be on the first page of choices.
        village = conn.execute(text("""
            SELECT v.id, v.code, v.name, d.regency_id FROM village v JOIN district d ON d.id = v.district_id
              JOIN regency r ON r.id = d.regency_id
             WHERE r.code = '18.07' AND length(v.name) >= 6
               AND (SELECT count(*) FROM village o WHERE o.name ILIKE '%' || v.name || '%') = 1
             ORDER BY v.code LIMIT 1""")).one()
        household = conn.execute(text("SELECT min(id) FROM household WHERE village_id = :v"),
                                 {"v": village.id}).scalar() or conn.execute(text("SELECT min(id) FROM household")).scalar()
        conn.execute(text("""
            INSERT INTO duplicate_candidate (kind, id_a, id_b, reason_key, score, household_a, household_b,
                                             village_id, other_village_id, regency_id, detail)
            VALUES ('kk_dua_desa', :h, :h, :tag, 0.5, :h, :h, :v, :v, :r, '{}')"""),
            {"h": household, "tag": TAG, "v": village.id, "r": village.regency_id})
        pairs = conn.execute(text("SELECT count(*) FROM duplicate_candidate WHERE :v IN (village_id, other_village_id)"),
                             {"v": village.id}).scalar()
    try:
        login(page, "op1807")
        response = page.goto("/duplicates/")
        html = response.text()
        assert len(re.findall(r"<option\b", html)) < 10, "the page carries villages"
        with page.expect_response(lambda r: "/duplicates/filter_choices/village?q=&" in r.url):
            page.click("#duplicates-filter .select2-selection--single")
        typed = village.name.lower()[:-1]
        with page.expect_response(lambda r: "filter_choices/village" in r.url and "q=&" not in r.url) as answer:
            page.fill(".select2-container--open .select2-search__field", typed)
        assert answer.value.ok and all(r["text"].startswith(village.name) or typed in r["text"].lower()
                                       for r in answer.value.json()["results"])
        option = page.locator(".select2-results__option[role=option]", has_text=f"({village.code})")
        option.wait_for()
        page.screenshot(path=str(artifacts / "duplicates_queue_village_typing.png"))
        assert re.search(rf", {pairs} pasangan$", option.inner_text().strip())
        option.click()
        page.click("#duplicates-filter button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert f"village={village.id}" in page.url
        assert page.locator("tr.duplicate-pair").count() == pairs
        chosen = page.locator("#duplicates-filter .select2-selection__rendered")
        assert f"({village.code})" in chosen.inner_text()
        page.screenshot(path=str(artifacts / "duplicates_queue_village_chosen.png"), full_page=False)
        # The clear button: no village, every pair of the regency again.
        page.click("#duplicates-filter .select2-selection__clear")
        page.keyboard.press("Escape")
        page.click("#duplicates-filter button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "village=" in page.url and not re.search(r"village=\d", page.url)
        assert page.locator("tr.duplicate-pair").count() >= pairs
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM duplicate_candidate WHERE reason_key = :tag"), {"tag": TAG})
