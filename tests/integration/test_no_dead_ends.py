"""No dead ends (issue 11): a record outside the user's area offers no edit or delete that
would only fail on save, and asking for one anyway answers 403/404 in the app's layout, in
Indonesian, with the menu and a way back — never a raw English page or a 500.

For op1807 (operator of Lampung Timur) and opd_dinkop_lamtim (an agency of Lampung Timur),
in every registered scoped screen: the out-of-area rows — the ones the user reads but may not
write (another regency's agency or indicator, the province TKPK and its members, a program of
another regency that covers Lampung Timur) and the ones the user may not read — up to a
sample per screen plus rows made here. Which rows are in area comes from the users' own
regency/agency written out here (``OUT_OF_AREA_SQL``), not from app/security/scope.py.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from flask_appbuilder import ModelView
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.models import (Agency, Enrolment, Household, HouseholdMember, PovertyIndicator, PriorityZone, Program,
                        Regency, TkpkDocument, TkpkInstitution, TkpkMember)
from app.models.workflow import Complaint, UpdateRequest
from app.views.base import ScopedModelView
from tests.conftest import DEMO_PASSWORD, sql
from tests.forms import FormValues

OWN, OTHER = "18.07", "18.01"
USERS = ["op1807", "opd_dinkop_lamtim"]
SAMPLE = 4  # rows per screen and kind taken from the database, beside the rows made here

TABLES = {Agency: "agency", TkpkInstitution: "tkpk_institution", TkpkMember: "tkpk_member",
          TkpkDocument: "tkpk_document", Program: "program", Household: "household",
          HouseholdMember: "household_member", Enrolment: "enrolment", PriorityZone: "priority_zone",
          PovertyIndicator: "poverty_indicator", UpdateRequest: "update_request", Complaint: "complaint"}

# The regency of a row, in SQL over the alias t (NULL = province-wide).
_HH_REGENCY = ("(SELECT d.regency_id FROM household h JOIN village v ON v.id = h.village_id "
               "JOIN district d ON d.id = v.district_id WHERE h.id = {hid})")
REGENCY_OF = {
    Agency: "t.regency_id", TkpkInstitution: "t.regency_id",
    TkpkMember: "(SELECT i.regency_id FROM tkpk_institution i WHERE i.id = t.institution_id)",
    TkpkDocument: "(SELECT i.regency_id FROM tkpk_institution i WHERE i.id = t.institution_id)",
    Program: "(SELECT a.regency_id FROM agency a WHERE a.id = t.agency_id)",  # the owner's regency
    Household: _HH_REGENCY.format(hid="t.id"), HouseholdMember: _HH_REGENCY.format(hid="t.household_id"),
    Enrolment: _HH_REGENCY.format(hid="t.household_id"), PriorityZone: "t.regency_id",
    PovertyIndicator: "t.regency_id", UpdateRequest: "t.regency_id", Complaint: "t.regency_id",
}
# What a user may change, from domain.md: an operator the rows of their own regency (a program:
# one of an agency of that regency); an OPD officer its own agency, programs and their enrolments.
WRITABLE_SQL = {
    "op1807": {model: f"{expr} = :rid" for model, expr in REGENCY_OF.items()},
    "opd_dinkop_lamtim": {
        Agency: "t.id = :aid", Program: "t.agency_id = :aid",
        Enrolment: "t.program_id IN (SELECT id FROM program WHERE agency_id = :aid)",
    },
}


def login(client, username):
    client.get("/logout/")
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), username
    return client


def _ids(app, username) -> dict:
    rid = sql(app, "SELECT id FROM regency WHERE code = :c", c=OWN)[0][0]
    aid = sql(app, "SELECT agency_id FROM ab_user WHERE username = :u", u=username)[0][0]
    return {"rid": rid, "aid": aid or -1}


def writable_clause(username, model) -> str:
    return WRITABLE_SQL[username].get(model, "false")


def out_of_area(app, username, model, made: set[int]) -> list[int]:
    """Rows of ``model`` the user may not change: the ones made here, and a sample."""
    clause = writable_clause(username, model)
    sample = sql(app, f"SELECT t.id FROM {TABLES[model]} t WHERE NOT coalesce(({clause}), false) "
                      f"ORDER BY t.id LIMIT {SAMPLE}", **_ids(app, username))
    rows = {r[0] for r in sample} | made
    return sorted(i for i in rows if not is_writable(app, username, model, i))


def is_writable(app, username, model, pk) -> bool:
    clause = writable_clause(username, model)
    return bool(sql(app, f"SELECT 1 FROM {TABLES[model]} t WHERE t.id = :pk AND coalesce(({clause}), false)",
                    pk=pk, **_ids(app, username)))


def snapshot(app, model, pk):
    rows = sql(app, f"SELECT to_jsonb(t) FROM {TABLES[model]} t WHERE t.id = :pk", pk=pk)
    return rows[0][0] if rows else None


def has_permission(app, username, view_name, permission) -> bool:
    return bool(sql(app, """SELECT 1 FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id
                            JOIN ab_permission_view_role pvr ON pvr.role_id = ur.role_id
                            JOIN ab_permission_view pv ON pv.id = pvr.permission_view_id
                            JOIN ab_permission p ON p.id = pv.permission_id
                            JOIN ab_view_menu vm ON vm.id = pv.view_menu_id
                            WHERE u.username = :u AND vm.name = :v AND p.name = :p""",
                    u=username, v=view_name, p=permission))


def assert_refusal_page(r, what):
    page = r.get_data(as_text=True)
    assert r.status_code in (403, 404), (what, r.status_code, page[:300])
    assert "navbar" in page and "sinergi.css" in page, (what, "not in the app's layout")
    assert "Kembali" in page and "Ke beranda" in page, (what, "no way back")
    assert ("Akses ditolak" in page) if r.status_code == 403 else ("tidak ditemukan" in page), what
    assert "Internal Server Error" not in page and "Not Found" not in page and "Forbidden" not in page, what
    return page


# --- the rows -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def made(app):
    """Out-of-area rows of each kind for op1807: another regency's agency, program (one of them
    covering Lampung Timur), indicator and zone; a member of the province TKPK (and its documents)."""
    from app.extensions import db
    from app.models.areas import District, Village

    with app.app_context():
        own = db.session.execute(select(Regency).where(Regency.code == OWN)).scalar_one()
        other = db.session.execute(select(Regency).where(Regency.code == OTHER)).scalar_one()
        village = db.session.execute(select(Village).join(District).where(District.regency_id == other.id)
                                     .order_by(Village.code).limit(1)).scalar_one()
        area = db.session.execute(select(Village.geom.ST_Multi()).where(Village.id == village.id)).scalar()
        province_tkpk = db.session.execute(select(TkpkInstitution).where(TkpkInstitution.regency_id.is_(None))
                                           ).scalars().first()
        agency = Agency(name="Dinas Buntu Lain", sector="sosial", level="kabupaten", regency=other)
        crossing = Program(code="BNT-LINTAS", name="Program Buntu Lintas", cluster=1, synergy_type="a",
                           agency=agency, level="kabupaten", fiscal_year=2016, budget=Decimal("1000.00"),
                           realised_budget=Decimal("0.00"), target_desil=1, status="berjalan",
                           regencies=[own, other])
        member = TkpkMember(institution=province_tkpk, name="Anggota Buntu Provinsi", position="anggota")
        indicator = PovertyIndicator(regency=other, year=2002, period="tahunan", poverty_rate=Decimal("9.50"),
                                     source="uji buntu")
        zone = PriorityZone(name="Zona Buntu Lain", year=2017, priority_level=1, basis="kewilayahan", regency=other,
                            geom=area)
        rows = [agency, crossing, member, indicator, zone]
        db.session.add_all(rows)
        db.session.commit()
        made = {type(r): {r.id} for r in rows}
        made[TkpkInstitution] = {province_tkpk.id}
        made[TkpkDocument] = {d.id for d in province_tkpk.documents}  # one per kind, from the demo data
        return made


def scoped_views(app):
    from app.extensions import appbuilder

    return [v for v in appbuilder.baseviews
            if isinstance(v, ScopedModelView) and isinstance(v, ModelView) and v.datamodel.obj in TABLES]


# --- the province TKPK of the issue -----------------------------------------------------------------

def test_operator_saving_the_province_tkpk_gets_a_403_page_not_a_500(app, made):
    pk = next(iter(made[TkpkInstitution]))
    client = login(app.test_client(), "op1807")
    before = snapshot(app, TkpkInstitution, pk)
    page = assert_refusal_page(client.get(f"/tkpkinstitutionview/edit/{pk}"), "GET edit")
    assert "di luar wilayah" in page
    r = client.post(f"/tkpkinstitutionview/edit/{pk}", data={"level": "provinsi", "chair": "Diubah Operator"})
    page = assert_refusal_page(r, "POST edit")
    assert r.status_code == 403 and "di luar wilayah" in page
    assert snapshot(app, TkpkInstitution, pk) == before


def test_own_tkpk_form_with_bad_input_is_shown_again_with_its_tabs(app):
    """The form re-shown after a refused value (here an impossible date) keeps the members and
    documents tabs: before the fix this page was the 500 of the issue."""
    pk = sql(app, "SELECT i.id FROM tkpk_institution i JOIN regency r ON r.id = i.regency_id WHERE r.code = :c",
             c=OWN)[0][0]
    client = login(app.test_client(), "op1807")
    form = client.get(f"/tkpkinstitutionview/edit/{pk}")
    assert form.status_code == 200
    values = FormValues()
    values.feed(form.get_data(as_text=True))
    data = MultiDict([(k, v) for k, v in values.values if k != "decree_date"] + [("decree_date", "2017-02-31")])
    before = snapshot(app, TkpkInstitution, pk)
    r = client.post(f"/tkpkinstitutionview/edit/{pk}", data=data)
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page[:500]
    assert "TkpkMemberView" in page and "TkpkDocumentView" in page  # the related tabs
    assert snapshot(app, TkpkInstitution, pk) == before


# --- every screen, every kind of out-of-area row ------------------------------------------------------

@pytest.mark.parametrize("username", USERS)
def test_out_of_area_edit_and_delete_answer_in_the_layout(app, made, username):
    client = login(app.test_client(), username)
    checked = 0
    for view in scoped_views(app):
        model = view.datamodel.obj
        base = view.route_base
        for pk in out_of_area(app, username, model, made.get(model, set())):
            before = snapshot(app, model, pk)
            what = (username, base, pk)
            assert_refusal_page(client.get(f"{base}/edit/{pk}"), what + ("GET edit",))
            assert_refusal_page(client.post(f"{base}/edit/{pk}", data={"name": "Diubah", "note": "diubah"}),
                                what + ("POST edit",))
            assert_refusal_page(client.post(f"{base}/delete/{pk}"), what + ("POST delete",))
            assert snapshot(app, model, pk) == before, what + ("changed",)
            checked += 1
    assert checked >= 20, checked


@pytest.mark.parametrize("username", USERS)
def test_out_of_area_show_link_is_a_page_in_the_layout(app, username):
    """Rows the user may not even read: the show link answers the 404 page with the menu."""
    client = login(app.test_client(), username)
    for view in scoped_views(app):
        model = view.datamodel.obj
        base = view.route_base
        shown = set()
        listing = client.get(f"{base}/list/?psize_{view.__class__.__name__}=100")
        if listing.status_code == 200:
            shown = {int(pk) for pk in re.findall(rf'{re.escape(base)}/show/(\d+)', listing.get_data(as_text=True))}
        unreadable = [pk for pk in out_of_area(app, username, model, set()) if pk not in shown][:2]
        for pk in unreadable:
            r = client.get(f"{base}/show/{pk}")
            if r.status_code == 200:
                continue  # readable though not writable (e.g. another agency)
            assert_refusal_page(r, (username, base, pk, "show"))


def _row_buttons(page: str, base: str) -> dict[int, set[str]]:
    """pk -> the row buttons (show/edit/delete) in a list."""
    buttons: dict[int, set[str]] = {}
    for kind, pk in re.findall(rf'{re.escape(base)}/(show|edit|delete)/(\d+)', page):
        buttons.setdefault(int(pk), set()).add(kind)
    return buttons


LIST_FILTERS = {Agency: "_flt_2_name=Buntu", Program: "_flt_2_name=Buntu", PovertyIndicator: "_flt_0_year=2002",
                PriorityZone: "_flt_2_name=Buntu"}


@pytest.mark.parametrize("username", USERS)
def test_lists_offer_edit_and_delete_only_where_the_user_may_save(app, made, username):
    client = login(app.test_client(), username)
    seen = {"writable": 0, "out_of_area": 0}
    for view in scoped_views(app):
        model = view.datamodel.obj
        base = view.route_base
        name = view.__class__.__name__
        may_edit = has_permission(app, username, name, "can_edit")
        may_delete = has_permission(app, username, name, "can_delete")
        for query in {"", LIST_FILTERS.get(model, "")}:
            r = client.get(f"{base}/list/?psize_{name}=100&{query}")
            if r.status_code == 403:
                continue  # the role has no such list (workflows for OPD)
            assert r.status_code == 200, (username, base, r.status_code)
            for pk, buttons in _row_buttons(r.get_data(as_text=True), base).items():
                writable = is_writable(app, username, model, pk)
                assert ("edit" in buttons) == (writable and may_edit), (username, base, pk, buttons)
                assert ("delete" in buttons) == (writable and may_delete), (username, base, pk, buttons)
                if may_edit or may_delete:
                    seen["writable" if writable else "out_of_area"] += 1
    assert seen["writable"] > 0 and seen["out_of_area"] > 0, seen


def test_related_lists_on_the_province_tkpk_have_no_edit_buttons_for_an_operator(app, made):
    province = next(iter(made[TkpkInstitution]))
    own = sql(app, "SELECT i.id FROM tkpk_institution i JOIN regency r ON r.id = i.regency_id WHERE r.code = :c",
              c=OWN)[0][0]
    sql(app, "INSERT INTO tkpk_member (institution_id, name, position) VALUES (:i, 'Anggota Buntu Sendiri', "
             "'anggota')", i=own)
    client = login(app.test_client(), "op1807")
    page = client.get(f"/tkpkinstitutionview/show/{province}").get_data(as_text=True)
    assert "Anggota Buntu Provinsi" in page
    assert "/tkpkmemberview/edit/" not in page and "/tkpkmemberview/delete/" not in page
    page = client.get(f"/tkpkinstitutionview/show/{own}").get_data(as_text=True)
    assert "Anggota Buntu Sendiri" in page and "/tkpkmemberview/edit/" in page
