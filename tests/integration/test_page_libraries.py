"""One copy of Bootstrap, jQuery and Font Awesome per page — the map pages included, whose
folium document (in an iframe) used to bring Bootstrap 5, a second jQuery and a second Font
Awesome on top of FAB's Bootstrap 3, jQuery and Font Awesome (gis/maps.py now drops them:
the map's own chrome needs none of them)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import DEMO_PASSWORD

ASSET = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)""", re.I)
IFRAME = re.compile(r"""<iframe\b[^>]*?\bsrc\s*=\s*["']([^"']+)""", re.I)
LIBRARIES = {
    "bootstrap": re.compile(r"/bootstrap(?:\.bundle)?(?:\.min)?\.(?:js|css)$"),
    "jquery": re.compile(r"/jquery(?:-latest|-\d[\d.]*)?(?:\.min)?\.js$"),
    "fontawesome": re.compile(r"font-?awesome", re.I),
}
PAGES = ["/maps/villages/", "/maps/households/", "/householdview/list/", "/"]


def copy_of(url: str) -> str:
    """Which copy a file belongs to: FAB's own static files, or one vendored package."""
    path = url.split("?")[0]
    if path.startswith("/static/appbuilder/"):
        return "appbuilder"
    return "/".join(path.split("/")[:4])  # /static/vendor/<package>


def copies(html_documents: list[str]) -> dict[str, set[str]]:
    found = {name: set() for name in LIBRARIES}
    for html in html_documents:
        for url in ASSET.findall(html):
            for name, pattern in LIBRARIES.items():
                if pattern.search(url.split("?")[0]):
                    found[name].add(copy_of(url))
    return found


@pytest.fixture(scope="module")
def bappeda(app):
    client = app.test_client()
    r = client.post("/login/", data={"username": "bappeda", "password": DEMO_PASSWORD})
    assert r.status_code == 302
    return client


@pytest.mark.parametrize("path", PAGES)
def test_one_copy_of_each_library_per_page(bappeda, path):
    page = bappeda.get(path)
    assert page.status_code == 200, path
    documents = [page.get_data(as_text=True)]
    for frame in IFRAME.findall(documents[0]):  # the map's own document, shown in the page
        r = bappeda.get(frame.replace("&amp;", "&"))
        assert r.status_code == 200, frame
        documents.append(r.get_data(as_text=True))
    if path.startswith("/maps/"):
        assert len(documents) == 2, "the map page has no map frame"
    found = copies(documents)
    assert {name: len(c) for name, c in found.items()} == {"bootstrap": 1, "jquery": 1, "fontawesome": 1}, found


@pytest.mark.parametrize("frame", ["/maps/villages/frame", "/maps/households/frame",
                                   "/maps/households/frame?mode=tiles"])
def test_map_documents_load_leaflet_and_no_page_framework(bappeda, frame):
    html = bappeda.get(frame).get_data(as_text=True)
    urls = ASSET.findall(html)
    assert "/static/vendor/leaflet/leaflet.js" in urls
    assert "/static/js/maps/sinergi_maps.js" in urls
    assert {name: c for name, c in copies([html]).items() if c} == {}, urls
    assert "awesome-markers" not in html
