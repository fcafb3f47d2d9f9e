"""The analysis answers (overlap, gaps, zone membership, location check) on the real demo data.

Every figure is checked against an independent computation made here: the raw rows are read
with plain SQL (households, the year's enrolments with their status, zones, and zone
membership by a simple ST_Intersects per household point), the scope of each user is written
out by hand from domain.md, and the answers are computed with Python sets and Counters. They
must EQUAL the API's JSON, the gis/queries.py results and the downloads — for bappeda
(province), op1807 (Lampung Timur only) and opd_dinkop_lamtim (agency: only its programs'
enrolments count). Then: no operator row of another regency on any path, no full No KK for
pimpinan, and the "accept located village" action (scoped, audited, all or nothing).
"""
from __future__ import annotations

import csv
import io
import re
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass

import openpyxl
import pytest
from sqlalchemy import text

from tests.conftest import DEMO_PASSWORD, needs_lampung

YEAR = 2017
COUNTED = {"usulan", "ditetapkan", "disalurkan"}
OWN, OTHER, NEIGHBOUR = "18.07", "18.01", "18.02"  # Lampung Timur (op1807's), Lampung Selatan, Lampung Tengah
USERS = ("bappeda", "op1807", "opd_dinkop_lamtim")
VILLAGE_CODE = re.compile(r"\b18\.\d{2}\.\d{2}\.\d{4}\b")
SIXTEEN_DIGITS = re.compile(r"(?<![0-9.])[0-9]{16}(?![0-9])")


# --- raw rows and the independent computation ----------------------------------------------------

def rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


@dataclass
class Raw:
    households: dict      # id -> (village_id, regency_id, desil, has_point, no_kk)
    enrolments: list      # (household_id, program_id, status, agency_id) of the year
    zones: dict           # id -> (year, regency_id)
    point_in_zone: set    # (zone_id, household_id) by ST_Intersects of the point
    village_share: dict   # (zone_id, village_id) -> share of the village's area inside (planar)
    program_regencies: dict  # agency_id -> regencies its programs cover (+ its own)
    regency_ids: dict     # code -> id


def read_raw(engine, year: int = YEAR) -> Raw:
    households = {r[0]: tuple(r[1:]) for r in rows(engine, """
        SELECT h.id, h.village_id, d.regency_id, h.desil, h.location IS NOT NULL, h.no_kk
          FROM household h JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id""")}
    enrolments = [tuple(r) for r in rows(engine, """
        SELECT e.household_id, e.program_id, e.status, p.agency_id
          FROM enrolment e JOIN program p ON p.id = e.program_id WHERE e.year = :y""", y=year)]
    zones = {r[0]: (r[1], r[2]) for r in rows(engine, "SELECT id, year, regency_id FROM priority_zone")}
    point_in_zone = {tuple(r) for r in rows(engine, """
        SELECT z.id, h.id FROM priority_zone z JOIN household h ON ST_Intersects(z.geom, h.location)""")}
    village_share = {(r[0], r[1]): r[2] for r in rows(engine, """
        SELECT z.id, v.id, ST_Area(ST_Intersection(z.geom, v.geom)) / ST_Area(v.geom)
          FROM priority_zone z JOIN village v ON ST_Intersects(z.geom, v.geom)
         WHERE v.id IN (SELECT village_id FROM household WHERE location IS NULL)""")}
    covered = defaultdict(set)
    for agency_id, regency_id in rows(engine, """
            SELECT p.agency_id, pr.regency_id FROM program p JOIN program_regency pr ON pr.program_id = p.id
            UNION SELECT id, regency_id FROM agency WHERE regency_id IS NOT NULL"""):
        covered[agency_id].add(regency_id)
    regency_ids = dict(rows(engine, "SELECT code, id FROM regency"))
    return Raw(households, enrolments, zones, point_in_zone, village_share, dict(covered), regency_ids)


@dataclass
class Expected:
    """What one user must see, computed from the raw rows with sets and Counters."""

    households: set
    programs: dict           # household -> set of counted programs (scoped)
    raw: Raw

    @classmethod
    def of(cls, raw: Raw, kind: str, regency_id=None, agency_id=None, only_regency=None):
        # The scope, written out from domain.md (not from app/security/scope.py).
        if kind == "all":
            households = set(raw.households)
        elif kind == "regency":
            households = {h for h, r in raw.households.items() if r[1] == regency_id}
        else:  # agency: households in the regencies its programs cover, only its programs' enrolments
            regencies = raw.program_regencies.get(agency_id, set())
            households = {h for h, r in raw.households.items() if r[1] in regencies}
        if only_regency is not None:
            households = {h for h in households if raw.households[h][1] == only_regency}
        programs = defaultdict(set)
        for household, program, status, agency in raw.enrolments:
            if household in households and status in COUNTED and (kind != "agency" or agency == agency_id):
                programs[household].add(program)
        expected = cls(households, programs, raw)
        expected.kind, expected.regency_id = kind, regency_id
        return expected

    def zone_visible(self, zone_id) -> bool:
        return self.kind != "regency" or self.raw.zones[zone_id][1] in (None, self.regency_id)

    # overlap
    def village_overlap(self):
        out = defaultdict(lambda: [0, 0, 0, 0, 0])
        for h in self.households:
            row = out[self.raw.households[h][0]]
            row[0] += 1
            row[1 + min(len(self.programs.get(h, ())), 3)] += 1
        return {v: tuple(r) for v, r in out.items()}

    def regency_overlap(self):
        out = defaultdict(lambda: [0, 0, 0, 0])
        for h in self.households:
            n = len(self.programs.get(h, ()))
            row = out[self.raw.households[h][1]]
            row[0] += 1
            row[1] += n >= 1
            row[2] += n >= 2
            row[3] += n
        return {r: tuple(v) for r, v in out.items()}

    def matrix(self):
        pairs = Counter()
        for h in self.households:
            programs = sorted(self.programs.get(h, ()))
            for i, a in enumerate(programs):
                for b in programs[i:]:
                    pairs[(a, b)] += 1
        return dict(pairs)

    # zones and gaps
    def members(self, year=None) -> set:
        """(zone, household): the point in the zone; without a point, the declared village more
        than half inside the zone."""
        zones = {z for z in self.raw.zones if self.zone_visible(z) and (year is None or self.raw.zones[z][0] == year)}
        out = {(z, h) for z, h in self.raw.point_in_zone if z in zones and h in self.households}
        for h in self.households:
            village, _r, _d, has_point, _kk = self.raw.households[h]
            if not has_point:
                out |= {(z, h) for z in zones if self.raw.village_share.get((z, village), 0) > 0.5}
        return out

    def gap_households(self, k: int) -> set:
        return {(z, h) for z, h in self.members(YEAR) if self.raw.households[h][2] <= k and not self.programs.get(h)}

    def gaps_by_village(self, k: int):
        return dict(Counter(self.raw.households[h][0] for h in {h for _z, h in self.gap_households(k)}))

    def gaps_by_zone(self, k: int):
        gaps = self.gap_households(k)
        zones = [z for z in self.raw.zones if self.zone_visible(z) and self.raw.zones[z][0] == YEAR]
        return {z: len({h for zz, h in gaps if zz == z}) for z in zones}

    def zone_households(self):
        members = self.members()
        return {z: len({h for zz, h in members if zz == z}) for z in self.raw.zones if self.zone_visible(z)}


# --- fixtures -------------------------------------------------------------------------------------

def token(client, username):
    r = client.post("/api/v1/security/login", json={"username": username, "password": DEMO_PASSWORD,
                                                    "provider": "db"})
    assert r.status_code == 200, r.data
    return {"Authorization": f"Bearer {r.json['access_token']}"}


def session_client(app, username):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), username
    return client


@pytest.fixture(scope="module", autouse=True)
def analysed(app):
    """Planner statistics after the bulk demo seed (as after any bulk load). Without them
    gis.queries.program_matrix took ~4 minutes here instead of 0.5 s."""
    with _engine(app).connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


@pytest.fixture(scope="module")
def api(app):
    client = app.test_client()
    return client, {u: token(client, u) for u in USERS + ("pimpinan",)}


def _engine(app):
    from app.extensions import db

    with app.app_context():
        return db.engine


@pytest.fixture(scope="module")
def users(app):
    """The hand-written scope of each test user (ids looked up, rules from domain.md)."""
    engine = _engine(app)
    regency = dict(rows(engine, "SELECT code, id FROM regency"))
    agency = rows(engine, "SELECT agency_id FROM ab_user WHERE username = 'opd_dinkop_lamtim'")[0][0]
    assert agency is not None
    return {"bappeda": ("all", None, None), "op1807": ("regency", regency[OWN], None),
            "opd_dinkop_lamtim": ("agency", None, agency), "pimpinan": ("all", None, None)}


def expected_for(raw, users, username, only_regency=None) -> Expected:
    kind, regency_id, agency_id = users[username]
    return Expected.of(raw, kind, regency_id, agency_id, only_regency)


def scope_of(users, username):
    from app.security.scope import Scope

    kind, regency_id, agency_id = users[username]
    return Scope(kind, regency_id=regency_id, agency_id=agency_id)


def get_json(client, url, headers):
    r = client.get(url, headers=headers)
    assert r.status_code == 200, (url, r.status_code, r.data[:300])
    return r.json


# --- overlap ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("username", USERS)
def test_overlap_equals_independent_computation(app, engine, api, users, username):
    client, tokens = api
    raw = read_raw(engine)
    expected = expected_for(raw, users, username)
    assert expected.households, "the demo data should give every test user households"

    body = get_json(client, f"/api/v1/analysis/overlap/villages?year={YEAR}", tokens[username])
    got = {r["village_id"]: (r["households"], r["programs_0"], r["programs_1"], r["programs_2"], r["programs_3plus"])
           for r in body["result"]}
    assert got == expected.village_overlap()
    assert body["count"] == len(got)

    body = get_json(client, f"/api/v1/analysis/overlap/regencies?year={YEAR}", tokens[username])
    got = {r["regency_id"]: (r["households"], r["reached"], r["multi_program"], r["program_enrolments"])
           for r in body["result"]}
    assert got == expected.regency_overlap()

    body = get_json(client, f"/api/v1/analysis/overlap/matrix?year={YEAR}", tokens[username])
    got = {(r["program_a"], r["program_b"]): r["households"] for r in body["result"]}
    assert got == expected.matrix()
    assert {p["id"]: p["households"] for p in body["programs"]} == \
        {a: n for (a, b), n in expected.matrix().items() if a == b}

    # The same figures straight from gis/queries.py with the user's scope.
    from app.extensions import db
    from gis import queries

    scope = scope_of(users, username)
    with app.app_context():
        conn = db.session.connection()
        assert {r["village_id"]: (r["households"], r["programs_0"], r["programs_1"], r["programs_2"],
                                  r["programs_3plus"]) for r in queries.village_overlap(conn, YEAR, scope)} \
            == expected.village_overlap()
        assert {(r["program_a"], r["program_b"]): r["households"]
                for r in queries.program_matrix(conn, YEAR, scope)} == expected.matrix()
        assert {r["household_id"]: r["programs"] for r in queries.household_program_counts(conn, YEAR, scope)} \
            == {h: len(expected.programs.get(h, ())) for h in expected.households}
        db.session.rollback()


def test_overlap_households_pages_and_download_equal_independent_computation(app, engine, api, users):
    client, tokens = api
    raw = read_raw(engine)
    # op1807 through the paginated API (every page).
    expected = expected_for(raw, users, "op1807")
    got, page = {}, 1
    while True:
        body = get_json(client, f"/api/v1/analysis/overlap/households?year={YEAR}&page={page}&page_size=1000",
                        tokens["op1807"])
        assert body["count"] == len(expected.households)
        got.update({r["household_id"]: r["programs"] for r in body["result"]})
        if page * 1000 >= body["count"]:
            break
        page += 1
    assert got == {h: len(expected.programs.get(h, ())) for h in expected.households}

    # bappeda through the CSV download (every household, full No KK for Bappeda).
    expected = expected_for(raw, users, "bappeda")
    r = session_client(app, "bappeda").get(f"/analysis/download/overlap-households.csv?year={YEAR}")
    assert r.status_code == 200 and r.is_streamed
    table = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    by_kk = {raw.households[h][4]: len(expected.programs.get(h, ())) for h in expected.households}
    assert {row[0]: int(row[5]) for row in table[1:]} == by_kk


def test_regency_filter_narrows_to_one_regency(app, engine, api, users):
    client, tokens = api
    raw = read_raw(engine)
    lamtim = raw.regency_ids[OWN]
    expected = expected_for(raw, users, "bappeda", only_regency=lamtim)
    body = get_json(client, f"/api/v1/analysis/overlap/villages?year={YEAR}&regency_id={lamtim}", tokens["bappeda"])
    got = {r["village_id"]: (r["households"], r["programs_0"], r["programs_1"], r["programs_2"], r["programs_3plus"])
           for r in body["result"]}
    assert got == expected.village_overlap()
    # Lampung Timur's households and enrolments are the same for Bappeda and for its operator.
    assert got == expected_for(raw, users, "op1807").village_overlap()
    body = get_json(client, f"/api/v1/analysis/overlap/matrix?year={YEAR}&regency_id={lamtim}", tokens["bappeda"])
    assert {(r["program_a"], r["program_b"]): r["households"] for r in body["result"]} == expected.matrix()


# --- gaps and zones ---------------------------------------------------------------------------------

@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize("k", [1, 2])
def test_gaps_equal_independent_computation(app, engine, api, users, username, k):
    client, tokens = api
    raw = read_raw(engine)
    expected = expected_for(raw, users, username)
    body = get_json(client, f"/api/v1/analysis/gaps/villages?year={YEAR}&k={k}", tokens[username])
    assert {r["village_id"]: r["gap_households"] for r in body["result"]} == expected.gaps_by_village(k)
    body = get_json(client, f"/api/v1/analysis/gaps/zones?year={YEAR}&k={k}", tokens[username])
    assert {r["zone_id"]: r["gap_households"] for r in body["result"]} == expected.gaps_by_zone(k)
    if k == 1 and username == "bappeda":
        assert sum(expected.gaps_by_village(1).values()) > 0, "the demo data should hold gaps"

    from app.extensions import db
    from gis import queries

    with app.app_context():
        conn = db.session.connection()
        scope = scope_of(users, username)
        assert {r["village_id"]: r["gap_households"] for r in queries.gaps_by_village(conn, YEAR, scope, k)} \
            == expected.gaps_by_village(k)
        assert {r["zone_id"]: r["gap_households"] for r in queries.gaps_by_zone(conn, YEAR, scope, k)} \
            == expected.gaps_by_zone(k)
        measures = {r["village_id"]: r["gaps"] for r in queries.village_measures(conn, YEAR, scope, k) if r["gaps"]}
        assert measures == expected.gaps_by_village(k)
        db.session.rollback()


@pytest.mark.parametrize("username", USERS)
def test_zone_households_equal_independent_computation(app, engine, users, username):
    raw = read_raw(engine)
    expected = expected_for(raw, users, username).zone_households()
    names = dict(rows(engine, "SELECT id, name FROM priority_zone"))
    from app.extensions import db
    from gis import queries

    with app.app_context():
        summary = queries.zone_summary(db.session.connection(), scope_of(users, username))
        db.session.rollback()
    assert {r["zone_id"]: r["households"] for r in summary} == expected
    # The download of the zone table: the same (zone, households) pairs.
    r = session_client(app, username).get("/analysis/download/zones.csv")
    assert r.status_code == 200
    table = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert Counter((row[0], int(row[5])) for row in table[1:]) == Counter((names[z], n) for z, n in expected.items())


def test_zone_villages_have_their_share(app, engine, api):
    """A zone made of villages holds them with share ~1; the screen lists them with the share."""
    client, tokens = api
    zone_id, = rows(engine, "SELECT id FROM priority_zone WHERE regency_id = :r ORDER BY id LIMIT 1",
                    r=rows(engine, "SELECT id FROM regency WHERE code = :c", c=OWN)[0][0])[0]
    sources = {r[0] for r in rows(engine, "SELECT village_id FROM zone_source_village WHERE zone_id = :z", z=zone_id)}
    body = get_json(client, f"/api/v1/analysis/zones/villages?zone_id={zone_id}&min_share=0.01", tokens["bappeda"])
    shares = {r["village_id"]: r["share"] for r in body["result"]}
    if sources:
        assert set(shares) == sources
        assert all(abs(s - 1) < 0.01 for s in shares.values())
    assert all(r["zone_id"] == zone_id and r["share"] > 0.01 for r in body["result"])
    page = session_client(app, "bappeda").get(f"/analysis/zones/?zone_id={zone_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    some = body["result"][0]
    assert some["code"] in html and f"/householdview/list/?_flt_0_village={some['village_id']}" in html


def test_village_lookup_shows_its_zones(app, engine):
    village_id, code = rows(engine, """
        SELECT v.id, v.code FROM priority_zone z JOIN village v ON ST_Within(ST_PointOnSurface(v.geom), z.geom)
        JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
        WHERE r.code = :c ORDER BY v.code LIMIT 1""", c=OWN)[0]
    html = session_client(app, "op1807").get(f"/analysis/zones/?village={code}").get_data(as_text=True)
    assert f'data-village="{code}"' in html
    assert "/analysis/zones/?zone_id=" in html
    # A village of another regency is not offered to the operator.
    other = rows(engine, """SELECT v.code FROM village v JOIN district d ON d.id = v.district_id
                            JOIN regency r ON r.id = d.regency_id WHERE r.code = :c LIMIT 1""", c=OTHER)[0][0]
    html = session_client(app, "op1807").get(f"/analysis/zones/?village={other}").get_data(as_text=True)
    assert f'data-village="{other}"' not in html


# --- arguments ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, status, word", [
    ("year=abc", 400, "year"), ("year=1999", 400, "year"), ("k=0", 400, "k"), ("k=11", 400, "k"),
    ("regency_id=x", 400, "regency_id"), ("regency_id=999999", 400, "regency_id"),
    ("page=0", 400, "page"), ("page_size=5000", 400, "page_size"), ("format=pdf", 400, "format"),
    ("format=csv&sep=|", 400, "sep"),
])
def test_bad_arguments_answer_400_naming_the_argument(api, query, status, word):
    client, tokens = api
    r = client.get(f"/api/v1/analysis/overlap/households?{query}", headers=tokens["bappeda"])
    assert r.status_code == status, r.data
    assert word in r.json["message"]


def test_operator_may_not_ask_for_another_regency(api, engine):
    client, tokens = api
    other = rows(engine, "SELECT id FROM regency WHERE code = :c", c=OTHER)[0][0]
    r = client.get(f"/api/v1/analysis/overlap/villages?regency_id={other}", headers=tokens["op1807"])
    assert r.status_code == 403 and "regency_id" in r.json["message"]


def test_api_needs_a_login_and_is_in_openapi(app, api):
    client, tokens = api
    assert app.test_client().get("/api/v1/analysis/overlap/villages").status_code == 401
    spec = get_json(client, "/api/v1/_openapi", token(client, "admin"))
    for path in ("overlap/villages", "overlap/households", "overlap/matrix", "overlap/regencies", "gaps/villages",
                 "gaps/zones", "zones/villages", "measures/villages"):
        operation = spec["paths"][f"/api/v1/analysis/{path}"]["get"]
        assert operation["summary"] and operation["parameters"], path
        assert "200" in operation["responses"] or 200 in operation["responses"]
    assert "analysis_year" in spec["components"]["parameters"]


def test_default_year_is_the_latest_year_with_enrolments(api, engine):
    client, tokens = api
    latest = rows(engine, "SELECT max(year) FROM enrolment")[0][0]
    body = get_json(client, "/api/v1/analysis/overlap/regencies", tokens["bappeda"])
    assert body["filters"]["year"] == latest


# --- scope on every path ------------------------------------------------------------------------------

API_PATHS = ["overlap/villages", "overlap/households?page_size=1000", "overlap/matrix", "overlap/regencies",
             "gaps/villages?k=4", "gaps/zones?k=4", "zones/villages", "measures/villages?k=4"]


def _codes_in(value) -> set[str]:
    return set(VILLAGE_CODE.findall(value if isinstance(value, str) else repr(value)))


def test_operator_never_gets_another_regencys_rows(app, engine, api):
    client, tokens = api
    lamtim = rows(engine, "SELECT id FROM regency WHERE code = :c", c=OWN)[0][0]
    zones_ok = {r[0] for r in rows(engine, "SELECT id FROM priority_zone WHERE regency_id = :r OR regency_id IS NULL",
                                   r=lamtim)}
    for path in API_PATHS:
        body = get_json(client, f"/api/v1/analysis/{path}", tokens["op1807"])
        for row in body["result"]:
            for key in ("code", "village_code"):
                if key in row and "." in str(row[key]) and row[key].count(".") == 3:
                    assert row[key].startswith(OWN + "."), (path, row)
            if "regency_id" in row:
                assert row["regency_id"] == lamtim, (path, row)
            if "zone_id" in row:
                assert row["zone_id"] in zones_ok, (path, row)
        codes = _codes_in(body)
        assert all(c.startswith(OWN + ".") for c in codes), (path, sorted(c for c in codes if not c.startswith(OWN)))

    from app.analysis_answers import ANSWERS

    session = session_client(app, "op1807")
    for name in ANSWERS:
        url = ("/locationcheck/download/csv" if name == "location-check"
               else f"/analysis/download/{name}.csv?k=4&min_share=0")
        r = session.get(url)
        assert r.status_code == 200, (name, r.status_code)
        body = r.get_data(as_text=True)
        codes = _codes_in(body)
        if name == "location-check":  # the declared village is the operator's; the located one may be a neighbour's
            table = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
            assert all(row[3].startswith(OWN + ".") for row in table[1:]), name
        else:
            assert all(c.startswith(OWN + ".") for c in codes), (name, sorted(c for c in codes if not c.startswith(OWN)))
        for cell in re.findall(r"(?m)^(18\.\d{2})[,;]", body):
            assert cell == OWN, name
    # The screens too.
    for url in ("/analysis/overlap/", "/analysis/gaps/?k=4", "/analysis/zones/?min_share_pct=0",
                "/locationcheck/list/"):
        html = session.get(url).get_data(as_text=True)
        codes = _codes_in(html)
        if "locationcheck" not in url:
            assert all(c.startswith(OWN + ".") for c in codes), (url, sorted(c for c in codes if not c.startswith(OWN)))


def _xlsx_text(data: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return "\n".join(",".join("" if v is None else str(v) for v in row)
                     for sheet in book.worksheets for row in sheet.iter_rows(values_only=True))


def test_pimpinan_downloads_hold_no_full_numbers(app, api):
    client, tokens = api
    session = session_client(app, "pimpinan")
    bodies = {}
    for fmt in ("csv", "xlsx"):
        for url in (f"/analysis/download/overlap-households.{fmt}", f"/locationcheck/download/{fmt}"):
            r = session.get(url)
            assert r.status_code == 200, url
            bodies[url] = r.get_data(as_text=True) if fmt == "csv" else _xlsx_text(r.get_data())
    bodies["api"] = client.get("/api/v1/analysis/overlap/households?page_size=1000",
                               headers=tokens["pimpinan"]).get_data(as_text=True)
    bodies["screen"] = session.get("/locationcheck/list/").get_data(as_text=True)
    for name, body in bodies.items():
        assert not SIXTEEN_DIGITS.search(body), f"a full number in {name}"
        assert re.search(r"\d{4}\*{8}\d{4}", body), f"no masked number in {name}"
    # Bappeda sees them in full.
    r = session_client(app, "bappeda").get("/analysis/download/overlap-households.csv")
    assert SIXTEEN_DIGITS.search(r.get_data(as_text=True))


def test_agency_counts_only_its_own_programs(api, engine, users):
    client, tokens = api
    agency = users["opd_dinkop_lamtim"][2]
    own = {r[0] for r in rows(engine, "SELECT id FROM program WHERE agency_id = :a", a=agency)}
    body = get_json(client, f"/api/v1/analysis/overlap/matrix?year={YEAR}", tokens["opd_dinkop_lamtim"])
    assert body["result"] and {r["program_a"] for r in body["result"]} | {r["program_b"] for r in body["result"]} <= own


# --- location check and "accept located village" ---------------------------------------------------

RUN = secrets.randbelow(10 ** 6)
_serial = iter(range(1, 1000))


def _new_household(app, declared_code_prefix: str, point_sql: str, name: str, point_regency: str | None = None):
    """A household declared in the first village of a regency, its point given by SQL (or in
    the n-th village of ``point_regency``); the trigger locates it."""
    from app.extensions import db

    with app.app_context():
        declared = db.session.execute(text("""
            SELECT v.id FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
             WHERE r.code = :c ORDER BY v.code LIMIT 1"""), {"c": declared_code_prefix}).scalar_one()
        serial = next(_serial)
        digits = declared_code_prefix.replace(".", "")
        kk = f"{digits}01{RUN:06d}{serial:04d}"
        nik = f"{digits}010101{70 + serial % 20:02d}{serial:04d}"
        hid = db.session.execute(text(f"""
            INSERT INTO household (no_kk, head_nik, head_name, village_id, desil, member_count, source, location)
            VALUES (:kk, :nik, :name, :v, 1, 3, 'uji', ({point_sql})) RETURNING id"""),
            {"kk": kk, "nik": nik, "name": name, "v": declared, "pr": point_regency}).scalar_one()
        db.session.commit()
        return hid


def _point_in_village_of(regency_code_param=":pr", nth: int = 5) -> str:
    return f"""SELECT ST_PointOnSurface(v.geom) FROM village v JOIN district d ON d.id = v.district_id
               JOIN regency r ON r.id = d.regency_id WHERE r.code = {regency_code_param}
               ORDER BY v.code OFFSET {nth} LIMIT 1"""


def _state(engine, hid):
    return rows(engine, "SELECT village_id, located_village_id, location_status FROM household WHERE id = :h",
                h=hid)[0]


def _audit(engine, hid):
    return rows(engine, """SELECT action, username, before, after, note FROM audit_log
                           WHERE entity = 'household' AND entity_id = :h ORDER BY id""", h=hid)


@pytest.fixture(scope="module")
def mismatched(app):
    """Households whose point is elsewhere: in another village of the own regency (two), in
    another regency's village, of another regency, and at sea."""
    return {
        "own": _new_household(app, OWN, _point_in_village_of(), "Uji Beda Desa Satu", OWN),
        "own2": _new_household(app, OWN, _point_in_village_of(nth=7), "Uji Beda Desa Dua", OWN),
        "cross": _new_household(app, OWN, _point_in_village_of(), "Uji Lintas Kabupaten", NEIGHBOUR),
        "other": _new_household(app, OTHER, _point_in_village_of(), "Uji Kabupaten Lain", OTHER),
        "sea": _new_household(app, OWN, "SELECT ST_SetSRID(ST_MakePoint(106.0, -5.3), 4326)", "Uji Di Laut"),
    }


@needs_lampung
def test_mismatches_are_listed_with_their_statuses(app, engine, mismatched):
    for key in ("own", "own2", "cross", "other"):
        assert _state(engine, mismatched[key])[2] == "beda_desa", key
    assert _state(engine, mismatched["sea"])[2] == "di_luar_wilayah"
    session = session_client(app, "op1807")
    html = session.get("/locationcheck/list/?page_size=1000").get_data(as_text=True)
    for key in ("own", "own2", "cross", "sea"):
        assert f'data-household="{mismatched[key]}"' in html, key
    assert f'data-household="{mismatched["other"]}"' not in html
    # A checkbox only where there is a located village to accept.
    assert f'name="rowid" value="{mismatched["own"]}"' in html
    assert f'name="rowid" value="{mismatched["sea"]}"' not in html
    # The map endpoint: the listed points, scoped, No KK as on the list.
    geo = session.get("/locationcheck/geojson?page_size=1000").json
    points = {f["properties"]["id"] for f in geo["features"] if f["properties"]["role"] == "household"}
    assert {mismatched[k] for k in ("own", "own2", "cross", "sea")} <= points
    assert mismatched["other"] not in points
    geo = session_client(app, "pimpinan").get("/locationcheck/geojson?page_size=1000").json
    assert not SIXTEEN_DIGITS.search(str(geo))
    # Filter by status.
    html = session.get("/locationcheck/list/?status=di_luar_wilayah&page_size=1000").get_data(as_text=True)
    assert f'data-household="{mismatched["sea"]}"' in html and f'data-household="{mismatched["own"]}"' not in html


def test_operator_accepts_a_located_village_in_their_regency(app, engine, mismatched):
    hid = mismatched["own"]
    _declared, located, _status = _state(engine, hid)
    r = session_client(app, "op1807").post("/locationcheck/accept", data={"rowid": [str(hid)]})
    assert r.status_code == 302
    assert _state(engine, hid) == (located, located, "cocok")
    audit = _audit(engine, hid)
    assert audit and audit[-1][0] == "accept_location" and audit[-1][1] == "op1807"
    assert audit[-1][3]["village_id"] == located and audit[-1][2]["village_id"] == _declared
    assert "->" in audit[-1][4]


def test_accept_outside_the_write_scope_is_refused_and_changes_nothing(app, engine, mismatched):
    op = session_client(app, "op1807")
    before = {k: _state(engine, h) for k, h in mismatched.items()}
    audit_before = rows(engine, "SELECT count(*) FROM audit_log")[0][0]
    # Another regency's household: not found for the operator; with an own one, nothing is changed.
    assert op.post("/locationcheck/accept", data={"rowid": [str(mismatched["other"])]}).status_code == 404
    assert op.post("/locationcheck/accept",
                   data={"rowid": [str(mismatched["own2"]), str(mismatched["other"])]}).status_code == 404
    # A point in another regency: accepting would move the household out of the operator's area.
    r = op.post("/locationcheck/accept", data={"rowid": [str(mismatched["cross"])]}, follow_redirects=True)
    alerts = re.findall(r'(?s)<div class="alert alert-danger">.*?</div>', r.get_data(as_text=True))
    assert r.status_code == 200 and any("Uji Lintas Kabupaten" in a for a in alerts), alerts
    # No located village (at sea): left as it is.
    r = op.post("/locationcheck/accept", data={"rowid": [str(mismatched["sea"])]})
    assert r.status_code == 302
    # Roles without the write permission.
    for username in ("pimpinan", "opd_dinkop_lamtim"):
        r = session_client(app, username).post("/locationcheck/accept", data={"rowid": [str(mismatched["own2"])]})
        assert r.status_code == 403, username
    assert {k: _state(engine, h) for k, h in mismatched.items()} == before
    assert rows(engine, "SELECT count(*) FROM audit_log")[0][0] == audit_before
    # Bappeda (province-wide) may accept the cross-regency one.
    r = session_client(app, "bappeda").post("/locationcheck/accept", data={"rowid": [str(mismatched["cross"])]})
    assert r.status_code == 302
    located = before["cross"][1]
    assert _state(engine, mismatched["cross"]) == (located, located, "cocok")
    assert _audit(engine, mismatched["cross"])[-1][:2] == ("accept_location", "bappeda")


def test_downloads_are_logged(app, engine):
    before = rows(engine, "SELECT coalesce(max(id), 0) FROM export_log")[0][0]
    client = session_client(app, "op1807")
    r = client.get(f"/analysis/download/gaps-villages.csv?year={YEAR}&k=2")
    table = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    r = client.get(f"/analysis/download/overlap-regencies.xlsx?year={YEAR}")
    assert r.status_code == 200
    logged = rows(engine, """SELECT username, what, format, filters, rows FROM export_log WHERE id > :i
                             ORDER BY id""", i=before)
    assert [tuple(x[:3]) for x in logged] == [("op1807", "analysis:gaps-villages", "csv"),
                                              ("op1807", "analysis:overlap-regencies", "xlsx")]
    assert logged[0][3] == {"year": YEAR, "k": 2} and logged[0][4] == len(table) - 1
    assert logged[1][4] == 1
