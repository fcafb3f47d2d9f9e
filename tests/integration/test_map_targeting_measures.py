"""The village map's targeting measures (gis/targeting.py): "Keluar dari desil 1–4", "Masuk data",
"Keluar data" between the two latest snapshots, and the open duplicate pairs, per village.

The figures served by /gis/geojson/villages/targeting (what colours the map when one of them is
chosen) are checked against SQL
written here from the tables, not against the code under test: for Bappeda (the province), the
operator of Lampung Timur (only its villages) and an OPD officer (the households its agency's
programs reach, no duplicates). A dismissed pair leaves the count at once; a snapshot row
added or removed, or corrected by a re-load, is never answered from the cache.
"""
from __future__ import annotations

import json

import pytest

from tests.conftest import DEMO_PASSWORD, sql
from tests.integration.test_geo_endpoints import bearer

OWN = "18.07"  # Lampung Timur, op1807's regency
FIELDS = ("desil_exit", "entered", "left")
COUNTED = ("usulan", "ditetapkan", "disalurkan")

# The diff of the two latest snapshots (A the older), per village: B's village, A's for one that left.
DIFF_SQL = """
WITH p AS (SELECT id, row_number() OVER (ORDER BY period_start DESC, id DESC) AS n FROM targeting_snapshot),
a AS (SELECT * FROM household_snapshot WHERE snapshot_id = (SELECT id FROM p WHERE n = 2)),
b AS (SELECT * FROM household_snapshot WHERE snapshot_id = (SELECT id FROM p WHERE n = 1)),
d AS (SELECT coalesce(b.village_id, a.village_id) AS village_id, a.village_id AS village_a,
             b.village_id AS village_b, coalesce(a.household_id, b.household_id) AS household_id,
             a.desil BETWEEN 1 AND 4 AND b.desil >= 5 AS desil_exit,
             a.household_id IS NULL AS entered, b.household_id IS NULL AS left_
        FROM a FULL JOIN b ON a.household_id = b.household_id)
SELECT v.code, count(*) FILTER (WHERE desil_exit), count(*) FILTER (WHERE entered), count(*) FILTER (WHERE left_)
  FROM d JOIN village v ON v.id = d.village_id JOIN district di ON di.id = v.district_id
  JOIN regency r ON r.id = di.regency_id
 WHERE (desil_exit OR entered OR left_) AND {where}
 GROUP BY v.code"""

DUPLICATE_SQL = """
WITH c AS (SELECT * FROM duplicate_candidate WHERE {where}),
s AS (SELECT village_id AS v FROM c UNION ALL SELECT other_village_id FROM c WHERE other_village_id <> village_id)
SELECT v.code, count(*) FROM s JOIN village v ON v.id = s.v GROUP BY v.code"""


def expected_diff(app, where: str = "true", **params) -> dict[str, tuple]:
    return {r[0]: tuple(r[1:]) for r in sql(app, DIFF_SQL.format(where=where), **params)}


def expected_duplicates(app, where: str = "true", **params) -> dict[str, int]:
    return dict(sql(app, DUPLICATE_SQL.format(where=where), **params))


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def tokens(app):
    return {u: bearer(app, u) for u in ("bappeda", "op1807", "opd_dinsos")}


@pytest.fixture(scope="module")
def own_regency_id(app):
    return sql(app, "SELECT id FROM regency WHERE code = :c", c=OWN)[0][0]


@pytest.fixture(scope="module")
def year(app):
    return sql(app, "SELECT max(year) FROM enrolment")[0][0]


_codes: dict[int, str] = {}


def villages(client, headers, **params) -> tuple[dict, dict]:
    """(the answer, village code -> {field: figure}) of the map's targeting endpoint."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    r = client.get(f"/gis/geojson/villages/targeting?{query}", headers=headers)
    assert r.status_code == 200, r.data[:300]
    assert "private" in r.headers["Cache-Control"]
    body = json.loads(r.data)
    return body, {_codes[int(v)]: dict(zip(body["fields"], values)) for v, values in body["villages"].items()}


@pytest.fixture(scope="module", autouse=True)
def codes(app):
    _codes.update(dict(sql(app, "SELECT id, code FROM village")))


def served(props: dict, fields=FIELDS) -> dict[str, tuple]:
    """code -> the figures, for the villages with one not 0 (as the SQL lists them)."""
    return {code: tuple(p.get(f, 0) for f in fields) for code, p in props.items()
            if any(p.get(f, 0) for f in fields)}


def fig(props: dict, code: str, field: str) -> int:
    return props.get(code, {}).get(field, 0)


def duplicates(props: dict) -> dict[str, int]:
    return {code: p["duplicates"] for code, p in props.items() if p.get("duplicates")}


# --- the figures equal the SQL ------------------------------------------------------------------

def test_bappeda_gets_the_province_figures(app, client, tokens):
    body, props = villages(client, tokens["bappeda"])
    assert body["fields"] == list(FIELDS) + ["duplicates"]
    expected = expected_diff(app)
    assert expected and sum(e[0] for e in expected.values()) > 0  # the demo has households leaving desil 1-4
    assert served(props) == expected
    assert duplicates(props) == expected_duplicates(app)
    # the pair compared is the diff page's default: the two latest snapshots
    latest = sql(app, "SELECT id FROM targeting_snapshot ORDER BY period_start DESC, id DESC LIMIT 2")
    assert (body["snapshots"]["b"]["id"], body["snapshots"]["a"]["id"]) == (latest[0][0], latest[1][0])
    assert body["snapshots"]["b"]["label"].startswith("DTSEN")
    # one regency chosen on the map: its villages only
    _, own = villages(client, tokens["bappeda"], regency=OWN)
    assert own and {c[:5] for c in own} == {OWN} and served(own) == expected_diff(app, "r.code = :own", own=OWN)


def test_op1807_gets_only_lampung_timur(app, client, tokens, own_regency_id):
    body, props = villages(client, tokens["op1807"])
    figures = served(props, FIELDS + ("duplicates",))
    assert figures and {code[:5] for code in figures} == {OWN}  # no village outside Lampung Timur
    assert served(props) == expected_diff(app, "r.code = :own", own=OWN)
    assert duplicates(props) == expected_duplicates(app, "regency_id = :r", r=own_regency_id)
    # a regency chosen by the map: the same figures, that regency's villages only
    _, own = villages(client, tokens["op1807"], regency=OWN)
    assert served(own) == served(props)
    assert client.get("/gis/geojson/villages/targeting?regency=18.0x", headers=tokens["op1807"]).status_code == 400


def test_opd_follows_the_diff_page_and_gets_no_duplicates(app, client, tokens, year):
    """An OPD's diff reads the households with a counted enrolment of the year in its agency's
    programs (as the diff page); the duplicates queue is not theirs."""
    body, props = villages(client, tokens["opd_dinsos"], year=year)
    assert body["fields"] == list(FIELDS)
    agency = sql(app, "SELECT agency_id FROM ab_user WHERE username = 'opd_dinsos'")[0][0]
    where = f"""d.household_id IN (SELECT e.household_id FROM enrolment e JOIN program pr ON pr.id = e.program_id
                                   WHERE e.year = :y AND e.status IN {COUNTED} AND pr.agency_id = :ag)"""
    expected = expected_diff(app, where, y=year, ag=agency)
    assert served(props) == expected
    assert sum(sum(v) for v in expected.values()) < sum(sum(v) for v in expected_diff(app).values())


def test_anonymous_gets_nothing(app):
    assert app.test_client().get("/gis/geojson/villages/targeting").status_code == 401


# --- the figures follow the data ----------------------------------------------------------------

def test_a_dismissed_pair_leaves_the_count(app, client, tokens, own_regency_id):
    row = sql(app, """SELECT * FROM duplicate_candidate WHERE regency_id = :r AND village_id <> other_village_id
                      ORDER BY id LIMIT 1""", r=own_regency_id)
    row = row or sql(app, "SELECT * FROM duplicate_candidate WHERE regency_id = :r ORDER BY id LIMIT 1",
                     r=own_regency_id)
    assert row, "the demo has duplicate pairs in Lampung Timur"
    candidate = dict(row[0]._mapping)
    codes = {r[0] for r in sql(app, "SELECT code FROM village WHERE id IN (:a, :b)",
                               a=candidate["village_id"], b=candidate["other_village_id"])}
    _, before = villages(client, tokens["op1807"])
    operator = app.test_client()
    assert operator.post("/login/", data={"username": "op1807", "password": DEMO_PASSWORD}).status_code == 302
    try:
        r = operator.post(f"/duplicates/dismiss/{candidate['id']}", data={"note": "uji peta"})
        assert r.status_code == 302
        for headers in (tokens["op1807"], tokens["bappeda"]):
            _, after = villages(client, headers)
            for code in codes:
                assert after.get(code, {}).get("duplicates", 0) == before[code]["duplicates"] - 1, code
        assert duplicates(after) == expected_duplicates(app)
    finally:  # the pair back in the queue, undecided (the audit row of the decision stays: append-only)
        sql(app, "DELETE FROM duplicate_review WHERE kind = :k AND id_a = :a AND id_b = :b AND reason_key = :rk",
            k=candidate["kind"], a=candidate["id_a"], b=candidate["id_b"], rk=candidate["reason_key"])
        columns = [c for c in candidate if c != "detail"]
        sql(app, f"""INSERT INTO duplicate_candidate ({", ".join(columns)}, detail)
                     VALUES ({", ".join(":" + c for c in columns)}, CAST(:detail AS jsonb))""",
            **{c: candidate[c] for c in columns}, detail=json.dumps(candidate["detail"]))
    _, restored = villages(client, tokens["op1807"])
    assert duplicates(restored) == duplicates(before)


def latest_pair(app) -> tuple[int, int]:
    rows = sql(app, "SELECT id FROM targeting_snapshot ORDER BY period_start DESC, id DESC LIMIT 2")
    return rows[1][0], rows[0][0]


def reload(app, snapshot: int, statement: str, **params) -> None:
    """Rows of an existing snapshot written as the import's re-load of a period writes them
    (app/services/household_import/write.py write_snapshot_rows): with loaded_at set anew."""
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        db.session.execute(text(statement), {"s": snapshot, **params})
        db.session.execute(text("UPDATE targeting_snapshot SET loaded_at = clock_timestamp() WHERE id = :s"),
                           {"s": snapshot})
        db.session.commit()


def test_a_changed_snapshot_is_never_served_from_the_cache(app, client, tokens, own_regency_id):
    """The province's counts are cached per pair: a new household listed by B (it entered), the
    rows of A and B corrected the way a re-load of their period writes them, and the household
    removed from the register (its snapshot rows go with it) each show at the next request."""
    a, b = latest_pair(app)
    village, village_code = sql(app, """SELECT v.id, v.code FROM village v JOIN district d ON d.id = v.district_id
                                         WHERE d.regency_id = :r ORDER BY v.code LIMIT 1""", r=own_regency_id)[0]
    _, before = villages(client, tokens["bappeda"])  # fills the cache
    household = sql(app, """INSERT INTO household (no_kk, head_nik, head_name, village_id, desil, member_count, source,
                                                   snapshot_id)
                            VALUES ('1807019999123401', '1807010101900001', 'Kepala Uji Peta', :v, 2, 1, 'DTSEN', :b)
                            RETURNING id""", v=village, b=b)[0][0]
    try:
        sql(app, """INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id, member_count)
                    VALUES (:b, :h, 10, 2, :v, 1)""", b=b, h=household, v=village)
        _, entered = villages(client, tokens["bappeda"])
        assert fig(entered, village_code, "entered") == fig(before, village_code, "entered") + 1
        # a re-load of A lists it too, in desil 2: it no longer entered
        reload(app, a, """INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id,
                                                          member_count)
                          VALUES (:s, :h, 10, 2, :v, 1)""", h=household, v=village)
        _, listed = villages(client, tokens["bappeda"])
        assert fig(listed, village_code, "entered") == fig(before, village_code, "entered")
        # a re-load of B corrects it to desil 6: it left desil 1-4
        reload(app, b, "UPDATE household_snapshot SET desil = 6 WHERE snapshot_id = :s AND household_id = :h",
               h=household)
        _, exited = villages(client, tokens["bappeda"])
        assert fig(exited, village_code, "desil_exit") == fig(before, village_code, "desil_exit") + 1
        _, own = villages(client, tokens["op1807"])
        assert fig(own, village_code, "desil_exit") == fig(before, village_code, "desil_exit") + 1
    finally:
        sql(app, "DELETE FROM household WHERE id = :h", h=household)  # cascades to its snapshot rows
    _, after = villages(client, tokens["bappeda"])
    assert served(after) == served(before) == expected_diff(app)


# --- the map page -------------------------------------------------------------------------------

def frame_config(app, username: str, **params) -> dict:
    client = app.test_client()
    assert client.post("/login/", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
    query = "&".join(f"{k}={v}" for k, v in params.items())
    html = client.get(f"/maps/villages/frame?{query}").get_data(as_text=True)
    start = html.index("SinergiMaps.villageMap(")
    text = html[html.index("{", start):]
    return json.JSONDecoder().raw_decode(text)[0]


@pytest.mark.parametrize("username, offered", [
    ("bappeda", {"desil_exit", "entered", "left", "duplicates"}),
    ("op1807", {"desil_exit", "entered", "left", "duplicates"}),
    ("opd_dinsos", {"desil_exit", "entered", "left"}),  # no duplicates queue for an OPD
])
def test_the_measure_drop_down_offers_what_the_user_may_open(app, username, offered):
    config = frame_config(app, username, measure="desil_exit")
    values = {m["value"] for m in config["measures"]}
    assert {"desil1", "coverage", "gaps"} <= values
    assert values & {"desil_exit", "entered", "left", "duplicates"} == offered
    assert config["measure"] == "desil_exit"
    assert config["labels"]["m_desil_exit"] and config["labels"]["m_duplicates"]
    if "duplicates" not in offered:
        assert frame_config(app, username, measure="duplicates")["measure"] == "desil1"
