"""HTTP surface of the GIS layer: GeoJSON, vector tiles and OGC API - Features.

Endpoints (``register(appbuilder)`` adds the three FAB ``BaseApi`` views below)

GeoJSON, ``GeoFeaturesView`` (``application/geo+json``, RFC 7946, CRS84 lon/lat)
- ``/gis/geojson/villages``   login; villages with code, name, kind, district, regency and
  the scoped measures households, desil1, reached, coverage, multi_program, gaps
  (``gis.queries.village_measures``; 0 where the scope holds no household). Parameters
  ``regency=18.07``, ``bbox=minx,miny,maxx,maxy``, ``simplify=<degrees>`` or ``zoom=<z>``,
  ``year=`` (default: the year the screens open on, queries.default_year), ``k=`` (desil for gaps, default 1),
  ``snapshot=<id>`` ("Sumber data": the measures over the households that targeting snapshot lists,
  with its desil and village, gis/snapshot_measures.py; the answer then names it in ``snapshot``
  {id, label}; default: each household's latest data).
- ``/gis/geojson/villages/targeting``  login; the village map's targeting measures per village id
  (``year=``, ``regency=``): ``desil_exit``, ``entered``, ``left`` of the two latest snapshots for
  users who may open the snapshot diff page, ``duplicates`` (open pairs) for those who may open the
  duplicates queue, scoped as those pages (gis/targeting.py). Apart from the villages GeoJSON so
  that the map pays for them only when one is chosen (a province's villages at z8 stay small).
- ``/gis/geojson/zones``      login; scoped priority zones (``year=``, ``bbox=``, ``zoom=``/``simplify=``).
- ``/gis/geojson/households`` login; scoped households (``regency=``, ``bbox=``, ``page=``, ``limit=`` <= 5,000,
  ``year=``, ``snapshot=``) with id, desil, programs, location_status and the No KK masked by
  ``mask_number`` (never the NIK); ``links``/``next`` point to the following page. With
  ``snapshot=<id>`` the households that snapshot lists, with its desil, village and point (the
  status of that point against that village), and the answer names it in ``snapshot``.
- ``/gis/geojson/regencies``, ``/gis/geojson/districts``  public borders (``regency=``,
  ``bbox=``, ``zoom=``/``simplify=``).

Vector tiles, ``GeoTilesView``: ``/gis/tiles/households/{z}/{x}/{y}.pbf`` and
``/gis/tiles/villages/{z}/{x}/{y}.pbf`` (login; ``year=``, ``snapshot=``; villages also ``k=``), see gis/tiles.py.
An empty tile answers 204 with no body.

OGC API - Features Part 1 (Core, GeoJSON, OAS 3.0), ``OgcApiView`` under ``/ogc``:
``/ogc/`` landing, ``/ogc/api`` (OpenAPI), ``/ogc/conformance``, ``/ogc/collections``,
``/ogc/collections/{id}``, ``/ogc/collections/{id}/items`` (``bbox``, ``limit`` default 10,
max 10,000 (larger values are cut to it), ``offset``, ``datetime``, ``f=json``) and
``/ogc/collections/{id}/items/{featureId}`` for ``regencies``, ``districts``, ``villages``
(feature id = Kemendagri code) and ``zones`` (feature id = zone id). Unknown collection
or item: 404; bad or unknown parameter: 400 (``{"code", "description"}``).
Part 3 (gis/ogc_filter.py): ``/ogc/collections/{id}/queryables`` (JSON Schema); every feature
property is also an equality parameter (``?regency=Kabupaten%20Lampung%20Timur``,
``?regency_code=18.07``, zones ``?year=2025``), so no parameter shadows a property and GDAL's
``-where`` is answered by the server; ``filter=<CQL2 text>`` (``filter-lang=cql2-text``).
Collections, their descriptions, queryables and the API definition are shown only to callers
who may read the items (zones: a login with the zone permission), so GDAL meets no 401.
Extents are the exact ST_Extent of each collection (zones: of the caller's scope), rounded outward.
Zones are published valid at the published precision (features._valid_geometry).

Who may see what (the decision)
- Public, also for anonymous users: the administrative areas themselves (code, name,
  kind, parent, boundary) through ``/gis/geojson/regencies|districts`` and the OGC
  collections regencies, districts and villages, plus the OGC landing page, API
  definition, conformance and collection descriptions. They are published reference data
  (Kemendagri/BPS) and hold nothing about people.
- Login required (session cookie or ``Authorization: Bearer <JWT>`` from
  ``/api/v1/security/login``; FAB's ``@protect(allow_browser_login=True)``), scoped by
  ``app.security.scope``: households (GeoJSON and tiles), priority zones (GeoJSON and OGC
  items), and everything carrying village measures (villages GeoJSON, villages tiles),
  since the measures are counts of households. Anonymous callers get 401, users whose
  role lacks the permission 403. Set ``SINERGI_PUBLIC_AREAS = False`` to require a login
  for the area layers too.

Caching: public layers ``Cache-Control: public, max-age=3600``; scoped aggregates and tiles
``private, max-age=300``; household GeoJSON (personal data, masked) ``private, no-store``.
Every cacheable answer has an ETag (304 on ``If-None-Match``) and is gzip-compressed
when the client accepts it. Village measures come from the kept per-village tables
(gis/measures.py), current at every request; only an OPD's scope (its own programs) is
computed live and then shared by a map view's tiles for ``SINERGI_GIS_MEASURES_TTL`` seconds
(default 30). Every request runs with the statement timeout of app/query_guard.py.

Measured with 1,020,000 households and 2,552,229 enrolments: bench/bench_scale.py, figures in
bench/README.md (village map data, household and village tiles at z8/z12/z14 for Bappeda, an
operator and Pimpinan, each against its bare SQL in the same run). JIT is off (config.SQLALCHEMY_ENGINE_OPTIONS)
for these queries: it added 0.5 s to every tile.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
from typing import Optional
from urllib.parse import urlencode

from flask import current_app, request
from flask import Response
from flask_appbuilder.api import BaseApi, expose
from flask_appbuilder.security.decorators import permission_name, protect

from app.query_guard import guarded_connection
from app.security.scope import current_scope
from app.services import snapshot_diff
from app.services.snapshot_arg import SnapshotArgError, parse_snapshot
from gis import features as F
from gis import geo_export, ogc_filter, queries, snapshot_measures, targeting
from gis import tiles as T
from gis.features import QueryError

PUBLIC_CACHE = "public, max-age=3600"
SCOPED_CACHE = "private, max-age=300"
PERSONAL_CACHE = "private, no-store"
MVT = "application/vnd.mapbox-vector-tile"
HOUSEHOLD_PAGE_DEFAULT = 1000
HOUSEHOLD_PAGE_MAX = 5000
MAX_ZOOM = 22


# --- shared helpers ----------------------------------------------------------------------------

def _connection():
    """The request's connection with the statement timeout (app/query_guard.py);
    ``SINERGI_GIS_STATEMENT_TIMEOUT_MS`` in the config overrides the timeout for maps."""
    return guarded_connection("SINERGI_GIS_STATEMENT_TIMEOUT_MS")


def _send(body, mimetype: str, cache: str, status: int = 200, headers: Optional[dict] = None) -> Response:
    """A response with Cache-Control, an ETag (304 when it matches) and gzip when accepted."""
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    response = Response(status=status, mimetype=mimetype)
    response.headers["Cache-Control"] = cache
    response.vary.add("Accept-Encoding")
    if cache.startswith("private"):
        response.vary.update(("Cookie", "Authorization"))
    for k, v in (headers or {}).items():
        response.headers[k] = v
    etag = hashlib.blake2b(data, digest_size=16).hexdigest()
    compress = len(data) > 1024 and "gzip" in request.accept_encodings
    if compress:
        data = gzip.compress(data, compresslevel=5)
        response.headers["Content-Encoding"] = "gzip"
        etag += "-gz"
    response.set_data(data)
    if "no-store" not in cache:
        response.set_etag(etag)
        response.make_conditional(request)
    return response


def _empty(cache: str) -> Response:
    response = Response(status=204)
    response.headers["Cache-Control"] = cache
    if cache.startswith("private"):
        response.vary.update(("Cookie", "Authorization"))
    return response


def _bad_request(message: str) -> Response:
    return Response(json.dumps({"message": message}), status=400, mimetype="application/json")


def _no_nul_anywhere(path_args: dict) -> None:
    """PostgreSQL text cannot hold NUL: a %00 in any parameter is the caller's error (400),
    not a psycopg exception (500)."""
    values = [*request.args.keys(), *request.args.values(), *(str(v) for v in path_args.values())]
    if any("\x00" in v for v in values):
        raise QueryError("parameter tidak boleh memuat karakter NUL (%00)")


def _catch_query_errors(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            _no_nul_anywhere(kwargs)
            return f(*args, **kwargs)
        except (QueryError, T.TileError) as exc:
            return _bad_request(str(exc))
    return wrapper


def _areas_public() -> bool:
    return bool(current_app.config.get("SINERGI_PUBLIC_AREAS", True))


def _require_login_for_areas(view: BaseApi):
    """None when the area layers may be served; else the 401/403 answer (areas made private)."""
    if _areas_public():
        return None
    from flask_jwt_extended import verify_jwt_in_request
    from flask_login import current_user

    if not current_user.is_authenticated:
        try:
            verify_jwt_in_request()
        except Exception:
            return view.response_401()
    return None if current_scope().kind != "none" else view.response_403()


def _args():
    return request.args


def _year(conn) -> int:
    year = F.parse_int(_args().get("year"), "year", None, 2000, 2100)
    return year if year is not None else queries.default_year(conn, current_scope())


def _k() -> int:
    return F.parse_int(_args().get("k"), "k", 1, 1, 4)


def _snapshot(conn) -> Optional[int]:
    """``snapshot=<id>`` ("Sumber data"): None for the latest data, else an existing targeting
    snapshot (the one parser, app/services/snapshot_arg.py; a bad value is a 400)."""
    try:
        return parse_snapshot(_args(), conn)
    except SnapshotArgError as exc:
        raise QueryError(exc.message) from None


def _snapshot_member(conn, snapshot_id: int) -> dict:
    """{id, label} of the chosen snapshot ("BDT 2015", "DTSEN 2025-Q4"), named in the answer."""
    return {"id": snapshot_id, "label": snapshot_diff.snapshot_label(conn, snapshot_id)}


def _measures_ttl() -> float:
    """Seconds an OPD's live per-village figures are shared by the requests of a map view."""
    return float(current_app.config.get("SINERGI_GIS_MEASURES_TTL", 30))


def _simplification() -> tuple[Optional[float], int]:
    simplify = F.parse_float(_args().get("simplify"), "simplify", 0.0, 1.0)
    zoom = F.parse_int(_args().get("zoom"), "zoom", None, 0, MAX_ZOOM)
    return F.resolve_simplify(simplify, zoom)


# --- GeoJSON -----------------------------------------------------------------------------------

class GeoFeaturesView(BaseApi):
    """GeoJSON layers for the maps (see the module docstring)."""

    route_base = "/gis/geojson"
    allow_browser_login = True
    openapi_spec_tag = "GIS"

    @expose("/villages", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("villages")
    @_catch_query_errors
    def villages(self):
        conn = _connection()
        tolerance, decimals = _simplification()
        bbox = F.parse_bbox(_args().get("bbox"))
        regency_id = F.regency_id_for(conn, _args().get("regency"))
        scope, year, k, snapshot = current_scope(), _year(conn), _k(), _snapshot(conn)
        # A chosen snapshot: its figures of the whole scope, computed once and kept
        # (gis/snapshot_measures.py); None: the kept measures of the latest data, as before.
        measures = snapshot_measures.village_measures(conn, scope, snapshot, year, k)
        body = F.villages_geojson(conn, scope, year=year, max_desil=k, regency_id=regency_id,
                                  bbox=bbox, tolerance=tolerance, decimals=decimals, measures=measures,
                                  snapshot=None if snapshot is None else _snapshot_member(conn, snapshot))
        return _send(body, F.GEOJSON, SCOPED_CACHE)

    @expose("/villages/targeting", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("villages")
    @_catch_query_errors
    def village_targeting(self):
        """The village map's targeting measures (gis/targeting.py), loaded when one is chosen:
        ``?year=&regency=18.07`` -> {year, fields, snapshots, villages: {village id: [figures in
        the order of fields]}} for the villages with a figure not 0. Only the fields of the pages
        the user may open; none (fields []) for the others."""
        conn = _connection()
        scope, year = current_scope(), _year(conn)
        regency_id = F.regency_id_for(conn, _args().get("regency"))
        with_diff, with_duplicates = targeting.allowed(self.appbuilder.sm)
        figures = targeting.village_targeting(conn, scope, year, with_diff=with_diff,
                                              with_duplicates=with_duplicates, ttl=_measures_ttl())
        body = json.dumps(figures.as_json(conn, year, regency_id), ensure_ascii=False, separators=(",", ":"))
        return _send(body, "application/json", SCOPED_CACHE)

    @expose("/villages/search", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("villages")
    @_catch_query_errors
    def village_search(self):
        """The village map's search box: ``?q=<name or code words>[&regency=18.07]`` -> up to 10
        villages with district, regency and bbox. An operator searches their own regency."""
        conn = _connection()
        scope = current_scope()
        text = (_args().get("q") or "")[:80]
        regency_id = scope.regency_id if scope.kind == "regency" else F.regency_id_for(conn, _args().get("regency"))
        body = json.dumps({"villages": F.village_search(conn, text, regency_id)}, ensure_ascii=False)
        return _send(body, "application/json", SCOPED_CACHE)

    @expose("/zones", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("zones")
    @_catch_query_errors
    def zones(self):
        conn = _connection()
        tolerance, decimals = _simplification()
        year = F.parse_int(_args().get("year"), "year", None, 2000, 2100)
        body = F.zones_geojson(conn, current_scope(), year=year, bbox=F.parse_bbox(_args().get("bbox")),
                               tolerance=tolerance, decimals=decimals)
        return _send(body, F.GEOJSON, SCOPED_CACHE)

    @expose("/households", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("households")
    @_catch_query_errors
    def households(self):
        conn = _connection()
        scope = current_scope()
        bbox = F.parse_bbox(_args().get("bbox"))
        limit = F.parse_int(_args().get("limit"), "limit", HOUSEHOLD_PAGE_DEFAULT, 1, HOUSEHOLD_PAGE_MAX, clamp=True)
        page = F.parse_int(_args().get("page"), "page", 1, 1, ogc_filter.INT_MAX // HOUSEHOLD_PAGE_MAX)
        year = _year(conn)
        regency_id = F.regency_id_for(conn, _args().get("regency"))
        snapshot = _snapshot(conn)
        with queries.reading_snapshot(snapshot):
            rows, more = F.household_page(conn, scope, year=year, bbox=bbox, regency_id=regency_id, limit=limit,
                                          offset=(page - 1) * limit)
        params = {k: v for k, v in _args().items() if k not in ("page", "limit")}
        params["year"] = year

        def page_url(n: int) -> str:
            return f"{request.base_url}?{urlencode({**params, 'limit': limit, 'page': n})}"

        links = [{"href": page_url(page), "rel": "self", "type": F.GEOJSON}]
        nxt = page_url(page + 1) if more else None
        if nxt:
            links.append({"href": nxt, "rel": "next", "type": F.GEOJSON})
        if page > 1:
            links.append({"href": page_url(page - 1), "rel": "prev", "type": F.GEOJSON})
        extra = {"snapshot": _snapshot_member(conn, snapshot)} if snapshot is not None else {}
        body = F.feature_collection((F.household_feature(r, scope) for r in rows), year=year, page=page,
                                    limit=limit, numberReturned=len(rows), next=nxt, links=links, **extra)
        return _send(body, F.GEOJSON, PERSONAL_CACHE)

    @expose("/regencies", methods=["GET"])
    @_catch_query_errors
    def regencies(self):
        return self._areas("regencies")

    @expose("/districts", methods=["GET"])
    @_catch_query_errors
    def districts(self):
        return self._areas("districts")

    def _areas(self, level: str):
        refused = _require_login_for_areas(self)
        if refused is not None:
            return refused
        conn = _connection()
        tolerance, decimals = _simplification()
        regency_id = F.regency_id_for(conn, _args().get("regency")) if level != "regencies" else None
        body = F.areas_geojson(conn, level, bbox=F.parse_bbox(_args().get("bbox")), regency_id=regency_id,
                               tolerance=tolerance, decimals=decimals)
        return _send(body, F.GEOJSON, PUBLIC_CACHE if _areas_public() else SCOPED_CACHE)


# --- vector tiles ------------------------------------------------------------------------------

class GeoTilesView(BaseApi):
    """Mapbox vector tiles of households and villages (see gis/tiles.py)."""

    route_base = "/gis/tiles"
    allow_browser_login = True
    openapi_spec_tag = "GIS"

    @expose("/households/<int:z>/<int:x>/<int:y>.pbf", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("households")
    @_catch_query_errors
    def households(self, z: int, x: int, y: int):
        T.check_tile(z, x, y)
        conn = _connection()
        with queries.reading_snapshot(_snapshot(conn)):  # "Sumber data": that snapshot's points and desil
            return self._tile(T.household_tile(conn, current_scope(), z, x, y, _year(conn)))

    @expose("/villages/<int:z>/<int:x>/<int:y>.pbf", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("villages")
    @_catch_query_errors
    def villages(self, z: int, x: int, y: int):
        T.check_tile(z, x, y)
        conn = _connection()
        scope, year = current_scope(), _year(conn)
        # The tiles follow the "Sumber data" choice as the GeoJSON does (same figures, same
        # cache), so that a client colouring villages by desil 1 or gaps from tiles shows the
        # snapshot it asked for. (The village map page itself draws villages from the GeoJSON.)
        snapshot = _snapshot(conn)
        if snapshot is not None:
            return self._tile(T.village_tile(conn, z, x, y,
                                             snapshot_measures.village_measures(conn, scope, snapshot, year, _k())))
        if queries.kept_scope(scope):  # the tile's villages' kept measures, in the tile's own SQL
            return self._tile(T.village_tile(conn, z, x, y, scope=scope, year=year, max_desil=_k()))
        measures = F.measures_cache.get(conn, scope, year, _k(), _measures_ttl())
        return self._tile(T.village_tile(conn, z, x, y, measures))

    # Werkzeug prefers the int routes above; what they refuse (an unknown layer, a negative or
    # non-numeric z/x/y) lands here and gets a JSON answer instead of an HTML 404.
    @expose("/<layer>/<z>/<x>/<y>.pbf", methods=["GET"])
    def unknown_layer(self, layer: str, z: str, x: str, y: str):
        if layer not in T.LAYERS:
            return Response(json.dumps({"message": f"lapisan {layer[:40]!r} tidak ada; lapisan: {', '.join(T.LAYERS)}"}),
                            status=404, mimetype="application/json")
        return _bad_request(f"z, x dan y harus bilangan bulat tidak negatif (zoom 0..{MAX_ZOOM})")

    @staticmethod
    def _tile(data: bytes) -> Response:
        if not data:
            return _empty(SCOPED_CACHE)
        return _send(data, MVT, SCOPED_CACHE)


# --- OGC API - Features ------------------------------------------------------------------------

TITLE = "Sinergi - OGC API Features"
COMMON_PARAMS = {"f"}
ITEMS_PARAMS = {"f", "bbox", "limit", "offset", "datetime", "bbox-crs", "crs", "filter", "filter-lang", "filter-crs"}
CRS_NAMES = {F.CRS84, "CRS84", "OGC:CRS84"}
ZONES_PERMISSION = "can_zones"  # @permission_name("zones") of the zone routes below


def _ogc_error(status: int, code: str, description: str) -> Response:
    return Response(json.dumps({"code": code, "description": description}), status=status,
                    mimetype="application/json")


class OgcError(Exception):
    def __init__(self, status: int, code: str, description: str):
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


def _ogc_errors(f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            _no_nul_anywhere(kwargs)
            return f(*args, **kwargs)
        except QueryError as exc:
            return _ogc_error(400, "InvalidParameterValue", str(exc))
        except OgcError as exc:
            return _ogc_error(exc.status, exc.code, exc.description)
    return wrapper


def _check_params(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise QueryError(f"parameter tidak dikenal: {', '.join(unknown)}")
    fmt = request.args.get("f")
    if fmt not in (None, "", "json", "geojson"):
        raise QueryError("f: hanya json yang tersedia")
    for name in ("crs", "bbox-crs", "filter-crs"):
        value = request.args.get(name)
        if value not in (None, "") and value not in CRS_NAMES:
            raise QueryError(f"{name}: hanya {F.CRS84} yang tersedia")


def _base() -> str:
    return request.url_root.rstrip("/") + "/ogc"


def _collection(cid: str) -> F.Collection:
    coll = F.OGC_COLLECTIONS.get(cid)
    if coll is None:
        raise OgcError(404, "NotFound", f"koleksi {cid!r} tidak ada; koleksi: {', '.join(F.OGC_COLLECTIONS)}")
    return coll


def _may_read_zones(view: BaseApi) -> bool:
    """Whether the caller (session cookie or Bearer JWT) holds the zone items' permission,
    decided as FAB's @protect decides, without answering 401 for an anonymous caller."""
    from flask_jwt_extended import verify_jwt_in_request
    from flask_login import current_user

    sm = view.appbuilder.sm
    if sm.has_access(ZONES_PERMISSION, view.class_permission_name):
        return True
    if not current_user.is_authenticated:
        try:
            verify_jwt_in_request(optional=True)
        except Exception:
            return False
    return bool(sm.has_access(ZONES_PERMISSION, view.class_permission_name))


def _readable(view: BaseApi) -> list[F.Collection]:
    """The collections whose items the caller may read: a client that lists them (GDAL, QGIS)
    must not meet a 401 on one of them."""
    areas = _areas_public() or _require_login_for_areas(view) is None
    zones = _may_read_zones(view)
    return [c for c in F.OGC_COLLECTIONS.values() if (zones if c.id == "zones" else areas)]


def _filters(coll: F.Collection) -> list:
    """SQL conditions of the property parameters and the CQL2 ``filter`` (gis/ogc_filter.py)."""
    attributes = coll.attributes()
    conditions = ogc_filter.property_conditions(request.args, attributes)
    cql = ogc_filter.cql2_condition(request.args.get("filter"), request.args.get("filter-lang"), attributes)
    if cql is not None:
        conditions.append(cql)
    return conditions


class OgcApiView(BaseApi):
    """OGC API - Features (Part 1 Core + GeoJSON, Part 3 queryables and CQL2 text filter)
    for QGIS and other GIS clients. Collections are listed only to callers who may read
    their items (zones: a login with the zone permission)."""

    route_base = "/ogc"
    allow_browser_login = True
    openapi_spec_tag = "OGC API Features"

    def _json(self, doc: dict, public: bool = True, mimetype: str = "application/json") -> Response:
        return _send(json.dumps(doc, ensure_ascii=False), mimetype, PUBLIC_CACHE if public else SCOPED_CACHE)

    def _readable_collection(self, cid: str) -> F.Collection:
        """The collection, or 401/403 when the caller may not read it (never listed to them)."""
        coll = _collection(cid)
        if coll not in _readable(self):
            from flask_login import current_user

            anonymous = not current_user.is_authenticated and "Authorization" not in request.headers
            raise OgcError(401 if anonymous else 403, "Forbidden",
                           f"koleksi {cid!r} memerlukan login dengan hak akses yang sesuai")
        return coll

    @expose("/", methods=["GET"])
    @_ogc_errors
    def landing(self):
        _check_params(COMMON_PARAMS)
        return self._json(F.ogc_landing(_base(), TITLE))

    @expose("/api", methods=["GET"])
    @_ogc_errors
    def api(self):
        _check_params(COMMON_PARAMS)
        readable = _readable(self)
        public = all(c.public for c in readable)
        return _send(json.dumps(F.ogc_openapi(_base(), TITLE, readable)), F.OPENAPI_TYPE,
                     PUBLIC_CACHE if public else SCOPED_CACHE)

    @expose("/conformance", methods=["GET"])
    @_ogc_errors
    def conformance(self):
        _check_params(COMMON_PARAMS)
        return self._json({"conformsTo": F.OGC_CONFORMANCE,
                           "links": [F.link(f"{_base()}/conformance", "self", "application/json")]})

    @expose("/collections", methods=["GET"])
    @_ogc_errors
    def collections(self):
        _check_params(COMMON_PARAMS)
        conn = _connection()
        readable = _readable(self)
        listed = [(c, F.collection_extent(conn, c.id, current_scope() if c.id == "zones" else None))
                  for c in readable]
        return self._json(F.ogc_collections(_base(), listed), public=all(c.public for c in readable))

    @expose("/collections/<cid>", methods=["GET"])
    @_ogc_errors
    def collection(self, cid: str):
        _check_params(COMMON_PARAMS)
        coll = self._readable_collection(cid)
        conn = _connection()
        extent = F.collection_extent(conn, cid, current_scope() if cid == "zones" else None)
        return self._json(F.ogc_collection(_base(), coll, extent), public=coll.public)

    @expose("/collections/<cid>/queryables", methods=["GET"])
    @_ogc_errors
    def queryables(self, cid: str):
        _check_params(COMMON_PARAMS)
        coll = self._readable_collection(cid)
        doc = ogc_filter.queryables(f"{_base()}/collections/{cid}/queryables", coll.title, coll.attributes())
        return self._json(doc, public=coll.public, mimetype=F.SCHEMA_TYPE)

    # -- items of the public area collections; zones have their own (protected) routes --------
    @expose("/collections/<cid>/items", methods=["GET"])
    @_ogc_errors
    def items(self, cid: str):
        coll = _collection(cid)
        refused = _require_login_for_areas(self)
        if refused is not None:
            return refused
        _check_params(ITEMS_PARAMS | set(coll.attributes()))
        conn = _connection()
        bbox, limit, offset = self._paging()
        F.parse_datetime(request.args.get("datetime"))  # validated; areas carry no time
        where = _filters(coll)
        matched = F.count_areas(conn, cid, bbox=bbox, where=where)
        rows = F.area_rows(conn, cid, bbox=bbox, where=where, limit=limit, offset=offset)
        return self._page(cid, [F.area_feature(r) for r in rows], offset, limit, matched,
                          PUBLIC_CACHE if _areas_public() else SCOPED_CACHE)

    @expose("/collections/<cid>/items/<fid>", methods=["GET"])
    @_ogc_errors
    def item(self, cid: str, fid: str):
        _collection(cid)
        refused = _require_login_for_areas(self)
        if refused is not None:
            return refused
        _check_params(COMMON_PARAMS | {"crs"})
        rows = F.area_rows(_connection(), cid, code=fid) if len(fid) <= 64 else []
        if not rows:
            raise OgcError(404, "NotFound", f"objek {fid[:64]!r} tidak ada di {cid}")
        return self._item(cid, fid, F.area_feature(rows[0]), PUBLIC_CACHE if _areas_public() else SCOPED_CACHE)

    @expose("/collections/zones/items", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("zones")
    @_ogc_errors
    def zone_items(self):
        coll = F.OGC_COLLECTIONS["zones"]
        _check_params(ITEMS_PARAMS | set(coll.attributes()))
        conn = _connection()
        scope = current_scope()
        bbox, limit, offset = self._paging()
        years = F.parse_datetime(request.args.get("datetime"))
        where = _filters(coll)
        matched = F.count_zones(conn, scope, years=years, bbox=bbox, where=where)
        rows = F.zone_rows(conn, scope, years=years, bbox=bbox, where=where, limit=limit, offset=offset)
        return self._page("zones", [F.zone_feature(r) for r in rows], offset, limit, matched, SCOPED_CACHE)

    @expose("/collections/zones/items/<fid>", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("zones")
    @_ogc_errors
    def zone_item(self, fid: str):
        _check_params(COMMON_PARAMS | {"crs"})
        # A zone id is a PostgreSQL integer: a longer number is no zone (not a 500).
        zone_id = int(fid) if fid.isascii() and fid.isdigit() and int(fid) <= ogc_filter.INT_MAX else None
        rows = F.zone_rows(_connection(), current_scope(), zone_id=zone_id) if zone_id is not None else []
        if not rows:
            raise OgcError(404, "NotFound", f"objek {fid[:64]!r} tidak ada di zones")
        return self._item("zones", fid, F.zone_feature(rows[0]), SCOPED_CACHE)

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _paging():
        bbox = F.parse_bbox(request.args.get("bbox"))
        limit = F.parse_int(request.args.get("limit"), "limit", F.OGC_DEFAULT_LIMIT, 1, F.OGC_MAX_LIMIT, clamp=True)
        offset = F.parse_int(request.args.get("offset"), "offset", 0, 0, ogc_filter.INT_MAX)
        return bbox, limit, offset

    @staticmethod
    def _page(cid: str, features: list[str], offset: int, limit: int, matched: int, cache: str) -> Response:
        params = {k: v for k, v in request.args.items() if k not in ("limit", "offset")}
        links = F.ogc_items_links(f"{_base()}/collections/{cid}/items", params, offset, limit, len(features), matched)
        links.append(F.link(f"{_base()}/collections/{cid}", "collection", "application/json"))
        body = F.feature_collection(features, timeStamp=F.utc_now(), numberMatched=matched,
                                    numberReturned=len(features), links=links)
        return _send(body, F.GEOJSON, cache, headers={"Content-Crs": f"<{F.CRS84}>"})

    @staticmethod
    def _item(cid: str, fid: str, feature_text: str, cache: str) -> Response:
        url = f"{_base()}/collections/{cid}/items/{fid}"
        links = [F.link(url, "self", F.GEOJSON), F.link(f"{url}?f=json", "alternate", F.GEOJSON),
                 F.link(f"{_base()}/collections/{cid}", "collection", "application/json")]
        body = feature_text[:-1] + f',"links":{json.dumps(links)}}}'
        return _send(body, F.GEOJSON, cache, headers={"Content-Crs": f"<{F.CRS84}>"})


def register(appbuilder) -> None:
    """Adds the GeoJSON, vector tile and OGC API views (their permissions go to every staff
    role through app/security/roles.py: GeoFeaturesView, GeoTilesView, OgcApiView)."""
    appbuilder.add_api(GeoFeaturesView)
    appbuilder.add_api(GeoTilesView)
    appbuilder.add_api(OgcApiView)
    appbuilder.add_api(geo_export.GeoExportView)  # GeoJSON / GeoPackage downloads (gis/geo_export.py)
