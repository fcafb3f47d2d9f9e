"""What changed between two targeting snapshots (app/services/snapshot_diff.py, the screen
/snapshotdiff/ and /api/v1/snapshot-diff/...).

Two DTSEN snapshots are built here from the demo households: A lists every household but one
(the one that "enters"), B every household but another (the one that "leaves"), with planted
changes in Lampung Timur (op1807's regency): one household's desil +3, one moved to another
village of the regency, one member added, and a beneficiary of a PKH-like program (DTSEN desil
1-4) now desil 6. The diff must find each planted change and nothing else; an operator of another
regency sees none of it; the OPD officer whose agency runs the program sees only its beneficiary.
"""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from sqlalchemy import text

from tests.conftest import sql
from tests.integration.test_analysis import session_client, token

OWN = "18.07"
NEW_NIK = "1807019999990001"


def one(app, statement, **params):
    return sql(app, statement, **params)[0][0]


@pytest.fixture(scope="module")
def planted(app):
    year = one(app, "SELECT max(year) FROM enrolment")
    picks = [r[0] for r in sql(app, """
        SELECT h.id FROM household h JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
          JOIN regency r ON r.id = d.regency_id
         WHERE r.code = :own AND h.desil <= 4
           AND EXISTS (SELECT 1 FROM household_member m WHERE m.household_id = h.id)
         ORDER BY h.id LIMIT 6""", own=OWN)]
    entered, left, up, moved, member, pkh = picks
    new_village = one(app, """
        SELECT v.id FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
         WHERE r.code = :own AND v.id <> (SELECT village_id FROM household WHERE id = :h) ORDER BY v.id LIMIT 1""",
                      own=OWN, h=moved)
    agency = one(app, "SELECT agency_id FROM ab_user WHERE username = 'opd_dinsos'")
    program = one(app, """
        INSERT INTO program (code, name, cluster, synergy_type, agency_id, level, fiscal_year, budget, realised_budget,
                             target_desil, target_desil_min, target_source, status)
        VALUES ('UJI-PKH-DIFF', 'PKH uji perubahan', 1, 'lainnya', :agency, 'provinsi', :year, 0, 0, 4, 1, 'DTSEN',
                'berjalan') RETURNING id""", agency=agency, year=year)
    sql(app, "INSERT INTO program_regency (program_id, regency_id) SELECT :p, id FROM regency WHERE code = :own",
        p=program, own=OWN)
    sql(app, "INSERT INTO enrolment (household_id, program_id, year, status) VALUES (:h, :p, :y, 'ditetapkan')",
        h=pkh, p=program, y=year)
    snapshot_a = one(app, """INSERT INTO targeting_snapshot (source, period, period_start, desil_max)
                             VALUES ('DTSEN', '2098-Q1', DATE '2098-01-01', 10) RETURNING id""")
    snapshot_b = one(app, """INSERT INTO targeting_snapshot (source, period, period_start, desil_max)
                             VALUES ('DTSEN', '2098-Q2', DATE '2098-04-01', 10) RETURNING id""")
    copy = """
        INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id, member_count,
                                        member_niks)
        SELECT :s, h.id, 10, {desil}, {village}, h.member_count,
               COALESCE((SELECT array_agg(n ORDER BY n) FROM (
                   SELECT m.nik AS n FROM household_member m WHERE m.household_id = h.id {extra}) x), '{{}}')
          FROM household h WHERE h.id <> :skip"""
    sql(app, copy.format(desil="h.desil", village="h.village_id", extra=""), s=snapshot_a, skip=entered)
    sql(app, copy.format(desil="CASE h.id WHEN :up THEN h.desil + 3 WHEN :pkh THEN 6 ELSE h.desil END",
                         village="CASE WHEN h.id = :moved THEN :nv ELSE h.village_id END",
                         extra="UNION ALL SELECT :nik WHERE h.id = :member"),
        s=snapshot_b, skip=left, up=up, pkh=pkh, moved=moved, nv=new_village, nik=NEW_NIK, member=member)
    sql(app, "ANALYZE household_snapshot")
    yield dict(a=snapshot_a, b=snapshot_b, year=year, program=program, entered=entered, left=left, up=up,
               moved=moved, member=member, pkh=pkh, new_village=new_village,
               households=one(app, "SELECT count(*) FROM household"),
               no_kk={r[0]: r[1] for r in sql(app, "SELECT id, no_kk FROM household WHERE id = ANY(:ids)", ids=picks)})
    sql(app, "DELETE FROM targeting_snapshot WHERE id IN (:a, :b)", a=snapshot_a, b=snapshot_b)
    sql(app, "DELETE FROM enrolment WHERE program_id = :p", p=program)
    sql(app, "DELETE FROM program WHERE id = :p", p=program)


EXPECTED_KINDS = {"entered": ["entered"], "left": ["left"], "desil_up": ["up", "pkh"], "desil_down": [],
                  "moved": ["moved"], "members_added": ["member"], "members_removed": []}


def _ids(p, names):
    return sorted(p[n] for n in names)


def _api(client, headers, path, **args):
    return client.get(f"/api/v1/snapshot-diff/{path}", query_string=args, headers=headers)


def _all_pages(client, headers, p, **args):
    r = _api(client, headers, "households", a=p["a"], b=p["b"], page_size=1000, **args)
    assert r.status_code == 200, r.data
    assert r.json["count"] == len(r.json["result"])
    return r.json["result"]


def test_the_diff_finds_each_planted_change_and_nothing_else(app, planted):
    p = planted
    client = app.test_client()
    headers = token(client, "bappeda")
    r = _api(client, headers, "summary", a=p["a"], b=p["b"])
    assert r.status_code == 200, r.data
    assert r.json["filters"]["sources_differ"] is False
    assert r.json["result"] == {
        "households_a": p["households"] - 1, "households_b": p["households"] - 1, "entered": 1, "left": 1,
        "desil_up": 2, "desil_down": 0, "moved": 1, "members_added": 1, "members_removed": 0, "changed": 6}
    everything = _all_pages(client, headers, p)
    assert sorted(r["household_id"] for r in everything) == _ids(p, ["entered", "left", "up", "moved", "member",
                                                                     "pkh"])
    by_id = {r["household_id"]: r for r in everything}
    assert by_id[p["up"]]["desil_change"] == 3 and by_id[p["pkh"]]["desil_b"] == 6
    assert by_id[p["member"]]["members_added"] == 1 and by_id[p["member"]]["members_removed"] == 0
    assert by_id[p["entered"]]["desil_a"] is None and by_id[p["entered"]]["kind_keys"] == ["entered"]
    assert by_id[p["moved"]]["kind_keys"] == ["moved"]
    assert by_id[p["up"]]["no_kk"] == p["no_kk"][p["up"]]  # bappeda sees the full number
    for kind, names in EXPECTED_KINDS.items():
        rows = _all_pages(client, headers, p, kind=kind)
        assert sorted(r["household_id"] for r in rows) == _ids(p, names), kind
    # Per regency: only Lampung Timur, a move counted in and out.
    r = _api(client, headers, "regencies", a=p["a"], b=p["b"])
    assert [(row["code"], {k: row[k] for k in ("entered", "left", "desil_up", "desil_down", "moved_in", "moved_out",
                                                "members_added", "members_removed")}) for row in r.json["result"]] \
        == [(OWN, {"entered": 1, "left": 1, "desil_up": 2, "desil_down": 0, "moved_in": 1, "moved_out": 1,
                   "members_added": 1, "members_removed": 0})]
    # Programs: only the PKH-like program (DTSEN target), its one beneficiary now desil 6.
    r = _api(client, headers, "programs", a=p["a"], b=p["b"])
    assert [(row["code"], row["beneficiaries"], row["outside"], row["not_listed"]) for row in r.json["result"]] \
        == [("UJI-PKH-DIFF", 1, 1, 0)]
    rows = _all_pages(client, headers, p, kind="outside_target", program_id=p["program"])
    assert [(r["household_id"], r["desil_b"], r["program_code"]) for r in rows] == [(p["pkh"], 6, "UJI-PKH-DIFF")]


def test_villages_for_the_map(app, planted):
    """diff_counts_by_village: the moved household counts out of its old village and into the new one."""
    from app.extensions import db
    from app.security.scope import Scope
    from app.services.snapshot_diff import diff_counts_by_village

    p = planted
    with app.app_context():
        rows = diff_counts_by_village(db.session.connection(), p["a"], p["b"], Scope("all"))
        old_village = db.session.execute(text("SELECT village_id FROM household WHERE id = :h"),
                                         {"h": p["moved"]}).scalar()
    by_village = {r["village_id"]: r for r in rows}
    assert by_village[p["new_village"]]["moved_in"] == 1
    assert by_village[old_village]["moved_out"] == 1
    assert sum(r["moved_in"] for r in rows) == sum(r["moved_out"] for r in rows) == 1
    assert sum(r["entered"] for r in rows) == sum(r["left"] for r in rows) == 1
    assert sum(r["desil_up"] for r in rows) == 2 and sum(r["members_added"] for r in rows) == 1


def test_scope(app, planted):
    p = planted
    client = app.test_client()
    # The operator of Lampung Timur sees every planted change; of Lampung Selatan none of it.
    own = token(client, "op1807")
    assert len(_all_pages(client, own, p)) == 6
    villages = _api(client, own, "villages", a=p["a"], b=p["b"]).json["result"]
    assert villages and all(v["code"].startswith(OWN + ".") for v in villages)
    other = token(client, "op1801")
    assert _all_pages(client, other, p) == []
    summary = _api(client, other, "summary", a=p["a"], b=p["b"]).json["result"]
    assert summary["changed"] == 0 and summary["entered"] == summary["left"] == 0
    assert _api(client, other, "programs", a=p["a"], b=p["b"]).json["result"] == []
    assert _api(client, other, "villages", a=p["a"], b=p["b"]).json["result"] == []
    assert _api(client, other, "households", a=p["a"], b=p["b"], regency_id=one(
        app, "SELECT id FROM regency WHERE code = :c", c=OWN)).status_code == 403
    # The OPD officer of the program's agency: the planted households its programs reach in the
    # year (the PKH-like beneficiary, and any the demo enrolled in its programs).
    agency_households = {r[0] for r in sql(app, """
        SELECT e.household_id FROM enrolment e JOIN program pr ON pr.id = e.program_id
          JOIN ab_user u ON u.agency_id = pr.agency_id AND u.username = 'opd_dinsos'
         WHERE e.year = :y AND e.status IN ('usulan', 'ditetapkan', 'disalurkan')""", y=p["year"])}
    planted_ids = {p[n] for n in ("entered", "left", "up", "moved", "member", "pkh")}
    opd = token(client, "opd_dinsos")
    seen = [r["household_id"] for r in _all_pages(client, opd, p)]
    assert p["pkh"] in seen and sorted(seen) == sorted(planted_ids & agency_households)
    assert [r["code"] for r in _api(client, opd, "programs", a=p["a"], b=p["b"]).json["result"]] == ["UJI-PKH-DIFF"]
    # Pimpinan: everything, No KK masked.
    rows = _all_pages(client, token(client, "pimpinan"), p)
    assert len(rows) == 6
    assert all(r["no_kk"] == r["no_kk"][:4] + "********" + r["no_kk"][-4:] for r in rows)
    assert {r["no_kk"][-4:] for r in rows} == {n[-4:] for n in p["no_kk"].values()}
    # The screen of the other operator shows nothing planted.
    page = session_client(app, "op1801").get(f"/snapshotdiff/?a={p['a']}&b={p['b']}")
    assert page.status_code == 200
    assert not any(kk in page.text for kk in p["no_kk"].values())


def test_screen(app, planted):
    p = planted
    client = session_client(app, "bappeda")
    page = client.get("/snapshotdiff/")  # default: the two latest snapshots, A the older
    assert page.status_code == 200
    assert "DTSEN 2098-Q1" in page.text and "DTSEN 2098-Q2" in page.text
    for kk in p["no_kk"].values():
        assert kk in page.text
    assert "Perubahan antar periode data" in page.text and "UJI-PKH-DIFF" in page.text
    assert "None" not in page.text and "True" not in page.text
    page = client.get(f"/snapshotdiff/?a={p['a']}&b={p['b']}&kind=moved")
    assert page.status_code == 200 and p["no_kk"][p["moved"]] in page.text and p["no_kk"][p["up"]] not in page.text
    menu = client.get("/snapshotdiff/").text
    assert "/snapshotdiff/" in menu
    # An operator gets the villages of the regency; an OPD officer and Pimpinan their pages too.
    for username in ("op1807", "opd_dinsos", "pimpinan"):
        page = session_client(app, username).get(f"/snapshotdiff/?a={p['a']}&b={p['b']}")
        assert page.status_code == 200, username
        assert "None" not in page.text and "True" not in page.text, username
        assert ("Perubahan per desa" in page.text) == (username == "op1807"), username


def test_downloads(app, planted):
    p = planted
    client = session_client(app, "bappeda")
    r = client.get(f"/snapshotdiff/download/households.csv?a={p['a']}&b={p['b']}")
    assert r.status_code == 200
    body = r.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][0] == "No KK" and len(rows) == 7
    assert sorted(row[0] for row in rows[1:]) == sorted(p["no_kk"].values())
    up = next(row for row in rows if row[0] == p["no_kk"][p["up"]])
    assert up[8] == "3"  # desil change (B - A)
    r = client.get(f"/snapshotdiff/download/households.xlsx?a={p['a']}&b={p['b']}&kind=members_added")
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 2 and values[1][0] == p["no_kk"][p["member"]] and values[1][9] == 1
    r = client.get(f"/snapshotdiff/download/regencies.xlsx?a={p['a']}&b={p['b']}")
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    assert [row[:3] for row in sheet.iter_rows(min_row=2, values_only=True)] == [(OWN, "Lampung Timur", 1)] or \
        [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [OWN]
    # Pimpinan's download is masked too.
    r = session_client(app, "pimpinan").get(f"/snapshotdiff/download/households.csv?a={p['a']}&b={p['b']}")
    body = r.get_data(as_text=True)
    assert not any(kk in body for kk in p["no_kk"].values())
    # And the API's CSV.
    headers = token(app.test_client(), "bappeda")
    r = app.test_client().get(f"/api/v1/snapshot-diff/households?a={p['a']}&b={p['b']}&format=csv&kind=left",
                              headers=headers)
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row[0] for row in rows[1:]] == [p["no_kk"][p["left"]]]


@pytest.mark.parametrize("args", [
    "a=999999&b={b}", "a={a}&b=999999", "a={a}&b={a}", "a={b}&b={a}", "a={a}&b={b}&kind=nonsense",
    "a=x&b={b}", "a={a}&b={b}&format=pdf", "a={a}&b={b}&program_id=999999",
])
def test_bad_parameters_answer_400_in_indonesian(app, planted, args):
    p = planted
    query = args.format(a=p["a"], b=p["b"])
    client = app.test_client()
    headers = token(client, "bappeda")
    r = client.get(f"/api/v1/snapshot-diff/households?{query}", headers=headers)
    assert r.status_code == 400, (query, r.status_code, r.data[:200])
    message = r.json["message"]
    assert any(word in message for word in ("tidak", "harus", "bukan", "berbeda")), message
    if "format" not in query:
        page = session_client(app, "bappeda").get(f"/snapshotdiff/?{query}")
        assert page.status_code == 400, (query, page.status_code)
        assert any(word in page.text for word in ("tidak", "harus", "bukan", "berbeda"))


def test_a_move_across_the_regency_border_is_a_move_for_both_operators(app, planted):
    """The operator's answer starts from the villages of his regency in A and in B; a household
    that left Lampung Timur for Lampung Selatan must still be joined to its other side (moved),
    not counted as entered or left — for the operator of either regency."""
    p = planted
    client = app.test_client()
    own, other = token(client, "op1807"), token(client, "op1801")
    before = sql(app, "SELECT village_id FROM household_snapshot WHERE snapshot_id = :b AND household_id = :h",
                 b=p["b"], h=p["moved"])[0][0]
    away = one(app, """SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
                        JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.01' ORDER BY v.id LIMIT 1""")
    sql(app, "UPDATE household_snapshot SET village_id = :v WHERE snapshot_id = :b AND household_id = :h",
        v=away, b=p["b"], h=p["moved"])
    try:
        for headers, households in ((own, 6), (other, 1)):  # Lampung Selatan sees only the mover
            summary = _api(client, headers, "summary", a=p["a"], b=p["b"]).json["result"]
            assert summary["moved"] == 1 and summary["changed"] == households, summary
            rows = _all_pages(client, headers, p)
            assert p["moved"] in {r["household_id"] for r in rows}
        rows = {r["household_id"]: r for r in _all_pages(client, other, p)}
        assert rows[p["moved"]]["kind_keys"] == ["moved"]
    finally:
        sql(app, "UPDATE household_snapshot SET village_id = :v WHERE snapshot_id = :b AND household_id = :h",
            v=before, b=p["b"], h=p["moved"])
