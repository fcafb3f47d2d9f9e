"""The deterministic demo data of `flask --app run seed demo` (seeds/demo_domain.py).

The session fixture `app` has already run `seed demo` on the throw-away database. The facts
are computed with SQL from the data itself, checked against the 2016 facts of domain.md;
then a second `seed demo` must change nothing, and the seed must also work on the small
synthetic geography (in its own throw-away database).

Other test modules add their own rows to the shared database, so the checks look at the
seed's rows only, found by their natural keys (No KK, program code, zone name)."""
from __future__ import annotations

import secrets

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import TEST_URL, _admin_conninfo, flask_cli, needs_lampung

ABOVE_AVERAGE = {"18.03", "18.07", "18.08", "18.09", "18.13"}  # domain.md: above the provincial rate
PEDOMAN = {"selesai": {"18.05", "18.07", "18.08", "18.10", "18.72"}, "penyusunan": {"18.11", "18.71"}}
TABLES = ("agency", "tkpk_institution", "tkpk_member", "tkpk_document", "program", "program_regency",
          "household", "household_member", "enrolment", "priority_zone", "zone_source_village",
          "poverty_indicator", "ab_user")
PROVINCE_RATE_2016 = """(SELECT pi.poverty_rate FROM poverty_indicator pi JOIN province p ON p.id = pi.province_id
                         WHERE p.code = '18' AND pi.year = 2016 AND pi.period = 'maret')"""
HH_REGENCY = """household h JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
                JOIN regency r ON r.id = d.regency_id"""


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def one(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).one()


def val(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


@pytest.fixture(scope="module")
def seed(app):
    """The natural keys of what the seed wrote: No KK, program codes, zone names."""
    from app.extensions import db
    from seeds.demo_domain import (COASTAL_BELT, POVERTY_POCKET, PROGRAMS, REGENCY_ZONES, VillageRow, build_plan,
                                   regency_zone_name)

    with app.app_context(), db.engine.connect() as conn:
        villages = [VillageRow(*r) for r in conn.execute(text("""
            SELECT v.id, v.code, v.name, v.kind, d.code, r.code FROM village v
            JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id ORDER BY v.code"""))]
        regency_names = dict(conn.execute(text("SELECT code, name FROM regency")).all())
    plan = build_plan(villages, PROGRAMS)
    return {
        "villages": villages,
        "plan": plan,
        "kks": [h[0] for h in plan.households],
        "codes": [p.code for p in PROGRAMS],
        "zones": [regency_zone_name(regency_names[c]) for c in REGENCY_ZONES if c in regency_names]
        + [COASTAL_BELT[0], POVERTY_POCKET[0]],
    }


def test_counts_are_in_the_expected_ranges(engine, seed):
    households = min(20_000, 40 * len(seed["villages"]))
    assert len(seed["kks"]) == households
    stored, members, enrolments, programs, zones = one(engine, """
        SELECT (SELECT count(*) FROM household WHERE no_kk = ANY(:kks)),
               (SELECT count(*) FROM household_member m JOIN household h ON h.id = m.household_id
                WHERE h.no_kk = ANY(:kks)),
               (SELECT count(*) FROM enrolment e JOIN household h ON h.id = e.household_id
                JOIN program p ON p.id = e.program_id WHERE h.no_kk = ANY(:kks) AND p.code = ANY(:codes)),
               (SELECT count(*) FROM program WHERE code = ANY(:codes)),
               (SELECT count(*) FROM priority_zone WHERE name = ANY(:zones) AND year = 2017)""",
                                                             kks=seed["kks"], codes=seed["codes"], zones=seed["zones"])
    assert stored == households
    assert 2 * households <= members <= 3 * households  # the head and a few more: at most ~60k
    assert 1.7 * households <= enrolments <= 2.3 * households  # ~40,000 for 20,000 households
    assert 25 <= programs <= 40 and programs == len(seed["codes"])
    assert zones == 7
    assert val(engine, "SELECT count(*) FROM agency") >= 20


def test_agencies_of_province_and_kabupaten(engine):
    provincial, kabupaten, bad = one(engine, """
        SELECT count(*) FILTER (WHERE level = 'provinsi' AND regency_id IS NULL),
               count(*) FILTER (WHERE level = 'kabupaten' AND regency_id IS NOT NULL),
               count(*) FILTER (WHERE (level = 'provinsi') <> (regency_id IS NULL))
        FROM agency""")
    assert provincial >= 10 and kabupaten >= 5 and bad == 0
    names = set(val(engine, "SELECT array_agg(name) FROM agency WHERE regency_id IS NULL"))
    assert {"Bappeda", "Dinas Sosial", "Dinas Kesehatan", "Dinas Pendidikan dan Kebudayaan",
            "Dinas Koperasi dan UMKM", "Dinas Perumahan dan Permukiman", "Dinas Kelautan dan Perikanan",
            "Dinas Tanaman Pangan dan Hortikultura", "Dinas Pemberdayaan Perempuan dan Perlindungan Anak",
            "Dinas Pemberdayaan Masyarakat dan Desa", "Dinas Tenaga Kerja"} <= names


def test_tkpk_institutions_members_and_documents(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT coalesce(r.code, 'provinsi') AS area, t.level, t.chair, t.decree_number, t.decree_date,
                   t.secretariat_address, t.facilities_available, t.facilities_lacking,
                   (SELECT count(*) FROM tkpk_member m WHERE m.institution_id = t.id) AS members,
                   (SELECT count(*) FROM tkpk_member m WHERE m.institution_id = t.id
                    AND t.chair LIKE m.name || ' (%') AS chair_is_member,
                   (SELECT status FROM tkpk_document d WHERE d.institution_id = t.id AND d.kind = 'pedoman') AS pedoman,
                   (SELECT status FROM tkpk_document d WHERE d.institution_id = t.id AND d.kind = 'spkd') AS spkd
            FROM tkpk_institution t LEFT JOIN regency r ON r.id = t.regency_id
            WHERE t.regency_id IS NOT NULL OR t.chair LIKE '%(Wakil Gubernur Lampung)'""")).mappings().all()
        regencies = set(conn.execute(text("SELECT code FROM regency")).scalars())
    by_area = {r["area"]: r for r in rows}
    assert set(by_area) == regencies | {"provinsi"}
    assert by_area["provinsi"]["level"] == "provinsi"
    for area, r in by_area.items():
        assert r["members"] >= 3 and r["chair_is_member"] == 1, area
        assert r["decree_number"] and r["decree_date"] and "Bappeda" in r["secretariat_address"], area
        assert r["facilities_available"] and r["facilities_lacking"], area  # facilities need strengthening
        assert r["spkd"] in ("belum", "penyusunan", "selesai"), area
        if area != "provinsi":
            assert r["level"] == "kabupaten" and ("Wakil Bupati" in r["chair"] or "Wakil Walikota" in r["chair"])
            expected = next((s for s, codes in PEDOMAN.items() if area in codes), "belum")
            assert r["pedoman"] == expected, area


def test_programs_cover_every_cluster_and_synergy_type_with_exact_money(engine, seed):
    codes = seed["codes"]
    with engine.connect() as conn:
        clusters = set(conn.execute(text("SELECT DISTINCT cluster FROM program WHERE code = ANY(:c)"),
                                    {"c": codes}).scalars())
        types = set(conn.execute(text("SELECT DISTINCT synergy_type FROM program WHERE code = ANY(:c)"),
                                 {"c": codes}).scalars())
        levels = dict(conn.execute(text("SELECT level, count(*) FROM program WHERE code = ANY(:c) GROUP BY level"),
                                   {"c": codes}).all())
        problems = conn.execute(text("""
            SELECT p.code FROM program p JOIN agency a ON a.id = p.agency_id
            WHERE p.code = ANY(:c) AND (
               p.fiscal_year <> 2017 OR p.realised_budget > p.budget OR p.budget <= 0
               OR p.budget <> round(p.budget, 2) OR p.level <> a.level
               OR p.status NOT IN ('berjalan', 'selesai')
               OR NOT EXISTS (SELECT 1 FROM program_regency pr WHERE pr.program_id = p.id)
               -- a kabupaten program covers exactly its agency's regency
               OR (p.level = 'kabupaten' AND EXISTS (SELECT 1 FROM program_regency pr WHERE pr.program_id = p.id
                                                     AND pr.regency_id <> a.regency_id))
               -- what is given to households fits in the budget
               OR (SELECT coalesce(sum(e.benefit_value), 0) FROM enrolment e WHERE e.program_id = p.id) > p.budget)
            """), {"c": codes}).scalars().all()
        budget_type = conn.execute(text("""SELECT data_type, numeric_scale FROM information_schema.columns
                                           WHERE table_name = 'program' AND column_name = 'budget'""")).one()
        desil_mostly_low = conn.execute(text("SELECT avg((target_desil <= 2)::int) FROM program WHERE code = ANY(:c)"),
                                        {"c": codes}).scalar()
        province_wide = conn.execute(text("""
            SELECT count(*) FROM program p WHERE p.code = ANY(:c) AND p.level = 'provinsi'
            AND (SELECT count(*) FROM program_regency pr WHERE pr.program_id = p.id) = (SELECT count(*) FROM regency)
            """), {"c": codes}).scalar()
    assert clusters == {1, 2, 3}
    assert set("abcdefgh") <= types
    assert levels.get("provinsi", 0) >= 10 and levels.get("kabupaten", 0) >= 5
    assert problems == []
    assert tuple(budget_type) == ("numeric", 2)
    assert desil_mostly_low >= 0.8 and province_wide >= 5


def test_household_numbers_follow_the_dukcapil_rules(app, engine, seed):
    from app.services.validation import check_id_number

    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT h.no_kk, h.head_nik, replace(d.code, '.', '') AS kec, h.desil, h.member_count, h.source,
                   h.source_date, h.rt, h.rw, h.address, h.head_name
            FROM household h JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
            WHERE h.no_kk = ANY(:kks)"""), {"kks": seed["kks"]}).all()
        # Every NIK once, but for the duplicates the demo plants on purpose (seeds/demo_duplicates.py:
        # the same person copied into the next family of the village as 'famili lain').
        women_rule, duplicate_niks = conn.execute(text("""
            SELECT count(*) FILTER (WHERE (substr(m.nik, 7, 2)::int > 40) <> (m.sex = 'P')),
                   count(*) FILTER (WHERE m.relationship_to_head <> 'famili lain')
                   - count(DISTINCT m.nik) FILTER (WHERE m.relationship_to_head <> 'famili lain')
            FROM household_member m JOIN household h ON h.id = m.household_id WHERE h.no_kk = ANY(:kks)"""),
                                                  {"kks": seed["kks"]}).one()
        # The desil the seed drew is the BDT 2015 snapshot's (the households now carry DTSEN's).
        bdt_desil = dict(conn.execute(text("""
            SELECT h.no_kk, s.desil FROM household_snapshot s JOIN targeting_snapshot t ON t.id = s.snapshot_id
              JOIN household h ON h.id = s.household_id WHERE t.source = 'BDT 2015' AND h.no_kk = ANY(:kks)"""),
            {"kks": seed["kks"]}).all())
    with app.test_request_context():
        bad = [r.no_kk for r in rows if check_id_number(r.no_kk, is_nik=False) or
               check_id_number(r.head_nik, is_nik=True) or r.no_kk[:6] != r.kec or r.head_nik[:6] != r.kec]
    assert bad == []
    assert women_rule == 0 and duplicate_niks == 0
    # Sources: BDT 2015 for those DTSEN no longer lists, else the DTSEN quarter (a newborn adds one member).
    assert all(1 <= r.member_count <= 9 and (r.source, r.source_date.year) in (("BDT 2015", 2015), ("DTSEN", 2025))
               and len(r.rt) == 3 and len(r.rw) == 3 and r.address and r.head_name for r in rows)
    assert set(bdt_desil) == {r.no_kk for r in rows}
    share = {d: sum(v == d for v in bdt_desil.values()) / len(bdt_desil) for d in (1, 2, 3, 4)}
    assert 0.25 <= share[1] <= 0.35 and 0.23 <= share[2] <= 0.33
    assert 0.17 <= share[3] <= 0.27 and 0.15 <= share[4] <= 0.25


def test_households_lean_to_the_poorer_rural_kabupaten(engine, seed):
    with engine.connect() as conn:
        per_village = dict(conn.execute(text(f"""
            SELECT CASE WHEN r.code = ANY(:poor) THEN 'poor' WHEN r.kind = 'kota' THEN 'kota' ELSE 'other' END,
                   count(*)::float / count(DISTINCT v.id)
            FROM {HH_REGENCY} WHERE h.no_kk = ANY(:kks) GROUP BY 1"""),
                                         {"poor": sorted(ABOVE_AVERAGE), "kks": seed["kks"]}).all())
    assert per_village["poor"] > per_village["other"]


def test_members_list_the_head_of_every_household(engine, seed):
    heads, households, spouses, children = one(engine, """
        SELECT count(*) FILTER (WHERE m.relationship_to_head = 'kepala' AND m.nik = h.head_nik
                                AND m.name = h.head_name),
               count(DISTINCT h.id),
               count(*) FILTER (WHERE m.relationship_to_head = 'istri/suami'),
               count(*) FILTER (WHERE m.relationship_to_head = 'anak')
        FROM household h LEFT JOIN household_member m ON m.household_id = h.id
        WHERE h.no_kk = ANY(:kks)""", kks=seed["kks"])
    assert heads == households == len(seed["kks"])
    assert spouses > 0.3 * households and children > 0.3 * households


def test_points_lie_in_their_village_except_a_few(engine, seed):
    total, inside, outside, missing, outside_nearby, srids = one(engine, """
        SELECT count(*),
               count(*) FILTER (WHERE ST_Contains(v.geom, h.location)),
               count(*) FILTER (WHERE h.location IS NOT NULL AND NOT ST_Contains(v.geom, h.location)),
               count(*) FILTER (WHERE h.location IS NULL),
               count(*) FILTER (WHERE h.location IS NOT NULL AND NOT ST_Contains(v.geom, h.location)
                                AND EXISTS (SELECT 1 FROM village n WHERE n.id <> v.id  -- islands: the nearest
                                            AND ST_DWithin(n.geom, v.geom, 0.2) AND ST_Covers(n.geom, h.location))),
               array_agg(DISTINCT ST_SRID(h.location)) FILTER (WHERE h.location IS NOT NULL)
        FROM household h JOIN village v ON v.id = h.village_id WHERE h.no_kk = ANY(:kks)""", kks=seed["kks"])
    assert 0.93 <= inside / total <= 0.97  # ~95 %
    assert 0.02 <= outside / total <= 0.04  # ~3 % in a neighbouring village
    assert 0.01 <= missing / total <= 0.03  # ~2 % without a point
    assert outside_nearby == outside
    assert srids == [4326]


@needs_lampung
def test_enrolments_overlap_leave_gaps_and_respect_coverage(engine, seed):
    params = {"kks": seed["kks"], "codes": seed["codes"]}
    wrong_year, not_covered, households, two_plus, three_plus, desil1, desil1_none = one(engine, f"""
        WITH e AS (
            SELECT e.* FROM enrolment e JOIN program p ON p.id = e.program_id WHERE p.code = ANY(:codes)
        ), per_hh AS (
            SELECT h.id, h.desil, count(e.id) AS n FROM household h LEFT JOIN e ON e.household_id = h.id
            WHERE h.no_kk = ANY(:kks) GROUP BY h.id, h.desil)
        SELECT (SELECT count(*) FROM enrolment e JOIN program p ON p.id = e.program_id
                WHERE e.year <> p.fiscal_year),
               (SELECT count(*) FROM e JOIN {HH_REGENCY} ON h.id = e.household_id
                WHERE h.no_kk = ANY(:kks)  -- the seed's own (other tests enrol their households freely)
                  AND NOT EXISTS (SELECT 1 FROM program_regency pr
                                  WHERE pr.program_id = e.program_id AND pr.regency_id = r.id)),
               (SELECT count(*) FROM per_hh),
               (SELECT count(*) FROM per_hh WHERE n >= 2),
               (SELECT count(*) FROM per_hh WHERE n >= 3),
               (SELECT count(*) FROM per_hh WHERE desil = 1),
               (SELECT count(*) FROM per_hh WHERE desil = 1 AND n = 0)""", **params)
    assert wrong_year == 0 and not_covered == 0
    assert two_plus >= 0.35 * households and three_plus >= 0.1 * households  # overlap
    assert desil1_none >= 0.1 * desil1  # gaps: poorest households in no program
    with engine.connect() as conn:
        statuses = dict(conn.execute(text("""
            SELECT e.status, count(*) FROM enrolment e JOIN program p ON p.id = e.program_id
            WHERE p.code = ANY(:codes) GROUP BY e.status"""), params).all())
        benefit_problems = conn.execute(text("""
            SELECT count(*) FROM enrolment e JOIN program p ON p.id = e.program_id
            WHERE p.code = ANY(:codes) AND ((e.status <> 'ditolak' AND e.benefit_value IS NULL)
                                            OR e.benefit_value <> round(e.benefit_value, 2))"""), params).scalar()
    total = sum(statuses.values())
    assert (statuses.get("disalurkan", 0) + statuses.get("ditetapkan", 0)) / total >= 0.75
    assert statuses.get("usulan", 0) > 0 and statuses.get("ditolak", 0) > 0
    assert benefit_problems == 0


def test_province_rate_2016_target_and_the_five_kabupaten_above_it(engine):
    rate, poor, target, source = one(engine, """
        SELECT i.poverty_rate, i.poor_people, i.target_rate, i.source FROM poverty_indicator i
        JOIN province p ON p.id = i.province_id WHERE p.code = '18' AND i.year = 2016 AND i.period = 'maret'""")
    assert (str(rate), str(target), source) == ("14.29", "12.93", "BPS Maret 2016")
    assert 1_160_000 <= poor <= 1_180_000
    with engine.connect() as conn:
        above = set(conn.execute(text(f"""
            SELECT r.code FROM poverty_indicator i JOIN regency r ON r.id = i.regency_id
            WHERE i.year = 2016 AND i.period = 'maret' AND i.poverty_rate > {PROVINCE_RATE_2016}""")).scalars())
        regencies_with_rate, poor_sum = conn.execute(text("""
            SELECT count(DISTINCT regency_id), sum(poor_people) FROM poverty_indicator
            WHERE year = 2016 AND period = 'maret' AND regency_id IS NOT NULL""")).one()
        province_targets = conn.execute(text("""
            SELECT count(*) FROM poverty_indicator
            WHERE province_id IS NOT NULL AND target_rate IS NOT NULL""")).scalar()
    assert above == ABOVE_AVERAGE
    assert regencies_with_rate == val(engine, "SELECT count(*) FROM regency")
    assert abs(poor_sum - poor) <= 0.01 * poor  # the kabupaten add up to the province
    assert province_targets >= 4


def test_priority_zones_of_the_kabupaten_above_average_and_two_drawn(engine, seed):
    with engine.connect() as conn:
        zones = conn.execute(text("""
            SELECT z.name, z.basis, r.code, GeometryType(z.geom) AS type, ST_IsValid(z.geom) AS valid,
                   ST_SRID(z.geom) AS srid, ST_IsEmpty(z.geom) AS empty,
                   (SELECT count(*) FROM zone_source_village s WHERE s.zone_id = z.id) AS sources,
                   (SELECT count(*) FROM zone_source_village s JOIN village v ON v.id = s.village_id
                    JOIN district d ON d.id = v.district_id
                    WHERE s.zone_id = z.id AND (d.regency_id IS DISTINCT FROM z.regency_id
                                                OR NOT ST_Covers(z.geom, ST_PointOnSurface(v.geom)))) AS misplaced,
                   ST_Area(ST_Difference(z.geom, p.geom)) / ST_Area(z.geom) AS outside_lampung
            FROM priority_zone z LEFT JOIN regency r ON r.id = z.regency_id
            JOIN province p ON p.code = '18'
            WHERE z.year = 2017 AND z.name = ANY(:zones)"""), {"zones": seed["zones"]}).mappings().all()
        above = set(conn.execute(text(f"""
            SELECT r.code FROM poverty_indicator i JOIN regency r ON r.id = i.regency_id
            WHERE i.year = 2016 AND i.period = 'maret' AND i.poverty_rate > {PROVINCE_RATE_2016}""")).scalars())
    assert len(zones) == 7
    for z in zones:
        assert (z["type"], z["valid"], z["srid"], z["empty"]) == ("MULTIPOLYGON", True, 4326, False), z["name"]
        assert z["outside_lampung"] < 0.01, z["name"]  # village edges stick out of the province a little
    by_villages = [z for z in zones if z["basis"] in ("kewilayahan", "desil")]
    drawn = [z for z in zones if z["basis"] == "lainnya"]
    assert sorted(z["code"] for z in by_villages) == sorted(above)
    assert all(z["sources"] >= 3 and z["misplaced"] == 0 for z in by_villages)
    assert len(drawn) == 2 and all(z["sources"] == 0 for z in drawn)
    assert any(z["code"] is None for z in drawn)  # the province-wide coastal belt


def test_opd_demo_users_are_bound_to_an_agency_with_programs(engine):
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT u.username, a.name, a.regency_id IS NULL AS provincial, ro.name AS role,
                   (SELECT count(*) FROM program p WHERE p.agency_id = a.id) AS programs
            FROM ab_user u JOIN agency a ON a.id = u.agency_id
            JOIN ab_user_role ur ON ur.user_id = u.id JOIN ab_role ro ON ro.id = ur.role_id
            WHERE u.username IN ('opd_dinsos', 'opd_dinkop_lamtim') ORDER BY u.username""")).mappings().all()
    assert [r["username"] for r in rows] == ["opd_dinkop_lamtim", "opd_dinsos"]
    assert all(r["role"] == "Petugas OPD" and r["programs"] >= 1 for r in rows)
    assert rows[1]["name"] == "Dinas Sosial" and rows[1]["provincial"]
    assert rows[0]["name"] == "Dinas Koperasi dan UMKM" and not rows[0]["provincial"]


def test_the_plan_is_deterministic(seed):
    from seeds.demo_domain import PROGRAMS, build_plan

    again = build_plan(seed["villages"], PROGRAMS)
    assert again.households == seed["plan"].households
    assert again.members == seed["plan"].members
    assert again.enrolments == seed["plan"].enrolments
    assert again.program_totals == seed["plan"].program_totals


def test_a_second_seed_changes_nothing(engine, seed):
    before = table_counts(engine)
    fingerprint = """SELECT md5(string_agg(no_kk || coalesce(ST_AsText(location), '-'), ',' ORDER BY no_kk))
                     FROM household WHERE no_kk = ANY(:kks)"""
    points_before = val(engine, fingerprint, kks=seed["kks"])
    result = flask_cli("seed", "demo", check=True)
    assert "(baru 0)" in result.stdout and "dibuat" not in result.stdout
    assert table_counts(engine) == before
    assert val(engine, fingerprint, kks=seed["kks"]) == points_before


def test_seed_works_on_the_synthetic_geography(tmp_path):
    """A whole `make demo-data` on a fresh database without the Lampung files: fewer
    households, no crash, and a second run writes nothing."""
    name = f"sinergi_test_syn_{secrets.token_hex(4)}"
    url = make_url(TEST_URL).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = None
    try:
        with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        env = {"DATABASE_URL": url, "SINERGI_AREAS_DIR": str(tmp_path / "no-lampung-here")}
        for args in (("db", "upgrade"), ("sinergi", "init"), ("areas", "load-demo"), ("seed", "demo")):
            flask_cli(*args, env=env, check=True)
        engine = create_engine(url)
        first = table_counts(engine)
        assert val(engine, "SELECT count(*) FROM village") == 90
        assert first["household"] == 40 * 90 and first["program"] == 32 and first["tkpk_institution"] == 16
        assert 1.7 * first["household"] <= first["enrolment"] <= 2.3 * first["household"]
        zones = one(engine, """SELECT count(*), count(*) FILTER (WHERE ST_IsValid(geom) AND NOT ST_IsEmpty(geom)
                                      AND GeometryType(geom) = 'MULTIPOLYGON') FROM priority_zone""")
        assert tuple(zones) == (7, 7)
        inside = val(engine, """SELECT avg(ST_Contains(v.geom, h.location)::int) FROM household h
                                JOIN village v ON v.id = h.village_id""")
        assert 0.9 <= inside <= 0.98
        assert val(engine, "SELECT count(*) FROM ab_user WHERE agency_id IS NOT NULL") == 2
        flask_cli("seed", "demo", env=env, check=True)
        assert table_counts(engine) == first
    finally:
        if engine is not None:
            engine.dispose()
        with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
