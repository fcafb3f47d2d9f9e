"""The targeting filters of the household list (app/views/household_filters.py) on the demo data.

Each filter's rows — on the list page (its record count) and in its CSV export — must EQUAL an
independent answer computed here from plain SQL rows and Python sets: the number of distinct
programs a household receives in the year (statuses usulan, ditetapkan, disalurkan), a program
received / not received, exact No KK / NIK search, for bappeda (province) and op1807 (Lampung
Timur). Pimpinan can search too and sees masked numbers. Then every household count of the
overlap and gaps pages links to a list whose rows are exactly that many.
"""
from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import text

from tests.conftest import DEMO_PASSWORD

YEAR = 2017
COUNTED = ("usulan", "ditetapkan", "disalurkan")
MASKED = re.compile(r"^\d{4}\*{8}\d{4}$")
RECORD_COUNT = re.compile(r"(?:Jumlah data|Record Count):</strong>\s*([\d.,]+)")


def rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def login(app, username):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), username
    return client


@pytest.fixture(scope="module")
def engine(app):
    from app.extensions import db

    with app.app_context():
        return db.engine


@pytest.fixture(scope="module", autouse=True)
def analysed(engine):
    with engine.connect() as conn:  # planner statistics after the bulk demo seed
        conn.execute(text("ANALYZE"))
        conn.commit()


@pytest.fixture(scope="module")
def clients(app):
    return {u: login(app, u) for u in ("bappeda", "op1807", "pimpinan")}


@pytest.fixture(scope="module")
def view(app):
    """The household list view (for the ``_flt_<n>_<column>`` argument names)."""
    from app.views.household_filters import TargetingFiltersMixin

    return next(v for v in app.appbuilder.baseviews if isinstance(v, TargetingFiltersMixin))


def arg(view, column, class_name):
    from app.views import household_filters as hf

    return view.filter_arg(column, getattr(hf, class_name))


def village_arg(view):
    from flask_appbuilder.models.sqla.filters import FilterRelationOneToManyEqual

    return view.filter_arg("village", FilterRelationOneToManyEqual)


# --- the independent answer ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def village(engine):
    """The Lampung Timur village with the most households of 2 and of 3+ programs in YEAR (so every
    program-count filter has rows to find)."""
    return rows(engine, """
        WITH n AS (SELECT h.id, h.village_id,
                          (SELECT count(DISTINCT e.program_id) FROM enrolment e
                            WHERE e.household_id = h.id AND e.year = :y AND e.status = ANY(:st)) AS n
                     FROM household h JOIN village v ON v.id = h.village_id WHERE v.code LIKE '18.07.%')
        SELECT village_id FROM n GROUP BY village_id
        ORDER BY count(*) FILTER (WHERE n >= 3) > 0 DESC, count(*) FILTER (WHERE n = 2) > 0 DESC,
                 count(*) FILTER (WHERE n = 0) > 0 DESC, count(*) DESC LIMIT 1""",
                y=YEAR, st=list(COUNTED))[0][0]


@pytest.fixture(scope="module")
def raw(engine, village):
    """The village's households (id -> (no_kk, head_nik, desil)) and their counted programs of YEAR
    (id -> set of program ids), from plain SELECTs."""
    households = {r[0]: (r[1], r[2], r[3]) for r in rows(
        engine, "SELECT id, no_kk, head_nik, desil FROM household WHERE village_id = :v", v=village)}
    programs = defaultdict(set)
    for household_id, program_id, status in rows(engine, """
            SELECT e.household_id, e.program_id, e.status FROM enrolment e JOIN household h ON h.id = e.household_id
             WHERE h.village_id = :v AND e.year = :y""", v=village, y=YEAR):
        if status in COUNTED:
            programs[household_id].add(program_id)
    return households, programs


def expected_by_count(raw, n):
    households, programs = raw
    return {households[h][0] for h in households if min(len(programs.get(h, ())), 3) == n}


def listed(client, url) -> tuple[int, set[str]]:
    """(record count of the list page, No KK of the list's CSV export) of a household list URL."""
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    html = page.get_data(as_text=True)
    match = RECORD_COUNT.search(html)
    count = int(re.sub(r"[.,]", "", match.group(1))) if match else 0
    query = urlsplit(url).query
    export = client.get("/householdview/export/?format=csv" + ("&" + query if query else ""))
    assert export.status_code == 200, export.get_data(as_text=True)[:300]
    records = list(csv.DictReader(io.StringIO(export.get_data().decode("utf-8-sig"), newline="")))
    return count, {r["No KK"] for r in records}


# --- the filters -------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["bappeda", "op1807"])
@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_program_count_filter_equals_independent_count(clients, view, village, raw, username, n):
    expected = expected_by_count(raw, n)
    url = (f"/householdview/list/?{village_arg(view)}={village}&{arg(view, 'program_year', 'ProgramYearFilter')}"
           f"={YEAR}&{arg(view, 'programs', 'ProgramCountFilter')}={n}")
    count, numbers = listed(clients[username], url)
    assert numbers == expected
    assert count == len(expected)
    if n in (0, 1):
        assert expected, f"the demo village has no household with {n} programs: the test would prove nothing"


def test_program_count_with_desil_range(clients, view, village, raw):
    households, _ = raw
    expected = {no_kk for no_kk in expected_by_count(raw, 0)
                if 1 <= next(d for k, _, d in households.values() if k == no_kk) <= 2}
    url = (f"/householdview/list/?{village_arg(view)}={village}&{arg(view, 'desil', 'DesilFromFilter')}=1"
           f"&{arg(view, 'desil', 'DesilToFilter')}=2&{arg(view, 'program_year', 'ProgramYearFilter')}={YEAR}"
           f"&{arg(view, 'programs', 'ProgramCountFilter')}=0")
    count, numbers = listed(clients["op1807"], url)
    assert numbers == expected and count == len(expected)


@pytest.mark.parametrize("username", ["bappeda", "op1807"])
def test_program_received_and_not_received(clients, view, engine, village, raw, username):
    households, programs = raw
    program_id = max({p for ps in programs.values() for p in ps},
                     key=lambda p: sum(p in ps for ps in programs.values()))
    receiving = {households[h][0] for h, ps in programs.items() if program_id in ps}
    assert receiving
    base = f"/householdview/list/?{village_arg(view)}={village}"
    count, numbers = listed(clients[username], f"{base}&{arg(view, 'program', 'ProgramReceivedFilter')}={program_id}")
    assert numbers == receiving and count == len(receiving)
    not_received = arg(view, "program", "ProgramNotReceivedFilter")
    count, numbers = listed(clients[username], f"{base}&{not_received}={program_id}")
    others = {v[0] for v in households.values()} - receiving
    assert numbers == others and count == len(others)


@pytest.mark.parametrize("username", ["bappeda", "op1807"])
def test_search_no_kk_and_nik_exact(clients, view, engine, username):
    no_kk, head_nik, member_nik = rows(engine, """
        SELECT h.no_kk, h.head_nik, m.nik FROM household h JOIN village v ON v.id = h.village_id
          JOIN household_member m ON m.household_id = h.id
         WHERE v.code LIKE '18.07.%' AND m.nik <> h.head_nik ORDER BY h.id LIMIT 1""")[0]
    key = arg(view, "number", "NumberFilter")
    for number in (no_kk, head_nik, member_nik):
        count, numbers = listed(clients[username], f"/householdview/list/?{key}={number}")
        assert numbers == {no_kk} and count == 1, number
    # Exact only: the first 15 digits find nothing, and say why.
    response = clients[username].get(f"/householdview/list/?{key}={no_kk[:15]}")
    assert response.status_code == 200
    assert "16 digit" in response.get_data(as_text=True)  # the message, in either language
    assert listed(clients[username], f"/householdview/list/?{key}={no_kk[:15]}") == (0, set())


def test_operator_search_stays_in_scope(clients, view, engine):
    other = rows(engine, """SELECT h.no_kk FROM household h JOIN village v ON v.id = h.village_id
                             WHERE v.code LIKE '18.01.%' LIMIT 1""")[0][0]
    key = arg(view, "number", "NumberFilter")
    assert listed(clients["op1807"], f"/householdview/list/?{key}={other}") == (0, set())
    assert listed(clients["bappeda"], f"/householdview/list/?{key}={other}")[1] == {other}


def test_masked_role_search_finds_and_stays_masked(clients, view, engine):
    no_kk, head_nik = rows(engine, "SELECT no_kk, head_nik FROM household ORDER BY id LIMIT 1")[0]
    key = arg(view, "number", "NumberFilter")
    for number in (no_kk, head_nik):
        page = clients["pimpinan"].get(f"/householdview/list/?{key}={number}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert int(RECORD_COUNT.search(html).group(1)) == 1
        # The search box keeps what was typed; the rows show the number masked.
        assert (no_kk[:4] + "*" * 8 + no_kk[-4:]) in html
        export = clients["pimpinan"].get(f"/householdview/export/?format=csv&{key}={number}")
        records = list(csv.DictReader(io.StringIO(export.get_data().decode("utf-8-sig"), newline="")))
        assert len(records) == 1 and MASKED.match(records[0]["No KK"]) and no_kk not in export.get_data(as_text=True)


@pytest.mark.parametrize("bad", ["abc", "99", "-1"])
def test_bad_filter_values_say_why_and_list_nothing(clients, view, bad):
    response = clients["op1807"].get(f"/householdview/list/?{arg(view, 'programs', 'ProgramCountFilter')}={bad}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Jumlah program" in html or "Number of programs:" in html
    assert int(RECORD_COUNT.search(html).group(1)) == 0


# --- the analysis pages' links ------------------------------------------------------------------

LINK = re.compile(r'<a href="(/householdview/list/\?[^"]+)">([\d.]+)</a>')


def table_links(html: str, table_id: str) -> list[tuple[str, int]]:
    start = html.index(f'id="table-{table_id}"')
    end = html.find('class="panel panel-default', start + 10)
    return [(unescape(url), int(number.replace(".", ""))) for url, number in LINK.findall(html[start:end])]


@pytest.mark.parametrize("username", ["bappeda", "op1807"])
def test_overlap_counts_open_exactly_their_households(clients, village, username):
    client = clients[username]
    html = client.get(f"/analysis/overlap/?year={YEAR}&regency_id=" + ("" if username == "op1807" else "")).get_data(
        as_text=True)
    links = table_links(html, "overlap-villages")
    assert links, "the overlap table has no linked counts"
    # Every program-count column of the first rows, and the households column.
    checked = 0
    for url, number in links[:25]:
        count, numbers = listed(client, url)
        assert count == number == len(numbers), url
        args = dict(parse_qsl(urlsplit(url).query))
        assert any(k.endswith("_village") for k in args)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("username", ["bappeda", "op1807"])
@pytest.mark.parametrize("k", [1, 2])
def test_gap_counts_open_exactly_their_households(clients, username, k):
    client = clients[username]
    html = client.get(f"/analysis/gaps/?year={YEAR}&k={k}").get_data(as_text=True)
    links = table_links(html, "gaps-villages")
    assert links, "the gaps table has no linked counts"
    for url, number in links[:12]:
        count, numbers = listed(client, url)
        assert count == number == len(numbers), url


def test_panel_carries_the_list_filters_and_shows_what_is_chosen(clients, view, village, raw):
    """The targeting panel's fields are the list's own filter arguments, and after a search they
    show the criteria in force (the program drop-downs included)."""
    _, programs = raw
    program_id = min(p for ps in programs.values() for p in ps)
    not_received = arg(view, "program", "ProgramNotReceivedFilter")
    url = (f"/householdview/list/?{village_arg(view)}={village}&{arg(view, 'programs', 'ProgramCountFilter')}=1"
           f"&{not_received}={program_id}")
    html = clients["op1807"].get(url).get_data(as_text=True)
    panel = html[html.index('id="targeting-form"'):html.index("</form>", html.index('id="targeting-form"'))]
    assert f'name="{village_arg(view)}"' in panel and f'name="{not_received}"' in panel
    assert re.search(rf'<option value="{village}" selected>', panel)
    assert re.search(r'<option value="1" selected>', panel[panel.index("targeting-programs"):])
    assert re.search(rf'<option value="{program_id}" selected>', panel[panel.index("targeting-not-received"):])


# --- the data source (targeting snapshot) --------------------------------------------------------

def test_the_snapshot_filter_lists_its_households_with_its_desil(engine, clients, view, village):
    """"Sumber data": the households a snapshot lists, and the desil filters then read that
    snapshot's desil — for bappeda and op1807, on the list page and in its export."""
    snapshots = dict(rows(engine, "SELECT period, id FROM targeting_snapshot"))
    q3, q4, bdt = snapshots["2025-Q3"], snapshots["2025-Q4"], snapshots["2015"]
    listed_by = {sid: {r[0]: r[1] for r in rows(engine, """
        SELECT h.no_kk, s.desil FROM household_snapshot s JOIN household h ON h.id = s.household_id
         WHERE s.snapshot_id = :s AND h.village_id = :v""", s=sid, v=village)} for sid in (bdt, q3, q4)}
    latest = {r[0]: r[1] for r in rows(engine, "SELECT no_kk, desil FROM household WHERE village_id = :v", v=village)}
    assert set(listed_by[q4]) != set(listed_by[bdt])  # the demo's DTSEN quarter left some households out
    base = f"/householdview/list/?{village_arg(view)}={village}"
    for user in ("bappeda", "op1807"):
        for sid in (bdt, q3, q4):
            url = f"{base}&{arg(view, 'snapshot', 'SnapshotFilter')}={sid}"
            assert listed(clients[user], url) == (len(listed_by[sid]), set(listed_by[sid]))
            up_to_2 = {kk for kk, d in listed_by[sid].items() if d <= 2}
            assert listed(clients[user], f"{url}&{arg(view, 'desil', 'DesilToFilter')}=2") == (len(up_to_2), up_to_2)
        # Without a snapshot the desil is each household's latest.
        latest_2 = {kk for kk, d in latest.items() if d <= 2}
        assert listed(clients[user], f"{base}&{arg(view, 'desil', 'DesilToFilter')}=2") == (len(latest_2), latest_2)


def test_an_unknown_snapshot_is_said_and_shows_nothing(clients, view):
    page = clients["bappeda"].get(f"/householdview/list/?{arg(view, 'snapshot', 'SnapshotFilter')}=999999")
    assert page.status_code == 200
    html = unescape(page.get_data(as_text=True))
    assert "Sumber data: snapshot tidak dikenal (999999)." in html
    assert not RECORD_COUNT.search(html) or RECORD_COUNT.search(html).group(1) == "0"
