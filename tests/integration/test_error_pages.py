"""Error pages: in the app's layout, in Indonesian, with a way back; JSON for the API."""
from __future__ import annotations

from sqlalchemy import text
from werkzeug.exceptions import InternalServerError

from tests.conftest import DEMO_PASSWORD


def _client(app, username):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302, username
    return client


def _assert_layout_page(r, status):
    page = r.get_data(as_text=True)
    assert r.status_code == status, (r.status_code, page[:300])
    assert "sinergi.css" in page and "navbar" in page, page[:500]  # the app's own layout
    assert "Ke beranda" in page and "Kembali" in page
    assert "Traceback" not in page
    return page


def test_unknown_url_is_a_404_page_in_the_layout(app):
    page = _assert_layout_page(_client(app, "op1807").get("/no-such-page/"), 404)
    assert "tidak ditemukan" in page


def test_out_of_scope_show_link_is_a_404_page(app, engine):
    with engine.connect() as conn:
        other = conn.execute(text("SELECT h.id FROM household h JOIN village v ON v.id = h.village_id "
                                  "JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id "
                                  "WHERE r.code <> '18.07' LIMIT 1")).scalar_one()
    page = _assert_layout_page(_client(app, "op1807").get(f"/householdview/show/{other}"), 404)
    assert "di luar wilayah" in page


def test_api_404_and_400_speak_indonesian(app):
    client = _client(app, "bappeda")
    r = client.get("/api/v1/household/99999999")
    assert r.status_code == 404 and "tidak ditemukan" in r.json["message"], r.json
    r = client.get("/api/v1/household/?q=((((((")
    assert r.status_code == 400 and "rison" in r.json["message"], r.json


def test_nul_byte_and_list_parameters_are_400_pages(app):
    client = _client(app, "bappeda")
    page = _assert_layout_page(client.get("/householdview/list/?_flt_2_head_name=a%00b"), 400)
    assert "NUL" in page
    _assert_layout_page(client.get("/householdview/list/?page_HouseholdView=abc"), 400)
    page = _assert_layout_page(client.get("/householdview/list/?_oc_HouseholdView=nope&_od_HouseholdView=asc"), 400)
    assert "nope" in page


def test_405_keeps_allow_header(app):
    r = app.test_client().post("/health")
    assert r.status_code == 405 and "GET" in r.headers.get("Allow", "")


def test_health_is_public_and_at_head(app):
    r = app.test_client().get("/health")
    assert r.status_code == 200 and r.json == {"process": "up", "database": "reachable", "migrations": "head"}


def test_500_page_says_nothing_internal(app):
    from app.errors import handle_500

    with app.test_request_context("/somewhere"):
        body, status = handle_500(InternalServerError(original_exception=RuntimeError("secret detail")))
    assert status == 500 and "kesalahan pada server" in body and "secret detail" not in body
