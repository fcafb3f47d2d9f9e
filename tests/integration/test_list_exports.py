"""The exports of the list screens and of the REST API (app/list_exports.py): the current
filtered, scoped, ordered list as CSV / XLSX; masked for Pimpinan; logged; and a round
trip — households and members exported from Sinergi import into an empty database as the
same rows."""
from __future__ import annotations

import csv
import io
import re
import secrets

import openpyxl
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.list_exports import LISTS
from tests.conftest import DEMO_PASSWORD, HAVE_LAMPUNG, NO_LAMPUNG_REASON, TEST_URL, _admin_conninfo, flask_cli

MASKED = re.compile(r"^\d{4}\*{8}\d{4}$")
SIXTEEN = re.compile(r"^\d{16}$")

# view route -> (api resource, table, SQL that counts the rows of regency 18.07)
LIST_ROUTES = {
    "householdview": ("household", "household",
                      "SELECT count(*) FROM household h JOIN village v ON v.id = h.village_id WHERE v.code LIKE '18.07.%'"),
    "householdmemberview": ("household_member", "household_member",
                            """SELECT count(*) FROM household_member m JOIN household h ON h.id = m.household_id
                               JOIN village v ON v.id = h.village_id WHERE v.code LIKE '18.07.%'"""),
    "enrolmentview": ("enrolment", "enrolment",
                      """SELECT count(*) FROM enrolment e JOIN household h ON h.id = e.household_id
                         JOIN village v ON v.id = h.village_id WHERE v.code LIKE '18.07.%'"""),
    "programview": ("program", "program", None),
    "agencyview": ("agency", "agency", None),
    "tkpkinstitutionview": ("tkpk_institution", "tkpk_institution", None),
    "tkpkmemberview": ("tkpk_member", "tkpk_member", None),
    "priorityzoneview": ("priority_zone", "priority_zone", None),
    "povertyindicatorview": ("poverty_indicator", "poverty_indicator", None),
    "villageview": ("village", "village", None),  # areas are readable province-wide by every role
    "districtview": ("district", "district", None),
    "regencyview": ("regency", "regency", None),
}


def login(client, username: str):
    client.get("/logout/")
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), f"login {username} failed"
    return client


def read_csv(response, sep=",") -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"].startswith("text/csv")
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=sep))


def count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


@pytest.fixture()
def bappeda(app):
    return login(app.test_client(), "bappeda")


@pytest.fixture()
def op1807(app):
    return login(app.test_client(), "op1807")


@pytest.fixture()
def pimpinan(app):
    return login(app.test_client(), "pimpinan")


def test_every_listed_model_has_an_export_screen_and_api(app):
    from app.extensions import appbuilder

    screens = {v.datamodel.obj for v in appbuilder.baseviews if hasattr(v, "export") and hasattr(v, "datamodel")
               and v.datamodel.obj in LISTS}
    apis = {v.datamodel.obj for v in appbuilder.baseviews if getattr(v, "resource_name", None)
            and "export" in dir(v) and v.datamodel.obj in LISTS}
    assert screens == set(LISTS) and apis == set(LISTS)
    assert len(LIST_ROUTES) == len(LISTS)


@pytest.mark.parametrize("route", sorted(LIST_ROUTES))
def test_bappeda_exports_every_row_of_every_list_screen_and_api(bappeda, engine, route):
    resource, table, _ = LIST_ROUTES[route]
    total = count(engine, f"SELECT count(*) FROM {table}")
    screen = read_csv(bappeda.get(f"/{route}/export/?format=csv"))
    api = read_csv(bappeda.get(f"/api/v1/{resource}/export/?format=csv"))
    assert len(screen) == len(api) == total > 0
    assert screen[0].keys() == api[0].keys()  # one definition of the columns for both
    ordered = (lambda rows: sorted(tuple(r.values()) for r in rows))
    assert ordered(screen) == ordered(api)  # the same rows (a screen's default order may differ)


@pytest.mark.parametrize("route", sorted(r for r, (_, _, sql) in LIST_ROUTES.items() if sql))
def test_an_operators_export_holds_only_their_regency(op1807, engine, route):
    resource, _, sql = LIST_ROUTES[route]
    expected = count(engine, sql)
    for url in (f"/{route}/export/?format=csv", f"/api/v1/{resource}/export/?format=csv"):
        rows = read_csv(op1807.get(url))
        assert len(rows) == expected > 0, url
        codes = [row.get("Kode Desa") or row.get("Kode") for row in rows]
        assert all(code.startswith("18.07") for code in codes), url


def test_pimpinans_export_is_masked_and_positions_rounded(pimpinan, bappeda):
    masked = read_csv(pimpinan.get("/householdview/export/?format=csv&_flt_0_desil=1"))
    plain = read_csv(bappeda.get("/householdview/export/?format=csv&_flt_0_desil=1"))
    assert len(masked) == len(plain) > 100
    assert all(MASKED.match(r["No KK"]) and MASKED.match(r["NIK Kepala"]) for r in masked)
    assert all(SIXTEEN.match(r["No KK"]) and SIXTEEN.match(r["NIK Kepala"]) for r in plain)
    with_point = [r for r in masked if r["Lintang"]]
    assert with_point and all(len(r["Lintang"].split(".")[-1]) <= 2 for r in with_point)
    assert any(len(r["Lintang"].split(".")[-1]) > 4 for r in plain if r["Lintang"])
    for route, resource, column in (("householdmemberview", "household_member", "NIK"),
                                    ("enrolmentview", "enrolment", "No KK")):
        for url in (f"/{route}/export/?format=csv", f"/api/v1/{resource}/export/?format=csv"):
            rows = read_csv(pimpinan.get(url))
            assert rows and all(MASKED.match(r[column]) for r in rows), url
    xlsx = pimpinan.get("/householdview/export/?format=xlsx&_flt_0_desil=4")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.get_data()), read_only=True).worksheets[0]
    values = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert values and all(MASKED.match(v) for v in values)


def test_the_export_follows_the_lists_filters_and_order(bappeda, engine):
    url = "/householdview/export/?format=csv&_flt_0_desil=2&_oc_HouseholdView=member_count&_od_HouseholdView=desc"
    rows = read_csv(bappeda.get(url))
    assert len(rows) == count(engine, "SELECT count(*) FROM household WHERE desil = 2")
    assert {r["Desil"] for r in rows} == {"2"}
    sizes = [int(r["Jumlah Anggota"]) for r in rows]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    # The API: rison filters and order
    api = read_csv(bappeda.get("/api/v1/household/export/?format=csv&q=(filters:!((col:desil,opr:eq,value:2)),"
                               "order_column:member_count,order_direction:desc)"))
    assert len(api) == len(rows) and [int(r["Jumlah Anggota"]) for r in api] == sizes


def test_semicolon_csv_and_bad_arguments(bappeda, pimpinan, app):
    rows = read_csv(bappeda.get("/programview/export/?format=csv&sep=%3B"), sep=";")
    assert rows and "," in rows[0]["Anggaran (Rp)"]  # decimal comma for Indonesian Excel
    assert bappeda.get("/programview/export/?format=pdf").status_code == 400
    assert bappeda.get("/api/v1/program/export/?format=pdf").status_code == 400
    assert bappeda.get("/api/v1/program/export/?sep=x").status_code == 400
    # a user who sees masked numbers may not filter on them through the export either (an oracle)
    oracle = pimpinan.get("/api/v1/household/export/?q=(filters:!((col:no_kk,opr:sw,value:'1807')))")
    assert oracle.status_code == 400
    anonymous = app.test_client()
    assert anonymous.get("/api/v1/household/export/").status_code == 401
    assert anonymous.get("/householdview/export/").status_code in (302, 401, 403)


def test_xlsx_export_types_its_cells(bappeda):
    response = bappeda.get("/enrolmentview/export/?format=xlsx")
    assert response.status_code == 200
    assert "kepesertaan_program_" in response.headers["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    sheet = workbook.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["No KK", "Kode Program", "Tahun", "Status", "Nilai"]
    row = sheet[2]
    assert isinstance(row[0].value, str) and SIXTEEN.match(row[0].value) and row[0].number_format == "@"
    assert isinstance(row[4].value, (int, float)) and row[4].number_format == "#,##0.00"
    dates = [r[6].value for r in sheet.iter_rows(min_row=2, max_row=200) if r[6].value is not None]
    assert dates and all(hasattr(d, "year") for d in dates)


def test_each_export_is_logged_and_the_log_is_for_admin_and_bappeda(app, bappeda, op1807, engine):
    before = count(engine, "SELECT coalesce(max(id), 0) FROM export_log")
    rows = read_csv(op1807.get("/householdview/export/?format=csv&_flt_0_desil=1"))
    op1807.get("/api/v1/program/export/?format=xlsx").get_data()
    with engine.connect() as conn:
        logged = conn.execute(text("SELECT username, what, format, rows, filters FROM export_log WHERE id > :id "
                                   "ORDER BY id"), {"id": before}).all()
    assert [(r.username, r.what, r.format) for r in logged] == [("op1807", "rumah_tangga", "csv"),
                                                               ("op1807", "program", "xlsx")]
    assert logged[0].rows == len(rows) and logged[0].filters == {"_flt_0_desil": ["1"]}
    assert logged[1].rows == op1807.get("/api/v1/program/").get_json()["count"] < count(engine, "SELECT count(*) FROM program")
    page = bappeda.get("/exportlogview/list/")
    assert page.status_code == 200 and "rumah_tangga" in page.get_data(as_text=True)
    assert op1807.get("/exportlogview/list/").status_code in (302, 403)


@pytest.mark.skipif(not HAVE_LAMPUNG, reason=NO_LAMPUNG_REASON)
def test_round_trip_households_and_members_into_an_empty_database(bappeda, engine, tmp_path):
    """Export the desil-1 households whose latest data is DTSEN (most of the demo's; other tests
    add households with deliberately wrong numbers that the import rightly refuses) and all
    members -> import both files into an empty database (schema, areas, nothing else) with
    the CLI, as a DTSEN quarter -> the same rows."""
    households = bappeda.get("/householdview/export/?format=csv&_flt_0_desil=1&_flt_3_source=DTSEN")
    members = bappeda.get("/householdmemberview/export/?format=xlsx")
    (tmp_path / "rt.csv").write_bytes(households.get_data())
    (tmp_path / "art.xlsx").write_bytes(members.get_data())
    exported = len(read_csv(households))
    assert exported == count(engine, "SELECT count(*) FROM household WHERE desil = 1 AND source = 'DTSEN'") > 1000

    name = f"sinergi_test_rt_{secrets.token_hex(4)}"
    url = make_url(TEST_URL).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    empty = None
    try:
        with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        env = {"DATABASE_URL": url}
        for args in (("db", "upgrade"), ("sinergi", "init"), ("areas", "load-demo")):
            flask_cli(*args, env=env, check=True)
        result = flask_cli("households", "import", str(tmp_path / "rt.csv"), "--source", "DTSEN", "--period", "2025-Q4",
                           env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        # the members file holds every member; those of households not exported are reported and
        # stop the import, so import the members of the exported households only
        book = openpyxl.load_workbook(tmp_path / "art.xlsx", read_only=True)
        exported_kks = {r["No KK"] for r in read_csv(households)}
        out = openpyxl.Workbook(write_only=True)
        sheet = out.create_sheet("Data")
        for i, row in enumerate(book.worksheets[0].iter_rows(values_only=True)):
            if i == 0 or row[0] in exported_kks:
                sheet.append(row)
        out.save(tmp_path / "art_desil1.xlsx")
        result = flask_cli("households", "import", str(tmp_path / "art_desil1.xlsx"), "--kind", "members", env=env)
        assert result.returncode == 0, result.stdout + result.stderr

        empty = create_engine(url)
        household_sql = """SELECT h.no_kk, h.head_nik, h.head_name, h.address, h.rt, h.rw, v.code, h.desil,
                                  h.member_count, ST_AsEWKT(h.location), h.source, h.location_status, lv.code
                             FROM household h JOIN village v ON v.id = h.village_id
                             LEFT JOIN village lv ON lv.id = h.located_village_id
                            WHERE h.desil = 1 AND h.source = 'DTSEN' ORDER BY h.no_kk"""
        member_sql = """SELECT h.no_kk, m.nik, m.name, m.sex, m.birth_date, m.relationship_to_head
                          FROM household_member m JOIN household h ON h.id = m.household_id
                         WHERE h.desil = 1 AND h.source = 'DTSEN' ORDER BY m.nik, h.no_kk, m.name"""
        with engine.connect() as a, empty.connect() as b:
            original, imported = a.execute(text(household_sql)).all(), b.execute(text(household_sql)).all()
            assert len(imported) == exported and imported == original
            original, imported = a.execute(text(member_sql)).all(), b.execute(text(member_sql)).all()
            assert len(imported) > exported and imported == original
    finally:
        if empty is not None:
            empty.dispose()
        with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_bdt_exports_headers_are_the_import_columns_or_read_past():
    """Every header of the household, member and enrolment exports is a column of the import
    (app/services/household_import/) or one it reads past: the export stays importable."""
    from app import list_exports
    from app.services.household_import import KINDS, _header_name

    for spec, kind in ((list_exports.HOUSEHOLDS, "households"), (list_exports.MEMBERS, "members"),
                       (list_exports.ENROLMENTS, "enrolments")):
        names = [_header_name(f.header) for f in spec.fields]
        assert set(names) <= set(KINDS[kind].columns) | set(KINDS[kind].ignored), kind
        assert set(KINDS[kind].required) <= set(names), kind
        assert not set(KINDS[kind].columns) & set(KINDS[kind].ignored), kind


def _first_difference(a: bytes, b: bytes) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at byte {at} of {len(a)} / {len(b)}: {a[max(at - 80, 0):at + 80]!r} vs {b[max(at - 80, 0):at + 80]!r}"


@pytest.mark.parametrize("route", sorted(LIST_ROUTES))
def test_the_copy_export_is_the_python_export_byte_for_byte(app, route, monkeypatch):
    """The CSV formatted in SQL and streamed by COPY is the file the Python writer makes: for every
    list, for a user who sees the numbers and one who sees them masked (positions rounded), with
    either separator (';': decimal commas), filtered and not."""
    from app import list_exports

    resource = LIST_ROUTES[route][0]
    urls = [f"/{route}/export/?format=csv", f"/{route}/export/?format=csv&sep=%3B",
            f"/api/v1/{resource}/export/?format=csv&sep=%3B"]
    if route == "householdview":
        urls.append(f"/{route}/export/?format=csv&_flt_0_desil=2")
    for username in ("bappeda", "pimpinan"):
        client = login(app.test_client(), username)
        for url in urls:
            fast = client.get(url)
            fast_body = fast.get_data()  # read before the next request (streamed responses)
            with monkeypatch.context() as m:
                m.setattr(list_exports, "copy_select", lambda *args: None)
                slow = client.get(url)
                slow_body = slow.get_data()
            assert fast.status_code == slow.status_code, (username, url)
            same = fast_body == slow_body
            assert same, (username, url, _first_difference(fast_body, slow_body))


def test_coordinates_and_numbers_in_sql_are_pythons(engine):
    """round_coordinate_sql is Python's round(x, 2) (ties of the shortest text decided by the exact
    binary value, half to even, -0.0 kept) and csv_cell_sql writes floats as csv_cell does."""
    import random

    import sqlalchemy as sa

    from app.exports import FLOAT_TEXT_SQL, csv_cell, csv_cell_sql
    from app.security.scope import Scope, round_coordinate, round_coordinate_sql

    rnd = random.Random(7)
    values = [0.0, -0.0, 0.004, -0.004, 0.005, 0.015, 0.125, -0.125, 0.375, 2.675, -5.425, 105.125, 105.135,
              -5.4291, 105.2618, 1e-7, -2.5e-5, 1e16, 1.5e16, 123456789012345.6, 1234567890123456.0, 100.0,
              float("nan"), float("inf"), float("-inf")]
    values += [round(rnd.uniform(-7, 106), rnd.choice((3, 3, 4, 7))) for _ in range(3000)]
    masked = Scope("all", can_unmask=False)
    with engine.connect() as conn:
        conn.exec_driver_sql(FLOAT_TEXT_SQL)
        got = conn.execute(sa.text(f"""
            SELECT v, {csv_cell_sql('v', sa.Float(), 'number')}, {csv_cell_sql('v', sa.Float(), 'number', True)},
                   {csv_cell_sql(round_coordinate_sql('v'), sa.Float(), 'number')}
              FROM unnest(CAST(:v AS float8[])) WITH ORDINALITY AS t(v, n) ORDER BY n"""), {"v": values}).all()
    for value, (_, text_, comma, rounded) in zip(values, got):
        assert (text_ or "") == csv_cell(value, "number"), value
        assert (comma or "") == csv_cell(value, "number", True), value
        assert (rounded or "") == csv_cell(round_coordinate(value, masked), "number"), value
