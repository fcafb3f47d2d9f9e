"""In a real browser (gunicorn, CSRF on): the "Menunggu saya" badge in the top bar leads to
the inbox page, overdue complaints in red; an operator who opens the province TKPK's edit
URL gets the 403 page in the app's layout, and an out-of-area show link the 404 page, both
with the menu and a way back. Screenshots go to test-artifacts/."""
from __future__ import annotations

import pytest

from tests.browser.test_complaint_flow import login_to
from tests.conftest import sql


@pytest.fixture()
def complaints(app):
    """Two new complaints in Lampung Timur: one overdue, one not."""
    village, regency = sql(app, """SELECT v.id, d.regency_id FROM village v JOIN district d ON d.id = v.district_id
                                   JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.07'
                                   ORDER BY v.code LIMIT 1""")[0]
    made = [sql(app, """INSERT INTO complaint (ticket, category, village_id, regency_id, description, state, deadline)
                        VALUES (:t, 'lainnya', :v, :r, 'uji layar kotak masuk', 'baru',
                                (now() AT TIME ZONE 'Asia/Jakarta')::date + :d) RETURNING id, ticket""",
                t=ticket, v=village, r=regency, d=days)[0] for ticket, days in (("PGD-BRWS0000LT", -2),
                                                                                ("PGD-BRWS0000OK", 9))]
    yield dict((ticket, cid) for cid, ticket in made)
    sql(app, "DELETE FROM complaint WHERE ticket LIKE 'PGD-BRWS%'")


def test_badge_leads_to_the_inbox(page, complaints, artifacts):
    login_to(page, "op1807", "/householdview/list/")
    # The server keeps a user's counts INBOX_BADGE_SECONDS (10 s): an earlier test's visit as
    # op1807 may still be what the badge shows, so the new complaints appear within that time.
    overdue = page.locator("#inbox-badge-overdue")
    for _ in range(15):
        if overdue.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    badge = page.locator("#inbox-badge")
    assert badge.is_visible()
    assert "Menunggu saya" in badge.inner_text()
    assert overdue.is_visible() and "terlambat" in overdue.inner_text()
    color = overdue.evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(217, 83, 79)", color  # red
    page.screenshot(path=str(artifacts / "inbox_badge.png"))
    badge.locator("a").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/inbox/")
    late = page.locator(f'tr[data-kind="complaint"][data-id="{complaints["PGD-BRWS0000LT"]}"]')
    assert "danger" in late.get_attribute("class") and "terlambat" in late.inner_text()
    on_time = page.locator(f'tr[data-kind="complaint"][data-id="{complaints["PGD-BRWS0000OK"]}"]')
    assert "danger" not in on_time.get_attribute("class")
    page.screenshot(path=str(artifacts / "inbox_page.png"), full_page=True)
    late.locator("a").click()
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/complaintview/show/{complaints['PGD-BRWS0000LT']}")


def test_out_of_area_pages_keep_the_layout(page, app, artifacts):
    province = sql(app, "SELECT id FROM tkpk_institution WHERE regency_id IS NULL LIMIT 1")[0][0]
    other_household = sql(app, """SELECT h.id FROM household h JOIN village v ON v.id = h.village_id
                                  JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
                                  WHERE r.code <> '18.07' LIMIT 1""")[0][0]
    login_to(page, "op1807", "/tkpkinstitutionview/list/")
    # The list offers no edit button on the province TKPK.
    assert page.locator(f'a[href*="/tkpkinstitutionview/edit/{province}"]').count() == 0
    response = page.goto(f"/tkpkinstitutionview/edit/{province}")
    assert response.status == 403
    assert page.locator(".navbar").is_visible() and "di luar wilayah" in page.inner_text("body")
    assert page.get_by_text("Kembali ke halaman sebelumnya").is_visible()
    page.screenshot(path=str(artifacts / "out_of_area_edit_403.png"), full_page=True)
    response = page.goto(f"/householdview/show/{other_household}")
    assert response.status == 404
    assert page.locator(".navbar").is_visible() and "tidak ditemukan" in page.inner_text("body")
    page.screenshot(path=str(artifacts / "out_of_area_show_404.png"), full_page=True)
    # The two refusals are what this test asks for; anything else still fails it.
    page.problems[:] = [p for p in page.problems
                        if not (p.startswith("HTTP 403:") and f"/tkpkinstitutionview/edit/{province}" in p)
                        and not (p.startswith("HTTP 404:") and f"/householdview/show/{other_household}" in p)
                        and p not in (f"console error: Failed to load resource: the server responded with a status "
                                      f"of {code}" for code in ("403 (FORBIDDEN)", "404 (NOT FOUND)"))]
