"""Separation of duties, role by role, through the screens, the REST API and the service:

- the desil, village, point and number of members of a household are not on the edit form of
  any role but Admin; a crafted POST / PUT naming them is refused (Indonesian message) and
  changes nothing; Admin's direct change is audited as ``direct_edit`` with before/after;
- member rows are read-only for every role but Admin;
- nobody decides a request they proposed or submitted (verify, return, reject, approve), Admin
  included, and whoever verified a request does not decide it at the province: no button, and
  a crafted step is refused with a WorkflowError;
- "Usulkan perubahan" on a household's page opens the request form with the household filled in.

Every row is made here, with a per-run random part; the Lampung Timur operator (op1807) and
the regency's verifier (ver1807) come from the demo seed.
"""
from __future__ import annotations

import itertools
import json
import secrets

import pytest
from flask_babel import force_locale
from werkzeug.datastructures import MultiDict

from app.services.update_requests import WorkflowError
from tests.conftest import DEMO_PASSWORD, sql
from tests.forms import FormValues

OWN, OTHER = "18.07", "18.01"
RUN = secrets.randbelow(90) + 10
_serial = itertools.count(1)
REFUSED_ID = "hanya dapat diubah melalui usulan pemutakhiran data"  # the Indonesian refusal
DUTIES_ID = "pemisahan tugas"
# role -> may the user edit a household at all / edit the request-only fields / propose a change
EDITORS = {"admin": ("full", True), "bappeda": ("limited", True), "op1807": ("limited", True),
           "ver1807": ("limited", True), "pimpinan": ("none", False), "opd_dinkop_lamtim": ("none", False)}
REQUEST_ONLY_INPUTS = ('name="desil"', 'name="village"', 'name="latitude"', 'name="longitude"',
                       'name="member_count"')


def _number(regency: str, date: str) -> str:
    n = next(_serial)
    return f"{regency.replace('.', '')}{n // 100 % 100:02d}{date}{RUN}{n % 100:02d}"


def make_household(app, regency: str = OWN, desil: int = 3) -> int:
    village = sql(app, """SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
                          JOIN regency r ON r.id = d.regency_id WHERE r.code = :c ORDER BY v.code LIMIT 1""",
                  c=regency)[0][0]
    return sql(app, """INSERT INTO household (no_kk, head_nik, head_name, village_id, desil, member_count, source)
                       VALUES (:kk, :nik, :name, :v, :d, 4, 'BDT') RETURNING id""",
               kk=_number(regency, "170399"), nik=_number(regency, "030270"), name=f"Kepala Tugas {next(_serial)}",
               v=village, d=desil)[0][0]


def household_row(app, pk):
    return sql(app, "SELECT no_kk, head_name, desil, member_count, village_id, location FROM household "
                    "WHERE id = :i", i=pk)[0]


def login(app, username, english: bool = False):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers["Location"], f"login {username} failed"
    if english:
        client.get("/lang/en")
    return client


def token(client, username):
    r = client.post("/api/v1/security/login", json={"username": username, "password": DEMO_PASSWORD,
                                                    "provider": "db", "refresh": False})
    assert r.status_code == 200, r.data
    return {"Authorization": f"Bearer {r.json['access_token']}"}


def form_values(client, url) -> MultiDict:
    r = client.get(url)
    assert r.status_code == 200, r.status_code
    parser = FormValues()
    parser.feed(r.get_data(as_text=True))
    return MultiDict(parser.values)


# --- the household edit form ----------------------------------------------------------------------

@pytest.mark.parametrize("username", list(EDITORS))
def test_the_edit_form_holds_the_request_only_fields_for_admin_alone(app, username):
    pk = make_household(app)
    client = login(app, username)
    r = client.get(f"/householdview/edit/{pk}")
    kind, _ = EDITORS[username]
    if kind == "none":
        assert r.status_code == 403
        return
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    present = [name for name in REQUEST_ONLY_INPUTS if name in body]
    if kind == "full":
        assert present == list(REQUEST_ONLY_INPUTS) and 'id="request-only-note"' not in body
    else:
        assert present == [], (username, present)
        assert 'name="head_name"' in body and 'id="request-only-note"' in body
        assert "Usulkan perubahan" in body and f"/updaterequestview/add?household={pk}" in body


@pytest.mark.parametrize("username", ["op1807", "ver1807", "bappeda"])
@pytest.mark.parametrize("crafted", [{"desil": "1"}, {"village": "other"}, {"latitude": "-5.1", "longitude": "105.6"},
                                     {"member_count": "9"}], ids=["desil", "village", "point", "members"])
def test_a_crafted_post_of_a_request_only_field_is_refused_and_changes_nothing(app, username, crafted):
    pk = make_household(app)
    before = household_row(app, pk)
    client = login(app, username)
    data = form_values(client, f"/householdview/edit/{pk}")
    data["head_name"] = "Nama Tidak Boleh Ikut"
    if crafted.get("village") == "other":
        crafted = {"village": str(sql(app, "SELECT id FROM village WHERE id <> :v LIMIT 1", v=before[4])[0][0])}
    for key, value in crafted.items():
        data[key] = value
    marker = sql(app, "SELECT coalesce(max(id), 0) FROM audit_log")[0][0]
    r = client.post(f"/householdview/edit/{pk}", data=data)
    assert r.status_code == 400, r.status_code
    assert REFUSED_ID in r.get_data(as_text=True)
    assert household_row(app, pk) == before  # nothing written, not even the allowed field
    assert sql(app, "SELECT count(*) FROM audit_log WHERE id > :m AND entity_id = :h", m=marker, h=pk)[0][0] == 0


def test_the_limited_form_still_saves_the_other_fields(app):
    pk = make_household(app)
    before = household_row(app, pk)
    client = login(app, "op1807")
    data = form_values(client, f"/householdview/edit/{pk}")
    data["head_name"] = "Nama Diubah Operator"
    r = client.post(f"/householdview/edit/{pk}", data=data)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    after = household_row(app, pk)
    assert after[1] == "Nama Diubah Operator" and after[2:] == before[2:]  # desil, members, village, point kept
    row = sql(app, "SELECT action, before, after FROM audit_log WHERE entity = 'household' AND entity_id = :h "
                   "ORDER BY id DESC LIMIT 1", h=pk)[0]
    assert row[0] == "update" and row[2].get("head_name") == "Nama Diubah Operator" and "desil" not in row[2]


def test_admin_edits_the_desil_directly_and_the_trail_names_it(app):
    pk = make_household(app, desil=3)
    client = login(app, "admin")
    data = form_values(client, f"/householdview/edit/{pk}")
    data["desil"] = "1"
    r = client.post(f"/householdview/edit/{pk}", data=data)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    assert household_row(app, pk)[2] == 1
    rows = sql(app, "SELECT action, before, after, note, username FROM audit_log WHERE entity = 'household' "
                    "AND entity_id = :h ORDER BY id", h=pk)
    assert len(rows) == 1
    action, before, after, note, username = rows[0]
    assert (action, before.get("desil"), after.get("desil"), username) == ("direct_edit", 3, 1, "admin")
    assert "tanpa usulan pemutakhiran" in note
    # a direct edit of another field only stays a plain update
    data = form_values(client, f"/householdview/edit/{pk}")
    data["head_name"] = "Nama Dikoreksi Admin"
    assert client.post(f"/householdview/edit/{pk}", data=data).status_code == 302
    last = sql(app, "SELECT action, after FROM audit_log WHERE entity = 'household' AND entity_id = :h "
                    "ORDER BY id DESC LIMIT 1", h=pk)[0]
    assert last[0] == "update" and "desil" not in last[1]


# --- the REST API ------------------------------------------------------------------------------

@pytest.mark.parametrize("username,allowed", [("admin", True), ("bappeda", False), ("op1807", False)])
def test_the_api_refuses_the_request_only_fields_to_all_but_admin(app, username, allowed):
    pk = make_household(app, desil=3)
    client = app.test_client()
    headers = token(client, username)
    for body in ({"desil": 1}, {"member_count": 9}, {"head_name": "Nama API", "desil": 2},
                 {"location": {"type": "Point", "coordinates": [105.6, -5.1]}}):
        before = household_row(app, pk)
        r = client.put(f"/api/v1/household/{pk}", json=body, headers=headers)
        if allowed:
            assert r.status_code in (200, 422), (body, r.data)  # 422: the point may lie outside the village
        else:
            assert r.status_code == 403, (body, r.status_code)
            assert REFUSED_ID in r.json["message"], r.json
            assert household_row(app, pk) == before
    if not allowed:  # the other fields still go through
        r = client.put(f"/api/v1/household/{pk}", json={"head_name": "Nama Lewat API"}, headers=headers)
        assert r.status_code == 200, r.data


@pytest.mark.parametrize("username", ["bappeda", "op1807", "ver1807", "pimpinan"])
def test_members_are_read_only_for_all_but_admin(app, username):
    pk = make_household(app)
    member = sql(app, """INSERT INTO household_member (household_id, nik, name, sex, relationship_to_head)
                         VALUES (:h, :n, 'Anak Tugas', 'L', 'anak') RETURNING id""",
                 h=pk, n=_number(OWN, "120310"))[0][0]
    client = login(app, username)
    assert client.get(f"/householdmemberview/show/{member}").status_code == 200
    assert client.get("/householdmemberview/add").status_code == 403
    assert client.get(f"/householdmemberview/edit/{member}").status_code == 403
    assert client.post(f"/householdmemberview/delete/{member}").status_code == 403
    headers = token(client, username)
    assert client.put(f"/api/v1/household_member/{member}", json={"name": "X"}, headers=headers).status_code == 403
    assert client.post("/api/v1/household_member/", json={"household": pk, "nik": _number(OWN, "120311"),
                                                           "name": "Y", "sex": "L"}, headers=headers).status_code == 403
    assert sql(app, "SELECT name FROM household_member WHERE id = :i", i=member)[0][0] == "Anak Tugas"
    admin = login(app, "admin")
    assert admin.get(f"/householdmemberview/edit/{member}").status_code == 200


# --- four eyes on the requests -----------------------------------------------------------------------

def _user(username):
    from app.extensions import appbuilder

    return appbuilder.sm.find_user(username=username)


def propose(app, username, household_id, proposed=None) -> int:
    """A change request proposed by ``username`` through the service, with evidence, still a draft."""
    from app.extensions import db
    from app.models.households import Household
    from app.services import update_requests as service

    with app.app_context():
        request = service.create_request(db.session, _user(username), "ubah",
                                         household=db.session.get(Household, household_id))
        service.set_proposal(db.session, request, _user(username), proposed or {"desil": 1})
        db.session.commit()
        pk = request.id
    sql(app, "INSERT INTO update_evidence (request_id, file, original_name) VALUES (:r, 'evidence/none.pdf', "
             "'berita-acara.pdf')", r=pk)
    return pk


def step(app, pk, to_state, username, note="catatan uji") -> str | None:
    """The service's step as ``username``: None, or the (Indonesian) refusal."""
    from app.extensions import db
    from app.models.workflow import UpdateRequest
    from app.services import update_requests as service

    with app.app_context(), force_locale("id"):
        try:
            service.transition(db.session, db.session.get(UpdateRequest, pk), to_state, _user(username), note)
            db.session.commit()
        except WorkflowError as exc:
            db.session.rollback()
            return str(exc)
    return None


def targets(app, pk, username) -> set[str]:
    from app.extensions import db
    from app.models.workflow import UpdateRequest
    from app.services import update_requests as service

    with app.app_context():
        return {to for to, _ in service.allowed_targets(db.session.get(UpdateRequest, pk), _user(username))}


def state_of(app, pk) -> str:
    return sql(app, "SELECT state FROM update_request WHERE id = :i", i=pk)[0][0]


@pytest.mark.parametrize("proposer", ["op1807", "admin"])
def test_the_proposer_takes_no_decision_on_their_own_request(app, proposer):
    pk = propose(app, proposer, make_household(app))
    assert step(app, pk, "diajukan", proposer) is None
    assert targets(app, pk, proposer) == set()  # no button
    for to_state in ("diverifikasi", "draft", "ditolak"):  # verify, return, reject
        message = step(app, pk, to_state, proposer)
        assert message and DUTIES_ID in message, (to_state, message)
        assert state_of(app, pk) == "diajukan"
    assert targets(app, pk, "ver1807") == {"diverifikasi", "draft", "ditolak"}
    assert step(app, pk, "diverifikasi", "ver1807") is None
    if proposer == "admin":  # Admin may approve, but not what they proposed
        assert targets(app, pk, "admin") == set()
        message = step(app, pk, "disetujui", "admin")
        assert message and DUTIES_ID in message
    assert step(app, pk, "disetujui", "bappeda") is None
    assert state_of(app, pk) == "disetujui"


def test_whoever_submitted_a_request_does_not_verify_it(app):
    """Created by op1807, returned, then submitted by ver1807: neither of them verifies it."""
    pk = propose(app, "op1807", make_household(app))
    assert step(app, pk, "diajukan", "op1807") is None
    assert step(app, pk, "draft", "ver1807", note="lengkapi foto") is None
    assert step(app, pk, "diajukan", "ver1807") is None
    for username in ("op1807", "ver1807"):
        message = step(app, pk, "diverifikasi", username)
        assert message and DUTIES_ID in message, (username, message)
    assert step(app, pk, "diverifikasi", "admin") is None
    assert state_of(app, pk) == "diverifikasi"


def test_whoever_verified_a_request_does_not_approve_or_reject_it(app):
    pk = propose(app, "op1807", make_household(app))
    assert step(app, pk, "diajukan", "op1807") is None
    assert step(app, pk, "diverifikasi", "admin") is None
    assert targets(app, pk, "admin") == set()
    for to_state in ("disetujui", "ditolak"):
        message = step(app, pk, to_state, "admin")
        assert message and DUTIES_ID in message and "provinsi" in message
    assert targets(app, pk, "bappeda") == {"disetujui", "ditolak"}


def test_bappeda_proposes_and_another_approver_decides(app):
    pk = propose(app, "bappeda", make_household(app))
    assert step(app, pk, "diajukan", "bappeda") is None
    assert step(app, pk, "diverifikasi", "op1807") is None
    message = step(app, pk, "disetujui", "bappeda")
    assert message and DUTIES_ID in message
    assert step(app, pk, "disetujui", "admin") is None


def test_the_show_page_offers_no_step_to_the_proposer_and_a_crafted_post_is_refused(app):
    hh = make_household(app, desil=3)
    pk = propose(app, "op1807", hh)
    assert step(app, pk, "diajukan", "op1807") is None
    operator = login(app, "op1807")
    body = operator.get(f"/updaterequestview/show/{pk}").get_data(as_text=True)
    assert 'value="diverifikasi"' not in body and 'name="to_state"' not in body
    assert 'id="duties-note"' in body and DUTIES_ID in body
    r = operator.post(f"/updaterequestview/transition/{pk}", data={"to_state": "diverifikasi"}, follow_redirects=True)
    assert DUTIES_ID in r.get_data(as_text=True) and state_of(app, pk) == "diajukan"
    verifier = login(app, "ver1807")
    assert 'value="diverifikasi"' in verifier.get(f"/updaterequestview/show/{pk}").get_data(as_text=True)
    # the menu counts for the verifier what it may decide, not for the proposer
    assert pk in _awaiting_ids(verifier) and pk not in _awaiting_ids(operator)


def _awaiting_ids(client) -> set[int]:
    import re

    body = client.get("/updaterequestview/list/?preset=awaiting&psize_UpdateRequestView=100").get_data(as_text=True)
    return {int(x) for x in re.findall(r"/updaterequestview/show/(\d+)", body)}


# --- "Usulkan perubahan" --------------------------------------------------------------------------

@pytest.mark.parametrize("username", list(EDITORS))
def test_propose_a_change_opens_the_form_with_the_household_filled_in(app, username):
    pk = make_household(app)
    no_kk = household_row(app, pk)[0]
    client = login(app, username)
    show = client.get(f"/householdview/show/{pk}")
    assert show.status_code == 200  # the agency of Lampung Timur reads the regency's households too
    body = show.get_data(as_text=True)
    _, may_propose = EDITORS[username]
    assert ('id="propose-change"' in body) == may_propose, username
    if not may_propose:
        assert client.get(f"/updaterequestview/add?household={pk}").status_code == 403
        return
    values = dict(form_values(client, f"/updaterequestview/add?household={pk}"))
    assert values.get("kind") == "ubah" and values.get("no_kk") == no_kk, values
    r = client.post("/updaterequestview/add", data={"kind": "ubah", "no_kk": no_kk, "note": "hasil musdes"})
    assert r.status_code == 302 and "/updaterequestview/edit/" in r.headers["Location"]
    created = sql(app, "SELECT household_id, kind, created_by FROM update_request WHERE household_id = :h", h=pk)
    assert created == [(pk, "ubah", username)]


def test_propose_a_change_of_another_regency_fills_nothing(app):
    other = make_household(app, OTHER)
    client = login(app, "op1807")
    values = dict(form_values(client, f"/updaterequestview/add?household={other}"))
    assert values.get("no_kk", "") == ""
    assert json.dumps(values).find(household_row(app, other)[0]) < 0
