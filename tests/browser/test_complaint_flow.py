"""In a real browser (gunicorn, CSRF on, no base layer, no request outside the app): someone
without a login files a complaint — category, kabupaten -> kecamatan -> desa, a point on the
map, a photo — and gets a ticket; the operator of that regency (Lampung Timur) handles it
(diproses -> selesai with a resolution); the public ticket page then shows the result.
Screenshots go to test-artifacts/."""
from __future__ import annotations

import re
import struct
import zlib

import pytest
from sqlalchemy import text



def login_to(page, username, target, password="sinergi-demo"):
    """Log in and land on ``target`` (not on the home page, whose dashboard loads its own data)."""
    page.goto(f"/login/?next={target}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("[type=submit]")
    page.wait_for_load_state("load")
    assert "/login" not in page.url, f"login as {username} failed"


def png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    width = height = 24
    raw = b"".join(b"\x00" + bytes((40 + x * 8) % 256 for x in range(width)) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture()
def village(engine):
    """A village of Lampung Timur (18.07), its kecamatan and kabupaten, and a point inside it."""
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT v.id, v.name, v.kind, d.id AS district_id, d.name AS district, r.id AS regency_id, r.name AS regency,
                   ST_X(p) AS lon, ST_Y(p) AS lat
            FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id,
                 LATERAL (SELECT ST_PointOnSurface(v.geom) AS p) s
            WHERE r.code = '18.07' ORDER BY v.code LIMIT 1""")).one()


def choose_select2(page, select_id, search, label=None):
    """Open the searchable select, type, and pick the option whose text is exactly ``label``."""
    page.click(f"#{select_id} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", search)
    exact = re.compile(f"^{re.escape(label or search)}$")
    page.locator(".select2-container--open .select2-results__option", has_text=exact).click()


def map_point(page, selector, lat, lon):
    return page.evaluate("""([sel, lat, lon]) => {
        const el = document.querySelector(sel);
        const p = el.sinergiMap.latLngToContainerPoint([lat, lon]);
        const box = el.getBoundingClientRect();
        return {x: box.left + p.x, y: box.top + p.y};
    }""", [selector, lat, lon])


def test_public_files_a_complaint_the_operator_resolves_it_the_public_sees_it(page, artifacts, engine, village):
    description = "Keluarga Ibu Sumiati (RT 02) miskin tetapi belum terdata. <b>tolong</b>"
    # --- the public, no login --------------------------------------------------------------------
    page.goto("/lang/en")
    page.goto("/pengaduan/")
    assert "/login" not in page.url
    page.wait_for_selector("#complaint-map-picker[data-loaded='1']")
    page.check("input[name=category][value=tidak_terdata]")
    choose_select2(page, "regency", village.regency)
    page.wait_for_selector(f"#district[data-loaded-for='{village.regency_id}']", state="attached")
    choose_select2(page, "district", village.district)
    page.wait_for_selector(f"#village[data-loaded-for='{village.district_id}']", state="attached")
    choose_select2(page, "village", village.name, f"{village.name} ({village.kind})")
    page.wait_for_selector(f"#complaint-map-picker[data-outline-loaded='{village.id}']")
    page.fill("#description", description)
    page.fill("#contact", "0812-3456-7890")
    page.locator("#complaint-map-picker").scroll_into_view_if_needed()
    spot = map_point(page, "#complaint-map-picker", village.lat, village.lon)
    page.mouse.click(spot["x"], spot["y"])
    page.wait_for_selector("#complaint-map-picker .leaflet-marker-icon")
    assert float(page.input_value("#latitude")) == pytest.approx(village.lat, abs=0.01)
    assert float(page.input_value("#longitude")) == pytest.approx(village.lon, abs=0.01)
    page.set_input_files("#photo", {"name": "rumah.png", "mimeType": "image/png", "buffer": png()})
    page.screenshot(path=str(artifacts / "complaint_1_public_form.png"), full_page=True)
    page.click("#complaint-submit")
    page.wait_for_selector("#ticket-status")
    ticket = page.inner_text("#ticket-code").strip()
    assert re.fullmatch(r"PGD-[0-9A-HJKMNP-TV-Z]{10}", ticket)
    assert "New" in page.inner_text("#ticket-state")
    assert "Your ticket code is" in page.content()
    assert "Sumiati" not in page.inner_text("#ticket-status")  # the description is not public
    page.screenshot(path=str(artifacts / "complaint_2_public_ticket.png"), full_page=True)
    with engine.connect() as conn:
        pk, regency_id = conn.execute(text("SELECT id, regency_id FROM complaint WHERE ticket = :t"),
                                      {"t": ticket}).one()
    assert regency_id == village.regency_id

    # --- the operator of Lampung Timur ---------------------------------------------------------
    login_to(page, "op1807", "/complaintview/list/?preset=baru")
    page.click(f"a[href$='/complaintview/show/{pk}']")
    page.wait_for_selector("#complaint-detail[data-state='baru']")
    body = page.content()
    assert "&lt;b&gt;tolong&lt;/b&gt;" in body and "<b>tolong</b>" not in body  # escaped
    assert "0812-3456-7890" in body
    page.wait_for_function("document.querySelector('#complaint-photo') && "
                           "document.querySelector('#complaint-photo').complete")
    assert page.evaluate("document.querySelector('#complaint-photo').naturalWidth") == 24
    page.screenshot(path=str(artifacts / "complaint_3_staff_new.png"), full_page=True)
    page.click("#complaint-transition-form button[value=diproses]")
    page.wait_for_selector("#complaint-detail[data-state='diproses']")
    page.fill("#resolution", "Sudah diverifikasi di lapangan; rumah tangga diusulkan masuk DTKS.")
    page.click("#complaint-transition-form button[value=selesai]")
    page.wait_for_selector("#complaint-detail[data-state='selesai']")
    assert "op1807" in page.content()  # the handler
    page.screenshot(path=str(artifacts / "complaint_4_staff_resolved.png"), full_page=True)

    # --- the public again ------------------------------------------------------------------------
    page.goto("/logout/")
    page.goto("/lang/en")
    page.goto(f"/pengaduan/tiket/{ticket}")
    page.wait_for_selector("#ticket-status[data-state='selesai']")
    assert "Resolved" in page.inner_text("#ticket-state")
    assert "diusulkan masuk DTKS" in page.inner_text("#ticket-resolution")
    assert "0812" not in page.content() and "Sumiati" not in page.content()
    page.screenshot(path=str(artifacts / "complaint_5_public_resolved.png"), full_page=True)


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def test_a_complaint_leads_to_a_new_household_through_the_update_request(page, artifacts, engine, village):
    """The operator turns a 'not listed' complaint into a request for a new household, proposes it
    (map picker), attaches the minutes, submits and verifies; Bappeda sees it waiting, reads the
    before/after and approves: only then the household exists."""
    import secrets

    from app.services.complaints import new_ticket

    ticket = new_ticket()
    no_kk = f"180701{secrets.randbelow(28) + 1:02d}0699{secrets.randbelow(9000) + 1000:04d}"
    with engine.begin() as conn:
        pk = conn.execute(text("""INSERT INTO complaint (ticket, category, village_id, regency_id, description, state,
                                                         deadline)
                                  VALUES (:t, 'tidak_terdata', :v, :r, 'Keluarga Pak Darto belum terdata.', 'baru',
                                          current_date + 14) RETURNING id"""),
                          {"t": ticket, "v": village.id, "r": village.regency_id}).scalar_one()
    login_to(page, "op1807", f"/complaintview/show/{pk}")
    page.goto("/lang/en")
    page.goto(f"/complaintview/show/{pk}")
    assert page.input_value("#request-kind") == "baru"
    page.click("#complaint-request-form button[type=submit]")
    page.wait_for_selector("#point-picker[data-loaded='1']")
    assert "/updaterequestview/edit/" in page.url
    request_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.fill("#no_kk", no_kk)
    page.fill("#head_nik", "1807015203990002")
    page.fill("#head_name", "Darto Pengaduan")
    page.fill("#address", "Dusun II")
    page.fill("#member_count", "4")
    page.select_option("#desil", "1")
    page.wait_for_selector(f"#point-picker[data-village-loaded='{village.id}']")
    page.locator("#point-picker").scroll_into_view_if_needed()
    spot = map_point(page, "#point-picker", village.lat, village.lon)
    page.mouse.click(spot["x"], spot["y"])
    page.wait_for_selector("#point-picker .leaflet-marker-icon")
    page.screenshot(path=str(artifacts / "request_1_proposal_form.png"), full_page=True)
    page.click("#model_form button[type=submit]")
    page.wait_for_selector("#request-detail[data-state='draft']")
    assert ticket in page.inner_text("#request-complaint")
    page.set_input_files("#evidence-file", {"name": "berita-acara-musdes.pdf", "mimeType": "application/pdf",
                                            "buffer": PDF})
    page.click("#evidence-form button[type=submit]")
    page.wait_for_selector("#request-evidence a")
    page.click("#transition-form button[value=diajukan]")
    page.wait_for_selector("#request-detail[data-state='diajukan']")
    # Separation of duties: the regency's second officer verifies what op1807 proposed.
    assert page.locator("#transition-form button").count() == 0
    page.goto("/logout/")
    login_to(page, "ver1807", f"/updaterequestview/show/{request_id}")
    page.goto("/lang/en")
    page.goto(f"/updaterequestview/show/{request_id}")
    page.fill("#step-note", "Dicek TKPK: sesuai berita acara musyawarah desa.")
    page.click("#transition-form button[value=diverifikasi]")
    page.wait_for_selector("#request-detail[data-state='diverifikasi']")
    assert page.locator("#transition-form button").count() == 0  # approving is Bappeda's
    page.screenshot(path=str(artifacts / "request_2_verified_operator.png"), full_page=True)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM household WHERE no_kk = :k"), {"k": no_kk}).scalar() == 0

    page.goto("/logout/")
    login_to(page, "bappeda", "/updaterequestview/list/?preset=awaiting")
    page.goto("/lang/en")
    page.goto("/updaterequestview/list/?preset=awaiting")
    assert re.search(r"Requests awaiting me \(\d+\)", page.content())
    page.click(f"a[href$='/updaterequestview/show/{request_id}']")
    page.wait_for_selector("#request-diff")
    assert "Darto Pengaduan" in page.inner_text("#request-diff")
    page.screenshot(path=str(artifacts / "request_3_bappeda_review.png"), full_page=True)
    page.fill("#step-note", "Disetujui rapat TKPK Provinsi.")
    page.click("#transition-form button[value=disetujui]")
    page.wait_for_selector("#request-detail[data-state='disetujui']")
    page.screenshot(path=str(artifacts / "request_4_approved.png"), full_page=True)
    with engine.connect() as conn:
        created = conn.execute(text("SELECT head_name, desil, location_status FROM household WHERE no_kk = :k"),
                               {"k": no_kk}).one()
    assert created[:2] == ("Darto Pengaduan", 1) and created[2] in ("cocok", "beda_desa")

    # The approval is in the audit trail (Bappeda's screen), with what was written.
    page.goto("/auditlogview/list/?_flt_3_entity=household&_flt_3_action=create")
    row = page.locator("table a[href*='/auditlogview/show/']").first
    page.screenshot(path=str(artifacts / "request_5_audit_trail.png"), full_page=True)
    row.click()
    page.wait_for_load_state("load")
    assert f"pemutakhiran #{request_id}" in page.content() and "Darto Pengaduan" in page.content()
    page.screenshot(path=str(artifacts / "request_6_audit_row.png"), full_page=True)
