""""Menunggu saya": the top-bar badge and the /inbox/ page.

The expected numbers are counted here with hand-written SQL from the rules (domain.md and the
brief), not through app/services/inbox.py: an operator has the drafts and the submitted
requests of their regency, the new complaints of their regency and those they handle; Bappeda
the verified requests of the province; Admin the submitted and the verified ones; Pimpinan and
OPD nothing (no badge). Overdue: an open complaint past its deadline (dates in WIB). Separation
of duties: a submitted or verified request the user proposed, submitted or verified is not theirs
to decide, so it does not wait for them.
"""
from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.conftest import DEMO_PASSWORD, sql

OWN, OTHER = "18.07", "18.01"
MONTHS = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember"]
TODAY_WIB = "(now() AT TIME ZONE 'Asia/Jakarta')::date"


def login(client, username):
    client.get("/logout/")
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), username
    return client


def _regency(app, code):
    return sql(app, "SELECT id FROM regency WHERE code = :c", c=code)[0][0]


def _village(app, code):
    return sql(app, "SELECT v.id FROM village v JOIN district d ON d.id = v.district_id "
                    "JOIN regency r ON r.id = d.regency_id WHERE r.code = :c ORDER BY v.code LIMIT 1", c=code)[0][0]


def _user_id(app, username):
    return sql(app, "SELECT id FROM ab_user WHERE username = :u", u=username)[0][0]


def _complaint(app, tag, regency_code, state, days, handler=None):
    """A complaint whose deadline is ``days`` from today (negative: overdue)."""
    return sql(app, f"""INSERT INTO complaint (ticket, category, village_id, regency_id, description, state,
                        handler_id, deadline) VALUES (:t, 'lainnya', :v, :r, 'uji kotak masuk', :s, :h,
                        {TODAY_WIB} + :d) RETURNING id""",
               t=f"PGD-INBX{tag}", v=_village(app, regency_code), r=_regency(app, regency_code), s=state,
               h=handler and _user_id(app, handler), d=days)[0][0]


def _request(app, regency_code, state):
    return sql(app, "INSERT INTO update_request (kind, state, regency_id, proposed, created_by) "
                    "VALUES ('baru', :s, :r, '{}'::jsonb, 'uji') RETURNING id",
               s=state, r=_regency(app, regency_code))[0][0]


@pytest.fixture(scope="module")
def rows(app):
    """Complaints and requests in every state, in the operator's regency and another."""
    made = {
        "c_new_late": _complaint(app, "00NL", OWN, "baru", -3),
        "c_new": _complaint(app, "00NW", OWN, "baru", 10),
        "c_mine_late": _complaint(app, "00ML", OWN, "diproses", -1, handler="op1807"),
        "c_mine": _complaint(app, "00MN", OWN, "diproses", 5, handler="op1807"),
        "c_others": _complaint(app, "00OT", OWN, "diproses", -4, handler="admin"),  # someone else's
        "c_done": _complaint(app, "00DN", OWN, "selesai", -20, handler="op1807"),
        "c_other_new": _complaint(app, "00ON", OTHER, "baru", -2),
        "r_draft": _request(app, OWN, "draft"),
        "r_submitted": _request(app, OWN, "diajukan"),
        "r_verified": _request(app, OWN, "diverifikasi"),
        "r_done": _request(app, OWN, "disetujui"),
        "r_other_submitted": _request(app, OTHER, "diajukan"),
        "r_other_verified": _request(app, OTHER, "diverifikasi"),
    }
    yield made


@pytest.fixture()
def fresh_badge(app):
    """The badge counted on every page (no keeping), as the tests change rows between pages."""
    from app.views.inbox import forget_badges

    before = app.config.get("INBOX_BADGE_SECONDS")
    app.config["INBOX_BADGE_SECONDS"] = 0
    forget_badges()
    yield
    app.config["INBOX_BADGE_SECONDS"] = before
    forget_badges()


# --- the expectations, in plain SQL ---------------------------------------------------------------

def _step_by_user(to_state: str) -> str:
    return (f"EXISTS (SELECT 1 FROM update_request_step s WHERE s.request_id = update_request.id "
            f"AND s.to_state = '{to_state}' AND s.user_id = :u)")


NOT_MINE_TO_DECIDE = (f"NOT ((state IN ('diajukan', 'diverifikasi') AND (created_by_id IS NOT DISTINCT FROM :u "
                      f"OR {_step_by_user('diajukan')})) OR (state = 'diverifikasi' AND {_step_by_user('diverifikasi')}))")

def expected(app, username):
    """(request ids, complaint ids, overdue complaint ids) awaiting the user."""
    uid = _user_id(app, username)
    role = sql(app, "SELECT r.name FROM ab_user_role ur JOIN ab_role r ON r.id = ur.role_id "
                    "WHERE ur.user_id = :u", u=uid)[0][0]
    regency = sql(app, "SELECT regency_id FROM ab_user WHERE id = :u", u=uid)[0][0]
    if role == "Operator TKPK":
        requests = sql(app, "SELECT id FROM update_request WHERE regency_id = :r AND state IN ('draft', 'diajukan') "
                            f"AND {NOT_MINE_TO_DECIDE}", r=regency, u=uid)
        complaints = sql(app, f"""SELECT id, deadline < {TODAY_WIB} FROM complaint WHERE regency_id = :r
                                  AND (state = 'baru' OR (state = 'diproses' AND handler_id = :u))""",
                         r=regency, u=uid)
    elif role in ("Bappeda Provinsi", "Admin"):
        states = ("diverifikasi",) if role == "Bappeda Provinsi" else ("diajukan", "diverifikasi")
        requests = sql(app, f"SELECT id FROM update_request WHERE state = ANY(:s) AND {NOT_MINE_TO_DECIDE}",
                       s=list(states), u=uid)
        complaints = sql(app, f"""SELECT id, deadline < {TODAY_WIB} FROM complaint
                                  WHERE state = 'diproses' AND handler_id = :u""", u=uid)
    else:  # Pimpinan, OPD: nothing to do
        requests, complaints = [], []
    return ({r[0] for r in requests}, {c[0] for c in complaints}, {c[0] for c in complaints if c[1]})


def _badge(page: str):
    """(total, overdue) from the top bar, or None without a badge."""
    if 'id="inbox-badge"' not in page:
        return None
    total = re.search(r'id="inbox-badge-total">([\d.]+)<', page).group(1)
    overdue = re.search(r'id="inbox-badge-overdue">([\d.]+) ', page)
    return int(total.replace(".", "")), int(overdue.group(1).replace(".", "")) if overdue else 0


@pytest.mark.parametrize("username", ["op1807", "op1801", "bappeda", "admin", "pimpinan", "opd_dinkop_lamtim"])
def test_badge_counts_equal_independent_sql(app, rows, fresh_badge, username):
    client = login(app.test_client(), username)
    requests, complaints, overdue = expected(app, username)
    page = client.get("/").get_data(as_text=True)
    total = len(requests) + len(complaints)
    if total == 0:
        assert _badge(page) is None, (username, "a badge with nothing to do")
    else:
        assert _badge(page) == (total, len(overdue)), (username, _badge(page), total, len(overdue))
    if username == "op1807":  # the rows made above, each where the rules put it
        assert {rows["r_draft"], rows["r_submitted"]} <= requests
        assert not {rows["r_verified"], rows["r_done"], rows["r_other_submitted"]} & requests
        assert {rows["c_new_late"], rows["c_new"], rows["c_mine_late"], rows["c_mine"]} <= complaints
        assert not {rows["c_others"], rows["c_done"], rows["c_other_new"]} & complaints
        assert {rows["c_new_late"], rows["c_mine_late"]} <= overdue and rows["c_new"] not in overdue
        assert 'class="badge sinergi-badge-overdue"' in page  # red (sinergi.css)


def test_badge_follows_a_change(app, rows, fresh_badge):
    client = login(app.test_client(), "op1807")
    before = _badge(client.get("/").get_data(as_text=True))
    extra = _complaint(app, "01XX", OWN, "baru", -1)
    try:
        after = _badge(client.get("/").get_data(as_text=True))
        assert after == (before[0] + 1, before[1] + 1)
    finally:
        sql(app, "DELETE FROM complaint WHERE id = :i", i=extra)


def test_badge_is_kept_a_few_seconds(app, rows):
    """With keeping on, a second page within the time does not count again (the number stays
    although a row was added); once forgotten, it counts anew."""
    from app.views.inbox import forget_badges

    before_setting = app.config.get("INBOX_BADGE_SECONDS")
    app.config["INBOX_BADGE_SECONDS"] = 600
    forget_badges()
    client = login(app.test_client(), "op1807")
    extra = None
    try:
        first = _badge(client.get("/").get_data(as_text=True))
        extra = _complaint(app, "02XX", OWN, "baru", 3)
        assert _badge(client.get("/").get_data(as_text=True)) == first
        forget_badges()
        assert _badge(client.get("/").get_data(as_text=True)) == (first[0] + 1, first[1])
    finally:
        app.config["INBOX_BADGE_SECONDS"] = before_setting
        forget_badges()
        if extra:
            sql(app, "DELETE FROM complaint WHERE id = :i", i=extra)


def _day(value: dt.date) -> str:
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


@pytest.mark.parametrize("username", ["op1807", "bappeda"])
def test_inbox_page_lists_each_item_with_a_link(app, rows, fresh_badge, username):
    client = login(app.test_client(), username)
    requests, complaints, overdue = expected(app, username)
    r = client.get("/inbox/")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Menunggu saya" in page
    listed = set(re.findall(r'data-kind="(\w+)" data-id="(\d+)"', page))
    assert {int(i) for k, i in listed if k == "request"} == requests
    assert {int(i) for k, i in listed if k == "complaint"} == complaints
    for rid in requests:
        assert f'href="/updaterequestview/show/{rid}"' in page
    for cid in complaints:
        assert f'href="/complaintview/show/{cid}"' in page
    red = set(re.findall(r'class="inbox-item inbox-complaint danger inbox-overdue" data-kind="complaint" '
                         r'data-id="(\d+)"', page))
    assert {int(i) for i in red} == overdue
    assert "None" not in page


def test_inbox_page_shows_state_and_indonesian_deadline(app, rows, fresh_badge):
    client = login(app.test_client(), "op1807")
    page = client.get("/inbox/").get_data(as_text=True)
    deadline = sql(app, "SELECT deadline FROM complaint WHERE id = :i", i=rows["c_new_late"])[0][0]
    row = re.search(rf'data-id="{rows["c_new_late"]}">(.*?)</tr>', page, re.S).group(1)
    assert "PGD-INBX00NL" in row and "Baru" in row and _day(deadline) in row and "terlambat" in row
    assert 'class="text-danger"' in row
    on_time = re.search(rf'data-id="{rows["c_new"]}">(.*?)</tr>', page, re.S).group(1)
    assert "terlambat" not in on_time and "text-danger" not in on_time
    draft = re.search(rf'data-kind="request" data-id="{rows["r_draft"]}">(.*?)</tr>', page, re.S).group(1)
    assert "Draf" in draft or "Draft" in draft
    assert "Lengkapi lalu ajukan" in draft


@pytest.mark.parametrize("username", ["pimpinan", "opd_dinkop_lamtim"])
def test_roles_without_workflow_have_no_badge_and_no_page(app, rows, fresh_badge, username):
    client = login(app.test_client(), username)
    assert 'id="inbox-badge"' not in client.get("/").get_data(as_text=True)
    r = client.get("/inbox/")
    assert r.status_code == 403 and "navbar" in r.get_data(as_text=True)


def test_nothing_awaiting_is_said(app, fresh_badge):
    """An operator of a regency with nothing pending: no badge; the page says so."""
    rid = _regency(app, "18.72")
    pending = sql(app, "SELECT (SELECT count(*) FROM complaint WHERE regency_id = :r AND state = 'baru') + "
                       "(SELECT count(*) FROM update_request WHERE regency_id = :r AND state IN ('draft', 'diajukan'))",
                  r=rid)[0][0]
    if pending:
        pytest.skip("18.72 has pending rows in this database")
    client = login(app.test_client(), "op1872")
    assert 'id="inbox-badge"' not in client.get("/").get_data(as_text=True)
    page = client.get("/inbox/").get_data(as_text=True)
    assert 'id="inbox-empty"' in page and "Tidak ada yang menunggu" in page
