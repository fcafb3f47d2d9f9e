"""Duplicates and double aid (app/services/duplicates.py, app/views/duplicates.py).

Planted rows, each with a per-run random part: one NIK in two families, one person under two
NIKs with a typo in the name, one No KK listed in two villages by two sources, a household in
two housing programs of one year under an exclusion rule; and near misses that must NOT pair
(another village, another birth date, a move between two quarters of one source, a program of
another type). The scan finds exactly the planted pairs among the planted rows, each with its
reason; a dismissed pair stays dismissed; a confirmed household pair becomes a removal request
that, verified and approved by the right people, removes the duplicate with its audit trail;
operators see only pairs inside their regency, Pimpinan sees the numbers masked.
"""
from __future__ import annotations

import io
import random
import re
import string

import pytest
from markupsafe import escape
from sqlalchemy import text

from tests.conftest import DEMO_PASSWORD, sql, wait_until

OWN, OTHER = "18.07", "18.01"  # Lampung Timur (op1807, ver1807) and Lampung Selatan (op1801)
RUN = random.randint(10, 99)
TAG = "".join(random.choices("QXZ", k=2)) + "".join(random.choices(string.ascii_lowercase, k=3))  # in names
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
_serial = iter(range(1, 10_000))


def number(regency: str, date: str) -> str:
    n = next(_serial)
    return f"{regency.replace('.', '')}{n // 100 % 100:02d}{date}{RUN}{n % 100:02d}"


def login(client, username: str) -> None:
    client.get("/logout/")
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), f"login {username} failed"
    client.get("/lang/en")


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def household(app, village: int, regency: str = OWN) -> dict:
    kk, nik = number(regency, "170399"), number(regency, "030370")
    pk = sql(app, """INSERT INTO household (no_kk, head_nik, head_name, village_id, desil, member_count, source)
                     VALUES (:kk, :nik, :name, :v, 2, 3, 'BDT') RETURNING id""",
             kk=kk, nik=nik, name=f"Kepala {TAG} {next(_serial)}", v=village)[0][0]
    return {"id": pk, "no_kk": kk, "village": village}


def member(app, hh: dict, name: str, born: str | None, nik: str | None = None) -> dict:
    nik = nik or number(OWN, "120380")
    pk = sql(app, """INSERT INTO household_member (household_id, nik, name, sex, birth_date, relationship_to_head)
                     VALUES (:h, :nik, :name, 'L', CAST(:b AS date), 'lainnya') RETURNING id""",
             h=hh["id"], nik=nik, name=name, b=born)[0][0]
    return {"id": pk, "nik": nik, "household": hh["id"]}


@pytest.fixture(scope="module")
def planted(app):
    def villages(code, n):
        return [r[0] for r in sql(app, """SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
                                          JOIN regency r ON r.id = d.regency_id WHERE r.code = :c
                                          ORDER BY v.code LIMIT :n""", c=code, n=n)]

    v1, v2 = villages(OWN, 2)
    (v_other,) = villages(OTHER, 1)
    p = {"v1": v1, "v2": v2, "v_other": v_other}
    # a) one NIK in two families (the same regency), and across two regencies
    p["nik_a"], p["nik_b"] = household(app, v1), household(app, v1)
    shared = member(app, p["nik_a"], f"Siti {TAG} Aminah", "1975-01-02")["nik"]
    member(app, p["nik_b"], f"Siti {TAG} Aminah", "1975-01-02", nik=shared)
    p["shared_nik"] = shared
    p["cross_a"], p["cross_b"] = household(app, v1), household(app, v_other, OTHER)
    cross = member(app, p["cross_a"], f"Dewi {TAG} Lestari", "1982-05-06")["nik"]
    member(app, p["cross_b"], f"Dewi {TAG} Lestari", "1982-05-06", nik=cross)
    p["cross_nik"] = cross
    # b) one person under two NIKs, a typo in the name; near misses: another village, another date
    p["person_a"], p["person_b"], p["person_far"] = household(app, v1), household(app, v1), household(app, v2)
    p["m_a"] = member(app, p["person_a"], f"Bambang {TAG} Suryanto", "1980-03-12")
    p["m_b"] = member(app, p["person_b"], f"Bambang {TAG} Suryano", "1980-03-12")
    member(app, p["person_far"], f"Bambang {TAG} Suryanto", "1980-03-12")  # another village
    member(app, p["person_b"], f"Bambang {TAG} Suryanto", "1981-03-12")  # another birth date
    # c) one No KK in two villages: BDT 2015 says v1, DTSEN 2025-Q4 says v2; a quarter-to-quarter
    # move inside DTSEN whose latest row agrees with BDT is not a finding.
    bdt = sql(app, "SELECT id FROM targeting_snapshot WHERE source = 'BDT 2015'")
    bdt = bdt[0][0] if bdt else sql(app, """INSERT INTO targeting_snapshot (source, period, period_start, desil_max)
                                           VALUES ('BDT 2015', '2015', '2015-01-01', 4) RETURNING id""")[0][0]

    def dtsen(period, start):
        return sql(app, """INSERT INTO targeting_snapshot (source, period, period_start, desil_max)
                           VALUES ('DTSEN', :p, CAST(:s AS date), 10)
                           ON CONFLICT (source, period) DO UPDATE SET note = targeting_snapshot.note
                           RETURNING id""", p=period, s=start)[0][0]

    q3, q4 = dtsen("2025-Q3", "2025-07-01"), dtsen("2025-Q4", "2025-10-01")

    def listed(snapshot, hh, village, desil_max):
        sql(app, """INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id,
                                                    member_count)
                    VALUES (:s, :h, :m, 2, :v, 3)""", s=snapshot, h=hh["id"], m=desil_max, v=village)

    p["two_villages"], p["moved"] = household(app, v1), household(app, v1)
    listed(bdt, p["two_villages"], v1, 4)
    listed(q4, p["two_villages"], v2, 10)
    listed(bdt, p["moved"], v1, 4)
    listed(q3, p["moved"], v2, 10)
    listed(q4, p["moved"], v1, 10)
    # d) two housing programs (synergy type a) in 2017 under the rule a + a; a + b is allowed
    agency = sql(app, """SELECT a.id FROM agency a JOIN regency r ON r.id = a.regency_id WHERE r.code = :c
                         ORDER BY a.id LIMIT 1""", c=OWN)[0][0]

    def program(code, name, kind):
        return sql(app, """INSERT INTO program (code, name, cluster, synergy_type, agency_id, level, fiscal_year,
                                                budget, realised_budget, target_desil, status)
                           VALUES (:c, :n, 1, :t, :a, 'kabupaten', 2017, 0, 0, 2, 'berjalan') RETURNING id""",
                   c=f"{code}-{TAG}", n=name, t=kind, a=agency)[0][0]

    rtlh, bedah, beasiswa = (program("RTLH", "Rumah Tidak Layak Huni", "a"), program("BDH", "Bedah Rumah", "a"),
                             program("BSW", "Beasiswa", "h"))
    p["double_aid"], p["allowed_mix"] = household(app, v1), household(app, v1)

    def enrol(hh, program_id):
        return sql(app, """INSERT INTO enrolment (household_id, program_id, year, status)
                           VALUES (:h, :p, 2017, 'ditetapkan') RETURNING id""", h=hh["id"], p=program_id)[0][0]

    p["enrolments"] = sorted([enrol(p["double_aid"], rtlh), enrol(p["double_aid"], bedah)])
    enrol(p["allowed_mix"], rtlh)
    enrol(p["allowed_mix"], beasiswa)
    p["rule"] = sql(app, """INSERT INTO program_exclusion_rule (synergy_type_a, synergy_type_b, note)
                            VALUES ('a', 'a', 'dua program perumahan') ON CONFLICT DO NOTHING RETURNING id""")
    p["rule"] = sql(app, "SELECT id FROM program_exclusion_rule WHERE synergy_type_a = 'a' AND synergy_type_b = 'a'")[0][0]
    sql(app, "ANALYZE household_member")
    p["planted_ids"] = {p[k]["id"] for k in ("nik_a", "nik_b", "cross_a", "cross_b", "person_a", "person_b",
                                             "person_far", "two_villages", "moved", "double_aid", "allowed_mix")}
    scan(app)
    return p


def scan(app):
    from app.extensions import db
    from app.services import duplicates

    with app.app_context():
        result = duplicates.scan(db.session)
        db.session.commit()
    return result


def found(app, planted) -> set[tuple]:
    """(kind, household_a, household_b, reason_key) of the open pairs touching a planted household."""
    rows = sql(app, """SELECT kind, household_a, household_b, reason_key FROM duplicate_candidate
                        WHERE household_a = ANY(:ids) OR household_b = ANY(:ids)""", ids=list(planted["planted_ids"]))
    return {tuple(r) for r in rows}


def candidate_id(app, kind, household_a) -> int:
    rows = sql(app, "SELECT id FROM duplicate_candidate WHERE kind = :k AND household_a = :h", k=kind, h=household_a)
    assert len(rows) == 1, rows
    return rows[0][0]


def test_each_planted_duplicate_is_found_with_its_reason_and_nothing_else(app, planted):
    p = planted
    assert found(app, p) == {
        ("nik_ganda", p["nik_a"]["id"], p["nik_b"]["id"], p["shared_nik"]),
        ("nik_ganda", p["cross_a"]["id"], p["cross_b"]["id"], p["cross_nik"]),
        ("orang_sama", p["person_a"]["id"], p["person_b"]["id"], ""),
        ("kk_dua_desa", p["two_villages"]["id"], p["two_villages"]["id"], "|".join(map(str, sorted([p["v1"], p["v2"]])))),
        ("bantuan_ganda", p["double_aid"]["id"], p["double_aid"]["id"], str(p["rule"])),
    }
    # the pair's ids, score and the words behind the reason
    ids, score, detail = sql(app, "SELECT ARRAY[id_a, id_b], score, detail FROM duplicate_candidate "
                                  "WHERE kind = 'orang_sama' AND household_a = :h", h=p["person_a"]["id"])[0]
    assert ids == [p["m_a"]["id"], p["m_b"]["id"]] and 0.6 <= float(score) < 1
    assert detail["name_b"] == f"Bambang {TAG} Suryano" and detail["birth_date"] == "1980-03-12"
    ids, detail = sql(app, "SELECT ARRAY[id_a, id_b], detail FROM duplicate_candidate WHERE kind = 'bantuan_ganda' "
                           "AND household_a = :h", h=p["double_aid"]["id"])[0]
    assert ids == p["enrolments"] and detail["year"] == 2017
    assert {detail["program_a"], detail["program_b"]} == {f"RTLH-{TAG} Rumah Tidak Layak Huni",
                                                         f"BDH-{TAG} Bedah Rumah"}
    regency = sql(app, "SELECT regency_id FROM duplicate_candidate WHERE kind = 'nik_ganda' AND household_a = :h",
                  h=p["cross_a"]["id"])[0][0]
    assert regency is None  # two regencies: province-wide roles only


def test_the_name_rule_uses_the_trigram_index_for_a_name_look_up(app, planted):
    """The GIN trigram index answers "who is named like this" (EXPLAIN)."""
    plan = "\n".join(r[0] for r in sql(app, "EXPLAIN SELECT id FROM household_member WHERE name % :n",
                                       n=f"Bambang {TAG} Suryanto"))
    assert "ix_household_member_name_trgm" in plan, plan
    from app.extensions import appbuilder, db
    from app.security.scope import scope_for
    from app.services.duplicates import similar_names

    with app.app_context():
        names = {r[2] for r in similar_names(db.session, f"Bambang {TAG} Suryanto",
                                             scope_for(appbuilder.sm.find_user(username="op1807")))}
        db.session.rollback()
    assert {f"Bambang {TAG} Suryanto", f"Bambang {TAG} Suryano"} <= names


def test_the_queue_shows_reasons_both_sides_and_filters(app, client, planted):
    login(client, "op1807")
    body = client.get(f"/duplicates/?kind=orang_sama&village={planted['v1']}").get_data(as_text=True)
    assert "One person under two NIKs" in body and f"Bambang {TAG} Suryano" in body
    assert planted["person_a"]["no_kk"] in body and planted["person_b"]["no_kk"] in body  # both sides, unmasked
    assert "Siti" not in body  # the kind filter
    body = client.get(f"/duplicates/?village={planted['v2']}").get_data(as_text=True)
    assert f"Bambang {TAG}" not in body and "two villages" in body  # the village filter (either side)
    v1_name, v2_name = (sql(app, "SELECT name FROM village WHERE id = :i", i=v)[0][0]
                        for v in (planted["v1"], planted["v2"]))
    assert f"BDT 2015: {escape(v1_name)}" in body and f"DTSEN 2025-Q4: {escape(v2_name)}" in body  # the reason names both
    for bad in ("kind=zzz", "village=abc", "page=-1", "village=99999999999"):
        r = client.get(f"/duplicates/?{bad}")
        assert r.status_code == 400, (bad, r.status_code)
        assert "Traceback" not in r.get_data(as_text=True)


def test_a_dismissed_pair_stays_dismissed_after_a_rescan(app, client, planted):
    login(client, "op1807")
    pk = candidate_id(app, "bantuan_ganda", planted["double_aid"]["id"])
    r = client.post(f"/duplicates/dismiss/{pk}", data={"note": "program berbeda tahap"}, follow_redirects=True)
    assert "will not be shown again" in r.get_data(as_text=True)
    scan(app)
    assert not [f for f in found(app, planted) if f[0] == "bantuan_ganda"]
    review = sql(app, "SELECT decision, decided_by, note, ARRAY[id_a, id_b] FROM duplicate_review "
                      "WHERE kind = 'bantuan_ganda' AND id_a = :a", a=planted["enrolments"][0])
    assert review == [("dismissed", "op1807", "program berbeda tahap", planted["enrolments"])]
    # the other planted pairs are still open
    assert len(found(app, planted)) == 4


def test_confirm_opens_a_removal_request_that_removes_the_duplicate_when_approved(app, client, planted):
    p = planted
    login(client, "op1807")
    pk = candidate_id(app, "orang_sama", p["person_a"]["id"])
    r = client.post(f"/duplicates/confirm/{pk}", data={"keep": "a"})
    assert r.status_code == 302 and "/updaterequestview/show/" in r.headers["Location"], r.get_data(as_text=True)[:500]
    request_id = int(re.search(r"/show/(\d+)", r.headers["Location"]).group(1))
    kind, state, hh, reason, note = sql(app, "SELECT kind, state, household_id, removal_reason, note "
                                             "FROM update_request WHERE id = :i", i=request_id)[0]
    assert (kind, state, hh, reason) == ("hapus", "draft", p["person_b"]["id"], "ganda")
    assert p["person_a"]["no_kk"] in note  # names the household kept
    assert sql(app, "SELECT decision, update_request_id FROM duplicate_review WHERE kind = 'orang_sama' "
                    "AND id_a = :a", a=p["m_a"]["id"]) == [("confirmed", request_id)]
    # the ordinary workflow: evidence, submit (op), verify (the second officer), approve (Bappeda)
    r = client.post(f"/updaterequestview/evidence/{request_id}", data={"file": (io.BytesIO(PDF), "berita.pdf")},
                    content_type="multipart/form-data", follow_redirects=True)
    client.post(f"/updaterequestview/transition/{request_id}", data={"to_state": "diajukan"})
    login(client, "ver1807")
    client.post(f"/updaterequestview/transition/{request_id}", data={"to_state": "diverifikasi", "note": "cek"})
    mark = sql(app, "SELECT coalesce(max(id), 0) FROM audit_log")[0][0]
    login(client, "bappeda")
    client.post(f"/updaterequestview/transition/{request_id}", data={"to_state": "disetujui", "note": "ganda"})
    assert sql(app, "SELECT state FROM update_request WHERE id = :i", i=request_id)[0][0] == "disetujui"
    assert sql(app, "SELECT id FROM household WHERE id = :i", i=p["person_b"]["id"]) == []
    assert sql(app, "SELECT id FROM household WHERE id = :i", i=p["person_a"]["id"]) != []
    trail = sql(app, "SELECT action, entity, entity_id, username FROM audit_log WHERE id > :m ORDER BY id", m=mark)
    assert ("delete", "household", p["person_b"]["id"], "bappeda") in trail
    assert ("approve", "update_request", request_id, "bappeda") in trail
    steps = sql(app, "SELECT to_state, username FROM update_request_step WHERE request_id = :i ORDER BY id",
                i=request_id)
    assert steps == [("draft", "op1807"), ("diajukan", "op1807"), ("diverifikasi", "ver1807"),
                     ("disetujui", "bappeda")]
    p["planted_ids"].discard(p["person_b"]["id"])


def test_operators_see_and_decide_only_pairs_inside_their_regency(app, client, planted):
    p = planted
    cross = candidate_id(app, "nik_ganda", p["cross_a"]["id"])
    inside = candidate_id(app, "nik_ganda", p["nik_a"]["id"])
    login(client, "op1807")
    body = client.get("/duplicates/?kind=nik_ganda").get_data(as_text=True)
    assert f'data-id="{inside}"' in body and f'data-id="{cross}"' not in body
    client.post(f"/duplicates/dismiss/{cross}", data={})
    assert sql(app, "SELECT count(*) FROM duplicate_candidate WHERE id = :i", i=cross)[0][0] == 1  # refused
    login(client, "op1801")
    body = client.get("/duplicates/?kind=nik_ganda").get_data(as_text=True)
    assert f'data-id="{inside}"' not in body and f'data-id="{cross}"' not in body
    login(client, "bappeda")
    body = client.get("/duplicates/?kind=nik_ganda").get_data(as_text=True)
    assert f'data-id="{inside}"' in body and f'data-id="{cross}"' in body and p["shared_nik"] in body
    login(client, "pimpinan")
    body = client.get("/duplicates/?kind=nik_ganda").get_data(as_text=True)
    assert f'data-id="{inside}"' in body and p["shared_nik"] not in body and p["nik_a"]["no_kk"] not in body
    assert p["shared_nik"][:4] + "********" + p["shared_nik"][-4:] in body
    assert client.post(f"/duplicates/dismiss/{inside}", data={}).status_code == 403  # read-only
    assert client.post("/duplicates/scan").status_code == 403
    login(client, "opd_dinsos")
    assert client.get("/duplicates/").status_code == 403


def test_counts_by_village_follow_the_scope(app, planted):
    from app.extensions import appbuilder, db
    from app.security.scope import scope_for
    from app.services.duplicates import duplicate_counts_by_village

    with app.app_context():
        province = duplicate_counts_by_village(db.session, scope_for(appbuilder.sm.find_user(username="bappeda")))
        regency = duplicate_counts_by_village(db.session, scope_for(appbuilder.sm.find_user(username="op1807")))
        own_villages = {r[0] for r in db.session.execute(text(
            "SELECT v.id FROM village v JOIN district d ON d.id = v.district_id JOIN regency r "
            "ON r.id = d.regency_id WHERE r.code = :c"), {"c": OWN})}
    assert province[planted["v_other"]] >= 1 and planted["v_other"] not in regency
    assert set(regency) <= own_villages and regency[planted["v1"]] >= 1
    assert regency[planted["v2"]] >= 1  # the pair spanning v1 and v2 counts in both


def test_exclusion_rules_screen_is_for_admin_and_bappeda(app, client, planted):
    login(client, "bappeda")
    r = client.get("/programexclusionruleview/list/")
    assert r.status_code == 200 and "dua program perumahan" in r.get_data(as_text=True).lower()
    r = client.post("/programexclusionruleview/add", data={"synergy_type_a": "h", "synergy_type_b": "c",
                                                           "note": "uji"})
    assert r.status_code == 302, r.get_data(as_text=True)[:1000]
    assert sql(app, "SELECT synergy_type_a, synergy_type_b FROM program_exclusion_rule WHERE note = 'uji'") == \
        [("c", "h")]  # stored ordered
    sql(app, "DELETE FROM program_exclusion_rule WHERE note = 'uji'")
    for user in ("op1807", "pimpinan"):
        login(client, user)
        assert client.get("/programexclusionruleview/list/").status_code == 403


def test_the_cli_scans(app, planted):
    from tests.conftest import flask_cli

    out = flask_cli("duplicates", "scan", check=True).stdout
    assert "nik_ganda" in out and "jumlah" in out
    assert sql(app, "SELECT status, requested_by FROM duplicate_scan ORDER BY id DESC LIMIT 1") == \
        [("done", "flask duplicates scan")]


def number_text_id(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def test_the_scan_button_queues_one_scan_that_the_worker_runs(app, client, planted, jobs_worker):
    """The button only queues (a scan of 1 M households takes tens of seconds); a second click
    while it waits or runs gives the same scan; the worker records the outcome with the pairs."""
    login(client, "bappeda")
    before = sql(app, "SELECT coalesce(max(id), 0) FROM duplicate_scan")[0][0]
    pairs = found(app, planted)
    assert pairs  # the planted pairs still open (decided ones left out): the worker's scan brings them back
    sql(app, "DELETE FROM duplicate_candidate WHERE household_a = ANY(:ids) OR household_b = ANY(:ids)",
        ids=list(planted["planted_ids"]))
    for _ in range(2):
        r = client.post("/duplicates/scan")
        assert r.status_code == 302 and r.headers["Location"].endswith("/duplicates/")
    scans = sql(app, "SELECT id, requested_by FROM duplicate_scan WHERE id > :b", b=before)
    assert len(scans) == 1 and scans[0][1] == "bappeda"
    scan_id = scans[0][0]
    status, found_, finished = wait_until(lambda: (lambda r: r if r[0] in ("done", "failed") else None)(
        sql(app, "SELECT status, found, finished_at FROM duplicate_scan WHERE id = :i", i=scan_id)[0]), 120,
        "the scan to finish")
    assert status == "done", found_
    assert sum(found_.values()) == sql(app, "SELECT count(*) FROM duplicate_candidate")[0][0]
    assert set(found_) == {"nik_ganda", "orang_sama", "kk_dua_desa", "bantuan_ganda"}
    assert found(app, planted) == pairs
    page = client.get("/duplicates/").get_data(as_text=True)
    state = page[page.index('id="duplicates-scan-state"'):page.index("</p>", page.index('id="duplicates-scan-state"'))]
    assert "bappeda" in state and "duplicates-scan-pending" not in state
    assert number_text_id(sum(found_.values())) in state


def test_a_scan_whose_worker_died_is_shown_failed(app, client, planted):
    """'running' with nobody holding its lock: the worker is gone; the page says so."""
    login(client, "bappeda")
    scan_id = sql(app, "INSERT INTO duplicate_scan (status, started_at, requested_by) "
                       "VALUES ('running', now(), 'bappeda') RETURNING id")[0][0]
    try:
        page = client.get("/duplicates/").get_data(as_text=True)
        assert sql(app, "SELECT status FROM duplicate_scan WHERE id = :i", i=scan_id) == [("failed",)]
        assert "duplicates-scan-pending" not in page and "terhenti" in page
    finally:
        sql(app, "DELETE FROM duplicate_scan WHERE id = :i", i=scan_id)
