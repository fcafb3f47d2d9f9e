"""Input rules through the screens: the form comes back with the message at the field, in
Indonesian, the typed values kept, and nothing written. (The API side is in test_api.py.)"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.models import Agency, District, Enrolment, Household, Program, Regency, Village
from app.services.validation import check_desil, check_id_number, check_money
from tests.conftest import DEMO_PASSWORD


@pytest.fixture(scope="module")
def bappeda(app):
    client = app.test_client()
    assert client.post("/login/", data={"username": "bappeda", "password": DEMO_PASSWORD}).status_code == 302
    return client


@pytest.fixture(scope="module")
def agency_and_regency(app):
    from app.extensions import db

    with app.app_context():
        regency = db.session.execute(select(Regency).where(Regency.code == "18.10")).scalar_one()
        agency = Agency(name="Dinas Aturan Input", sector="sosial", level="kabupaten", regency=regency)
        db.session.add(agency)
        db.session.commit()
        return agency.id, regency.id


def _count(app, model, *where):
    from app.extensions import db

    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_negative_budget_is_refused_at_the_field(app, bappeda, agency_and_regency):
    agency_id, regency_id = agency_and_regency
    form = {"code": "ATURAN-1", "name": "Program Anggaran Negatif", "cluster": "1", "synergy_type": "a",
            "agency": str(agency_id), "level": "kabupaten", "fiscal_year": "2017", "budget": "-1",
            "realised_budget": "0", "target_desil": "1", "status": "berjalan", "regencies": [str(regency_id)]}
    r = bappeda.post("/programview/add", data=form)
    assert r.status_code == 200  # the form again, not a redirect
    assert "tidak boleh negatif" in r.text
    assert 'value="Program Anggaran Negatif"' in r.text  # what was typed is kept
    assert _count(app, Program, Program.code == "ATURAN-1") == 0
    form["budget"] = "1500000.50"
    r = bappeda.post("/programview/add", data=form)
    assert r.status_code == 302
    from app.extensions import db

    with app.app_context():
        budget = db.session.execute(select(Program.budget).where(Program.code == "ATURAN-1")).scalar_one()
    assert budget == Decimal("1500000.50") and isinstance(budget, Decimal)


def test_enrolment_for_a_program_of_another_year(app, bappeda, agency_and_regency):
    from app.extensions import db

    agency_id, regency_id = agency_and_regency
    with app.app_context():
        village = db.session.execute(select(Village).join(District).where(District.regency_id == regency_id)
                                     .limit(1)).scalar_one()
        household = Household(no_kk="1810011501990077", head_nik="1810010101700077", head_name="Tahun Lain",
                              village=village, desil=1, member_count=1)
        program = Program(code="ATURAN-2018", name="Program 2018", cluster=2, synergy_type="b",
                          agency_id=agency_id, level="kabupaten", fiscal_year=2018, budget=Decimal("10"),
                          realised_budget=Decimal("0"), target_desil=1, status="berjalan")
        db.session.add_all([household, program])
        db.session.commit()
        hid, pid = household.id, program.id
    form = {"household": "1810011501990077", "program": str(pid), "year": "2017", "status": "usulan",
            "benefit_value": "250000", "date": "2017-05-01"}
    r = bappeda.post("/enrolmentview/add", data=form)
    assert r.status_code == 200
    assert "ATURAN-2018" in r.text and "2018" in r.text  # names the program and its year
    assert _count(app, Enrolment, Enrolment.program_id == pid) == 0
    form["year"] = "2018"
    assert bappeda.post("/enrolmentview/add", data=form).status_code == 302
    assert _count(app, Enrolment, Enrolment.program_id == pid) == 1
    # The same household, program and year twice is refused too.
    r = bappeda.post("/enrolmentview/add", data=form)
    assert r.status_code == 200 and "sudah" in r.text
    assert _count(app, Enrolment, Enrolment.program_id == pid) == 1


@pytest.mark.parametrize("value, is_nik, ok", [
    ("1871012345670003", False, False),  # month 45
    ("1871010101170003", False, True),
    ("1871015508800004", True, True),  # woman, born 15-08-80
    ("1871013102800004", True, False),  # 31 February
    ("1871017108800004", True, True),  # woman: 71 - 40 = 31 August
    ("1871017108800004", False, False),  # a No KK has no +40: day 71 is impossible
    ("187101010117000", False, False),  # 15 digits
    ("1.87101E+15", True, False),  # Excel
    ("", True, False),
])
def test_id_number_rule(app, value, is_nik, ok):
    with app.test_request_context("/"):
        assert (check_id_number(value, is_nik) is None) == ok, value


def test_excel_number_message_names_the_problem(app):
    with app.test_request_context("/"):
        assert "Excel" in check_id_number("1.87101E+15", True)


@pytest.mark.parametrize("value, ok", [(1, True), (4, True), (0, False), (5, False), ("2", True), ("2.5", False),
                                       (None, False), (True, False)])
def test_desil_rule(app, value, ok):
    with app.test_request_context("/"):
        assert (check_desil(value) is None) == ok


@pytest.mark.parametrize("value, ok", [(Decimal("0"), True), (Decimal("10.25"), True), ("5", True),
                                       (Decimal("-0.01"), False), (1.5, False), (Decimal("1.005"), False)])
def test_money_rule(app, value, ok):
    with app.test_request_context("/"):
        assert (check_money(value) is None) == ok


def test_messages_are_indonesian_by_default_and_english_on_request(app):
    with app.test_request_context("/"):
        assert "16" in check_id_number("123", True)
        indonesian = check_id_number("123", True)
    with app.test_request_context("/?_l_=en"):
        english = check_id_number("123", True)
    assert "digit" in english and "exactly" in english
    assert indonesian != english
