"""As Pimpinan in a real browser: the household list and page show masked numbers only,
and the interface switches to English and back."""
import re

from sqlalchemy import select

from app.models import District, Household, Regency, Village
from tests.browser.conftest import login

NO_KK, HEAD_NIK = "1807051003170011", "1807054507850002"


def _household(app):
    from app.extensions import db

    with app.app_context():
        found = db.session.execute(select(Household.id).where(Household.no_kk == NO_KK)).scalar()
        if found:
            return found
        village = db.session.execute(select(Village).join(District).join(Regency).where(Regency.code == "18.07")
                                     .order_by(Village.code.desc()).limit(1)).scalar_one()
        h = Household(no_kk=NO_KK, head_nik=HEAD_NIK, head_name="Ibu Pimpinan Uji", village=village, desil=2,
                      member_count=4)
        db.session.add(h)
        db.session.commit()
        return h.id


def test_pimpinan_sees_masked_numbers(page, app, artifacts):
    pk = _household(app)
    login(page, "pimpinan")
    page.goto("/householdview/list/?_flt_2_head_name=Pimpinan Uji")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts / "pimpinan_household_list.png"), full_page=True)
    body = page.content()
    assert "1807********0011" in body
    page.goto(f"/householdview/show/{pk}")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts / "pimpinan_household_show.png"), full_page=True)
    shown = page.content()
    assert "1807********0002" in shown
    for html in (body, shown):
        assert NO_KK not in html and HEAD_NIK not in html
        assert not re.search(r"(?<![\d.])\d{16}(?!\d)", page.locator("body").inner_text())
    # Read-only: no add / edit / delete buttons for Pimpinan.
    assert page.locator("a[href*='/householdview/edit/'], a[href*='/householdview/add']").count() == 0


def test_interface_switches_to_english_and_back(page):
    login(page, "bappeda")
    assert "Rumah Tangga" in page.locator(".navbar").inner_text()
    page.goto("/lang/en")
    page.wait_for_load_state("networkidle")
    assert "Households" in page.locator(".navbar").inner_text()
    page.goto("/lang/id")
    page.wait_for_load_state("networkidle")
    assert "Rumah Tangga" in page.locator(".navbar").inner_text()
