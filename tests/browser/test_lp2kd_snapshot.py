"""The LP2KD's "Sumber data" choice in a real browser: Bappeda opens Lampung Timur's 2017
report, chooses DTSEN 2025-Q3, and the heading, the coverage (plain SQL over that snapshot's
rows), section 10 (BDT 2015 → DTSEN 2025-Q3), the printable version and the workbook follow
the choice; op1807 chooses BDT 2015 for his regency. Screenshots go to test-artifacts/."""
import io

import openpyxl
from sqlalchemy import text

from tests.browser.conftest import login


def scalar(app, statement: str, **params):
    from app.extensions import db

    with app.app_context():
        value = db.session.execute(text(statement), params).scalar()
        db.session.rollback()
    return value


def snapshot_households(app, period: str, regency_code: str) -> str:
    """Households of desil 1-4 the snapshot lists in the regency (its villages), as the page writes it."""
    n = scalar(app, """SELECT count(*) FROM household_snapshot s JOIN targeting_snapshot t ON t.id = s.snapshot_id
                        JOIN village v ON v.id = s.village_id JOIN district d ON d.id = v.district_id
                        JOIN regency r ON r.id = d.regency_id
                       WHERE t.period = :p AND r.code = :c AND s.desil <= 4""", p=period, c=regency_code)
    return f"{n:,}".replace(",", ".")


def test_bappeda_chooses_a_data_source(page, app, artifacts):
    q3 = scalar(app, "SELECT id FROM targeting_snapshot WHERE period = '2025-Q3'")
    login(page, "bappeda")
    page.goto("/lang/id")
    page.goto("/lp2kd/?area=18.07&year=2017&period=tahunan")
    page.wait_for_load_state("networkidle")
    assert page.locator("#lp2kd-snapshot").input_value() == ""  # default: each household's latest
    assert page.locator("#lp2kd-source").inner_text().startswith("Sumber Data: DTSEN 2025-Q4 (")

    page.select_option("#lp2kd-snapshot", label="DTSEN 2025-Q3")
    page.click("#lp2kd-show")
    page.wait_for_load_state("networkidle")
    assert f"snapshot={q3}" in page.url
    assert page.locator("#lp2kd-report").get_attribute("data-snapshot") == str(q3)
    assert page.locator("#lp2kd-source").inner_text() == "Sumber Data: DTSEN 2025-Q3"
    assert page.locator("#table-coverage tr.lp2kd-total td").nth(1).inner_text().strip() == \
        snapshot_households(app, "2025-Q3", "18.07")
    changes = page.locator("#section-targeting_changes")
    assert "BDT 2015 → DTSEN 2025-Q3" in changes.inner_text()
    page.screenshot(path=str(artifacts / "lp2kd_snapshot_q3_lampung_timur.png"), full_page=False)
    page.locator("#lp2kd-cards").scroll_into_view_if_needed()
    changes.screenshot(path=str(artifacts / "lp2kd_snapshot_q3_changes.png"))

    # the printable version and the workbook carry the same source
    href = page.locator("#lp2kd-print-link").get_attribute("href")
    assert f"snapshot={q3}" in href
    page.goto(href)
    page.wait_for_load_state("networkidle")
    assert page.locator("#lp2kd-source").inner_text() == "Sumber Data: DTSEN 2025-Q3"
    assert "Sumber Data: DTSEN 2025-Q3" in page.locator("#lp2kd-letterhead").inner_text()
    page.screenshot(path=str(artifacts / "lp2kd_snapshot_q3_print.png"), full_page=False)
    page.goto(f"/lp2kd/?area=18.07&year=2017&period=tahunan&snapshot={q3}")
    page.wait_for_load_state("networkidle")
    with page.expect_download() as info:
        page.click("#lp2kd-xlsx")
    download = info.value
    assert download.suggested_filename == "LP2KD_18.07_2017_tahunan_DTSEN-2025-Q3.xlsx"
    target = artifacts / download.suggested_filename
    download.save_as(str(target))
    book = openpyxl.load_workbook(io.BytesIO(target.read_bytes()))
    assert book[book.sheetnames[0]]["A3"].value == "Sumber Data: DTSEN 2025-Q3"


def test_the_operator_chooses_bdt_2015(page, app, artifacts):
    login(page, "op1807")
    page.goto("/lang/id")
    page.goto("/lp2kd/?year=2017&period=tahunan")
    page.wait_for_load_state("networkidle")
    page.select_option("#lp2kd-snapshot", label="BDT 2015")
    page.click("#lp2kd-show")
    page.wait_for_load_state("networkidle")
    assert page.locator("#lp2kd-report").get_attribute("data-area") == "18.07"
    assert page.locator("#lp2kd-source").inner_text() == "Sumber Data: BDT 2015"
    assert page.locator("#table-coverage tr.lp2kd-total td").nth(1).inner_text().strip() == \
        snapshot_households(app, "2015", "18.07")
    notes = page.locator("#section-targeting_changes").inner_text()
    assert "tidak ada periode sebelumnya" in notes and "BDT 2015" in notes
    page.screenshot(path=str(artifacts / "lp2kd_snapshot_bdt_op1807.png"), full_page=False)
