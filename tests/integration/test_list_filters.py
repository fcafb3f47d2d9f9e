"""List pages at a million households: the filters on large relations (the village of a
household, the kecamatan of a village, the program of an enrolment, the OPD of a program)
load their choices on demand from ``/<view>/filter_choices/<column>`` (app/views/remote_filters.py),
scoped like everything else; no list page carries more than 50 KB of script; the list's
count stays exact and uses the village index."""
from __future__ import annotations

import re
from urllib.parse import quote

from flask_appbuilder import ModelView
from sqlalchemy import event

from tests.conftest import DEMO_PASSWORD, ROOT, remote_choices as choices, sql

SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)
SRC = re.compile(r'src="([^"]+)"')
VILLAGE_CODE = re.compile(r"18\.\d{2}\.\d{2}\.\d{4}")
SCRIPT_BUDGET = 50 * 1024


def login(app, username: str):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers["Location"], f"login as {username} failed"
    return client


def page_script(html: str) -> tuple[int, int]:
    """(bytes of inline script, bytes of the app's own script files) of a page; the vendored
    libraries (static/vendor, FAB's static/appbuilder) are not counted."""
    inline = own = 0
    for match in SCRIPT.finditer(html):
        src = SRC.search(match.group(1))
        if src is None:
            inline += len(match.group(2).encode())
        elif src.group(1).startswith("/static/") and not src.group(1).startswith(("/static/vendor/",
                                                                                   "/static/appbuilder/")):
            own += (ROOT / "app" / src.group(1).lstrip("/").split("?")[0]).stat().st_size
    return inline, own


def list_views(app):
    return [v for v in app.appbuilder.baseviews if isinstance(v, ModelView)]


# --- the village filter -------------------------------------------------------------------------

def test_household_list_carries_no_village_options(app):
    bappeda = login(app, "bappeda")
    html = bappeda.get("/householdview/list/").get_data(as_text=True)
    scripts = "".join(m.group(2) for m in SCRIPT.finditer(html))
    assert "filter_choices/village" in scripts  # the filter is there, as a remote select
    assert VILLAGE_CODE.findall(scripts) == []  # ... without the villages
    assert "\\u003coption" not in scripts


def test_operator_is_offered_only_the_villages_of_their_regency(app):
    op = login(app, "op1807")
    offered = choices(op, "/householdview/filter_choices/village?q=")
    (total,), = sql(app, """SELECT count(*) FROM village v JOIN district d ON d.id = v.district_id
                            JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.07'""")
    assert len(offered) == total > 0
    codes = [VILLAGE_CODE.search(c["text"]).group(0) for c in offered]
    assert all(code.startswith("18.07.") for code in codes), [c for c in codes if not c.startswith("18.07.")]
    assert len(set(c["id"] for c in offered)) == total  # pages neither repeat nor skip
    # Searching another regency's code or name finds nothing of it.
    (other_id, other_code, other_name), = sql(app, """SELECT v.id, v.code, v.name FROM village v
        JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
        WHERE r.code = '18.01' ORDER BY v.code LIMIT 1""")
    assert choices(op, f"/householdview/filter_choices/village?q={other_code}") == []
    assert all(c["text"].split("(")[-1].startswith("18.07.")
               for c in choices(op, f"/householdview/filter_choices/village?q={quote(other_name)}"))
    # A filter on another regency's village (typed into the URL) shows no label for it.
    html = op.get(f"/householdview/list/?_flt_0_village={other_id}").get_data(as_text=True)
    assert other_code not in html


def test_bappeda_searches_villages_by_name_code_and_kecamatan(app):
    bappeda = login(app, "bappeda")
    (vid, code, name, district), = sql(app, """SELECT v.id, v.code, v.name, d.name FROM village v
        JOIN district d ON d.id = v.district_id WHERE v.code LIKE '18.07.%' ORDER BY v.code LIMIT 1""")
    by_code = choices(bappeda, f"/householdview/filter_choices/village?q={code}")
    assert by_code == [{"id": vid, "text": f"{name} — {district} ({code})"}]
    # Part of the name, in another case, plus a word of the kecamatan: every word must match.
    part = name[: max(4, len(name) // 2)].lower()
    by_words = choices(bappeda, "/householdview/filter_choices/village?q=" + quote(f"{part} {district.lower()}"))
    assert {"id": vid, "text": f"{name} — {district} ({code})"} in by_words
    assert all(part in c["text"].lower() for c in by_words)
    # Across the province without a word: every village, 20 a page.
    r = bappeda.get("/householdview/filter_choices/village")
    assert len(r.get_json()["results"]) == 20 and r.get_json()["pagination"]["more"] is True
    # LIKE wildcards are searched as text.
    assert choices(bappeda, "/householdview/filter_choices/village?q=%25%25") == []
    assert choices(bappeda, "/householdview/filter_choices/village?q=_") == []


def test_chosen_filter_keeps_its_label_and_lists_exactly_that_village(app):
    op = login(app, "op1807")
    (vid, code, name, households), = sql(app, """SELECT v.id, v.code, v.name, count(h.id) FROM village v
        JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
        JOIN household h ON h.village_id = v.id WHERE r.code = '18.07'
        GROUP BY v.id HAVING count(h.id) <= 100 ORDER BY count(h.id) DESC, v.code LIMIT 1""")  # one page of 100
    html = op.get(f"/householdview/list/?_flt_0_village={vid}&psize_HouseholdView=100").get_data(as_text=True)
    # The applied filter is the only option of the field, selected, with its label.
    assert f'\\u003coption value=\\"{vid}\\" selected\\u003e{name}' in html
    assert len(re.findall(r"\\u003coption value", html)) == 1
    listed = re.findall(r'/householdview/show/(\d+)"', html)
    assert len(set(listed)) == households
    assert f"{name} ({code})" in html


def test_other_remote_filters_are_scoped(app):
    # Programs: an OPD officer is offered their agency's programs only.
    opd = login(app, "opd_dinsos")
    offered = {c["id"] for c in choices(opd, "/enrolmentview/filter_choices/program?q=")}
    own = {row[0] for row in sql(app, """SELECT p.id FROM program p JOIN ab_user u ON u.agency_id = p.agency_id
                                         WHERE u.username = 'opd_dinsos'""")}
    assert offered == own and own
    # Kecamatan of the village list: every one, labelled with its kabupaten/kota, searchable by code.
    bappeda = login(app, "bappeda")
    districts = choices(bappeda, "/villageview/filter_choices/district?q=")
    (count,), = sql(app, "SELECT count(*) FROM district")
    assert len(districts) == count
    (did, dcode), = sql(app, "SELECT id, code FROM district ORDER BY code LIMIT 1")
    assert [c["id"] for c in choices(bappeda, f"/villageview/filter_choices/district?q={dcode}")] == [did]
    assert choices(bappeda, "/programview/filter_choices/agency?q=dinas")


def test_endpoint_refuses_what_it_does_not_know(app):
    bappeda = login(app, "bappeda")
    r = bappeda.get("/householdview/filter_choices/head_name", headers={"Accept": "application/json"})
    assert r.status_code == 404 and "tidak ditemukan" in r.get_json()["message"]
    for bad in ("x", "0", "99999999999999999999"):
        r = bappeda.get(f"/householdview/filter_choices/village?page={bad}", headers={"Accept": "application/json"})
        assert r.status_code == 400 and "Parameter page" in r.get_json()["message"]
    # Only for users who may see the list.
    anonymous = app.test_client()
    r = anonymous.get("/householdview/filter_choices/village?q=a")
    assert r.status_code in (302, 401, 403) and b"Sukadana" not in r.data


# --- every list page ---------------------------------------------------------------------------

def test_every_list_page_carries_at_most_50_kb_of_script(app):
    bappeda = login(app, "bappeda")
    measured = {}
    for view in list_views(app):
        url = f"{view.route_base}/list/"
        r = bappeda.get(url)
        if r.status_code == 403:  # FAB's user and role screens: Admin only
            continue
        assert r.status_code == 200, url
        inline, own = page_script(r.get_data(as_text=True))
        measured[url] = inline + own
    assert "/householdview/list/" in measured and len(measured) >= 15
    too_big = {url: size for url, size in measured.items() if size > SCRIPT_BUDGET}
    assert too_big == {}, too_big


def test_household_count_is_exact_and_uses_the_village_index(app):
    """FAB counts every page's rows; with a village filter (and an operator's scope) that count
    must come from ix_household_village_id, not a scan of a million rows."""
    from app.extensions import db

    op = login(app, "op1807")
    (vid, households), = sql(app, """SELECT v.id, count(h.id) FROM village v JOIN district d ON d.id = v.district_id
        JOIN regency r ON r.id = d.regency_id JOIN household h ON h.village_id = v.id
        WHERE r.code = '18.07' GROUP BY v.id ORDER BY count(h.id) DESC LIMIT 1""")
    counts = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT COUNT(*)") and "household" in statement:
            counts.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        html = op.get(f"/householdview/list/?_flt_0_village={vid}").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    shown = f"{households:,}".replace(",", ".")  # as the page writes it (20.055)
    assert re.search(rf"\b{re.escape(shown)}\b", html)  # the exact count is shown
    assert len(counts) == 1, counts
    statement, parameters = counts[0]
    with engine.connect() as conn:
        plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
        (count,), = conn.exec_driver_sql(statement, parameters).all()
    assert count == households
    assert "ix_household_village_id" in plan, plan


def test_an_operators_household_list_keeps_the_no_kk_order(app):
    """The operator's list is ordered on ``no_kk || ''`` (app/views/households.py, so PostgreSQL
    sorts the regency's rows instead of walking the whole index): the same order as No KK."""
    client = login(app, "op1807")
    expected = [r[0] for r in sql(app, """
        SELECT h.no_kk FROM household h JOIN village v ON v.id = h.village_id JOIN district d ON d.id = v.district_id
          JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.07' ORDER BY h.no_kk""")]
    for direction, rows in (("asc", expected[:20]), ("desc", expected[::-1][:20])):
        html = client.get(f"/householdview/list/?psize_HouseholdView=20&_oc_HouseholdView=no_kk"
                          f"&_od_HouseholdView={direction}").get_data(as_text=True)
        shown = [n for n in re.findall(r"\b\d{16}\b", html) if n in set(expected)]
        assert list(dict.fromkeys(shown)) == rows, direction
