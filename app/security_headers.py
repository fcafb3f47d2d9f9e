"""Security headers on every response: pages, API JSON, GeoJSON, vector tiles, static files.

A small after-request hook rather than flask-talisman: talisman also redirects to HTTPS and
rewrites the session cookie flags by default, which belong to the deployment (a reverse proxy
terminates TLS) and to the login settings; what is left of it once those are turned off is
these few headers.

Content-Security-Policy choices:
- script-src / style-src 'self' 'unsafe-inline', NO 'unsafe-eval'. The inline part is needed:
  FAB's templates and folium's generated map pages write their code inline (folium's whole map
  is one inline <script> built per request, FAB's list/edit widgets inline handlers), and
  nonces would mean rewriting both libraries' templates. Every script file still has to come
  from the app itself (no CDN, no other origin), and eval() / new Function() stay blocked.
- frame-ancestors 'self' (with X-Frame-Options SAMEORIGIN for old browsers): the app shows its
  own map pages in an iframe; nobody else may frame any page (clickjacking of the login).
- img-src 'self' data: blob: — Leaflet and the marker icons use data: URLs; plus the origin of
  SINERGI_BASEMAP_URL when a base layer is configured (its tiles are <img> elements).
- connect-src 'self': the maps fetch GeoJSON and vector tiles from the app only.
- HSTS only when SINERGI_ENV=production: a demo on plain HTTP (localhost) must not pin browsers
  to HTTPS for the host name.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask

HSTS_VALUE = "max-age=31536000; includeSubDomains"


def basemap_origin(url_template: str) -> str | None:
    """'https://tile.openstreetmap.org/{z}/{x}/{y}.png' -> 'https://tile.openstreetmap.org'.
    Leaflet's {s} subdomain placeholder becomes a wildcard host (https://*.tile.example.org)."""
    if not url_template:
        return None
    parts = urlsplit(url_template)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc.replace("{s}", "*")
    return f"{parts.scheme}://{host}"


def content_security_policy(basemap_url: str = "") -> str:
    img = ["'self'", "data:", "blob:"]
    origin = basemap_origin(basemap_url)
    if origin:
        img.append(origin)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-inline'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": img,
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "frame-ancestors": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def install(app: Flask) -> None:
    """Register the hook; the values are computed once from the app's configuration."""
    headers = {
        "Content-Security-Policy": content_security_policy(app.config.get("SINERGI_BASEMAP_URL") or ""),
        "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    if app.config.get("SINERGI_ENV") == "production":
        headers["Strict-Transport-Security"] = HSTS_VALUE

    policy = headers.pop("Content-Security-Policy")

    @app.after_request
    def _security_headers(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)  # a view's own, stricter value stays
        # A view may send its own policy (the map frames send frame-ancestors); browsers enforce
        # every CSP header a response carries, so ours is added next to it and can only tighten.
        if policy not in response.headers.getlist("Content-Security-Policy"):
            response.headers.add("Content-Security-Policy", policy)
        return response
