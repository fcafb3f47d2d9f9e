"""Compression (app/compression.py, Flask-Compress): a JSON API answer, a page and the
vendored JS come back gzip- or brotli-encoded when the client asks, plain when it does not;
static files keep their 304s; a CSV export is compressed while it streams, never built whole
in memory first."""
from __future__ import annotations

import gzip

import brotli
import pytest

from tests.conftest import DEMO_PASSWORD, ROOT, sql


def login(app, username: str):
    client = app.test_client()
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers["Location"], f"login as {username} failed"
    return client


def api_token(client, username: str) -> dict:
    r = client.post("/api/v1/security/login", json={"username": username, "password": DEMO_PASSWORD, "provider": "db"})
    assert r.status_code == 200, r.data
    return {"Authorization": f"Bearer {r.json['access_token']}"}


DECODE = {"gzip": gzip.decompress, "br": brotli.decompress}


def assert_encoded_only_when_asked(client, url: str, headers: dict | None = None, mimetype: str | None = None,
                                   stable: bool = True):
    """``stable``: the same bytes on every request (a page is not: its form tokens change)."""
    headers = headers or {}

    def same(a: bytes, b: bytes) -> bool:
        return a == b if stable else abs(len(a) - len(b)) < 200 and a[:200] == b[:200]

    plain = client.get(url, headers=headers)
    assert plain.status_code == 200, (url, plain.status_code)
    assert "Content-Encoding" not in plain.headers, url
    assert "accept-encoding" in plain.headers.get("Vary", "").lower(), url
    if mimetype:
        assert plain.mimetype == mimetype
    body = plain.get_data()
    for encoding, decode in DECODE.items():
        packed = client.get(url, headers={**headers, "Accept-Encoding": encoding})
        assert packed.status_code == 200
        assert packed.headers.get("Content-Encoding") == encoding, (url, encoding, dict(packed.headers))
        data = packed.get_data()
        assert len(data) < len(body) / 2, (url, encoding, len(data), len(body))
        assert same(decode(data), body), (url, encoding)
    # What a browser sends: it gets one of the two.
    chromium = client.get(url, headers={**headers, "Accept-Encoding": "gzip, deflate, br, zstd"})
    assert chromium.headers.get("Content-Encoding") in ("br", "gzip")
    # "identity" (no compression, please) is respected.
    identity = client.get(url, headers={**headers, "Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity.headers and same(identity.get_data(), body)
    return body


def test_json_api_answer(app):
    client = app.test_client()
    body = assert_encoded_only_when_asked(client, "/api/v1/village/?q=(page_size:100)", api_token(client, "bappeda"),
                                          "application/json")
    assert b'"result"' in body


def test_html_page(app):
    bappeda = login(app, "bappeda")
    body = assert_encoded_only_when_asked(bappeda, "/householdview/list/", mimetype="text/html", stable=False)
    assert b"filter_form" in body


@pytest.mark.parametrize("path", ["/static/appbuilder/js/jquery-latest.js",  # FAB's own vendored jQuery
                                  "/static/vendor/leaflet/leaflet.js",  # scripts/vendor_assets.sh
                                  "/static/appbuilder/css/bootstrap.min.css"])
def test_vendored_static_files(app, path):
    client = app.test_client()
    body = assert_encoded_only_when_asked(client, path)
    local = ROOT / "app" / path.lstrip("/") if path.startswith("/static/vendor/") else None
    if local is not None:
        assert body == local.read_bytes()
    # The browser's cache still works on the compressed copy: its ETag answers 304.
    first = client.get(path, headers={"Accept-Encoding": "gzip"})
    etag = first.headers["ETag"]
    again = client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304


def test_csv_export_is_compressed_while_it_streams(app):
    """The household export (all 20,000 demo rows as bappeda) with gzip: the first compressed
    bytes are out before the last row is read (the export log row, written when the stream
    ends, is not there yet), and the whole decompresses to the plain export."""
    bappeda = login(app, "bappeda")
    url = "/householdview/export/?format=csv"
    plain = bappeda.get(url).get_data()
    (logged_before,), = sql(app, "SELECT count(*) FROM export_log")

    response = bappeda.get(url, headers={"Accept-Encoding": "gzip"}, buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.is_streamed and "Content-Length" not in response.headers
    chunks = iter(response.response)
    first = next(chunk for chunk in chunks if chunk)
    (logged_midway,), = sql(app, "SELECT count(*) FROM export_log")
    assert logged_midway == logged_before  # still streaming: the export has not ended
    rest = b"".join(chunks)
    response.close()
    packed = first + rest
    assert len(first) < len(packed) / 2  # it came in pieces
    assert gzip.decompress(packed) == plain
    assert len(packed) < len(plain) / 3
    (logged_after,), = sql(app, "SELECT count(*) FROM export_log")
    assert logged_after == logged_before + 1
