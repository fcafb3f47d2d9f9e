"""The village tables of the analysis pages sort on the server over all their pages, a bad sort
parameter gets a 400 that says what is allowed, and each row opens the village map zoomed to its
village, coloured by the measure sorted on."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.integration.test_analysis import session_client


def rows_of(html: str, table: str) -> list[list[str]]:
    body = re.search(rf'id="table-{table}".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def number(text: str) -> int:
    return int(text.replace(".", "").replace(",", "") or 0)


@pytest.mark.parametrize("username", ["bappeda", "op1807"])
def test_the_village_overlap_sorts_over_all_pages(app, username):
    client = session_client(app, username)
    client.get("/lang/id")
    html = client.get("/analysis/overlap/?sort=programs_3plus&dir=desc").get_data(as_text=True)
    total = int(re.search(r'id="table-overlap-villages"[^>]*data-rows="(\d+)"', html).group(1))
    headers = re.findall(r'data-sort="([^"]+)"', html)
    assert "programs_3plus" in headers and "name" in headers
    column = headers.index("programs_3plus") - headers.index("code")  # the village table's columns from its code
    values, page = [], 1
    while True:
        page_html = client.get(f"/analysis/overlap/?sort=programs_3plus&dir=desc&page={page}").get_data(as_text=True)
        rows = rows_of(page_html, "overlap-villages")
        if not rows or page > 50:
            break
        values += [number(r[column]) for r in rows]
        page += 1
        if len(values) >= total:
            break
    assert len(values) == total and values == sorted(values, reverse=True), values[:30]
    # the same column again turns the order round
    link = re.search(r'<a href="([^"]+)" class="sinergi-sort" data-sort="programs_3plus"', html).group(1)
    assert parse_qs(urlparse(link.replace("&amp;", "&")).query)["dir"] == ["asc"]
    first_asc = rows_of(client.get("/analysis/overlap/?sort=programs_3plus&dir=asc").get_data(as_text=True),
                        "overlap-villages")[0]
    assert number(first_asc[column]) == min(values)


def test_each_village_row_opens_the_map_at_its_village_with_the_sorted_measure(app):
    client = session_client(app, "bappeda")
    html = client.get("/analysis/overlap/?sort=programs_3plus&dir=desc").get_data(as_text=True)
    body = re.search(r'id="table-overlap-villages".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    first = re.search(r"<tr>(.*?)</tr>", body, re.S).group(1)
    code = re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", first, re.S)[0]).strip()
    url = re.search(r'href="([^"]+)" class="sinergi-row-map"', first).group(1).replace("&amp;", "&")
    args = parse_qs(urlparse(url).query)
    assert urlparse(url).path == "/maps/villages/"
    assert args["village"] == [code] and args["measure"] == ["programs_3plus"]
    gaps = client.get("/analysis/gaps/?k=2").get_data(as_text=True)
    url = re.search(r'href="([^"]+)" class="sinergi-row-map"', gaps)
    if url:  # the demo may have no gap in the default year
        args = parse_qs(urlparse(url.group(1).replace("&amp;", "&")).query)
        assert args["measure"] == ["gaps"] and args["k"] == ["2"]
    assert client.get(url.group(1).replace("&amp;", "&") if url else "/maps/villages/").status_code == 200


@pytest.mark.parametrize("query", ["sort=no_such_column", "sort=programs_0&dir=sideways", "sort=%27;drop"])
def test_a_bad_sort_gets_a_400_that_names_the_choices(app, query):
    client = session_client(app, "bappeda")
    client.get("/lang/id")
    r = client.get(f"/analysis/overlap/?{query}")
    text = r.get_data(as_text=True)
    assert r.status_code == 400 and ("Parameter sort" in text or "Parameter dir" in text), text[:500]
