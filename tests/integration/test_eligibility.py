"""Program eligibility by desil (app/services/eligibility.py): a program's target range and
source, validated with a message per field; enrolments outside the range are flagged, never
refused; the enrolment list's filter "Di luar sasaran desil", the enrolment page's flag and the
per-program count on the overlap page agree, and follow the scope.

Planted in YEAR (no demo enrolment that year), in a village of Lampung Timur (op1807's):

    household  BDT 2015 row  DTSEN rows (Q3, Q4)  household.desil
    H1         2             3, 7 (latest)        7
    H2         -             -                    3
    H3         4             -, 2                 2
    H4         -             -                    1

    program PB: no source (BDT 2015), desil 1-2;  program PD: DTSEN, desil 1-4.

Desil read in the program's source (the latest row of that source, else household.desil):
PB: H1 2 in, H2 3 out, H3 4 out (its enrolment rejected: flagged, not counted), H4 1 in;
PD: H1 7 out, H2 3 in (no DTSEN row: household.desil), H3 2 in, H4 1 in.
"""
from __future__ import annotations

import re
import secrets
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.conftest import session_client, sql

YEAR = 2031
RUN = f"{secrets.randbelow(9000) + 1000}"
RECORD_COUNT = re.compile(r"(?:Jumlah data|Record Count):</strong>\s*([\d.,]+)")


@pytest.fixture(scope="module")
def clients(app):
    return {u: session_client(app, u) for u in ("admin", "bappeda", "op1807", "op1871", "pimpinan")}


def _snapshot(app, source, period, start, desil_max):
    sql(app, """INSERT INTO targeting_snapshot (source, period, period_start, desil_max)
                VALUES (:s, :p, CAST(:d AS date), :m) ON CONFLICT (source, period) DO NOTHING""",
        s=source, p=period, d=start, m=desil_max)
    return sql(app, "SELECT id FROM targeting_snapshot WHERE source = :s AND period = :p", s=source, p=period)[0][0]


@pytest.fixture(scope="module")
def planted(app):
    bdt = _snapshot(app, "BDT 2015", "2015", "2015-01-01", 4)
    q3 = _snapshot(app, "DTSEN", "2025-Q3", "2025-07-01", 10)
    q4 = _snapshot(app, "DTSEN", "2025-Q4", "2025-10-01", 10)
    village, regency = sql(app, """SELECT v.id, d.regency_id FROM village v JOIN district d ON d.id = v.district_id
                                   WHERE v.code LIKE '18.07.%' ORDER BY v.code LIMIT 1""")[0]
    agency = sql(app, "SELECT id FROM agency WHERE regency_id = :r ORDER BY id LIMIT 1", r=regency)[0][0]
    households = {}
    for n, (desil, snapshot) in enumerate([(7, q4), (3, None), (2, q4), (1, None)], start=1):
        no_kk = f"180701150199{RUN}"[:12] + f"{RUN[-2:]}{n:02d}"
        households[f"H{n}"] = sql(app, """
            INSERT INTO household (no_kk, head_nik, head_name, village_id, desil, member_count, snapshot_id)
            VALUES (:kk, :nik, :name, :v, :d, 1, :s) RETURNING id""",
            kk=no_kk, nik=f"1807010101700{RUN[-1]}{n:02d}", name=f"Uji Sasaran {n}", v=village, d=desil,
            s=snapshot)[0][0]
    for name, snapshot, desil_max, desil in [("H1", bdt, 4, 2), ("H1", q3, 10, 3), ("H1", q4, 10, 7),
                                             ("H3", bdt, 4, 4), ("H3", q4, 10, 2)]:
        sql(app, """INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id,
                                                    member_count)
                    VALUES (:s, :h, :m, :d, :v, 1)""", s=snapshot, h=households[name], m=desil_max, d=desil, v=village)
    programs = {}
    for code, source, high in [("PB", None, 2), ("PD", "DTSEN", 4)]:
        programs[code] = sql(app, """
            INSERT INTO program (code, name, cluster, synergy_type, agency_id, level, fiscal_year, budget,
                                 realised_budget, target_desil_min, target_desil, target_source, status)
            VALUES (:c, :n, 1, 'f', :a, 'kabupaten', :y, 0, 0, 1, :hi, :src, 'berjalan') RETURNING id""",
            c=f"SASARAN-{code}-{RUN}", n=f"Program Sasaran {code}", a=agency, y=YEAR, hi=high, src=source)[0][0]
        sql(app, "INSERT INTO program_regency (program_id, regency_id) VALUES (:p, :r)", p=programs[code], r=regency)
    yield {"households": households, "programs": programs, "village": village, "regency": regency}
    # Leave the demo as it was: a program year 2031 would become every later module's default year.
    # (the programs the form and API tests make are of that year too)
    sql(app, "DELETE FROM enrolment WHERE year = :y", y=YEAR)
    sql(app, "DELETE FROM program WHERE fiscal_year = :y", y=YEAR)
    sql(app, "DELETE FROM household WHERE id = ANY(:h)", h=list(households.values()))


@pytest.fixture(scope="module")
def enrolled(app, clients, planted):
    """The enrolments, made through the enrolment form and the REST API as op1807: none refused,
    the outside ones included."""
    h, p = planted["households"], planted["programs"]
    plan = [("PB", "H1", "usulan"), ("PB", "H2", "ditetapkan"), ("PB", "H3", "ditolak"), ("PB", "H4", "disalurkan"),
            ("PD", "H1", "disalurkan"), ("PD", "H2", "usulan"), ("PD", "H3", "usulan"), ("PD", "H4", "usulan")]
    no_kk = dict(sql(app, "SELECT id, no_kk FROM household WHERE id = ANY(:ids)", ids=list(h.values())))
    op = clients["op1807"]
    ids = {}
    for i, (program, household, status) in enumerate(plan):
        if i % 2 == 0:  # the form
            r = op.post("/enrolmentview/add", data={"household": no_kk[h[household]], "program": str(p[program]),
                                                    "year": str(YEAR), "status": status, "benefit_value": "100000",
                                                    "date": f"{YEAR}-03-01"})
            assert r.status_code == 302, unescape(r.text)[-2000:]
        else:  # the API (the screens' session is accepted)
            r = op.post("/api/v1/enrolment/", json={"household": h[household], "program": p[program], "year": YEAR,
                                                    "status": status, "benefit_value": "100000.00",
                                                    "date": f"{YEAR}-03-01"})
            assert r.status_code == 201, r.data
        ids[(program, household)] = sql(app, "SELECT id FROM enrolment WHERE program_id = :p AND household_id = :h",
                                        p=p[program], h=h[household])[0][0]
    return ids


OUTSIDE = {("PB", "H2"), ("PB", "H3"), ("PD", "H1")}
COUNTED_OUTSIDE = {"PB": 1, "PD": 1}  # PB's H3 was rejected (ditolak): flagged, not counted


def _view(app):
    from app.views.enrolment_filters import EligibilityFiltersMixin

    return next(v for v in app.appbuilder.baseviews if isinstance(v, EligibilityFiltersMixin))


def _list_args(app, program_id, value="ya"):
    from flask_appbuilder.models.sqla.filters import FilterRelationOneToManyEqual

    from app.views.enrolment_filters import OutsideTargetFilter

    view = _view(app)
    return {view.filter_arg("program", FilterRelationOneToManyEqual): program_id,
            view.filter_arg("desil_target", OutsideTargetFilter): value}


def _record_count(text: str) -> int:
    found = RECORD_COUNT.search(text)
    return int(found.group(1).replace(".", "").replace(",", "")) if found else 0


def _export_ids(client, args) -> list[str]:
    r = client.get("/enrolmentview/export/", query_string={**args, "format": "csv"})
    assert r.status_code == 200, r.data[:300]
    lines = r.data.decode("utf-8-sig").strip().splitlines()
    return lines[1:]


# --- the rule ----------------------------------------------------------------------------------

def test_the_rule_flags_exactly_the_outside_enrolments(app, planted, enrolled):
    from app.extensions import db
    from app.services.eligibility import target_rows

    with app.app_context():
        rows = target_rows(db.session.connection(), list(enrolled.values()))
    flagged = {key for key, eid in enrolled.items() if rows[eid]["outside"]}
    assert flagged == OUTSIDE
    desil = {key: rows[eid]["desil"] for key, eid in enrolled.items()}
    assert desil[("PD", "H1")] == 7  # the latest DTSEN row, not Q3's 3 nor BDT's 2
    assert desil[("PB", "H1")] == 2  # BDT 2015's row, not household.desil (7)
    assert desil[("PD", "H2")] == 3  # no DTSEN row: household.desil
    assert rows[enrolled[("PD", "H1")]]["source"] == "DTSEN" and rows[enrolled[("PB", "H1")]]["source"] == "BDT 2015"


def test_nothing_outside_is_refused(app, enrolled):
    statuses = dict(sql(app, "SELECT id, status FROM enrolment WHERE id = ANY(:ids)", ids=list(enrolled.values())))
    assert len(statuses) == 8 and statuses[enrolled[("PD", "H1")]] == "disalurkan"


def test_the_list_filter_lists_exactly_the_outside_ones(app, clients, planted, enrolled):
    op = clients["op1807"]
    for code, program_id in planted["programs"].items():
        r = op.get("/enrolmentview/list/", query_string=_list_args(app, program_id))
        assert r.status_code == 200
        expected = {h for (p, h) in OUTSIDE if p == code}
        assert _record_count(r.text) == len(expected), (code, expected)
        assert len(_export_ids(op, _list_args(app, program_id))) == len(expected)
        inside = op.get("/enrolmentview/list/", query_string=_list_args(app, program_id, "tidak"))
        assert _record_count(inside.text) == 4 - len(expected)
    bad = op.get("/enrolmentview/list/", query_string=_list_args(app, planted["programs"]["PB"], "mungkin"))
    assert bad.status_code == 200 and "Di luar sasaran desil: pilih" in unescape(bad.text)
    assert _record_count(bad.text) == 0


def test_the_enrolment_page_shows_the_flag(app, clients, enrolled):
    op = clients["op1807"]
    page = unescape(op.get(f"/enrolmentview/show/{enrolled[('PD', 'H1')]}").text)
    assert "Di luar sasaran desil" in page and "desil 7 (DTSEN), sasaran 1\u20134 (DTSEN)" in page
    page = unescape(op.get(f"/enrolmentview/show/{enrolled[('PB', 'H1')]}").text)
    assert "Dalam sasaran desil" in page and "desil 2 (BDT 2015), sasaran 1\u20132 (BDT 2015)" in page
    assert "None" not in re.sub(r"<script.*?</script>", "", page, flags=re.S)


# --- the overlap analysis --------------------------------------------------------------------------

def _outside_links(text: str) -> dict[str, str]:
    """program code -> the href of its "outside the target desil" count on the overlap page."""
    found = re.findall(r'<td class="sinergi-outside-target"><a href="([^"]+)" title="[^"]*: ([^"]+)">', text)
    return {code: unescape(href) for href, code in found}


@pytest.mark.parametrize("user", ["op1807", "bappeda", "pimpinan"])
def test_overlap_counts_equal_the_linked_lists(app, clients, planted, enrolled, user):
    client = clients[user]
    r = client.get("/analysis/overlap/", query_string={"year": YEAR})
    assert r.status_code == 200
    links = _outside_links(r.text)
    codes = {f"SASARAN-{c}-{RUN}": c for c in planted["programs"]}
    mine = {codes[c]: href for c, href in links.items() if c in codes}
    assert set(mine) == set(COUNTED_OUTSIDE)
    for code, href in mine.items():
        listed = client.get(href)
        assert listed.status_code == 200
        assert _record_count(listed.text) == COUNTED_OUTSIDE[code]
    api = client.get("/api/v1/analysis/overlap/matrix", query_string={"year": YEAR}).json
    by_code = {p["code"]: p["outside_target"] for p in api["programs"]}
    assert {codes[c]: n for c, n in by_code.items() if c in codes} == COUNTED_OUTSIDE


def test_overlap_with_a_regency_filter_links_the_same_rows(app, clients, planted, enrolled):
    client = clients["bappeda"]
    r = client.get("/analysis/overlap/", query_string={"year": YEAR, "regency_id": planted["regency"]})
    links = _outside_links(r.text)
    href = links[f"SASARAN-PB-{RUN}"]
    assert dict(parse_qsl(urlsplit(href).query)).get(
        next(k for k in dict(parse_qsl(urlsplit(href).query)) if k.endswith("household_regency"))) == "18.07"
    assert _record_count(client.get(href).text) == 1
    # another regency: none of the planted households
    other = sql(app, "SELECT id FROM regency WHERE code = '18.71'")[0][0]
    r = client.get("/analysis/overlap/", query_string={"year": YEAR, "regency_id": other})
    assert f"SASARAN-PB-{RUN}" not in _outside_links(r.text)


def test_demo_year_counts_equal_the_linked_lists(app, clients):
    """On the demo data (2017, BDT programs and household.desil): every program's count on the
    overlap page of Lampung Timur's operator equals its linked list's record count."""
    client = clients["op1807"]
    r = client.get("/analysis/overlap/", query_string={"year": 2017})
    links = _outside_links(r.text)
    counts = dict(re.findall(r'<td class="sinergi-outside-target"><a href="[^"]+" title="[^"]*: ([^"]+)">([\d.]+)</a>',
                             r.text))
    assert links, "the demo data has enrolments outside their program's target desil"
    for code, href in links.items():
        assert _record_count(client.get(href).text) == int(counts[code].replace(".", "")), code


def test_scope_another_regency_sees_none(app, clients, planted, enrolled):
    op = clients["op1871"]
    for program_id in planted["programs"].values():
        r = op.get("/enrolmentview/list/", query_string=_list_args(app, program_id))
        assert _record_count(r.text) == 0
    r = op.get("/analysis/overlap/", query_string={"year": YEAR})
    assert not {c for c in _outside_links(r.text) if c.startswith("SASARAN-")}
    api = op.get("/api/v1/analysis/overlap/matrix", query_string={"year": YEAR}).json
    assert not [p for p in api["programs"] if p["code"].startswith("SASARAN-")]
    assert op.get(f"/enrolmentview/show/{enrolled[('PD', 'H1')]}").status_code == 404


# --- the program's target: form, API, list, show, export -------------------------------------------

def _program_form(app, planted, code, **fields):
    agency = sql(app, "SELECT agency_id FROM program WHERE id = :p", p=planted["programs"]["PB"])[0][0]
    form = {"code": code, "name": "Program Uji Sasaran", "cluster": "1", "synergy_type": "f", "agency": str(agency),
            "level": "kabupaten", "fiscal_year": str(YEAR), "budget": "0", "realised_budget": "0",
            "target_desil_min": "1", "target_desil": "4", "target_source": "", "status": "berjalan",
            "regencies": [str(planted["regency"])]}
    form.update(fields)
    return form


@pytest.mark.parametrize("fields, message", [
    ({"target_desil": "7"}, "harus antara 1 dan 4 untuk BDT 2015 (terisi 7)"),
    ({"target_source": "BDT 2015", "target_desil": "5"}, "harus antara 1 dan 4 untuk BDT 2015 (terisi 5)"),
    ({"target_source": "DTSEN", "target_desil_min": "5", "target_desil": "3"},
     "tidak boleh lebih besar dari desil sasaran tertinggi (5 > 3)"),
])
def test_program_form_refuses_a_bad_range_at_the_field(app, clients, planted, fields, message):
    code = f"SASARAN-F{secrets.randbelow(10 ** 6)}"
    r = clients["op1807"].post("/programview/add", data=_program_form(app, planted, code, **fields))
    assert r.status_code == 200
    assert message in unescape(r.text), re.findall(r'class="[^"]*(?:has-error|alert)[^"]*".{0,300}', r.text, re.S)
    assert not sql(app, "SELECT 1 FROM program WHERE code = :c", c=code)


def test_program_form_takes_a_dtsen_range_and_shows_it(app, clients, planted):
    code = f"SASARAN-F{secrets.randbelow(10 ** 6)}"
    op = clients["op1807"]
    r = op.post("/programview/add", data=_program_form(app, planted, code, target_source="DTSEN",
                                                        target_desil_min="2", target_desil="7"))
    assert r.status_code == 302, unescape(r.text)[-1500:]
    pid, low, high, source = sql(app, "SELECT id, target_desil_min, target_desil, target_source FROM program "
                                      "WHERE code = :c", c=code)[0]
    assert (low, high, source) == (2, 7, "DTSEN")
    assert "2\u20137 (DTSEN)" in unescape(op.get(f"/programview/show/{pid}").text)
    listed = unescape(op.get("/programview/list/", query_string={"_flt_0_code": code}).text)
    assert "2\u20137 (DTSEN)" in listed
    r = op.post("/programview/add", data=_program_form(app, planted, code + "B"))
    assert r.status_code == 302
    assert sql(app, "SELECT target_source FROM program WHERE code = :c", c=code + "B")[0][0] is None
    shown = unescape(op.get(f"/programview/show/{planted['programs']['PB']}").text)
    assert "1\u20132 (BDT 2015)" in shown and "Desil Sasaran" in shown


def _api_body(app, planted, **fields):
    form = _program_form(app, planted, f"SASARAN-A{secrets.randbelow(10 ** 6)}")
    body = {**{k: v for k, v in form.items() if k not in ("regencies",)}, "regencies": [planted["regency"]],
            "agency": int(form["agency"]), "cluster": 1, "fiscal_year": YEAR, "target_desil_min": 1,
            "target_desil": 4, "target_source": None}
    body.update(fields)
    return body


@pytest.mark.parametrize("fields, field, message", [
    ({"target_desil": 7}, "target_desil", "harus antara 1 dan 4 untuk BDT 2015 (terisi 7)"),
    ({"target_source": "DTSEN", "target_desil": 11}, "target_desil", "harus antara 1 dan 10 untuk DTSEN (terisi 11)"),
    ({"target_source": "DTSEN", "target_desil_min": 6, "target_desil": 5}, "target_desil_min",
     "tidak boleh lebih besar dari desil sasaran tertinggi (6 > 5)"),
    ({"target_source": "DTKS"}, "target_source", "harus kosong (BDT 2015), BDT 2015 atau DTSEN (terisi DTKS)"),
    ({"target_desil_min": 0}, "target_desil_min", "harus antara 1 dan 4 untuk BDT 2015 (terisi 0)"),
])
def test_program_api_refuses_a_bad_range_naming_the_field(app, clients, planted, fields, field, message):
    body = _api_body(app, planted, **fields)
    r = clients["op1807"].post("/api/v1/program/", json=body)
    assert r.status_code == 422, r.data
    assert message in r.json["message"][field]
    assert not sql(app, "SELECT 1 FROM program WHERE code = :c", c=body["code"])


def test_program_api_and_export_carry_the_range(app, clients, planted):
    op = clients["op1807"]
    body = _api_body(app, planted, target_source="DTSEN", target_desil_min=1, target_desil=5)
    r = op.post("/api/v1/program/", json=body)
    assert r.status_code == 201, r.data
    shown = op.get(f"/api/v1/program/{r.json['id']}").json["result"]
    assert (shown["target_desil_min"], shown["target_desil"], shown["target_source"]) == (1, 5, "DTSEN")
    assert shown["target_desil_range"] == "1\u20135 (DTSEN)"
    body = _api_body(app, planted)
    del body["target_desil_min"], body["target_source"]  # an older client: BDT 2015 from 1
    r = op.post("/api/v1/program/", json=body)
    assert r.status_code == 201, r.data
    csv = op.get("/programview/export/", query_string={"format": "csv", "_flt_0_code": f"SASARAN-PD-{RUN}"})
    lines = csv.data.decode("utf-8-sig").strip().splitlines()
    assert "Desil sasaran dari" in lines[0] and "Sumber desil sasaran" in lines[0]
    assert len(lines) == 2 and ",1,4,DTSEN," in lines[1]


# --- the household's desil: its snapshot's range ---------------------------------------------------

def test_household_desil_follows_its_snapshot_range(app, clients, planted):
    admin = clients["admin"]
    dtsen, plain = planted["households"]["H1"], planted["households"]["H2"]
    r = admin.put(f"/api/v1/household/{dtsen}", json={"desil": 9})
    assert r.status_code == 200, r.data
    r = admin.put(f"/api/v1/household/{plain}", json={"desil": 9})
    assert r.status_code == 422
    assert "harus antara 1 dan 4 untuk BDT 2015 (terisi 9)" in r.json["message"]["desil"]
    assert sql(app, "SELECT desil FROM household WHERE id = :h", h=plain)[0][0] == 3
    sql(app, "UPDATE household SET desil = 7 WHERE id = :h", h=dtsen)  # as planted
    form = admin.get(f"/householdview/edit/{dtsen}").text
    assert '<option selected value="7">' in form or 'value="7" selected' in form
