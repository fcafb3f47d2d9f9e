"""LP2KD reports on the real demo data: every figure reconciles with an independent
computation made here from raw rows (plain SQL, then Python sets, Counters and Decimals) —
for the province and for Lampung Timur (op1807's regency), for the year and for each
semester — and, for the year, with the gis/queries.py answers the analysis screens show.
Then the workbook (one sheet per section, typed money cells), the pages and their access
rules, and the free-text section: saved, scoped (op1807 cannot write another regency's,
nor the province's), read-only for Pimpinan.

Complaints and update requests of 2017 are inserted here (the demo has none) with dates on
both sides of the semester boundary in Lampung time, and removed at the end.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pytest
from flask_babel import force_locale
from sqlalchemy import select, text

from tests.conftest import DEMO_PASSWORD, sql

YEAR = 2017
COUNTED = {"usulan", "ditetapkan", "disalurkan"}
OWN, OTHER = "18.07", "18.01"  # Lampung Timur (op1807), Lampung Selatan
RANGES = {"s1": (dt.date(YEAR, 1, 1), dt.date(YEAR, 6, 30)), "s2": (dt.date(YEAR, 7, 1), dt.date(YEAR, 12, 31)),
          "tahunan": None}
TAG = "lp2kd-test"  # marks the complaint/request rows made here


def rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def execute(engine, sql: str, **params):
    with engine.begin() as conn:
        return conn.execute(text(sql), params)


# --- raw rows and the independent computation ----------------------------------------------------

@dataclass
class Raw:
    households: dict        # id -> (village_id, regency_id, desil, has_point)
    enrolments: list        # (household_id, program_id, status, date, benefit_value) of the year
    programs: dict          # id -> dict(code, cluster, budget, realised, agency_regency, fiscal_year)
    program_regencies: dict  # program id -> regencies covered
    zones: dict             # id -> (year, regency_id)
    point_in_zone: set      # (zone_id, household_id)
    village_share: dict     # (zone_id, village_id) -> planar share of the village inside (villages of pointless households)
    regency: dict           # code -> id


def read_raw(engine) -> Raw:
    households = {r[0]: tuple(r[1:]) for r in rows(engine, """
        SELECT h.id, h.village_id, d.regency_id, h.desil, h.location IS NOT NULL
          FROM household h JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id""")}
    enrolments = [tuple(r) for r in rows(engine, """
        SELECT household_id, program_id, status, date, benefit_value FROM enrolment WHERE year = :y""", y=YEAR)]
    programs = {r[0]: dict(code=r[1], cluster=r[2], budget=r[3], realised=r[4], agency_regency=r[5],
                           fiscal_year=r[6])
                for r in rows(engine, """SELECT p.id, p.code, p.cluster, p.budget, p.realised_budget, a.regency_id,
                                                p.fiscal_year
                                           FROM program p JOIN agency a ON a.id = p.agency_id""")}
    program_regencies = defaultdict(set)
    for program_id, regency_id in rows(engine, "SELECT program_id, regency_id FROM program_regency"):
        program_regencies[program_id].add(regency_id)
    zones = {r[0]: (r[1], r[2]) for r in rows(engine, "SELECT id, year, regency_id FROM priority_zone")}
    point_in_zone = {tuple(r) for r in rows(engine, """
        SELECT z.id, h.id FROM priority_zone z JOIN household h ON ST_Intersects(z.geom, h.location)""")}
    village_share = {(r[0], r[1]): r[2] for r in rows(engine, """
        SELECT z.id, v.id, ST_Area(ST_Intersection(z.geom, v.geom)) / ST_Area(v.geom)
          FROM priority_zone z JOIN village v ON ST_Intersects(z.geom, v.geom)
         WHERE v.id IN (SELECT village_id FROM household WHERE location IS NULL)""")}
    regency = dict(rows(engine, "SELECT code, id FROM regency"))
    return Raw(households, enrolments, programs, dict(program_regencies), zones, point_in_zone, village_share,
               regency)


def pct(part, whole, places="0.01"):
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


class Expected:
    """What the report of one area and period must say, from the raw rows. ``operator``:
    the user is op1807 (zones: own and province-wide only); else Bappeda (every zone)."""

    def __init__(self, raw: Raw, regency_id, period: str, operator: bool = False):
        self.raw, self.regency_id, self.period = raw, regency_id, period
        self.households = {h for h, r in raw.households.items() if regency_id is None or r[1] == regency_id}
        span = RANGES[period]
        self.enrolments = [(h, p, b) for h, p, status, date, b in raw.enrolments
                           if status in COUNTED and h in self.households
                           and (span is None or (date is not None and span[0] <= date <= span[1]))]
        self.programs = defaultdict(set)
        for h, p, _b in self.enrolments:
            self.programs[h].add(p)
        self.visible_zones = {z for z, (year, rid) in raw.zones.items()
                              if year == YEAR and (not operator or rid in (None, regency_id))}

    def desil(self, h):
        return self.raw.households[h][2]

    def coverage(self):
        out = {}
        for d in (1, 2, 3, 4):
            hs = [h for h in self.households if self.desil(h) == d]
            reached = sum(1 for h in hs if self.programs.get(h))
            multi = sum(1 for h in hs if len(self.programs.get(h, ())) >= 2)
            out[d] = (len(hs), reached, multi)
        return out

    def distribution(self):
        c = Counter(min(len(self.programs.get(h, ())), 3) for h in self.households)
        return [c[0], c[1], c[2], c[3]]

    def pairs(self):
        out = Counter()
        for h, programs in self.programs.items():
            ordered = sorted(programs)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1:]:
                    out[(a, b)] += 1
        return out

    def program_households(self):
        return dict(Counter(p for h, ps in self.programs.items() for p in ps))

    def beneficiaries(self, key):
        households, enrolments, value = defaultdict(set), Counter(), defaultdict(lambda: Decimal("0"))
        for h, p, b in self.enrolments:
            k = key(h, p)
            households[k].add(h)
            enrolments[k] += 1
            value[k] += b or Decimal("0")
        return {k: (len(households[k]), enrolments[k], value[k]) for k in enrolments}

    def members(self):
        out = {(z, h) for z, h in self.raw.point_in_zone if z in self.visible_zones and h in self.households}
        for h in self.households:
            village, _r, _d, has_point = self.raw.households[h]
            if not has_point:
                out |= {(z, h) for z in self.visible_zones if self.raw.village_share.get((z, village), 0) > 0.5}
        return out

    def gaps(self):
        return {(z, h) for z, h in self.members() if self.desil(h) <= 1 and not self.programs.get(h)}

    def area_programs(self):
        return {p for p, info in self.raw.programs.items() if info["fiscal_year"] == YEAR and (
            self.regency_id is None or self.regency_id in self.raw.program_regencies.get(p, set())
            or info["agency_regency"] == self.regency_id)}


# --- fixtures -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def module_engine(app):
    from app.extensions import db

    with app.app_context():
        return db.engine


@pytest.fixture(scope="module")
def raw(module_engine):
    # A database just seeded has no planner statistics until autovacuum gets to it; without
    # them the self-join of gis.queries.program_matrix runs for minutes instead of a second.
    execute(module_engine, "ANALYZE")
    return read_raw(module_engine)


@pytest.fixture(scope="module")
def workflow_rows(module_engine):
    """Complaints and update requests of 2017 in Lampung Timur and Lampung Selatan, on both
    sides of the 1 July boundary in Lampung time (WIB, UTC+7)."""
    regency = dict(rows(module_engine, "SELECT code, id FROM regency"))
    village = {code: rows(module_engine, """SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
                                      WHERE d.regency_id = :r ORDER BY v.code LIMIT 1""", r=regency[code])[0][0]
               for code in (OWN, OTHER)}
    household = rows(module_engine, """SELECT h.id FROM household h JOIN village v ON v.id = h.village_id
                                  JOIN district d ON d.id = v.district_id WHERE d.regency_id = :r
                                 ORDER BY h.id LIMIT 1""", r=regency[OWN])[0][0]
    complaints = [  # (regency, category, state, created_at in WIB)
        (OWN, "tidak_terdata", "baru", "2017-02-10 09:00"),
        (OWN, "tidak_terdata", "selesai", "2017-06-30 23:30"),    # 16:30 UTC: still semester I
        (OWN, "bantuan_tidak_diterima", "diproses", "2017-07-01 00:30"),  # 30 June 17:30 UTC: semester II
        (OWN, "lainnya", "ditolak", "2017-11-20 10:00"),
        (OWN, "terdata_tidak_miskin", "baru", "2016-12-31 23:59"),  # before the year
        (OTHER, "tidak_terdata", "baru", "2017-03-03 08:00"),
    ]
    requests = [  # (regency, kind, state, created_at in WIB)
        (OWN, "ubah", "diajukan", "2017-01-15 10:00"),
        (OWN, "baru", "disetujui", "2017-05-05 10:00"),
        (OWN, "ubah", "ditolak", "2017-09-09 10:00"),
        (OTHER, "baru", "draft", "2017-04-04 10:00"),
    ]
    for i, (code, category, state, at) in enumerate(complaints):
        execute(module_engine, """INSERT INTO complaint (ticket, category, village_id, regency_id, description, state,
                                                  deadline, created_at, updated_at)
                           VALUES (:t, :c, :v, :r, :d, :s, DATE '2017-12-31',
                                   CAST(:at AS timestamp) AT TIME ZONE 'Asia/Jakarta', now())""",
                t=f"LP2KDT-{i:04d}", c=category, v=village[code], r=regency[code], d=TAG, s=state, at=at)
    for code, kind, state, at in requests:
        execute(module_engine, """INSERT INTO update_request (kind, state, household_id, regency_id, proposed, note,
                                                       created_at)
                           VALUES (:k, :s, :h, :r, CAST('{}' AS jsonb), :n,
                                   CAST(:at AS timestamp) AT TIME ZONE 'Asia/Jakarta')""",
                k=kind, s=state, h=household if kind != "baru" else None, r=regency[code], n=TAG, at=at)
    yield {"complaints": complaints, "requests": requests}
    execute(module_engine, "DELETE FROM complaint WHERE description = :d", d=TAG)
    execute(module_engine, "DELETE FROM update_request WHERE note = :n", n=TAG)


@pytest.fixture(scope="module")
def clean_notes(module_engine):
    yield
    execute(module_engine, "DELETE FROM lp2kd_note WHERE year = :y", y=YEAR)


def build(app, scope, regency_id, period):
    from app.extensions import db
    from app.services import lp2kd

    with app.app_context():
        report = lp2kd.build_report(db.session.connection(), scope, regency_id, YEAR, period)
        db.session.rollback()
        return report


@pytest.fixture(scope="module")
def reports(app, raw, workflow_rows):
    """Reports built once per (user, area, period) for the tests that only read figures."""
    cache = {}

    def get(username, area, period):
        key = (username, area, period)
        if key not in cache:
            cache[key] = build(app, scopes(raw)[username], raw.regency[area] if area else None, period)
        return cache[key]

    return get


def scopes(raw):
    from app.security.scope import Scope

    return {"bappeda": Scope("all"), "op1807": Scope("regency", regency_id=raw.regency[OWN])}


def session_client(app, username):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), username
    return client


CASES = [("bappeda", None, "tahunan"), ("bappeda", None, "s1"), ("bappeda", OWN, "tahunan"), ("bappeda", OWN, "s2"),
         ("op1807", OWN, "s1"), ("op1807", OWN, "tahunan")]


# --- the figures -------------------------------------------------------------------------------------

@pytest.mark.parametrize("username,area,period", CASES)
def test_figures_reconcile_with_the_raw_rows(raw, reports, username, area, period):
    regency_id = raw.regency[area] if area else None
    report = reports(username, area, period)
    exp = Expected(raw, regency_id, period, operator=username == "op1807")
    assert exp.households and exp.enrolments, "the demo data should give this area households and enrolments"

    # coverage of desil 1-4 and the overlap distribution
    coverage = {r["desil"]: (r["households"], r["reached"], r["multi_program"]) for r in report.coverage[:-1]}
    assert coverage == exp.coverage()
    total = report.coverage[-1]
    assert (total["households"], total["reached"], total["multi_program"]) == tuple(
        sum(v[i] for v in exp.coverage().values()) for i in range(3))
    assert total["coverage"] == pct(total["reached"], total["households"], "0.1")
    assert [r["households"] for r in report.overlap["distribution"]] == exp.distribution()

    # the busiest pairs and each program's households
    pairs = exp.pairs()
    assert report.overlap["pair_count"] == len(pairs)
    for r in report.overlap["pairs"]:
        assert r["households"] == pairs[(r["program_a"], r["program_b"])], r
    assert [r["households"] for r in report.overlap["pairs"]] == sorted(pairs.values(), reverse=True)[:10]
    assert report.overlap["program_households"] == exp.program_households()

    # beneficiaries by desil, cluster, program (exact Decimal values)
    by_desil = exp.beneficiaries(lambda h, p: exp.desil(h))
    for r in report.beneficiaries["desil"]:
        assert (r["households"], r["enrolments"], r["benefit_value"]) == by_desil.get(r["desil"], (0, 0, 0)), r
    by_cluster = exp.beneficiaries(lambda h, p: raw.programs[p]["cluster"])
    for r in report.beneficiaries["cluster"]:
        assert (r["households"], r["enrolments"], r["benefit_value"]) == by_cluster.get(r["cluster"], (0, 0, 0)), r
    by_program = exp.beneficiaries(lambda h, p: p)
    assert {r["id"]: (r["households"], r["enrolments"], r["benefit_value"])
            for r in report.beneficiaries["program"]} == by_program
    t = report.beneficiaries["total"]
    assert (t["households"], t["enrolments"]) == (len(exp.programs), len(exp.enrolments))
    assert t["benefit_value"] == sum((b or Decimal("0") for _h, _p, b in exp.enrolments), Decimal("0"))

    # gaps and zones
    gaps = exp.gaps()
    assert report.gaps["total"] == len({h for _z, h in gaps})
    assert {r["village_id"]: r["gap_households"] for r in report.gaps["by_village"]} == dict(
        Counter(raw.households[h][0] for h in {h for _z, h in gaps}))
    members = exp.members()
    for z in report.zones:
        assert z["id"] in exp.visible_zones
        assert z["gap_households"] == len({h for zz, h in gaps if zz == z["id"]}), z
        assert z["households"] == len({h for zz, h in members if zz == z["id"]}), z
        assert z["desil1"] == len({h for zz, h in members if zz == z["id"] and exp.desil(h) <= 1}), z
    if regency_id is None:
        assert {z["id"] for z in report.zones} == exp.visible_zones

    # programs by cluster: exact sums and realisation
    ids = exp.area_programs()
    assert {r["id"] for r in report.programs["rows"]} == ids
    for c in report.programs["clusters"]:
        mine = [raw.programs[p] for p in ids if raw.programs[p]["cluster"] == c["cluster"]]
        budget = sum((p["budget"] for p in mine), Decimal("0"))
        realised = sum((p["realised"] for p in mine), Decimal("0"))
        assert (c["programs"], c["budget"], c["realised_budget"]) == (len(mine), budget, realised)
        assert isinstance(c["budget"], Decimal) and c["realisation"] == pct(realised, budget)
    assert report.programs["total"]["budget"] == sum((raw.programs[p]["budget"] for p in ids), Decimal("0"))


@pytest.mark.parametrize("username,area,period", CASES)
def test_complaints_and_requests_of_the_period(reports, workflow_rows, username, area, period):
    report = reports(username, area, period)
    span = RANGES[period] or (dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))

    def expected(items):
        return Counter((group, state) for code, group, state, at in items
                       if (area is None or code == area)
                       and span[0] <= dt.date.fromisoformat(at[:10]) <= span[1])

    # Only the rows made here fall in 2017 (other tests file theirs today).
    assert report.complaints["cells"] == dict(expected(workflow_rows["complaints"]))
    assert report.requests["cells"] == dict(expected(workflow_rows["requests"]))
    assert report.complaints["total"] == sum(expected(workflow_rows["complaints"]).values())


def test_the_boundary_of_the_semesters_is_lampung_time(reports):
    s1, s2 = reports("op1807", OWN, "s1"), reports("op1807", OWN, "s2")
    assert s1.complaints["cells"].get(("tidak_terdata", "selesai")) == 1  # 30 June 23:30 WIB
    assert s2.complaints["cells"].get(("bantuan_tidak_diterima", "diproses")) == 1  # 1 July 00:30 WIB


@pytest.mark.parametrize("username,area", [("bappeda", None), ("bappeda", OWN), ("op1807", OWN)])
def test_the_year_equals_the_analysis_answers(app, raw, reports, username, area):
    """The annual figures are those of gis/queries.py (the analysis screens) for the same scope."""
    from app.extensions import db
    from gis import queries

    scope = scopes(raw)[username]
    regency_id = raw.regency[area] if area else None
    report = reports(username, area, "tahunan")
    with app.app_context():
        conn = db.session.connection()
        regencies = [r for r in queries.regency_overlap(conn, YEAR, scope)
                     if regency_id is None or r["regency_id"] == regency_id]
        villages = queries.village_overlap(conn, YEAR, scope, regency_id)
        matrix = queries.program_matrix(conn, YEAR, scope, regency_id)
        gap_villages = queries.gaps_by_village(conn, YEAR, scope, 1, regency_id)
        gap_zones = {r["zone_id"]: r["gap_households"] for r in queries.gaps_by_zone(conn, YEAR, scope, 1, regency_id)}
        db.session.rollback()
    # Overlap counts every household (DTSEN desil 5-10 too), as the analysis screens do.
    total = report.overlap
    assert total["households"] == sum(r["households"] for r in regencies)
    assert total["reached"] == sum(r["reached"] for r in regencies)
    assert total["multi_program"] == sum(r["multi_program"] for r in regencies)
    assert [r["households"] for r in report.overlap["distribution"]] == [
        sum(v[k] for v in villages) for k in ("programs_0", "programs_1", "programs_2", "programs_3plus")]
    assert report.overlap["program_households"] == {r["program_a"]: r["households"] for r in matrix
                                                    if r["program_a"] == r["program_b"]}
    off_diagonal = {(r["program_a"], r["program_b"]): r["households"] for r in matrix if r["program_a"] != r["program_b"]}
    assert report.overlap["pair_count"] == len(off_diagonal)
    assert all(off_diagonal[(p["program_a"], p["program_b"])] == p["households"] for p in report.overlap["pairs"])
    assert report.gaps["total"] == sum(r["gap_households"] for r in gap_villages)
    assert {r["village_id"]: r["gap_households"] for r in report.gaps["by_village"]} == {
        r["village_id"]: r["gap_households"] for r in gap_villages}
    for z in report.zones:
        assert z["gap_households"] == gap_zones[z["id"]]


def test_the_semester_sql_is_the_analysis_sql_with_a_date(app, raw, reports):
    """With the whole year as the 'semester', the semester SQL gives exactly the analysis
    answers (every demo enrolment is dated inside its year)."""
    from app.extensions import db
    from app.services import lp2kd
    from gis import queries

    whole = (dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))
    for scope, regency_id in ((scopes(raw)["bappeda"], None), (scopes(raw)["op1807"], raw.regency[OWN])):
        with app.app_context():
            conn = db.session.connection()
            # Other test modules add enrolments without a date; inside this (rolled back)
            # transaction every enrolment of the year is dated inside it, as the demo data is.
            conn.execute(text("UPDATE enrolment SET date = make_date(year, 6, 1) WHERE year = :y "
                              "AND (date IS NULL OR extract(year FROM date) <> year)"), {"y": YEAR})
            counts = lp2kd.program_counts(YEAR, scope, regency_id, whole).subquery()
            mine = {r.household_id: r.programs for r in conn.execute(
                select(counts.c.household_id, counts.c.programs))}
            assert mine == {r["household_id"]: r["programs"]
                            for r in queries.household_program_counts(conn, YEAR, scope, regency_id)}
            assert [dict(r) for r in lp2kd.program_matrix(conn, YEAR, scope, regency_id, whole)] == \
                [dict(r) for r in queries.program_matrix(conn, YEAR, scope, regency_id)]
            gaps = lp2kd.gap_households(YEAR, scope, regency_id, whole).subquery()
            mine = sorted(conn.execute(select(gaps.c.zone_id, gaps.c.household_id)).all())
            theirs = queries._gap_households(YEAR, scope, 1, regency_id).subquery()
            assert mine == sorted(conn.execute(select(theirs.c.zone_id, theirs.c.household_id)).all())
            db.session.rollback()
    with app.app_context():
        undated = db.session.execute(text(
            "SELECT count(*) FROM enrolment WHERE year = :y AND status IN ('usulan', 'ditetapkan', 'disalurkan') "
            "AND (date IS NULL OR extract(year FROM date) <> year)"), {"y": YEAR}).scalar()
    assert reports("bappeda", None, "s1").undated_enrolments == undated


def test_the_operator_sees_what_bappeda_sees_of_the_regency(reports):
    a, b = reports("bappeda", OWN, "s2"), reports("op1807", OWN, "s2")
    assert a.coverage == b.coverage and a.beneficiaries == b.beneficiaries and a.programs == b.programs
    assert a.overlap == b.overlap and a.tkpk == b.tkpk and a.indicators == b.indicators


def test_indicators_and_tkpk(engine, raw, reports):
    province = reports("bappeda", None, "s1")
    series = rows(engine, """SELECT year, period, poverty_rate, target_rate FROM poverty_indicator
                              WHERE province_id IS NOT NULL ORDER BY year, period""")
    assert [(r["year"], r["period"], r["poverty_rate"], r["target_rate"]) for r in province.indicators["series"]] \
        == [tuple(r) for r in series]
    assert [r["period"] for r in province.indicators["period"]] == ["maret"]
    assert province.indicators["period"][0]["difference"] == series[4][2] - series[4][3]  # March 2017
    expected_above = rows(engine, """
        SELECT r.id FROM poverty_indicator r JOIN poverty_indicator p
          ON p.province_id IS NOT NULL AND p.year = r.year AND p.period = r.period
         WHERE r.regency_id IS NOT NULL AND r.year = :y AND r.period = 'maret' AND r.poverty_rate > p.poverty_rate""",
                          y=YEAR)
    assert len(province.indicators["above_province"]) == len(expected_above)
    decree, = rows(engine, "SELECT decree_number FROM tkpk_institution WHERE regency_id IS NULL")[0]
    assert province.tkpk["decree_number"] == decree

    own = reports("op1807", OWN, "tahunan")
    series = rows(engine, "SELECT year, period, poverty_rate FROM poverty_indicator WHERE regency_id = :r "
                          "ORDER BY year, period", r=raw.regency[OWN])
    assert [(r["year"], r["period"], r["poverty_rate"]) for r in own.indicators["series"]] == [tuple(r) for r in series]
    documents = rows(engine, """SELECT d.kind, d.status FROM tkpk_document d
                                  JOIN tkpk_institution i ON i.id = d.institution_id
                                 WHERE i.regency_id = :r ORDER BY d.kind""", r=raw.regency[OWN])
    assert [(d["kind"], d["status"]) for d in own.tkpk["documents"]] == [tuple(d) for d in documents]


def test_a_report_outside_the_scope_is_refused(app, raw):
    from app.security.scope import Scope
    from app.services import lp2kd

    with pytest.raises(lp2kd.ReportError):
        build(app, scopes(raw)["op1807"], raw.regency[OTHER], "s1")
    with pytest.raises(lp2kd.ReportError):
        build(app, scopes(raw)["op1807"], None, "s1")  # the province
    with pytest.raises(lp2kd.ReportError):
        build(app, Scope("none"), None, "s1")
    with pytest.raises(lp2kd.ReportError):
        build(app, scopes(raw)["bappeda"], None, "q3")


# --- the workbook ------------------------------------------------------------------------------------

def _sheet_rows(sheet):
    return [tuple(c for c in row) for row in sheet.iter_rows(values_only=True)]


def test_the_sheet_names_are_whole_in_indonesian(app, reports):
    """Excel allows 31 characters: every "N. section" name fits uncut in the default language."""
    from app.views.reports import sections

    client = session_client(app, "bappeda")
    client.get("/lang/id")
    r = client.get("/lp2kd/xlsx?area=province&year=2017&period=s1")
    assert r.status_code == 200, r.data[:300]
    names = openpyxl.load_workbook(io.BytesIO(r.data)).sheetnames
    with app.test_request_context(), force_locale("id"):
        expected = [f"{i}. {section.sheet or section.title}" for i, section in enumerate(sections(reports("bappeda", None, "s1")), 1)]
    assert names == expected
    assert "12. Masalah dan Tindak Lanjut" in names and "10. Perubahan data sasaran" in names


def test_the_workbook_has_one_sheet_per_section(app, reports, artifacts):
    from app.views.reports import sections

    client = session_client(app, "bappeda")
    r = client.get("/lp2kd/xlsx?area=province&year=2017&period=s1")
    assert r.status_code == 200, r.data[:300]
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "LP2KD_18_2017_s1.xlsx" in r.headers["Content-Disposition"]
    (artifacts / "lp2kd_province_2017_s1.xlsx").write_bytes(r.data)
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    report = reports("bappeda", None, "s1")
    with app.test_request_context():
        expected_sections = sections(report)
    assert len(book.sheetnames) == len(expected_sections) == 12
    assert all(name.startswith(f"{i}. ") for i, name in enumerate(book.sheetnames, 1)), book.sheetnames

    # the summary: labels in column A, typed values in column B, in the order of the page
    summary = {row[0]: row[1] for row in _sheet_rows(book[book.sheetnames[0]])[3:] if row[0]}
    values = list(summary.values())
    s = report.summary
    assert values[3].startswith("DTSEN 2025-Q4 (")  # the data source (each household's latest), after the days
    assert values[6] == s["programs"] and values[7] == float(s["budget"]) and values[8] == float(s["realised_budget"])
    assert values[10] == s["households"] and values[11] == s["reached"] and values[14] == s["gap_households"]
    assert values[18] == s["complaints"] == 3  # 2017's first half: two in Lampung Timur, one in Lampung Selatan
    budget_cell = book[book.sheetnames[0]]["B11"]
    assert isinstance(budget_cell.value, (int, float)) and "Rp" in budget_cell.number_format

    # coverage: one row per desil and the total, as numbers
    coverage = [row for row in _sheet_rows(book[book.sheetnames[5]]) if isinstance(row[1], (int, float))]
    assert [tuple(row[1:5]) for row in coverage] == [
        (r["households"], r["reached"], float(r["coverage"]) if r["coverage"] is not None else None, r["multi_program"])
        for r in report.coverage]
    # programs: the clusters' money as numbers with the Rupiah format
    program_sheet = book[book.sheetnames[3]]
    money = [c for row in program_sheet.iter_rows() for c in row if isinstance(c.value, (int, float))
             and "Rp" in c.number_format]
    assert money and float(report.programs["total"]["budget"]) in [c.value for c in money]


def test_the_workbook_holds_every_gap_village(app, reports):
    client = session_client(app, "op1807")
    r = client.get("/lp2kd/xlsx?year=2017&period=tahunan")
    assert r.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    report = reports("op1807", OWN, "tahunan")
    codes = {row[0] for row in _sheet_rows(book[book.sheetnames[7]]) if row[0] and re.match(r"18\.07\.", str(row[0]))}
    assert codes == {v["code"] for v in report.gaps["by_village"]}
    assert "LP2KD_18.07_2017_tahunan.xlsx" in r.headers["Content-Disposition"]


# --- pages and access ----------------------------------------------------------------------------------

def test_pages_and_who_may_open_them(app, reports):
    bappeda = session_client(app, "bappeda")
    r = bappeda.get("/lp2kd/?area=province&year=2017&period=tahunan")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    report = reports("bappeda", None, "tahunan")
    assert f'data-value="{report.coverage[-1]["households"]}"' in html
    assert 'id="lp2kd-note-form"' in html
    for section in ("summary", "indicators", "tkpk", "programs", "beneficiaries", "coverage", "overlap", "gaps",
                    "zones", "complaints", "note"):
        assert f'id="section-{section}"' in html
    printable = bappeda.get("/lp2kd/print?area=province&year=2017&period=tahunan").get_data(as_text=True)
    assert 'class="navbar' not in printable and "lp2kd-note-form" not in printable and "section-note" in printable
    # the printed report carries the audit chain's head, to check later with `audit verify --head`
    head = re.search(r'id="lp2kd-audit-head"[^>]*>[^<]*<code>(\d+):([0-9a-f]{64})</code>', printable)
    with app.app_context():
        from app.extensions import db
        from app.models.audit import AuditLog

        assert head and db.session.get(AuditLog, int(head.group(1))).hash == head.group(2)
    assert "@media print" in html
    assert 'id="lp2kd-letterhead"' not in html and 'id="lp2kd-signature"' not in html  # the screen has neither

    # on paper: the letterhead of the office and the chair's signature block
    op = session_client(app, "op1807")
    op.get("/lang/id")
    paper = op.get("/lp2kd/print?area=18.07&year=2017&period=tahunan").get_data(as_text=True)
    letterhead = re.sub(r"<[^>]+>", " ", re.search(r'id="lp2kd-letterhead">(.*?)</div>\s*<header', paper, re.S).group(1))
    assert "Pemerintah Kabupaten Lampung Timur" in letterhead and "TKPK" in letterhead and "2017" in letterhead
    chair = sql(app, """SELECT chair FROM tkpk_institution t JOIN regency r ON r.id = t.regency_id
                        WHERE r.code = '18.07'""")
    signature = re.search(r'id="lp2kd-signature">(.*?)</div>\s*</div>', paper, re.S).group(1)
    assert "Ketua TKPK Kabupaten Lampung Timur" in signature
    assert re.search(r"\b\d{1,2} (?:Januari|Februari|Maret|April|Mei|Juni|Juli|Agustus|September|Oktober|November|"
                     r"Desember) \d{4}\b", signature), signature
    if chair and chair[0][0]:
        assert chair[0][0] in signature
    province = bappeda.get("/lp2kd/print?area=province&year=2017&period=tahunan").get_data(as_text=True)
    assert "Provinsi Lampung" in province or "Lampung Province" in province

    r = op.get("/lp2kd/")
    assert r.status_code == 200 and 'data-area="18.07"' in r.get_data(as_text=True)
    assert op.get("/lp2kd/?area=18.01&year=2017").status_code == 403
    assert op.get("/lp2kd/?area=province&year=2017").status_code == 403
    assert op.get("/lp2kd/xlsx?area=18.01&year=2017&period=s1").status_code == 403
    assert bappeda.get("/lp2kd/xlsx?area=province&year=2017&period=q9").status_code == 400
    assert bappeda.get("/lp2kd/xlsx?area=99.99&year=2017&period=s1").status_code == 400

    pimpinan = session_client(app, "pimpinan")
    r = pimpinan.get("/lp2kd/?area=province&year=2017&period=s1")
    assert r.status_code == 200 and 'id="lp2kd-note-form"' not in r.get_data(as_text=True)
    opd = session_client(app, "opd_dinkop_lamtim")
    r = opd.get("/lp2kd/?area=18.07&year=2017&period=s1")
    assert r.status_code == 200 and 'id="lp2kd-note-form"' not in r.get_data(as_text=True)

    anonymous = app.test_client()
    r = anonymous.get("/lp2kd/?area=province")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


# --- the free-text section ------------------------------------------------------------------------------

def note_rows(engine):
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows(
        engine, "SELECT regency_id, period, problems, follow_up, updated_by FROM lp2kd_note WHERE year = :y", y=YEAR)}


def test_the_note_is_saved_and_scoped(app, engine, raw, clean_notes):
    own, other = raw.regency[OWN], raw.regency[OTHER]
    op = session_client(app, "op1807")
    r = op.post("/lp2kd/note", data={"area": OWN, "year": "2017", "period": "s1",
                                     "problems": "Data BDT belum mutakhir <script>alert(1)</script>",
                                     "follow_up": "Verifikasi lapangan di 24 desa"})
    assert r.status_code == 302 and "/lp2kd/" in r.headers["Location"]
    assert note_rows(engine)[(own, "s1")] == ("Data BDT belum mutakhir <script>alert(1)</script>",
                                              "Verifikasi lapangan di 24 desa", "op1807")
    page = op.get("/lp2kd/?year=2017&period=s1").get_data(as_text=True)
    assert "Verifikasi lapangan di 24 desa" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    # changed, not duplicated
    op.post("/lp2kd/note", data={"area": OWN, "year": "2017", "period": "s1", "problems": "Diperbarui",
                                 "follow_up": ""})
    assert note_rows(engine)[(own, "s1")] == ("Diperbarui", None, "op1807")
    assert rows(engine, "SELECT count(*) FROM lp2kd_note WHERE regency_id = :r AND year = :y AND period = 's1'",
                r=own, y=YEAR)[0][0] == 1

    # another regency's or the province's text: refused, nothing written
    before = note_rows(engine)
    assert op.post("/lp2kd/note", data={"area": OTHER, "year": "2017", "period": "s1",
                                        "problems": "bukan wilayah saya"}).status_code == 403
    assert op.post("/lp2kd/note", data={"area": "province", "year": "2017", "period": "s1",
                                        "problems": "bukan wilayah saya"}).status_code == 403
    assert note_rows(engine) == before and (other, "s1") not in before

    # Pimpinan: read-only (no permission to write), even for the province
    pimpinan = session_client(app, "pimpinan")
    r = pimpinan.post("/lp2kd/note", data={"area": "province", "year": "2017", "period": "s1", "problems": "x"})
    assert r.status_code in (302, 403) and note_rows(engine) == before

    # Bappeda writes the province's text; the operator cannot read it, Bappeda reads the regency's
    bappeda = session_client(app, "bappeda")
    bappeda.post("/lp2kd/note", data={"area": "province", "year": "2017", "period": "s1",
                                      "problems": "Koordinasi OPD provinsi", "follow_up": "Rapat TKPK"})
    assert note_rows(engine)[(None, "s1")] == ("Koordinasi OPD provinsi", "Rapat TKPK", "bappeda")
    assert "Diperbarui" in bappeda.get("/lp2kd/?area=18.07&year=2017&period=s1").get_data(as_text=True)

    # the note is in the report data and in the workbook's last sheet
    report = build(app, scopes(raw)["op1807"], own, "s1")
    assert report.note["problems"] == "Diperbarui"
    book = openpyxl.load_workbook(io.BytesIO(op.get("/lp2kd/xlsx?year=2017&period=s1").data))
    assert "Diperbarui" in [row[1] for row in _sheet_rows(book[book.sheetnames[-1]])]


def test_the_service_refuses_a_note_outside_the_scope(app, raw, clean_notes):
    from app.extensions import db
    from app.security.scope import Scope, ScopeError
    from app.services import lp2kd

    with app.app_context():
        for scope, regency_id in ((scopes(raw)["op1807"], raw.regency[OTHER]), (scopes(raw)["op1807"], None),
                                  (Scope("agency", agency_id=1), raw.regency[OWN]), (Scope("none"), None)):
            with pytest.raises(ScopeError):
                lp2kd.save_note(db.session, scope, regency_id, YEAR, "s2", "x", "y", "tester")
            db.session.rollback()
        assert db.session.execute(text("SELECT count(*) FROM lp2kd_note WHERE period = 's2' AND year = :y"),
                                  {"y": YEAR}).scalar() == 0


def test_the_report_counts_the_changes_between_the_two_latest_snapshots(app, reports, module_engine, raw):
    """Section "Perubahan data sasaran": DTSEN 2025-Q3 → 2025-Q4 of the demo, counted here from
    the snapshot rows: entered, left, desil up/down, moved — for the province (per regency) and
    for Lampung Timur (per village, as its operator sees it)."""
    from app.views.reports import sections

    def expected(regency_code=None):
        where = "" if regency_code is None else "WHERE r.code = :rc"
        row = rows(module_engine, f"""
            WITH a AS (SELECT s.* FROM household_snapshot s JOIN targeting_snapshot t ON t.id = s.snapshot_id
                        WHERE t.period = '2025-Q3'),
                 b AS (SELECT s.* FROM household_snapshot s JOIN targeting_snapshot t ON t.id = s.snapshot_id
                        WHERE t.period = '2025-Q4'),
                 d AS (SELECT COALESCE(b.household_id, a.household_id) AS id, a.desil AS da, b.desil AS db,
                              a.village_id AS va, b.village_id AS vb
                         FROM a FULL JOIN b ON a.household_id = b.household_id)
            SELECT count(*) FILTER (WHERE da IS NULL), count(*) FILTER (WHERE db IS NULL),
                   count(*) FILTER (WHERE db > da), count(*) FILTER (WHERE db < da), count(*) FILTER (WHERE vb <> va)
              FROM d JOIN household h ON h.id = d.id JOIN village v ON v.id = h.village_id
              JOIN district di ON di.id = v.district_id JOIN regency r ON r.id = di.regency_id {where}""",
                   rc=regency_code)[0]
        return dict(zip(("entered", "left", "desil_up", "desil_down", "moved"), row))

    for username, area in (("bappeda", None), ("op1807", OWN)):
        report = reports(username, area, "tahunan")
        changes = report.targeting_changes
        assert (changes["a"], changes["b"]) == ("DTSEN 2025-Q3", "DTSEN 2025-Q4")
        got = {k: changes["summary"][k] for k in ("entered", "left", "desil_up", "desil_down", "moved")}
        assert got == expected(area), username
        assert sum(r["entered"] for r in changes["by_area"]) == got["entered"]
        with app.test_request_context():
            section = next(s for s in sections(report) if s.key == "targeting_changes")
        assert section.tables[0].title == "DTSEN 2025-Q3 → DTSEN 2025-Q4"
        assert section.tables[1].rows == changes["by_area"]
