"""The home dashboard: anonymous visitors get the login prompt and the area counts only; each
signed-in user sees their scope's figures, and they EQUAL gis/queries.py asked with that
user's scope (written out here by hand from domain.md): households, reached, coverage,
households with 2+ programs, gaps, households and coverage per desil. Open complaints and
update requests are counted in scope (0 when there are none), the poverty chart carries the
indicator rows, and the village map asks the app's own GeoJSON endpoint.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import text

from tests.conftest import DEMO_PASSWORD

YEAR = 2017
OWN = "18.07"
USERS = ("bappeda", "op1807", "opd_dinkop_lamtim", "pimpinan")
TAG = "dashboard-test"


def rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def execute(engine, sql: str, **params):
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def session_client(app, username):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), username
    return client


def number(value: str) -> int:
    return int(value.replace(".", "").strip())


def cards(html: str) -> dict:
    found = dict(re.findall(r'data-card="([a-z_]+)">.*?<div class="sinergi-big" data-value>([^<]*)</div>', html, re.S))
    assert found, "no dashboard cards on the page"
    return {k: v.strip() for k, v in found.items()}


def desil_rows(html: str) -> dict:
    out = {}
    for desil, households, reached in re.findall(
            r'<tr data-desil="(\d)">.*?data-households>([^<]*)<.*?data-reached>([^<]*)<', html, re.S):
        out[int(desil)] = (number(households), number(reached))
    return out


def client_data(html: str) -> dict:
    block = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S)
    assert block, "no dashboard data block"
    return json.loads(block.group(1))


@pytest.fixture(scope="module")
def module_engine(app):
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    execute(engine, "ANALYZE")  # planner statistics for the freshly seeded database (see test_lp2kd.py)
    return engine


@pytest.fixture(scope="module")
def scopes(app, module_engine):
    """The hand-written scope of each user (ids looked up; rules from domain.md)."""
    from app.security.scope import Scope

    regency = dict(rows(module_engine, "SELECT code, id FROM regency"))
    agency = rows(module_engine, "SELECT agency_id FROM ab_user WHERE username = 'opd_dinkop_lamtim'")[0][0]
    return {"bappeda": Scope("all"), "pimpinan": Scope("all"), "op1807": Scope("regency", regency_id=regency[OWN]),
            "opd_dinkop_lamtim": Scope("agency", agency_id=agency)}


@pytest.fixture(scope="module")
def workflow_rows(module_engine):
    """Open and closed complaints and update requests in Lampung Timur."""
    regency = rows(module_engine, "SELECT id FROM regency WHERE code = :c", c=OWN)[0][0]
    village = rows(module_engine, """SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
                                      WHERE d.regency_id = :r ORDER BY v.code LIMIT 1""", r=regency)[0][0]
    for i, state in enumerate(("baru", "diproses", "diproses", "selesai", "ditolak")):
        execute(module_engine, """INSERT INTO complaint (ticket, category, village_id, regency_id, description, state,
                                                         deadline)
                                  VALUES (:t, 'lainnya', :v, :r, :d, :s, CURRENT_DATE + 14)""",
                t=f"DASHT-{i:04d}", v=village, r=regency, d=TAG, s=state)
    for state in ("draft", "diajukan", "diverifikasi", "diverifikasi", "disetujui", "ditolak"):
        execute(module_engine, """INSERT INTO update_request (kind, state, regency_id, proposed, note)
                                  VALUES ('baru', :s, :r, CAST('{}' AS jsonb), :n)""", s=state, r=regency, n=TAG)
    yield
    execute(module_engine, "DELETE FROM complaint WHERE description = :d", d=TAG)
    execute(module_engine, "DELETE FROM update_request WHERE note = :n", n=TAG)


def test_anonymous_visitors_get_the_login_prompt_and_no_data(app):
    r = app.test_client().get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'id="login-prompt"' in html and 'href="/login/"' in html
    assert 'id="dashboard"' not in html and "dashboard-data" not in html and "chart.umd.js" not in html
    assert 'data-count="village"' in html and 'data-count="regency"' in html  # the area counts stay


@pytest.mark.parametrize("username", USERS)
def test_figures_equal_gis_queries_for_the_users_scope(app, module_engine, scopes, workflow_rows, username):
    from app.extensions import db
    from gis import queries

    scope = scopes[username]
    html = session_client(app, username).get(f"/?year={YEAR}").get_data(as_text=True)
    shown = cards(html)
    with app.app_context():
        conn = db.session.connection()
        regencies = queries.regency_overlap(conn, YEAR, scope)
        gaps = queries.gaps_by_village(conn, YEAR, scope, 1)
        per_household = queries.household_program_counts(conn, YEAR, scope)
        db.session.rollback()
    # The cards count desil 1-4 (the poorest 40 %: BDT's whole range; DTSEN desil 5-10 left out).
    poorest = [r for r in per_household if r["desil"] <= 4]
    households = len(poorest)
    reached = sum(1 for r in poorest if r["programs"] >= 1)
    assert households > 0 and sum(r["households"] for r in regencies) == len(per_household)
    assert number(shown["households"]) == households
    assert number(shown["multi_program"]) == sum(1 for r in poorest if r["programs"] >= 2)
    assert number(shown["gaps"]) == sum(r["gap_households"] for r in gaps)
    coverage = (Decimal(reached) * 100 / households).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    assert shown["coverage"] == f"{coverage}".replace(".", ",") + " %"
    assert f"{reached:,}".replace(",", ".") in html  # under the coverage card

    # per desil: the same per-household program counts, grouped here
    expected = {d: (0, 0) for d in (1, 2, 3, 4)}
    counts = Counter((r["desil"], r["programs"] >= 1) for r in per_household)
    for d in expected:
        expected[d] = (counts[(d, True)] + counts[(d, False)], counts[(d, True)])
    assert desil_rows(html) == expected

    # open complaints and requests, in scope (agencies take no part in the workflows)
    where = {"all": "", "regency": f"AND regency_id = {scope.regency_id}"}.get(scope.kind)
    if where is None:
        open_complaints = open_requests = 0
    else:
        open_complaints = rows(module_engine, f"SELECT count(*) FROM complaint WHERE state IN ('baru', 'diproses') "
                                              f"{where}")[0][0]
        open_requests = rows(module_engine, "SELECT count(*) FROM update_request "
                                            f"WHERE state IN ('diajukan', 'diverifikasi') {where}")[0][0]
    assert number(shown["open_complaints"]) == open_complaints
    assert number(shown["open_requests"]) == open_requests
    if username == "op1807":
        assert open_complaints >= 3 and open_requests >= 3  # the rows made here


def test_zero_when_there_is_nothing_open(app, module_engine, workflow_rows):
    """An operator of a regency with no open complaint or request sees 0, not an empty card."""
    for code, in rows(module_engine, "SELECT code FROM regency ORDER BY code DESC"):
        busy = rows(module_engine, """
            SELECT (SELECT count(*) FROM complaint c JOIN regency r ON r.id = c.regency_id
                     WHERE r.code = :c AND c.state IN ('baru', 'diproses'))
                 + (SELECT count(*) FROM update_request u JOIN regency r ON r.id = u.regency_id
                     WHERE r.code = :c AND u.state IN ('diajukan', 'diverifikasi'))""", c=code)[0][0]
        username = "op" + code.replace(".", "")
        if busy == 0 and rows(module_engine, "SELECT 1 FROM ab_user WHERE username = :u", u=username):
            break
    else:
        pytest.skip("every regency has an open complaint or request")
    shown = cards(session_client(app, username).get(f"/?year={YEAR}").get_data(as_text=True))
    assert shown["open_complaints"] == "0" and shown["open_requests"] == "0"


def test_the_chart_and_the_map(app, module_engine, scopes):
    html = session_client(app, "op1807").get(f"/?year={YEAR}").get_data(as_text=True)
    data = client_data(html)
    regency_rates = rows(module_engine, """SELECT p.year, p.period, p.poverty_rate, p.target_rate
                                             FROM poverty_indicator p JOIN regency r ON r.id = p.regency_id
                                            WHERE r.code = :c ORDER BY 1, 2""", c=OWN)
    province_rates = rows(module_engine, """SELECT year, period, poverty_rate, target_rate FROM poverty_indicator
                                             WHERE province_id IS NOT NULL ORDER BY 1, 2""")
    keys = sorted({(r[0], r[1]) for r in regency_rates + province_rates})
    assert len(data["chart"]["labels"]) == len(keys)
    rates = [d for d in data["chart"]["datasets"] if d["kind"] == "rate"]
    assert len(rates) == 2  # Lampung Timur and the province
    regency_values = {keys[i]: v for i, v in enumerate(rates[0]["data"]) if v is not None}
    assert regency_values == {(r[0], r[1]): float(r[2]) for r in regency_rates}
    province_values = {keys[i]: v for i, v in enumerate(rates[1]["data"]) if v is not None}
    assert province_values == {(r[0], r[1]): float(r[2]) for r in province_rates}
    targets = [d for d in data["chart"]["datasets"] if d["kind"] == "target"]
    assert {keys[i]: v for i, v in enumerate(targets[1]["data"]) if v is not None} == {
        (r[0], r[1]): float(r[3]) for r in province_rates if r[3] is not None}

    # the map asks the app's own endpoint, for the operator's regency
    assert data["map_url"].startswith("/gis/geojson/villages?")
    assert f"year={YEAR}" in data["map_url"] and "regency=18.07" in data["map_url"]
    assert data["basemap"] == ""  # the tests run without a base layer (no request leaves the app)
    assert "vendor/chart.js/chart.umd.js" in html and "vendor/leaflet/leaflet.js" in html
    assert "cdn" not in html.lower()

    client = session_client(app, "op1807")
    r = client.get(data["map_url"])
    assert r.status_code == 200
    features = r.get_json()["features"]
    assert features and all(f["properties"]["code"].startswith("18.07.") for f in features)


def test_the_year_opens_on_the_analysis_year(app, scopes):
    from app.extensions import db
    from app.services import lp2kd

    html = session_client(app, "bappeda").get("/").get_data(as_text=True)
    with app.app_context():
        year = lp2kd.default_year(db.session.connection(), scopes["bappeda"])
        db.session.rollback()
    assert f'<div id="dashboard" data-year="{year}">' in html
    # a year that is not a year is ignored, not an error
    assert session_client(app, "bappeda").get("/?year=abc").status_code == 200


def test_a_user_without_a_scope_sees_no_figures(app, module_engine):
    from app.extensions import db
    from app.security import roles as R

    from app.extensions import appbuilder

    with app.app_context():
        sm = appbuilder.sm
        if sm.find_user(username="op_tanpa_wilayah") is None:
            sm.add_user("op_tanpa_wilayah", "Operator", "Tanpa Wilayah", "op_tanpa@uji.invalid",
                        sm.find_role(R.OPERATOR), password=DEMO_PASSWORD)
            db.session.commit()
    html = session_client(app, "op_tanpa_wilayah").get("/").get_data(as_text=True)
    assert 'id="no-scope"' in html and 'id="dashboard"' not in html
