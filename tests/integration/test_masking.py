"""Pimpinan (and anyone without the personal-data right) never receives a full NIK or No KK,
in HTML or JSON, on any path that shows households or members; operators and Bappeda do."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import District, Household, HouseholdMember, Regency, Village
from app.security.scope import Scope, mask_number
from tests.conftest import DEMO_PASSWORD

NO_KK = "1807031204170009"
HEAD_NIK = "1807035508800004"  # a woman born 15-08-1980 (day + 40)
MEMBER_NIK = "1807030303100006"


@pytest.fixture(scope="module")
def household_id(app):
    from app.extensions import db

    with app.app_context():
        existing = db.session.execute(select(Household).where(Household.no_kk == NO_KK)).scalar()
        if existing:
            return existing.id
        village = db.session.execute(select(Village).join(District).join(Regency).where(Regency.code == "18.07")
                                     .order_by(Village.code).limit(1)).scalar_one()
        h = Household(no_kk=NO_KK, head_nik=HEAD_NIK, head_name="Siti Masking", village=village, desil=1,
                      member_count=2)
        h.members.append(HouseholdMember(nik=MEMBER_NIK, name="Anak Masking", sex="L", relationship_to_head="anak"))
        db.session.add(h)
        db.session.commit()
        return h.id


def _login(client, username):
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302


def _bodies(app, username, household_id) -> dict[str, str]:
    from app.extensions import db

    with app.app_context():
        member_id = db.session.execute(select(HouseholdMember.id).where(HouseholdMember.nik == MEMBER_NIK)).scalar()
    client = app.test_client()
    _login(client, username)
    token = client.post("/api/v1/security/login", json={"username": username, "password": DEMO_PASSWORD,
                                                        "provider": "db"}).json["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    pages = {
        "household list": client.get("/householdview/list/?_flt_2_head_name=Masking"),
        "household show": client.get(f"/householdview/show/{household_id}"),
        "member list": client.get("/householdmemberview/list/?_flt_2_name=Masking"),
        "member show": client.get(f"/householdmemberview/show/{member_id}"),
        "enrolment list": client.get("/enrolmentview/list/"),
        "api household list": client.get("/api/v1/household/?q=(filters:!((col:head_name,opr:ct,value:Masking)))",
                                         headers=auth),
        "api household show": client.get(f"/api/v1/household/{household_id}", headers=auth),
        "api household columns": client.get(f"/api/v1/household/{household_id}?q=(columns:!(no_kk,head_nik))",
                                            headers=auth),
        "api member list": client.get("/api/v1/household_member/", headers=auth),
        "api member show": client.get(f"/api/v1/household_member/{member_id}", headers=auth),
    }
    # The household's map endpoint, when the show page has one.
    geo = client.get(f"/householdview/geojson/{household_id}")
    if geo.status_code != 404:
        pages["household geojson"] = geo
    for name, response in pages.items():
        assert response.status_code == 200, (username, name, response.status_code)
    return {name: response.get_data(as_text=True) for name, response in pages.items()}


def test_pimpinan_never_receives_full_numbers(app, household_id):
    bodies = _bodies(app, "pimpinan", household_id)
    for name, body in bodies.items():
        for number in (NO_KK, HEAD_NIK, MEMBER_NIK):
            assert number not in body, f"{number} leaked in {name}"
    assert "1807********0009" in bodies["household list"]
    assert "1807********0004" in bodies["api household show"]
    assert "1807********0006" in bodies["member show"]


def test_pimpinan_cannot_search_by_the_numbers(app, household_id):
    """Filtering on a masked column would be an oracle ("is this NIK in the list?")."""
    client = app.test_client()
    token = client.post("/api/v1/security/login", json={"username": "pimpinan", "password": DEMO_PASSWORD,
                                                        "provider": "db"}).json["access_token"]
    r = client.get(f"/api/v1/household/?q=(filters:!((col:no_kk,opr:eq,value:'{NO_KK}')))",
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 or r.json.get("count", 0) == 0


@pytest.mark.parametrize("username", ["op1807", "bappeda"])
def test_roles_with_the_right_see_full_numbers(app, household_id, username):
    bodies = _bodies(app, username, household_id)
    assert NO_KK in bodies["household show"] and HEAD_NIK in bodies["household show"]
    assert NO_KK in bodies["api household show"]
    assert MEMBER_NIK in bodies["api member show"]


def test_mask_format():
    masked = Scope("all", can_unmask=False)
    assert mask_number("1871012345670003", masked) == "1871********0003"
    assert mask_number("1871012345670003", Scope("all", can_unmask=True)) == "1871012345670003"
    assert mask_number(None, masked) is None


def test_pimpinan_may_not_sort_the_screens_by_the_numbers(app, household_id):
    """Sorting on a masked column is an oracle too (the REST API refuses it already)."""
    client = app.test_client()
    _login(client, "pimpinan")
    for url in ("/householdview/list/?_oc_HouseholdView=no_kk&_od_HouseholdView=asc",
                "/householdview/list/?_oc_HouseholdView=head_nik&_od_HouseholdView=desc",
                "/householdmemberview/list/?_oc_HouseholdMemberView=nik&_od_HouseholdMemberView=asc",
                "/enrolmentview/list/?_oc_EnrolmentView=household.no_kk&_od_EnrolmentView=asc"):
        r = client.get(url)
        assert r.status_code == 400, (url, r.status_code)
    assert client.get("/householdview/list/").status_code == 200
    bappeda = app.test_client()
    _login(bappeda, "bappeda")
    assert bappeda.get("/householdview/list/?_oc_HouseholdView=no_kk&_od_HouseholdView=asc").status_code == 200


def test_a_nik_typed_into_a_complaint_is_masked_for_pimpinan(app, household_id):
    import datetime

    from app.extensions import db
    from app.models import Complaint

    with app.app_context():
        village = db.session.get(Household, household_id).village
        c = Complaint(ticket="MASK-0001", category="lainnya", village_id=village.id,
                      regency_id=village.district.regency_id,
                      description=f"Saya NIK {MEMBER_NIK} belum menerima bantuan, KK 1807 0312 0417 0009.",
                      resolution=f"Dicek untuk {HEAD_NIK}", deadline=datetime.date.today())
        db.session.add(c)
        db.session.commit()
        complaint_id = c.id
    pimpinan = app.test_client()
    _login(pimpinan, "pimpinan")
    page = pimpinan.get(f"/complaintview/show/{complaint_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for number in (MEMBER_NIK, HEAD_NIK, "1807 0312 0417 0009"):
        assert number not in text
    assert "1807********0006" in text and "1807********0004" in text and "1807********0009" in text
    bappeda = app.test_client()
    _login(bappeda, "bappeda")
    text = bappeda.get(f"/complaintview/show/{complaint_id}").get_data(as_text=True)
    assert MEMBER_NIK in text and HEAD_NIK in text


def test_mask_text():
    masked = Scope("all", can_unmask=False)
    from app.security.scope import mask_text

    assert mask_text("NIK 1871012345670003, KK 1871.0123.4567.0009", masked) == "NIK 1871********0003, KK 1871********0009"
    assert mask_text("telepon 081234567890, nomor 12345678901234567", masked) == \
        "telepon 081234567890, nomor 12345678901234567"  # not a 16-digit number
    assert mask_text("NIK 1871012345670003", Scope("all", can_unmask=True)) == "NIK 1871012345670003"
