"""In a real browser (gunicorn, CSRF on, no request outside the app): the operator of Lampung
Timur uploads a CSV with a mistake, reads the validation report on screen and downloads it as
XLSX, fixes the file, commits it and finds the households in the list. A file over the upload
limit is refused with a clear message before it is sent."""
from __future__ import annotations

import csv
import random

import openpyxl
import pytest
from sqlalchemy import text

from tests.conftest import needs_lampung

from tests.browser.conftest import login

HEADER = ["no_kk", "nik_kepala", "nama_kepala", "alamat", "rt", "rw", "kode_desa", "desil", "jumlah_anggota",
          "lintang", "bujur"]


pytestmark = pytest.mark.usefixtures("remove_import_uploads")


@pytest.fixture()
def village(engine):
    """A village of Lampung Timur (18.07) and a point well inside it."""
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT v.id, v.code, v.name, ST_X(p) AS lon, ST_Y(p) AS lat
            FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id,
                 LATERAL (SELECT ST_PointOnSurface(ST_Buffer(v.geom, -0.002)) AS p) s
            WHERE r.code = '18.07' AND NOT ST_IsEmpty(ST_Buffer(v.geom, -0.002))
            ORDER BY v.code OFFSET 3 LIMIT 1""")).one()


def _file(path, rows):
    # As Indonesian Excel saves it: ';' and decimal commas.
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(HEADER)
        w.writerows(rows)
    return path


@needs_lampung
def test_upload_report_fix_commit_and_see_the_households(page, artifacts, engine, village, jobs_worker, tmp_path):
    tag = f"{random.randrange(1000, 9999)}"
    name = f"Impor Peramban {tag}"
    lat, lon = f"{village.lat:.6f}".replace(".", ","), f"{village.lon:.6f}".replace(".", ",")
    rows = [[f"180701011200{tag[:2]}{i:02d}", f"180701450180{i:04d}", f"{name} {i}", "Dusun Uji", "1",
             "1", village.code, "1", "4", lat, lon] for i in range(1, 4)]
    bad = [list(r) for r in rows]
    bad[1][1] = bad[1][1][:15]  # row 3: a NIK of 15 digits
    login(page, "op1807")
    page.goto("/imports/")
    page.wait_for_selector("#import-form")
    assert "Kabupaten Lampung Timur" in page.inner_text("#import-form")
    page.screenshot(path=str(artifacts / "import_upload.png"), full_page=True)

    page.select_option("#snapshot_source", "BDT 2015")  # the form offers DTSEN first (today's data)
    page.set_input_files("#file", str(_file(tmp_path / "rumah-tangga.csv", bad)))
    page.click("#import-submit")
    page.wait_for_selector("#import-result", timeout=60_000)
    report = page.locator("#import-report tbody tr")
    assert report.count() == 1
    assert report.locator(".report-row").inner_text() == "3"
    assert report.locator(".report-column").inner_text() == "nik_kepala"
    assert "harus 16 digit" in report.locator(".report-reason").inner_text()
    assert page.locator("#import-commit").count() == 0
    assert page.locator("[data-count=rejected]").inner_text() == "1"
    page.screenshot(path=str(artifacts / "import_report.png"), full_page=True)

    with page.expect_download() as download:
        page.click("#report-xlsx")
    xlsx = tmp_path / "laporan.xlsx"
    download.value.save_as(xlsx)
    cells = list(openpyxl.load_workbook(xlsx, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert cells[0] == ("baris", "kolom", "nilai", "alasan")
    assert cells[1][:3] == (3, "nik_kepala", bad[1][1]) and "harus 16 digit" in cells[1][3]

    # Fixed: checked clean, then committed.
    page.goto("/imports/")
    page.select_option("#snapshot_source", "BDT 2015")
    page.set_input_files("#file", str(_file(tmp_path / "rumah-tangga.csv", rows)))
    page.click("#import-submit")
    page.wait_for_selector("#import-ok", timeout=60_000)
    assert page.locator("[data-count=inserted]").inner_text() == "3"
    page.screenshot(path=str(artifacts / "import_checked.png"), full_page=True)
    page.click("#import-commit")
    page.wait_for_selector("#import-committed", timeout=60_000)
    assert "3 ditambah" in page.inner_text("#import-committed")
    page.screenshot(path=str(artifacts / "import_committed.png"), full_page=True)

    page.goto(f"/householdview/list/?_flt_2_head_name={name}")
    page.wait_for_load_state("networkidle")
    listed = page.locator("tbody tr", has_text=name)
    assert listed.count() == 3
    assert village.name in listed.first.inner_text()
    page.screenshot(path=str(artifacts / "import_households_list.png"), full_page=True)
    with engine.connect() as conn:
        statuses = conn.execute(text("SELECT DISTINCT location_status FROM household WHERE head_name LIKE :n"),
                                {"n": f"{name}%"}).scalars().all()
    assert statuses == ["cocok"]


def test_file_over_the_upload_limit_is_refused_with_a_message(page, artifacts, tmp_path):
    login(page, "op1807")
    page.goto("/imports/")
    limit = int(page.get_attribute("#import-form", "data-max-bytes"))
    big = tmp_path / "besar.csv"
    with open(big, "wb") as f:
        f.write(b"no_kk;nama\n")
        f.truncate(limit + 1)
    page.set_input_files("#file", str(big))
    page.click("#import-submit")
    message = page.locator("#import-size-error")
    assert message.is_visible() and "Berkas terlalu besar" in message.inner_text()
    assert page.url.endswith("/imports/")
    page.screenshot(path=str(artifacts / "import_too_large.png"), full_page=True)


def test_server_refuses_an_upload_over_the_limit_with_a_clear_message(page):
    """Past the page's own check (a script posting directly, CSRF token included): 413 with the
    Indonesian message on the upload page, not a bare error page."""
    login(page, "op1807")
    page.goto("/imports/")
    limit = int(page.get_attribute("#import-form", "data-max-bytes"))
    token = page.get_attribute("#import-form input[name=csrf_token]", "value")
    response = page.request.post("/imports/upload", multipart={
        "csrf_token": token, "kind": "households",
        "file": {"name": "besar.csv", "mimeType": "text/csv", "buffer": b"no_kk;nama\n" + b"x" * (limit + 1)}})
    assert response.status == 413
    body = response.text()
    assert "Berkas terlalu besar" in body and "import-form" in body
