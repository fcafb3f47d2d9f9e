"""In a real browser (gunicorn, CSRF on): the Lampung Timur operator cannot change a desil
directly — the edit form has no desil, and a desil slipped into the form is refused — so they
propose the change from the household's page ("Usulkan perubahan"), attach the minutes and
submit; they cannot verify their own request (no button, a crafted step is refused); the
regency's verifier verifies, Bappeda approves, the desil changes and the audit trail shows it."""
from __future__ import annotations

import random
import re

from sqlalchemy import text

from tests.browser.conftest import login

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def make_household(engine) -> tuple[int, str]:
    no_kk = f"180701170399{random.randrange(1000, 9999):04d}"
    with engine.begin() as conn:
        village = conn.execute(text("""SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
                                       JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.07'
                                       ORDER BY v.code LIMIT 1""")).scalar_one()
        pk = conn.execute(text("""INSERT INTO household (no_kk, head_nik, head_name, village_id, desil, member_count,
                                                         source)
                                  VALUES (:kk, :nik, 'Kepala Empat Mata', :v, 3, 4, 'BDT') RETURNING id"""),
                          {"kk": no_kk, "nik": f"180701030270{random.randrange(1000, 9999):04d}",
                           "v": village}).scalar_one()
    return pk, no_kk


def desil_of(engine, pk) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT desil FROM household WHERE id = :i"), {"i": pk}).scalar_one()


def switch_user(page, username):
    page.goto("/logout/")
    login(page, username)


def test_a_desil_changes_only_through_a_request_decided_by_others(page, artifacts, engine):
    pk, no_kk = make_household(engine)
    login(page, "op1807")

    # 1. No desil on the operator's edit form; a desil slipped into the form is refused.
    page.goto(f"/householdview/edit/{pk}")
    assert page.locator("#request-only-note").is_visible()
    assert page.locator("select[name=desil], [name=village], #latitude, [name=member_count]").count() == 0
    page.screenshot(path=str(artifacts / "duties_edit_operator.png"), full_page=True)
    csrf = page.input_value("input[name=csrf_token]")
    page.evaluate("""() => { const f = document.querySelector('#model_form');
        const i = document.createElement('input'); i.type = 'hidden'; i.name = 'desil'; i.value = '1';
        f.appendChild(i); }""")
    page.fill("#head_name", "Kepala Diam-diam")
    with page.expect_navigation():
        page.click("#model_form button[type=submit]")
    assert "hanya dapat diubah melalui usulan pemutakhiran data" in page.inner_text("body")
    page.screenshot(path=str(artifacts / "duties_crafted_refused.png"), full_page=True)
    # That 400 is the expected answer, not a fault of the page.
    page.problems[:] = [p for p in page.problems if not ("400" in p and ("/householdview/edit/" in p
                                                                          or "status of 400" in p))]
    assert desil_of(engine, pk) == 3

    # 2. "Usulkan perubahan" on the household's page: the request form comes with the household.
    page.goto(f"/householdview/show/{pk}")
    page.click("#propose-change")
    page.wait_for_load_state("networkidle")
    assert page.input_value("#no_kk") == no_kk
    assert page.eval_on_selector("#kind", "s => s.value") == "ubah"
    page.screenshot(path=str(artifacts / "duties_propose_form.png"), full_page=True)
    page.fill("#note", "Hasil musyawarah desa: keluarga turun ke desil 1")
    with page.expect_navigation():
        page.click("form button[type=submit]")
    request_id = int(re.search(r"/updaterequestview/edit/(\d+)", page.url).group(1))

    # The proposal: desil 1.
    page.select_option("#desil", "1")
    with page.expect_navigation():
        page.click("form button[type=submit]")
    assert f"/updaterequestview/show/{request_id}" in page.url
    assert page.locator("#request-diff tr[data-changed=yes]").count() == 1

    # Evidence, then submit.
    page.set_input_files("#evidence-file", files=[{"name": "berita-acara-musdes.pdf", "mimeType": "application/pdf",
                                                   "buffer": PDF}])
    with page.expect_navigation():
        page.click("#evidence-form button[type=submit]")
    assert page.locator("#request-evidence a", has_text="berita-acara-musdes.pdf").count() == 1
    with page.expect_navigation():
        page.click("#transition-form button[value=diajukan]")
    assert page.get_attribute("#request-detail", "data-state") == "diajukan"

    # 3. The proposer has no step to take, and a crafted one is refused.
    assert page.locator("#transition-form button").count() == 0
    assert "pemisahan tugas" in page.inner_text("#duties-note")
    page.screenshot(path=str(artifacts / "duties_proposer_no_buttons.png"), full_page=True)
    answer = page.request.post(f"/updaterequestview/transition/{request_id}",
                               form={"to_state": "diverifikasi", "note": "sendiri", "csrf_token": csrf})
    assert answer.ok and "pemisahan tugas" in answer.text()
    page.reload()
    assert page.get_attribute("#request-detail", "data-state") == "diajukan"

    # 4. The regency's verifier verifies.
    switch_user(page, "ver1807")
    page.goto(f"/updaterequestview/show/{request_id}")
    page.fill("#step-note", "Dicek di lapangan")
    with page.expect_navigation():
        page.click("#transition-form button[value=diverifikasi]")
    assert page.get_attribute("#request-detail", "data-state") == "diverifikasi"
    assert page.locator("#transition-form button").count() == 0  # approving is the province's
    assert desil_of(engine, pk) == 3  # nothing applied before the approval

    # 5. Bappeda approves: the desil changes.
    switch_user(page, "bappeda")
    page.goto(f"/updaterequestview/show/{request_id}")
    with page.expect_navigation():
        page.click("#transition-form button[value=disetujui]")
    assert page.get_attribute("#request-detail", "data-state") == "disetujui"
    page.screenshot(path=str(artifacts / "duties_approved.png"), full_page=True)
    assert desil_of(engine, pk) == 1
    steps = page.inner_text("#request-steps")
    assert "op1807" in steps and "ver1807" in steps and "bappeda" in steps

    # 6. The audit trail shows the change of the desil, named after the request.
    page.goto(f"/auditlogview/list/?_flt_0_entity=household&_flt_0_entity_id={pk}")
    row = page.locator("tbody tr", has_text=f"pemutakhiran #{request_id}")
    assert row.count() == 1 and "Disetujui" in row.inner_text()
    row.locator("a[href*='/auditlogview/show/']").first.click()
    page.wait_for_load_state("networkidle")
    desil = [c.strip() for c in page.locator("#audit-changes tr[data-field=desil] > *").all_inner_texts()]
    assert desil == ["Desil", "3", "1"], desil
    steps = page.inner_text("#audit-request-steps")
    assert "op1807" in steps and "ver1807" in steps and "bappeda" in steps, steps
    page.screenshot(path=str(artifacts / "duties_audit.png"), full_page=True)
