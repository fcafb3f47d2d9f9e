"""Admin's "Statistik Pengguna" is a table served by the app alone (FAB's chart fetched Google's
loader from the internet), with Indonesian numbers and dates; other roles do not get it."""
from __future__ import annotations

import datetime as dt
import re

from tests.conftest import sql
from tests.integration.test_analysis import session_client

SCRIPT_OR_STYLE = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)""", re.I)


def test_the_user_statistics_are_a_local_table_in_indonesian(app):
    sql(app, "UPDATE ab_user SET login_count = 2663, last_login = '2026-12-05 07:30:00' WHERE username = 'bappeda'")
    client = session_client(app, "admin")
    client.get("/lang/id")
    # filtered to the one user: other tests add users that sort before "bappeda"
    r = client.get("/userstats/list/?_flt_0_username=bappeda&_oc_UserStatsView=login_count&_od_UserStatsView=desc")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Statistik Pengguna" in html
    assert [u for u in SCRIPT_OR_STYLE.findall(html) if re.match(r"(?:https?:)?//", u)] == []
    assert "google" not in html.lower()
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*>bappeda<(?:(?!</tr>).)*</tr>", html, re.S).group(0)
    # FAB writes last_login with the server's naive local time; it is read in WIB
    wib = dt.datetime(2026, 12, 5, 7, 30).astimezone(dt.timezone(dt.timedelta(hours=7)))
    assert "2.663" in row and f"{wib.day} Desember 2026 {wib:%H.%M} WIB" in row, row
    # the menu leads to it, not to FAB's chart
    assert "/userstats/list/" in html and "userstatschartview" not in html.lower()


def test_other_roles_do_not_get_the_user_statistics(app):
    for username in ("bappeda", "op1807"):
        r = session_client(app, username).get("/userstats/list/")
        assert r.status_code in (302, 403), (username, r.status_code)
        assert "bappeda" not in r.get_data(as_text=True) or r.status_code == 302
