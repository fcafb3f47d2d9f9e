"""The duplicates review queue page at province scale (issue 12: < 300 ms at 1 M households).

The page's village filter used to carry one ``<option>`` per village with open pairs (2,500
for Bappeda at 1 M households, half the page's weight and time): now it is a remote select
whose choices load as the user types from ``/duplicates/filter_choices/village``
(app/views/remote_filters.py), offered only within the user's area and only where pairs are
open, each with its number of pairs. And FAB's ~44 permission checks per page (one per menu
item) are answered from one query per request (app/security/manager.py), never from an
earlier request's answers.

Planted here: one open pair in every village of the province (two in one Lampung Timur
village, one of another kind there), removed at the end.
"""
from __future__ import annotations

import random
import re

import pytest
from sqlalchemy import event

from tests.conftest import remote_choices, sql

OWN = "18.07"  # Lampung Timur: op1807
TAG = f"queue-page-{random.randint(10_000, 99_999)}"
CHOICES = "/duplicates/filter_choices/village"
OPTION = re.compile(r"<option\b")
CODE = re.compile(r"\((18\.\d{2}\.\d{2}\.\d{4})\)")
PAIRS = re.compile(r", (\d+) (?:pairs|pasangan)$")


def login(client, username: str):
    client.get("/logout/")
    r = client.post("/login/", data={"username": username, "password": "sinergi-demo"})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), f"login {username} failed"
    client.get("/lang/en")
    return client


def choices(client, query: str = "", kind: str = "") -> list[dict]:
    """Every village choice offered, following the pages."""
    return remote_choices(client, f"{CHOICES}?q={query}&kind={kind}")


def code_of(choice: dict) -> str:
    return CODE.search(choice["text"]).group(1)


@pytest.fixture(scope="module")
def villages(app):
    """{code: (village id, regency id)} of every village, each given one open pair."""
    rows = sql(app, """SELECT v.code, v.id, r.id FROM village v JOIN district d ON d.id = v.district_id
                       JOIN regency r ON r.id = d.regency_id ORDER BY v.code""")
    out = {code: (vid, rid) for code, vid, rid in rows}
    household = sql(app, "SELECT min(id) FROM household")[0][0]
    # kk_dua_desa: one household listed in two villages (here: the village with itself)
    sql(app, """INSERT INTO duplicate_candidate (kind, id_a, id_b, reason_key, score, household_a, household_b,
                                                 village_id, other_village_id, regency_id)
                SELECT 'kk_dua_desa', :h, :h, :tag || '-' || v.id, 0.5, :h, :h, v.id, v.id, d.regency_id
                  FROM village v JOIN district d ON d.id = v.district_id""", h=household, tag=TAG)
    own = sorted(code for code in out if code.startswith(OWN + "."))
    busy = out[own[0]][0]  # one Lampung Timur village has a second pair, of another kind
    sql(app, """INSERT INTO duplicate_candidate (kind, id_a, id_b, reason_key, score, household_a, household_b,
                                                 village_id, other_village_id, regency_id)
                VALUES ('nik_ganda', :h, :h, :tag || '-nik', 0.9, :h, :h, :v, :v, :r)""",
        h=household, tag=TAG, v=busy, r=out[own[0]][1])
    yield out
    sql(app, "DELETE FROM duplicate_candidate WHERE reason_key LIKE :tag", tag=TAG + "-%")


def with_pairs(app, regency_code: str | None = None) -> set[str]:
    """The codes of the villages (of a regency) where an open pair has a side."""
    rows = sql(app, """SELECT DISTINCT v.code FROM duplicate_candidate c
                         JOIN village v ON v.id IN (c.village_id, c.other_village_id)
                        WHERE (CAST(:r AS text) IS NULL OR c.regency_id = (SELECT id FROM regency WHERE code = :r))""",
               r=regency_code)
    return {r[0] for r in rows}


def test_the_page_no_longer_carries_the_village_list(app, villages):
    client = login(app.test_client(), "bappeda")
    body = client.get("/duplicates/").get_data(as_text=True)
    assert len(villages) >= 50  # every one with pairs: 2,640 on the real areas, 90 on the synthetic ones
    options = len(OPTION.findall(body))
    assert options < 10, options  # the findings (5) and the empty village choice, no village
    assert 'class="form-control sinergi-remote-select"' in body and f'data-choices-url="{CHOICES}' in body
    assert len(body.encode()) < 150_000  # it was 230 KB at 1 M households


def test_op1807_is_offered_only_villages_of_lampung_timur_with_pairs(app, villages):
    client = login(app.test_client(), "op1807")
    offered = choices(client)
    codes = {code_of(c) for c in offered}
    assert codes and codes == with_pairs(app, OWN)  # every Lampung Timur village with pairs, nothing else
    assert all(code.startswith(OWN + ".") for code in codes)
    other = next(code for code in villages if code.startswith("18.01."))
    assert choices(client, other) == []  # another regency's village, even typed by its code
    assert client.get(f"{CHOICES}?q=&page=2").status_code == 200
    # the chosen village comes back labelled only within the scope
    body = client.get(f"/duplicates/?village={villages[other][0]}").get_data(as_text=True)
    assert f'<option value="{villages[other][0]}"' not in body and 'id="duplicates-empty"' in body


def test_each_choice_carries_its_open_pairs_and_follows_the_finding(app, villages):
    client = login(app.test_client(), "op1807")
    busy = sorted(code for code in villages if code.startswith(OWN + "."))[0]
    by_code = {code_of(c): c for c in choices(client, busy)}
    assert PAIRS.search(by_code[busy]["text"]).group(1) == str(
        # the operator's pairs: those of his regency (other modules plant pairs whose other side
        # lies in this village but which belong to another regency)
        sql(app, "SELECT count(*) FROM duplicate_candidate WHERE :v IN (village_id, other_village_id) "
                 "AND regency_id = (SELECT id FROM regency WHERE code = :r)", v=villages[busy][0], r=OWN)[0][0])
    nik = choices(client, kind="nik_ganda")
    assert busy in {code_of(c) for c in nik}
    assert all(PAIRS.search(c["text"]) for c in nik)
    assert len(nik) < len(choices(client))  # only the villages with pairs of that finding
    # the page's select asks with the finding shown, and shows the chosen village with its pairs
    body = client.get(f"/duplicates/?kind=nik_ganda&village={villages[busy][0]}").get_data(as_text=True)
    assert f'data-choices-url="{CHOICES}?kind=nik_ganda"' in body
    chosen = re.search(rf'<option value="{villages[busy][0]}" selected>([^<]*)</option>', body)
    assert chosen and busy in chosen.group(1) and PAIRS.search(chosen.group(1))


def test_bappeda_searches_the_whole_province(app, villages):
    client = login(app.test_client(), "bappeda")
    other = next(code for code in villages if code.startswith("18.01."))
    assert [code_of(c) for c in choices(client, other)] == [other]
    first = client.get(f"{CHOICES}?q=").get_json()
    assert len(first["results"]) == 20 and first["pagination"]["more"] is True  # one page, not 2,640


def test_outsiders_get_no_village_choices(app, villages):
    anonymous = app.test_client()
    r = anonymous.get(f"{CHOICES}?q=")
    assert r.status_code in (302, 401) and not (r.is_json and r.get_json().get("results"))
    opd = login(app.test_client(), "opd_dinsos")  # an OPD has no duplicates queue
    assert opd.get(f"{CHOICES}?q=").status_code == 403
    assert login(app.test_client(), "op1807").get("/duplicates/filter_choices/household?q=").status_code == 404


def _statements(app, client, url: str) -> list[str]:
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_the_menu_permissions_are_read_once_per_request(app, villages):
    client = login(app.test_client(), "bappeda")
    statements = _statements(app, client, "/duplicates/")
    permission_reads = [s for s in statements if "ab_permission_view" in s and "ab_view_menu" in s]
    # One read of the roles' permissions (scope.py's unmask check included), not one per menu item.
    assert len(permission_reads) == 1, permission_reads
    assert len(statements) < 30, len(statements)


def test_a_revoked_permission_counts_from_the_next_request(app, villages):
    """The permissions are kept per request only: not per process, client or user."""
    op = login(app.test_client(), "op1807")
    bappeda = login(app.test_client(), "bappeda")
    grant = """SELECT pvr.id, pvr.permission_view_id, pvr.role_id FROM ab_permission_view_role pvr
                 JOIN ab_role r ON r.id = pvr.role_id JOIN ab_permission_view pv ON pv.id = pvr.permission_view_id
                 JOIN ab_permission p ON p.id = pv.permission_id JOIN ab_view_menu v ON v.id = pv.view_menu_id
                WHERE r.name = 'Operator TKPK' AND p.name = 'can_decide' AND v.name = 'DuplicateView'"""
    (row,) = sql(app, grant)
    assert "duplicate-dismiss" in op.get("/duplicates/").get_data(as_text=True)
    assert "Scan again now" in bappeda.get("/duplicates/").get_data(as_text=True)
    assert "Scan again now" not in op.get("/duplicates/").get_data(as_text=True)
    sql(app, "DELETE FROM ab_permission_view_role WHERE id = :i", i=row[0])
    try:
        assert "duplicate-dismiss" not in op.get("/duplicates/").get_data(as_text=True)
        assert op.post("/duplicates/dismiss/1", data={}).status_code == 403
    finally:
        sql(app, "INSERT INTO ab_permission_view_role (id, permission_view_id, role_id) VALUES (:i, :p, :r)",
            i=row[0], p=row[1], r=row[2])
    assert "duplicate-dismiss" in op.get("/duplicates/").get_data(as_text=True)
