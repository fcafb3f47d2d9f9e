"""LP2KD with a chosen targeting snapshot ("Sumber data"): every desil-based figure reads the
chosen snapshot, the default stays each household's latest data (the kept measures), the
section "changes in the targeting data" compares the chosen snapshot with the one before it,
and a bad ``snapshot`` argument is a 400 in Indonesian on every LP2KD path.

Checked against the demo's BDT 2015, DTSEN 2025-Q3 and DTSEN 2025-Q4 snapshots:
- BDT 2015 chosen = the report as it was before snapshots existed (the household rows were the
  BDT data then: here they are put back to the BDT values inside a transaction that is rolled
  back, and the default report is built on them), and its desil counts = plain SQL over the
  BDT snapshot's rows;
- DTSEN 2025-Q3 chosen: coverage of desil 1-4 = plain SQL over that snapshot's rows, and every
  other figure = the independent computation of test_lp2kd.py over its rows;
- for bappeda (province and Lampung Timur) and op1807 (Lampung Timur only), and an outsider.
"""
from __future__ import annotations

import io
import re

import openpyxl
import pytest
from sqlalchemy import text

from tests.integration.test_lp2kd import (OWN, OTHER, YEAR, Expected, Raw, execute, read_raw, rows,
                                          session_client)


@pytest.fixture(scope="module")
def module_engine(app):
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    execute(engine, "ANALYZE")  # a freshly seeded database has no planner statistics (see test_lp2kd.py)
    return engine


@pytest.fixture(scope="module")
def snap(module_engine) -> dict:
    """label -> id of the demo's snapshots."""
    found = {(r[1] if r[1] == "BDT 2015" else f"{r[1]} {r[2]}"): r[0]
             for r in rows(module_engine, "SELECT id, source, period FROM targeting_snapshot")}
    assert {"BDT 2015", "DTSEN 2025-Q3", "DTSEN 2025-Q4"} <= set(found), found
    return found


def read_snapshot_raw(engine, snapshot_id: int, scope_regency=None) -> Raw:
    """test_lp2kd's raw rows with the households as the snapshot lists them (its village, desil
    and point); ``scope_regency``: only the households an operator of that regency may read
    (the scope is the household's own, latest, village: app/security/scope.py)."""
    raw = read_raw(engine)
    scoped = "" if scope_regency is None else """
        AND h.village_id IN (SELECT v2.id FROM village v2 JOIN district d2 ON d2.id = v2.district_id
                              WHERE d2.regency_id = :r)"""
    raw.households = {r[0]: tuple(r[1:]) for r in rows(engine, f"""
        SELECT s.household_id, s.village_id, d.regency_id, s.desil, s.location IS NOT NULL
          FROM household_snapshot s JOIN household h ON h.id = s.household_id
          JOIN village v ON v.id = s.village_id JOIN district d ON d.id = v.district_id
         WHERE s.snapshot_id = :s {scoped}""", s=snapshot_id, r=scope_regency)}
    raw.point_in_zone = {tuple(r) for r in rows(engine, """
        SELECT z.id, s.household_id FROM priority_zone z
          JOIN household_snapshot s ON s.snapshot_id = :s AND ST_Intersects(z.geom, s.location)""", s=snapshot_id)}
    raw.village_share = {(r[0], r[1]): r[2] for r in rows(engine, """
        SELECT z.id, v.id, ST_Area(ST_Intersection(z.geom, v.geom)) / ST_Area(v.geom)
          FROM priority_zone z JOIN village v ON ST_Intersects(z.geom, v.geom)
         WHERE v.id IN (SELECT village_id FROM household_snapshot WHERE snapshot_id = :s AND location IS NULL)""",
        s=snapshot_id)}
    return raw


def snapshot_coverage_sql(engine, snapshot_id: int, regency_id=None, scope_regency=None) -> dict:
    """Plain SQL over one snapshot's rows: desil -> (households, households with a counted
    enrolment of the year), desil 1-4, in the snapshot's villages of the area (``regency_id``);
    ``scope_regency``: an operator's scope, the household's own (latest) village."""
    with engine.connect() as conn:
        found = conn.execute(text("""
            SELECT s.desil, count(*),
                   count(*) FILTER (WHERE EXISTS (SELECT 1 FROM enrolment e WHERE e.household_id = s.household_id
                                                     AND e.year = :y
                                                     AND e.status IN ('usulan', 'ditetapkan', 'disalurkan')))
              FROM household_snapshot s
              JOIN household h ON h.id = s.household_id
              JOIN village v ON v.id = s.village_id JOIN district d ON d.id = v.district_id
              JOIN village hv ON hv.id = h.village_id JOIN district hd ON hd.id = hv.district_id
             WHERE s.snapshot_id = :s AND s.desil <= 4
               AND (CAST(:r AS int) IS NULL OR d.regency_id = CAST(:r AS int))
               AND (CAST(:sr AS int) IS NULL OR hd.regency_id = CAST(:sr AS int))
             GROUP BY s.desil"""), dict(s=snapshot_id, y=YEAR, r=regency_id, sr=scope_regency)).all()
    return {d: tuple(v) for d, *v in found}


def build_with(app, scope, regency_id, period, snapshot_id):
    from app.extensions import db
    from app.services import lp2kd

    with app.app_context():
        report = lp2kd.build_report(db.session.connection(), scope, regency_id, YEAR, period, snapshot_id)
        db.session.rollback()
        return report


def figures(report) -> dict:
    """Every desil-based figure of a report (and the ones around them), comparable with ==."""
    return {"coverage": report.coverage, "overlap": report.overlap, "beneficiaries": report.beneficiaries,
            "gaps": report.gaps, "zones": report.zones, "summary": report.summary,
            "undated": report.undated_enrolments}


def assert_reconciles(report, exp: Expected):
    """The desil-based sections against test_lp2kd's independent computation."""
    assert exp.households and exp.enrolments
    assert {r["desil"]: (r["households"], r["reached"], r["multi_program"])
            for r in report.coverage[:-1]} == exp.coverage()
    assert [r["households"] for r in report.overlap["distribution"]] == exp.distribution()
    assert report.overlap["program_households"] == exp.program_households()
    assert report.overlap["pair_count"] == len(exp.pairs())
    by_desil = exp.beneficiaries(lambda h, p: exp.desil(h))
    for r in report.beneficiaries["desil"]:
        assert (r["households"], r["enrolments"], r["benefit_value"]) == by_desil.get(r["desil"], (0, 0, 0)), r
    gaps = exp.gaps()
    assert report.gaps["total"] == len({h for _z, h in gaps})
    members = exp.members()
    for z in report.zones:
        assert z["households"] == len({h for zz, h in members if zz == z["id"]}), z
        assert z["desil1"] == len({h for zz, h in members if zz == z["id"] and exp.desil(h) <= 1}), z
        assert z["gap_households"] == len({h for zz, h in gaps if zz == z["id"]}), z


# --- the figures ------------------------------------------------------------------------------------

@pytest.mark.parametrize("username,area,period", [("bappeda", None, "tahunan"), ("bappeda", OWN, "s1"),
                                                  ("op1807", OWN, "tahunan")])
def test_bdt_2015_chosen_is_the_report_from_before_the_snapshots(app, module_engine, snap, username, area, period):
    """Before the snapshots the household rows held the BDT data (migration 0012 made them the
    BDT 2015 snapshot unchanged): put them back inside a rolled-back transaction and build the
    default report (kept measures for the year) on them; choosing BDT 2015 gives the same."""
    from app.extensions import db
    from app.services import lp2kd

    regency = dict(rows(module_engine, "SELECT code, id FROM regency"))
    scope, regency_id = scopes_for(regency)[username], regency[area] if area else None
    chosen = build_with(app, scope, regency_id, period, snap["BDT 2015"])
    assert chosen.snapshot_id == snap["BDT 2015"] and chosen.snapshot_label == "BDT 2015"
    with app.app_context():
        with db.engine.connect() as conn, conn.begin() as tx:
            # Households registered after BDT 2015 (other test modules import some) were not there
            # before the snapshots: out, with what hangs on them (rolled back below).
            conn.execute(text("""DELETE FROM household h WHERE NOT EXISTS (
                SELECT 1 FROM household_snapshot s WHERE s.household_id = h.id AND s.snapshot_id = :s)"""),
                {"s": snap["BDT 2015"]})
            moved = conn.execute(text("""
                UPDATE household h SET desil = s.desil, village_id = s.village_id, location = s.location
                  FROM household_snapshot s WHERE s.household_id = h.id AND s.snapshot_id = :s"""),
                {"s": snap["BDT 2015"]}).rowcount
            assert moved == conn.execute(text("SELECT count(*) FROM household")).scalar()  # BDT lists every one
            before = lp2kd.build_report(conn, scope, regency_id, YEAR, period)
            tx.rollback()
    assert figures(chosen) == figures(before)
    # ... and differs from today's default (DTSEN desil): the choice is read
    assert figures(chosen)["coverage"] != figures(build_with(app, scope, regency_id, period, None))["coverage"]


def scopes_for(regency: dict):
    from app.security.scope import Scope

    return {"bappeda": Scope("all"), "op1807": Scope("regency", regency_id=regency[OWN])}


@pytest.mark.parametrize("username,area", [("bappeda", None), ("bappeda", OWN), ("op1807", OWN)])
def test_the_desil_counts_are_those_of_the_chosen_snapshot(app, module_engine, snap, username, area):
    """BDT 2015 and DTSEN 2025-Q3 chosen: coverage of desil 1-4 = plain SQL over the snapshot's
    rows (households and reached per desil); Q3: every desil-based section = the independent
    computation of test_lp2kd.py over its rows."""
    regency = dict(rows(module_engine, "SELECT code, id FROM regency"))
    scope, regency_id = scopes_for(regency)[username], regency[area] if area else None
    scope_regency = regency[OWN] if username == "op1807" else None
    for label in ("BDT 2015", "DTSEN 2025-Q3"):
        report = build_with(app, scope, regency_id, "tahunan", snap[label])
        expected = snapshot_coverage_sql(module_engine, snap[label], regency_id, scope_regency)
        got = {r["desil"]: (r["households"], r["reached"]) for r in report.coverage[:-1] if r["households"]}
        assert got == expected, label
        assert report.coverage[-1]["households"] == sum(v[0] for v in expected.values())
        assert report.summary["households"] == report.coverage[-1]["households"]
    raw = read_snapshot_raw(module_engine, snap["DTSEN 2025-Q3"], scope_regency)
    assert_reconciles(report, Expected(raw, regency_id, "tahunan", operator=username == "op1807"))
    semester = build_with(app, scope, regency_id, "s2", snap["DTSEN 2025-Q3"])
    assert_reconciles(semester, Expected(raw, regency_id, "s2", operator=username == "op1807"))


def test_the_default_is_the_latest_data_of_each_household(app, module_engine, snap):
    """No snapshot: each household's latest desil (the household row, the kept measures), as
    before; choosing DTSEN 2025-Q4 reads exactly the households that snapshot lists (the
    default also counts those it no longer lists, with their last data)."""
    regency = dict(rows(module_engine, "SELECT code, id FROM regency"))
    scope = scopes_for(regency)["bappeda"]
    default = build_with(app, scope, None, "tahunan", None)
    assert default.snapshot_id is None and default.snapshot_label == "DTSEN 2025-Q4"
    latest = dict(((d, (n, reached)) for d, n, reached in rows(module_engine, """
        SELECT h.desil, count(*), count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM enrolment e WHERE e.household_id = h.id AND e.year = :y
                      AND e.status IN ('usulan', 'ditetapkan', 'disalurkan')))
          FROM household h WHERE h.desil <= 4 GROUP BY h.desil""", y=YEAR)))
    assert {r["desil"]: (r["households"], r["reached"]) for r in default.coverage[:-1]} == latest
    q4 = build_with(app, scope, None, "tahunan", snap["DTSEN 2025-Q4"])
    assert {r["desil"]: (r["households"], r["reached"]) for r in q4.coverage[:-1] if r["households"]} == \
        snapshot_coverage_sql(module_engine, snap["DTSEN 2025-Q4"])
    assert q4.overlap["households"] == rows(module_engine, "SELECT count(*) FROM household_snapshot "
                                                           "WHERE snapshot_id = :s", s=snap["DTSEN 2025-Q4"])[0][0]
    assert default.overlap["households"] == rows(module_engine, "SELECT count(*) FROM household")[0][0]


def test_the_changes_section_follows_the_choice(app, module_engine, snap):
    from app.extensions import db
    from app.services import lp2kd
    from app.views.reports import sections

    regency = dict(rows(module_engine, "SELECT code, id FROM regency"))
    for username, area in (("bappeda", None), ("op1807", OWN)):
        scope, regency_id = scopes_for(regency)[username], regency[area] if area else None
        pairs = {}
        with app.app_context():  # the section alone: a whole report per choice is built below and in the pages
            for label in (None, "DTSEN 2025-Q4", "DTSEN 2025-Q3", "BDT 2015"):
                t = lp2kd._targeting_changes(db.session.connection(), scope, regency_id, YEAR, snap.get(label))
                pairs[label] = (t["a"], t["b"])
            db.session.rollback()
        assert pairs == {None: ("DTSEN 2025-Q3", "DTSEN 2025-Q4"), "DTSEN 2025-Q4": ("DTSEN 2025-Q3", "DTSEN 2025-Q4"),
                         "DTSEN 2025-Q3": ("BDT 2015", "DTSEN 2025-Q3"), "BDT 2015": (None, "BDT 2015")}, username

    # BDT 2015 -> DTSEN 2025-Q3 counted here from the rows: entered, left, moved (the province)
    q3 = build_with(app, scopes_for(regency)["bappeda"], None, "tahunan", snap["DTSEN 2025-Q3"])
    entered, left, moved = rows(module_engine, """
        SELECT count(*) FILTER (WHERE a.household_id IS NULL), count(*) FILTER (WHERE b.household_id IS NULL),
               count(*) FILTER (WHERE a.village_id <> b.village_id)
          FROM (SELECT * FROM household_snapshot WHERE snapshot_id = :a) a
          FULL JOIN (SELECT * FROM household_snapshot WHERE snapshot_id = :b) b ON a.household_id = b.household_id""",
        a=snap["BDT 2015"], b=snap["DTSEN 2025-Q3"])[0]
    s = q3.targeting_changes["summary"]
    assert (s["entered"], s["left"], s["moved"]) == (entered, left, moved) and left > 0
    assert q3.targeting_changes["sources_differ"]
    with app.test_request_context():
        section = next(x for x in sections(q3) if x.key == "targeting_changes")
        assert section.tables[0].title == "BDT 2015 → DTSEN 2025-Q3"
        assert any("DTSEN 2025-Q3" in str(n) and "BDT 2015" in str(n) for n in section.notes)
        first = next(x for x in sections(build_with(app, scopes_for(regency)["bappeda"], None, "tahunan",
                                                    snap["BDT 2015"])) if x.key == "targeting_changes")
        assert first.tables == [] and "tidak ada periode sebelumnya" in str(first.notes[0])  # Indonesian default


# --- pages, print, workbook, access -----------------------------------------------------------------

def source_line(html: str) -> str:
    found = re.search(r'id="lp2kd-source">(.*?)</p>', html, re.S)
    assert found, "the report heading has no data source line"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1))).strip()


def test_the_page_print_and_workbook_carry_the_chosen_source(app, module_engine, snap):
    q3 = snap["DTSEN 2025-Q3"]
    bappeda = session_client(app, "bappeda")
    bappeda.get("/lang/id")
    r = bappeda.get(f"/lp2kd/?area=province&year={YEAR}&period=tahunan&snapshot={q3}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert source_line(html) == "Sumber Data: DTSEN 2025-Q3"
    assert f'data-snapshot="{q3}"' in html and re.search(rf'<option value="{q3}"\s+selected>DTSEN 2025-Q3', html)
    for link in ("lp2kd-print-link", "lp2kd-xlsx"):
        href = re.search(rf'id="{link}" href="([^"]+)"', html).group(1)
        assert f"snapshot={q3}" in href, link
    default = bappeda.get(f"/lp2kd/?area=province&year={YEAR}&period=tahunan").get_data(as_text=True)
    assert source_line(default).startswith("Sumber Data: DTSEN 2025-Q4 (")
    assert 'data-snapshot=""' in default

    printable = bappeda.get(f"/lp2kd/print?area=province&year={YEAR}&period=tahunan&snapshot={q3}").get_data(
        as_text=True)
    assert source_line(printable) == "Sumber Data: DTSEN 2025-Q3" and "Sumber Data: DTSEN 2025-Q3</div>" in printable
    assert f"snapshot={q3}" in re.search(r'href="([^"]*/lp2kd/[^"]*)">[^<]*</a>\s*</div>', printable).group(1)

    r = bappeda.get(f"/lp2kd/xlsx?area=province&year={YEAR}&period=tahunan&snapshot={q3}")
    assert r.status_code == 200 and f"LP2KD_18_{YEAR}_tahunan_DTSEN-2025-Q3.xlsx" in r.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    assert all(book[name]["A3"].value == "Sumber Data: DTSEN 2025-Q3" for name in book.sheetnames)
    summary = {row[0]: row[1] for row in book[book.sheetnames[0]].iter_rows(min_row=4, values_only=True) if row[0]}
    assert summary["Sumber Data"] == "DTSEN 2025-Q3"
    regency = dict(rows(module_engine, "SELECT code, id FROM regency"))
    report = build_with(app, scopes_for(regency)["bappeda"], None, "tahunan", q3)
    assert summary["Rumah tangga desil 1–4"] == report.summary["households"]


def test_the_operator_chooses_a_source_for_his_regency_only(app, module_engine, snap):
    bdt = snap["BDT 2015"]
    op = session_client(app, "op1807")
    op.get("/lang/id")
    r = op.get(f"/lp2kd/?year={YEAR}&period=tahunan&snapshot={bdt}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert source_line(html) == "Sumber Data: BDT 2015" and 'data-area="18.07"' in html
    regency = dict(rows(module_engine, "SELECT code, id FROM regency"))
    report = build_with(app, scopes_for(regency)["op1807"], regency[OWN], "tahunan", bdt)
    assert f'data-value="{report.coverage[-1]["households"]}"' in html
    assert report.coverage[-1]["households"] == sum(
        v[0] for v in snapshot_coverage_sql(module_engine, bdt, regency[OWN], regency[OWN]).values())
    # another regency's or the province's report stays refused, whatever the source
    for path in ("/lp2kd/", "/lp2kd/print", "/lp2kd/xlsx"):
        assert op.get(f"{path}?area={OTHER}&year={YEAR}&snapshot={bdt}").status_code == 403, path
        assert op.get(f"{path}?area=province&year={YEAR}&snapshot={bdt}").status_code == 403, path
    # the note's form keeps the source: saving comes back to the same report
    hidden = re.search(r'<input type="hidden" name="snapshot" value="(\d*)">', html)
    assert hidden and hidden.group(1) == str(bdt)
    try:
        r = op.post("/lp2kd/note", data={"area": OWN, "year": str(YEAR), "period": "s2", "snapshot": str(bdt),
                                         "problems": "uji sumber data", "follow_up": ""})
        assert r.status_code == 302 and f"snapshot={bdt}" in r.headers["Location"]
    finally:
        execute(module_engine, "DELETE FROM lp2kd_note WHERE year = :y AND problems = 'uji sumber data'", y=YEAR)

    outsider = session_client(app, "op1801")  # Lampung Selatan's operator
    assert outsider.get(f"/lp2kd/?area={OWN}&year={YEAR}&snapshot={bdt}").status_code == 403
    anonymous = app.test_client()
    r = anonymous.get(f"/lp2kd/xlsx?area=province&year={YEAR}&snapshot={bdt}")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_the_service_refuses_an_unknown_snapshot_and_an_unscoped_user(app, snap):
    from app.security.scope import Scope
    from app.services import lp2kd

    with pytest.raises(lp2kd.ReportError):
        build_with(app, Scope("all"), None, "tahunan", max(snap.values()) + 1000)
    with pytest.raises(lp2kd.ReportError):
        build_with(app, Scope("none"), None, "tahunan", snap["BDT 2015"])


@pytest.mark.parametrize("value,message", [
    ("abc", 'snapshot harus bilangan bulat dari 1 sampai 2147483647, bukan "abc"'),
    ("1.5", "snapshot harus bilangan bulat"), ("-1", "snapshot harus bilangan bulat"),
    ("0", "snapshot harus bilangan bulat"), ("99999999999", "snapshot harus bilangan bulat"),
    ("987654", "snapshot 987654: tidak ada snapshot data sasaran itu")])
def test_a_bad_snapshot_is_a_400_in_indonesian(app, value, message):
    bappeda = session_client(app, "bappeda")
    bappeda.get("/lang/id")
    for path in ("/lp2kd/", "/lp2kd/print", "/lp2kd/xlsx"):
        r = bappeda.get(f"{path}?area=province&year={YEAR}&period=tahunan&snapshot={value}")
        assert r.status_code == 400, (path, r.status_code)
        assert message in r.get_data(as_text=True).replace("&#34;", '"').replace("&quot;", '"'), path
    op = session_client(app, "op1807")
    r = op.post("/lp2kd/note", data={"area": OWN, "year": str(YEAR), "period": "s1", "snapshot": value,
                                     "problems": "x"})
    assert r.status_code == 400
