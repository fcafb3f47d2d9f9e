"""LP2KD reports and the dashboard in a real browser (every request must stay inside the app:
the ``page`` fixture fails the test otherwise). Bappeda opens the province's 2017 report,
the printable version renders without the navigation (and prints to PDF), the XLSX
downloads and opens; op1807 writes and saves the problems/follow-up text of Lampung Timur;
the dashboard draws its chart and village map. Screenshots go to test-artifacts/."""
import io

import openpyxl
from sqlalchemy import text

from tests.conftest import needs_lampung

from tests.browser.conftest import login

SECTIONS = ("summary", "indicators", "tkpk", "programs", "beneficiaries", "coverage", "overlap", "gaps", "zones",
            "targeting_changes", "complaints", "note")


def households(app) -> str:
    """The number of households of desil 1-4 (the coverage figures' households: DTSEN desil 5-10
    are not in them), written as the pages write it (19.327)."""
    from app.extensions import db

    with app.app_context():
        n = db.session.execute(text("SELECT count(*) FROM household WHERE desil <= 4")).scalar()
        db.session.rollback()
    return f"{n:,}".replace(",", ".")


def test_bappeda_opens_prints_and_downloads_the_province_report(page, app, artifacts):
    login(page, "bappeda")
    page.goto("/lp2kd/?area=province&year=2017&period=tahunan")
    page.wait_for_load_state("networkidle")
    assert page.locator("#lp2kd-report").get_attribute("data-year") == "2017"
    for section in SECTIONS:
        assert page.locator(f"#section-{section}").count() == 1, section
    assert page.locator("#table-coverage tr.lp2kd-total td").nth(1).inner_text().strip() == households(app)
    page.screenshot(path=str(artifacts / "lp2kd_province_2017.png"), full_page=True)
    page.locator("#section-programs").screenshot(path=str(artifacts / "lp2kd_province_2017_programs.png"))

    # the printable version: no navigation, no forms; prints to A4
    href = page.locator("#lp2kd-print-link").get_attribute("href")
    page.goto(href)
    page.wait_for_load_state("networkidle")
    assert page.locator(".navbar").count() == 0 and page.locator("form").count() == 0
    assert page.locator("#lp2kd-print").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("#lp2kd-print").is_visible()  # the print button is not on paper
    assert page.locator("#section-note").is_visible()
    page.screenshot(path=str(artifacts / "lp2kd_province_2017_print.png"), full_page=True)
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    (artifacts / "lp2kd_province_2017.pdf").write_bytes(pdf)
    page.emulate_media(media="screen")

    # the workbook
    page.goto("/lp2kd/?area=province&year=2017&period=tahunan")
    page.wait_for_load_state("networkidle")
    with page.expect_download() as info:
        page.click("#lp2kd-xlsx")
    download = info.value
    assert download.suggested_filename == "LP2KD_18_2017_tahunan.xlsx"
    target = artifacts / download.suggested_filename
    download.save_as(str(target))
    book = openpyxl.load_workbook(io.BytesIO(target.read_bytes()))
    assert len(book.sheetnames) == len(SECTIONS)
    assert all(name.startswith(f"{i}. ") for i, name in enumerate(book.sheetnames, 1))


def test_the_navigation_is_hidden_on_paper(page):
    login(page, "bappeda")
    page.goto("/lp2kd/?area=province&year=2017&period=s2")
    page.wait_for_load_state("networkidle")
    assert page.locator(".navbar").first.is_visible() and page.locator("#lp2kd-choice").is_visible()
    page.emulate_media(media="print")
    assert not page.locator(".navbar").first.is_visible()
    assert not page.locator("#lp2kd-choice").is_visible() and not page.locator("#lp2kd-note-form").is_visible()
    assert page.locator("#lp2kd-note-text").is_visible()  # the text itself is printed


def test_operator_writes_and_saves_problems_and_follow_up(page, app, artifacts):
    from app.extensions import db

    login(page, "op1807")
    page.goto("/lp2kd/?year=2017&period=s1")
    page.wait_for_load_state("networkidle")
    assert page.locator("#lp2kd-report").get_attribute("data-area") == "18.07"
    assert page.locator("#lp2kd-area option").count() == 1  # their regency only
    problems = "Data BDT 2015 belum dimutakhirkan di 12 desa; 48 rumah tangga desil 1 di zona prioritas belum terjangkau."
    follow_up = "Verifikasi lapangan bersama TKPK kecamatan pada Juli 2017; usulan pemutakhiran diajukan ke Bappeda."
    page.fill("#lp2kd-problems", problems)
    page.fill("#lp2kd-follow-up", follow_up)
    page.locator("#section-note").screenshot(path=str(artifacts / "lp2kd_op1807_note_filled.png"))
    page.click("#lp2kd-note-save")
    page.wait_for_load_state("networkidle")
    assert page.locator(".alert-success").count() >= 1
    assert page.input_value("#lp2kd-problems") == problems
    assert page.input_value("#lp2kd-follow-up") == follow_up
    page.screenshot(path=str(artifacts / "lp2kd_op1807_note_saved.png"), full_page=False)

    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.input_value("#lp2kd-problems") == problems
    with app.app_context():
        saved = db.session.execute(text("""SELECT n.problems, n.follow_up, n.updated_by FROM lp2kd_note n
                                             JOIN regency r ON r.id = n.regency_id
                                            WHERE r.code = '18.07' AND n.year = 2017 AND n.period = 's1'""")).one()
        db.session.rollback()
    assert tuple(saved) == (problems, follow_up, "op1807")


@needs_lampung
def test_the_dashboard_draws_its_chart_and_map(page, app, artifacts):
    login(page, "bappeda")
    page.goto("/?year=2017")
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("#dashboard-chart[data-ready='1']")
    page.wait_for_selector("#dashboard-map[data-villages]", timeout=60_000)
    assert int(page.locator("#dashboard-map").get_attribute("data-villages")) > 2000
    assert page.locator("#dashboard-map path.leaflet-interactive").count() > 2000
    assert page.locator("[data-card='households'] [data-value]").inner_text().strip() == households(app)
    page.screenshot(path=str(artifacts / "dashboard_bappeda.png"), full_page=True)

    page.goto("/logout/")
    login(page, "op1807")
    page.goto("/?year=2017")
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("#dashboard-map[data-villages]", timeout=60_000)
    page.screenshot(path=str(artifacts / "dashboard_op1807.png"), full_page=True)


def test_anonymous_home_is_the_login_prompt(page, artifacts):
    page.goto("/")
    page.wait_for_load_state("networkidle")
    assert page.locator("#login-prompt").is_visible() and page.locator("#dashboard").count() == 0
    page.screenshot(path=str(artifacts / "home_anonymous.png"), full_page=True)
