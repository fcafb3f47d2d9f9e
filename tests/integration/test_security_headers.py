"""Every response carries the security headers: pages, API JSON, vector tiles, OGC API, static
files. The CSP has no 'unsafe-eval', allows framing by the app only, and lets a configured base
map's tiles in; HSTS is sent only in production."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from app.security_headers import basemap_origin, content_security_policy
from tests.conftest import DEMO_PASSWORD, ROOT

REQUIRED = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")


def _directives(csp: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}


def _check(response, what):
    for name in REQUIRED:
        assert name in response.headers, (what, name, dict(response.headers))
    csp = _directives(response.headers["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'self'"], what
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"], what
    assert csp["connect-src"] == ["'self'"], what
    assert {"data:", "blob:"} <= set(csp["img-src"]), what
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.fixture()
def client(app):
    c = app.test_client()
    r = c.post("/login/", data={"username": "bappeda", "password": DEMO_PASSWORD})
    assert r.status_code == 302
    return c


def test_headers_on_pages_api_tiles_ogc_and_static(app, client):
    anonymous = app.test_client()
    _check(anonymous.get("/login/"), "login page")
    login = anonymous.post("/api/v1/security/login", json={"username": "bappeda", "password": DEMO_PASSWORD,
                                                           "provider": "db"})
    assert login.status_code == 200
    _check(login, "API login JSON")
    token = login.json["access_token"]
    api = anonymous.get("/api/v1/household/", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    _check(api, "API household list")
    _check(client.get("/"), "home page")
    tile = client.get("/gis/tiles/villages/8/197/129.pbf")
    assert tile.status_code in (200, 204), tile.status_code
    _check(tile, "village tile")
    ogc = anonymous.get("/ogc/")
    assert ogc.status_code == 200
    _check(ogc, "OGC landing page")
    static = anonymous.get("/static/vendor/leaflet/leaflet.js")
    assert static.status_code == 200
    _check(static, "static file")
    static.close()
    _check(anonymous.get("/no-such-page/"), "404 page")


def test_no_hsts_in_demo(app):
    assert app.config["SINERGI_ENV"] == "demo"
    assert "Strict-Transport-Security" not in app.test_client().get("/login/").headers


def test_hsts_in_production(app):
    """The app started as production (its own process, same test database) sends HSTS."""
    code = ("from app import create_app; c = create_app().test_client(); "
            "print('HSTS=' + c.get('/login/').headers.get('Strict-Transport-Security', ''))")
    env = {**os.environ, "SINERGI_ENV": "production", "SECRET_KEY": secrets.token_hex(32)}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "HSTS=max-age=31536000; includeSubDomains" in r.stdout


def test_basemap_origin_is_allowed_for_images():
    csp = _directives(content_security_policy("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"))
    assert "https://*.tile.openstreetmap.org" in csp["img-src"]
    assert basemap_origin("https://tiles.example.go.id:8443/osm/{z}/{x}/{y}.png") == "https://tiles.example.go.id:8443"
    assert basemap_origin("") is None
    assert _directives(content_security_policy(""))["img-src"] == ["'self'", "data:", "blob:"]
