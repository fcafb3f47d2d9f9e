"""Every household count of the overlap, gaps and zones pages and of the dashboard links to the
household list of exactly the households it counts: following the link, the list's record
count and its CSV export both equal the number shown (issue 11).

Covered here (the per-village tables: tests/integration/test_targeting_filters.py): the overlap
per regency (households, reached, 2+ programs, the total row), the program × program matrix,
the gaps per priority zone, the households per zone, the dashboard's cards and desil table —
for bappeda (province), op1807 (Lampung Timur) and an OPD officer (the dashboard and the
regency table: only its own programs count). Then the new filters alone: the regency and the
zone filters equal plain SQL, an operator cannot read another regency or another regency's
zone through them, and with a chosen snapshot the counts carry no list links (they read the
snapshot's village and point, which the list does not).
"""
from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from tests.integration.test_targeting_filters import RECORD_COUNT, listed, login

YEAR = 2017
USERS = ("bappeda", "op1807")
LIST_LINK = re.compile(r'<a href="(/householdview/list/(?:\?[^"]*)?)"[^>]*>([\d.]+)</a>')


def rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


@pytest.fixture(scope="module")
def engine(app):
    from app.extensions import db

    with app.app_context():
        return db.engine


@pytest.fixture(scope="module")
def clients(app):
    return {u: login(app, u) for u in ("bappeda", "op1807", "opd_dinkop_lamtim")}


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    end = html.find('class="panel panel-default', start + 10)
    return html[start:end if end > 0 else len(html)]


def links_in(html: str) -> list[tuple[str, int]]:
    return [(unescape(url), int(number.replace(".", ""))) for url, number in LIST_LINK.findall(html)]


def some(links, n=3):
    """The largest and the smallest ``n`` counts (each link once)."""
    ordered = sorted(set(links), key=lambda link: link[1])
    return sorted(set(ordered[:n] + ordered[-n:]), key=lambda link: link[1])


def list_and_export(client, url) -> tuple[int, int]:
    """(record count of the list page, rows of its CSV export): the export follows the filters.
    Rows, not distinct No KK: an OPD officer's numbers are masked and repeat."""
    page = client.get(url)
    assert page.status_code == 200, url
    match = RECORD_COUNT.search(page.get_data(as_text=True))
    count = int(re.sub(r"[.,]", "", match.group(1))) if match else 0
    query = urlsplit(url).query
    export = client.get("/householdview/export/?format=csv" + ("&" + query if query else ""))
    assert export.status_code == 200, url
    return count, len(list(csv.DictReader(io.StringIO(export.get_data().decode("utf-8-sig"), newline=""))))


def assert_opens_its_count(client, links):
    assert links, "no linked counts"
    for url, number in links:
        count, exported = list_and_export(client, url)
        assert count == number == exported, (url, number, count, exported)


# --- the analysis pages --------------------------------------------------------------------------

@pytest.mark.parametrize("username", USERS + ("opd_dinkop_lamtim",))
def test_overlap_per_regency_counts_and_total(clients, username):
    client = clients[username]
    html = client.get(f"/analysis/overlap/?year={YEAR}").get_data(as_text=True)
    table = section(html, "table-overlap-regencies")
    body, foot = table.split("<tfoot>") if "<tfoot>" in table else (table, "")
    row_links = links_in(body)
    # households, reached and 2+ programs of every regency row
    assert len(row_links) % 3 == 0 and row_links
    if username == "op1807":
        assert len(row_links) == 3 and all("regency=18.07" in url for url, _ in row_links)
    checked = row_links if len(row_links) <= 9 else row_links[:3] + row_links[-3:] + some(row_links, 1)
    assert_opens_its_count(client, checked)
    total_links = links_in(foot)
    assert len(total_links) == 3, "the total row links households, reached and 2+ programs"
    assert_opens_its_count(client, total_links)


def test_overlap_per_regency_with_the_regency_filter(clients, engine):
    """bappeda's page filtered to a regency: the rows and the total link that regency only."""
    regency_id = rows(engine, "SELECT id FROM regency WHERE code = '18.01'")[0][0]
    client = clients["bappeda"]
    html = client.get(f"/analysis/overlap/?year={YEAR}&regency_id={regency_id}").get_data(as_text=True)
    links = links_in(section(html, "table-overlap-regencies"))
    assert len(links) == 6 and all("regency=18.01" in url for url, _ in links)
    assert_opens_its_count(client, links)


@pytest.mark.parametrize("username", USERS)
def test_matrix_cells_open_the_households_receiving_both(clients, engine, username):
    client = clients[username]
    html = client.get(f"/analysis/overlap/?year={YEAR}").get_data(as_text=True)
    matrix = section(html, "table-overlap-matrix")
    diagonal = links_in("".join(re.findall(r'<td class="sinergi-diagonal"[^>]*>.*?</td>', matrix)))
    pairs = [link for link in links_in(matrix) if link not in diagonal]
    assert diagonal and pairs
    assert_opens_its_count(client, some(diagonal, 1) + some(pairs, 2))
    # a pair link names two programs, the diagonal one
    assert all(len(re.findall(r"_program=", url)) == 2 for url, _ in pairs)


@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize("k", [1, 3])
def test_gaps_per_zone(clients, username, k):
    client = clients[username]
    html = client.get(f"/analysis/gaps/?year={YEAR}&k={k}").get_data(as_text=True)
    links = links_in(section(html, "table-gaps-zones"))
    assert links and all("_zone=" in url and f"_desil={k}" in url for url, _ in links)
    assert_opens_its_count(client, links)  # a handful of zones: every one


def test_gaps_per_zone_with_the_regency_filter(clients, engine):
    regency_id = rows(engine, "SELECT id FROM regency WHERE code = '18.07'")[0][0]
    client = clients["bappeda"]
    html = client.get(f"/analysis/gaps/?year={YEAR}&k=2&regency_id={regency_id}").get_data(as_text=True)
    links = links_in(section(html, "table-gaps-zones"))
    assert links and all("regency=18.07" in url for url, _ in links)
    assert_opens_its_count(client, links)


@pytest.mark.parametrize("username", USERS)
def test_households_per_zone(clients, engine, username):
    client = clients[username]
    html = client.get("/analysis/zones/").get_data(as_text=True)
    links = links_in(section(html, "table-zones"))
    visible = rows(engine, "SELECT count(*) FROM priority_zone" + (
        "" if username == "bappeda" else
        " WHERE regency_id IS NULL OR regency_id = (SELECT id FROM regency WHERE code = '18.07')"))[0][0]
    assert 2 <= len(links) <= visible  # one per zone that has households
    assert_opens_its_count(client, links)


def test_no_count_links_under_a_snapshot(clients, engine):
    """With a chosen snapshot the counts read its village, desil and point: no list links (the
    list filters by each household's latest), while the page still shows its counts."""
    snapshot = rows(engine, "SELECT id FROM targeting_snapshot WHERE period = '2015'")[0][0]
    client = clients["bappeda"]
    html = client.get(f"/analysis/overlap/?year={YEAR}&snapshot={snapshot}").get_data(as_text=True)
    for table in ("table-overlap-regencies", "table-overlap-villages", "table-overlap-matrix"):
        part = section(html, table)
        assert re.search(r"<td[^>]*>\d[\d.]*</td>", part), table
        assert not [url for url, _ in links_in(part) if "_program" in url or "_regency" in url], table
    gaps = client.get(f"/analysis/gaps/?year={YEAR}&snapshot={snapshot}").get_data(as_text=True)
    assert not links_in(section(gaps, "table-gaps-zones"))


# --- the dashboard -------------------------------------------------------------------------------

CARD = re.compile(r'data-card="(households|coverage|multi_program|gaps)">\s*<a href="([^"]+)" class="sinergi-card-link">'
                  r'\s*<div class="sinergi-big" data-value>([^<]*)</div>.*?<div class="sinergi-sub">([^<]*)</div>', re.S)


def number(value: str) -> int:
    return int(value.replace(".", ""))


@pytest.mark.parametrize("username", USERS + ("opd_dinkop_lamtim",))
def test_dashboard_counts(clients, username):
    client = clients[username]
    html = client.get(f"/?year={YEAR}").get_data(as_text=True)
    cards = {key: (unescape(url), value, sub) for key, url, value, sub in CARD.findall(html)}
    assert set(cards) == {"households", "coverage", "multi_program", "gaps"}, cards.keys()
    checked = []
    for key, (url, value, sub) in cards.items():
        # the coverage card shows a percentage and counts the households reached (its sub-line)
        shown = number(re.match(r"\s*([\d.]+)", sub).group(1)) if key == "coverage" else number(value)
        checked.append((url, shown))
    desil = section(html, "dashboard-desil")
    table = links_in(desil)
    assert len(table) == 8  # desil 1-4: households and reached
    assert_opens_its_count(client, checked + table)
    assert all(f"program_year={YEAR}" in url for key, (url, _v, _s) in cards.items() if key != "households")


def test_dashboard_year_is_carried(clients, engine):
    """Another year's dashboard links that year's programs (the list's default year differs)."""
    years = [r[0] for r in rows(engine, "SELECT DISTINCT year FROM enrolment ORDER BY year")]
    other = years[0] if years[0] != YEAR else years[-1]
    client = clients["op1807"]
    html = client.get(f"/?year={other}").get_data(as_text=True)
    cards = {key: (unescape(url), value, sub) for key, url, value, sub in CARD.findall(html)}
    url, value, _sub = cards["multi_program"]
    assert f"program_year={other}" in url
    assert_opens_its_count(client, [(url, number(value))])


# --- the new filters alone -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def args(app):
    """The list's argument names of the regency and the one-zone filters."""
    from app.views import household_filters as hf

    view = next(v for v in app.appbuilder.baseviews if isinstance(v, hf.TargetingFiltersMixin))
    return view.filter_arg("regency", hf.RegencyFilter), view.filter_arg("zone", hf.ZoneFilter)


def test_regency_filter_equals_plain_sql_and_stays_in_scope(clients, engine, args):
    regency = args[0]
    expected = {r[0] for r in rows(engine, """
        SELECT h.no_kk FROM household h JOIN village v ON v.id = h.village_id
          JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.01'""")}
    assert expected
    assert listed(clients["bappeda"], f"/householdview/list/?{regency}=18.01") == (len(expected), expected)
    # An operator asking for another regency: said, and nothing listed (nor exported).
    page = clients["op1807"].get(f"/householdview/list/?{regency}=18.01")
    assert page.status_code == 200
    assert "18.01" in unescape(page.get_data(as_text=True)) and "wilayah" in page.get_data(as_text=True)
    assert listed(clients["op1807"], f"/householdview/list/?{regency}=18.01") == (0, set())
    own = {r[0] for r in rows(engine, """
        SELECT h.no_kk FROM household h JOIN village v ON v.id = h.village_id
          JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.07'""")}
    assert listed(clients["op1807"], f"/householdview/list/?{regency}=18.07") == (len(own), own)
    assert listed(clients["op1807"], f"/householdview/list/?{regency}=abc")[0] == 0


ZONE_SQL = """
    SELECT h.no_kk FROM household h JOIN priority_zone z ON z.id = :z
     WHERE (h.location IS NOT NULL AND ST_Intersects(z.geom, h.location))
        OR (h.location IS NULL AND EXISTS (
              SELECT 1 FROM village v WHERE v.id = h.village_id
                 AND ST_Area(ST_Intersection(z.geom, v.geom)) / NULLIF(ST_Area(v.geom), 0) > 0.5))"""


def test_zone_filter_equals_plain_sql_and_stays_in_scope(clients, engine, args):
    zone_arg = args[1]
    # A zone of another regency than Lampung Timur, with households.
    zone = rows(engine, """SELECT z.id FROM priority_zone z JOIN regency r ON r.id = z.regency_id
                            WHERE r.code <> '18.07' ORDER BY z.id""")
    assert zone, "the demo data has no zone of another regency"
    for (zone_id,) in zone:
        expected = {r[0] for r in rows(engine, ZONE_SQL, z=zone_id)}
        assert listed(clients["bappeda"], f"/householdview/list/?{zone_arg}={zone_id}") == (len(expected), expected)
        page = clients["op1807"].get(f"/householdview/list/?{zone_arg}={zone_id}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and int(RECORD_COUNT.search(html).group(1).replace(".", "")) == 0
        assert listed(clients["op1807"], f"/householdview/list/?{zone_arg}={zone_id}") == (0, set())
    assert any(rows(engine, ZONE_SQL, z=z) for (z,) in zone)
    assert listed(clients["bappeda"], f"/householdview/list/?{zone_arg}=999999") == (0, set())


IN_ZONE_SQL = """
    SELECT h.no_kk FROM household h
     WHERE EXISTS (SELECT 1 FROM priority_zone z WHERE z.year = :y AND (
               (h.location IS NOT NULL AND ST_Intersects(z.geom, h.location))
            OR (h.location IS NULL AND EXISTS (
                  SELECT 1 FROM village v WHERE v.id = h.village_id
                     AND ST_Area(ST_Intersection(z.geom, v.geom)) / NULLIF(ST_Area(v.geom), 0) > 0.5))))"""


def test_in_zone_filter_equals_plain_sql_for_points_off_their_village_and_off_every_village(app, clients, engine):
    """The "in a priority zone" filter prunes by the located village before its point test
    (household_filters.in_zone_clause): a household whose point lies in a zone but in another
    village than the declared one, and one whose point lies in a zone outside every village,
    are both listed; the list equals the zone rule in plain SQL."""
    from app.views.household_filters import household_list_url

    sea = "ST_SetSRID(ST_MakePoint(105.95, -5.98), 4326)"  # Selat Sunda, outside every desa
    with engine.begin() as conn:
        assert not conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM village WHERE ST_Intersects(geom, {sea}))")).scalar()
        inland = conn.execute(text("SELECT id, ST_AsText(ST_PointOnSurface(geom)) FROM village ORDER BY code LIMIT 1")).one()
        far = conn.execute(text("SELECT id FROM village ORDER BY code DESC LIMIT 1")).scalar()
        zones = [conn.execute(text(
            "INSERT INTO priority_zone (name, year, priority_level, basis, geom) "
            "VALUES (:n, :y, 1, 'kewilayahan', ST_Multi(ST_Buffer(ST_GeomFromText(:p, 4326), 0.01))) RETURNING id"),
            {"n": name, "y": YEAR, "p": point}).scalar()
            for name, point in (("uji laut", "POINT(105.95 -5.98)"), ("uji darat", inland[1]))]
        planted = {"1899990000000001": ("POINT(105.95 -5.98)", far), "1899990000000002": (inland[1], far)}
        for no_kk, (point, village) in planted.items():
            conn.execute(text(
                "INSERT INTO household (no_kk, head_nik, head_name, village_id, desil, member_count, location) "
                "VALUES (:k, :k, 'Uji Zona', :v, 1, 1, ST_GeomFromText(:p, 4326))"), {"k": no_kk, "v": village, "p": point})
        statuses = dict(conn.execute(text("SELECT no_kk, location_status FROM household WHERE no_kk = ANY(:k)"),
                                     {"k": list(planted)}).all())
    try:
        assert statuses == {"1899990000000001": "di_luar_wilayah", "1899990000000002": "beda_desa"}
        with app.test_request_context():
            url = household_list_url(year=YEAR, in_zone=True)
        expected = {r[0] for r in rows(engine, IN_ZONE_SQL, y=YEAR)}
        assert set(planted) <= expected
        assert listed(clients["bappeda"], url) == (len(expected), expected)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM household WHERE no_kk = ANY(:k)"), {"k": list(planted)})
            conn.execute(text("DELETE FROM priority_zone WHERE id = ANY(:z)"), {"z": zones})


def test_the_list_without_login_shows_nothing(app):
    response = app.test_client().get("/householdview/list/?_flt_0_regency=18.07")
    assert response.status_code in (302, 401, 403)
    assert "/login" in response.headers.get("Location", "/login")
