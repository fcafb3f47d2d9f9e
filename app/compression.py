"""Brotli / gzip for the text the app sends (Flask-Compress): pages, JSON, GeoJSON, vector
tiles, CSV exports and the vendored CSS/JS (Leaflet, FAB's jQuery/Bootstrap/Select2).

The household list (141 KB) goes out as 7 KB (brotli) or 8 KB (gzip), FAB's jQuery as 31 KB instead of 89 KB.

- The client chooses: ``Accept-Encoding: br`` gets brotli, ``gzip`` gets gzip, nothing (or
  ``identity``) gets the plain bytes. Every answer says ``Vary: Accept-Encoding``.
- Streamed responses (the CSV exports, static files) are compressed chunk by chunk as they
  are sent (``COMPRESS_STREAMS``): a million-row export is never held in memory, and the
  export log row is still written when the last row has gone out
  (tests/integration/test_compression.py reads a streamed export chunk by chunk).
- A response that is already encoded is left alone: the GeoJSON and vector tiles of
  gis/http.py gzip themselves (with their own ETag); XLSX and GeoPackage are zip/SQLite files
  and are not in the list.
- Static files keep their conditional answers: ETag + If-None-Match still give 304 on the
  compressed variant (``COMPRESS_STREAMING_ENDPOINT_CONDITIONAL``).

Every setting can be overridden in the app's configuration (``COMPRESS_*``, see the
Flask-Compress documentation); ``COMPRESS_REGISTER = False`` turns compression off, for a
reverse proxy that compresses itself.
"""
from __future__ import annotations

from flask import Flask

from app.extensions import compress

MIMETYPES = [
    "text/html",
    "text/css",
    "text/plain",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/geo+json",
    "application/schema+json",
    "application/vnd.oai.openapi+json",
    "application/vnd.mapbox-vector-tile",
    "image/svg+xml",
    # Streamed (Response(generator)): compressed chunk by chunk, never buffered whole.
    "text/csv",
]

DEFAULTS = {
    "COMPRESS_MIMETYPES": MIMETYPES,
    # Brotli first (smaller, as fast as gzip at this level), gzip for every other client.
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    # Streamed responses (send_file of the vendored files, CSV exports): gzip first. Flask-Compress
    # leaves gzip out of this list by default, but chunk by chunk it came out smaller than brotli
    # level 4 here (FAB's jQuery: 30.9 KB against 31.9 KB) and every client reads it.
    "COMPRESS_ALGORITHM_STREAMING": ["gzip", "br"],
    "COMPRESS_BR_LEVEL": 4,
    "COMPRESS_LEVEL": 6,
    "COMPRESS_MIN_SIZE": 500,
    "COMPRESS_STREAMS": True,
    # Static files (the app's and FAB's): 304 on If-None-Match after compression too.
    "COMPRESS_STREAMING_ENDPOINT_CONDITIONAL": ["static", "appbuilder.static"],
}


def install(app: Flask) -> None:
    """Register compression. Call it before any other ``after_request`` hook that reads a
    response body (errors.py translates FAB's API messages): Flask runs those hooks last
    registered first, so this one runs after them, on the finished body."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    compress.init_app(app)
