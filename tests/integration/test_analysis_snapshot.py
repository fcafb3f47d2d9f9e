"""The analysis reads a chosen targeting snapshot ("Sumber data"): households, desil and village
as BDT 2015 or a DTSEN quarter lists them, the same figures on the API, the screen and its
downloads, computed here independently from plain SQL; an unknown snapshot is a 400."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import DEMO_PASSWORD, session_client

YEAR = 2017
COUNTED = ["usulan", "ditetapkan", "disalurkan"]


@pytest.fixture(scope="module")
def engine(app):
    from app.extensions import db

    with app.app_context():
        return db.engine


@pytest.fixture(scope="module")
def tokens(app):
    client = app.test_client()
    out = {}
    for user in ("bappeda", "op1807"):
        r = client.post("/api/v1/security/login", json={"username": user, "password": DEMO_PASSWORD,
                                                        "provider": "db"})
        out[user] = {"Authorization": f"Bearer {r.json['access_token']}"}
    return client, out


def expected(engine, snapshot_id):
    """Per village of Lampung Timur: (households, 0, 1, 2, 3+ programs) as the snapshot lists
    them (None: each household's latest, the household row)."""
    source = ("SELECT h.id, h.village_id, h.desil FROM household h" if snapshot_id is None else
              "SELECT s.household_id AS id, s.village_id, s.desil FROM household_snapshot s "
              "JOIN household h ON h.id = s.household_id WHERE s.snapshot_id = :s")
    with engine.connect() as conn:
        rows = conn.execute(text(f"""
            WITH hs AS ({source}), n AS (
                SELECT hs.id, hs.village_id,
                       (SELECT count(DISTINCT e.program_id) FROM enrolment e
                         WHERE e.household_id = hs.id AND e.year = :y AND e.status = ANY(:st)) AS n
                  FROM hs JOIN household h ON h.id = hs.id
                  JOIN village hv ON hv.id = h.village_id JOIN district hd ON hd.id = hv.district_id
                  JOIN village v ON v.id = hs.village_id JOIN district d ON d.id = v.district_id
                  JOIN regency r ON r.id = d.regency_id JOIN regency hr ON hr.id = hd.regency_id
                 WHERE r.code = '18.07' AND hr.code = '18.07')
            SELECT village_id, count(*), count(*) FILTER (WHERE n = 0), count(*) FILTER (WHERE n = 1),
                   count(*) FILTER (WHERE n = 2), count(*) FILTER (WHERE n >= 3)
              FROM n GROUP BY village_id"""), {"s": snapshot_id, "y": YEAR, "st": COUNTED}).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_the_overlap_per_village_follows_the_chosen_snapshot(engine, tokens):
    client, headers = tokens
    with engine.connect() as conn:
        snapshots = dict(conn.execute(text("SELECT period, id FROM targeting_snapshot")).all())
        regency = conn.execute(text("SELECT id FROM regency WHERE code = '18.07'")).scalar_one()
    answers = {}
    for snapshot_id in (None, snapshots["2015"], snapshots["2025-Q3"], snapshots["2025-Q4"]):
        want = expected(engine, snapshot_id)
        answers[snapshot_id] = want
        for user in ("bappeda", "op1807"):
            url = f"/api/v1/analysis/overlap/villages?year={YEAR}&regency_id={regency}&page_size=1000"
            if snapshot_id is not None:
                url += f"&snapshot={snapshot_id}"
            r = client.get(url, headers=headers[user])
            assert r.status_code == 200, r.data[:300]
            got = {row["village_id"]: (row["households"], row["programs_0"], row["programs_1"], row["programs_2"],
                                       row["programs_3plus"]) for row in r.json["result"]}
            assert got == want, (user, snapshot_id)
    assert answers[snapshots["2015"]] != answers[snapshots["2025-Q4"]]  # the choice changes the figures


def test_the_screen_offers_the_snapshots_and_keeps_the_choice_in_its_downloads(app, engine):
    client = session_client(app, "op1807")
    with engine.connect() as conn:
        q4 = conn.execute(text("SELECT id FROM targeting_snapshot WHERE period = '2025-Q4'")).scalar_one()
    page = client.get(f"/analysis/overlap/?year={YEAR}&snapshot={q4}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<option value="{q4}" selected>DTSEN 2025-Q4</option>' in html
    assert f"snapshot={q4}" in html.split('id="analysis-filters"', 1)[1]  # links and downloads carry it
    # The next request of the same client reads the latest again.
    assert "selected>DTSEN" not in client.get(f"/analysis/overlap/?year={YEAR}").get_data(as_text=True)


@pytest.mark.parametrize("value", ["999999", "abc", "-1"])
def test_an_unknown_snapshot_is_a_400(tokens, value):
    client, headers = tokens
    r = client.get(f"/api/v1/analysis/overlap/villages?year={YEAR}&snapshot={value}", headers=headers["bappeda"])
    assert r.status_code == 400
    assert "snapshot" in r.json["message"]
