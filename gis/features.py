"""GeoJSON (RFC 7946) and OGC API - Features (Part 1: Core, GeoJSON) builders.

Everything here takes a SQLAlchemy ``Connection`` and, for domain rows, the user's
``Scope`` (app.security.scope); the scope predicates are part of the SQL, so no answer
holds a row the user may not see. Areas (regencies, districts, villages) are public
reference data; zones and households are scoped; village *measures* are scoped through
``gis.queries.village_measures``.

The SQL is set-based and relies on the GiST indexes idx_regency_geom, idx_district_geom,
idx_village_geom, idx_priority_zone_geom and idx_household_location for ``bbox`` (the
``ST_Intersects`` below uses them), and on ix_enrolment_household_id for programme
counts. Geometry is serialised by PostGIS (``ST_AsGeoJSON``) and spliced into the JSON text
as is: Python never parses or rebuilds coordinates.

Zoom and simplification: ``zoom_tolerance(z)`` is one screen pixel (256-px tiles) at zoom
z, in degrees, used with ``ST_SimplifyPreserveTopology``; ``tolerance_decimals`` keeps a
coordinate precision of a quarter pixel or better. The whole province of villages at z8 is
then well under 1.5 MB (tests/integration/test_geo_endpoints.py asserts it).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from sqlalchemy import distinct, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from app.models.areas import District, Regency, Village
from app.models.zones import PriorityZone
from app.security.scope import POSITION_SLACK, Scope, in_scope, mask_number, position
from gis import queries

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
DEFAULT_DECIMALS = 6  # ~0.1 m: full precision for unsimplified geometry
MEASURE_FIELDS = ("households", "desil1", "reached", "coverage", "multi_program", "gaps", "programs_3plus")


class QueryError(ValueError):
    """A bad request parameter; the message names it and is shown to the caller (400)."""


# --- parameters ---------------------------------------------------------------------------------

def parse_bbox(text: Optional[str]) -> Optional[tuple[float, float, float, float]]:
    """'minx,miny,maxx,maxy' (or the 6-number 3D form) in CRS84 -> a tuple, or None when absent."""
    if text is None or text == "":
        return None
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise QueryError("bbox: diharapkan minx,miny,maxx,maxy (4 atau 6 angka)")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise QueryError("bbox: setiap nilai harus angka") from None
    if not all(math.isfinite(v) for v in values):
        raise QueryError("bbox: setiap nilai harus angka hingga (bukan inf/nan)")
    minx, miny, maxx, maxy = (values[0], values[1], values[2], values[3]) if len(values) == 4 else \
        (values[0], values[1], values[3], values[4])
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise QueryError("bbox: bujur harus di antara -180 dan 180, lintang di antara -90 dan 90")
    if minx > maxx or miny > maxy:
        raise QueryError("bbox: nilai minimum tidak boleh melebihi maksimum")
    return minx, miny, maxx, maxy


def parse_int(text: Optional[str], name: str, default: Optional[int], minimum: int, maximum: Optional[int] = None,
              clamp: bool = False) -> Optional[int]:
    """An integer parameter; below ``minimum`` or not a number -> QueryError; above ``maximum``
    -> QueryError, or the maximum when ``clamp``."""
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise QueryError(f"{name}: harus bilangan bulat") from None
    if value < minimum:
        raise QueryError(f"{name}: paling kecil {minimum}")
    if maximum is not None and value > maximum:
        if clamp:
            return maximum
        raise QueryError(f"{name}: paling besar {maximum}")
    return value


def parse_float(text: Optional[str], name: str, minimum: float, maximum: float) -> Optional[float]:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise QueryError(f"{name}: harus angka") from None
    if not (math.isfinite(value) and minimum <= value <= maximum):
        raise QueryError(f"{name}: harus di antara {minimum} dan {maximum}")
    return value


_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T.*)?$")


def parse_datetime(text: Optional[str]) -> Optional[tuple[Optional[dt.date], Optional[dt.date]]]:
    """OGC ``datetime``: an instant or an interval 'a/b' with '..' (or empty) for open ends.
    Returns (start, end) dates (None = open) or None when absent. Only the date part counts."""
    if text is None or text == "":
        return None

    def one(value: str, end: bool) -> Optional[dt.date]:
        if value in ("", ".."):
            return None
        m = _DATE.match(value.strip())
        if not m:
            raise QueryError("datetime: diharapkan tanggal-waktu RFC 3339, atau interval 'awal/akhir'")
        year, month, day = int(m.group(1)), m.group(2), m.group(3)
        try:
            if day:
                return dt.date(year, int(month), int(day))
            if month:
                first = dt.date(year, int(month), 1)
                return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1) \
                    if end else first
            return dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
        except ValueError:
            raise QueryError("datetime: bukan tanggal yang valid") from None

    if "/" in text:
        start_text, end_text = text.split("/", 1)
        start, end = one(start_text, False), one(end_text, True)
        if start is None and end is None:
            raise QueryError("datetime: interval memerlukan paling sedikit satu ujung")
    else:
        start, end = one(text, False), one(text, True)
    if start and end and start > end:
        raise QueryError("datetime: awal interval jatuh setelah akhirnya")
    return start, end


def zoom_tolerance(zoom: int) -> float:
    """Simplification tolerance in degrees for a web-map zoom: one 256-px screen pixel at the
    equator (Lampung lies at 4-6 degrees south, where a degree of longitude is as long)."""
    return 360.0 / (256 * 2 ** zoom)


def tolerance_decimals(tolerance: Optional[float]) -> int:
    """Coordinate decimals worth keeping for a tolerance (a step of at most a quarter of it), 3..6."""
    if not tolerance:
        return DEFAULT_DECIMALS
    return max(3, min(DEFAULT_DECIMALS, math.ceil(-math.log10(tolerance / 4))))


def resolve_simplify(simplify: Optional[float], zoom: Optional[int]) -> tuple[Optional[float], int]:
    """(tolerance, decimals) from ``simplify`` (degrees, wins) or ``zoom``; (None, 6) for neither."""
    tolerance = simplify if simplify else (zoom_tolerance(zoom) if zoom is not None else None)
    return tolerance, tolerance_decimals(tolerance)


def regency_id_for(conn: Connection, code: Optional[str]) -> Optional[int]:
    """The id of a regency given by its Kemendagri code ('18.07'); QueryError when unknown."""
    if code is None or code == "":
        return None
    if not re.fullmatch(r"[0-9]{2}\.[0-9]{2}", code):
        raise QueryError("regency: diharapkan kode kabupaten/kota seperti 18.07")
    rid = conn.execute(select(Regency.id).where(Regency.code == code)).scalar()
    if rid is None:
        raise QueryError(f"regency: tidak ada kabupaten/kota dengan kode {code}")
    return rid


def _envelope(bbox):
    return func.ST_MakeEnvelope(bbox[0], bbox[1], bbox[2], bbox[3], 4326)


def _geometry(column, tolerance: Optional[float], decimals: int):
    geom = func.ST_SimplifyPreserveTopology(column, tolerance) if tolerance else column
    return func.ST_AsGeoJSON(geom, decimals)


def _valid_geometry(column, tolerance: Optional[float], decimals: int):
    """GeoJSON text of a polygon column that stays valid at the published precision: reduced to
    the grid of ``decimals`` (ST_ReducePrecision drops the parts that collapse), made valid,
    polygons only. Without it a sliver that is valid in doubles reached GDAL as a ring of
    fewer than 4 points. Used for zones (a handful of rows, drawn or uploaded by people)."""
    geom = func.ST_SimplifyPreserveTopology(column, tolerance) if tolerance else column
    geom = func.ST_Multi(func.ST_CollectionExtract(
        func.ST_MakeValid(func.ST_ReducePrecision(geom, 10.0 ** -decimals)), 3))
    return func.ST_AsGeoJSON(geom, decimals)


# --- JSON text assembly -------------------------------------------------------------------------

def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    try:
        return float(value)  # Decimal
    except (TypeError, ValueError):
        raise TypeError(f"not JSON serialisable: {value!r}") from None


def feature(fid, geometry: Optional[str], properties: dict, extra: Optional[dict] = None) -> str:
    """One GeoJSON Feature as text; ``geometry`` is ST_AsGeoJSON text (or None -> null)."""
    tail = "".join(f",{_dumps(k)}:{_dumps(v)}" for k, v in (extra or {}).items())
    return (f'{{"type":"Feature","id":{_dumps(fid)},"geometry":{geometry or "null"},'
            f'"properties":{_dumps(properties)}{tail}}}')


def feature_collection(features: Iterable[str], **members) -> str:
    """A FeatureCollection as text; ``members`` (links, numberMatched, ...) come first."""
    head = "".join(f"{_dumps(k)}:{_dumps(v)}," for k, v in members.items())
    return f'{{"type":"FeatureCollection",{head}"features":[{",".join(features)}]}}'


# --- areas (public reference data) --------------------------------------------------------------

@dataclass(frozen=True)
class AreaLevel:
    name: str
    model: type
    title: str
    description: str
    properties: Callable[[], list]  # labelled columns (besides the geometry)
    joins: Callable[[object], object]  # select -> select with the joins the properties need
    regency_column: Callable[[], ColumnElement]


AREA_LEVELS: dict[str, AreaLevel] = {
    "regencies": AreaLevel(
        "regencies", Regency, "Kabupaten/kota (regencies) of Lampung",
        "Regency boundaries with their Kemendagri code and kind (kabupaten or kota).",
        lambda: [Regency.code.label("code"), Regency.name.label("name"), Regency.kind.label("kind")],
        lambda q: q, lambda: Regency.id),
    "districts": AreaLevel(
        "districts", District, "Kecamatan (districts) of Lampung",
        "District boundaries with their Kemendagri code and regency.",
        lambda: [District.code.label("code"), District.name.label("name"), Regency.code.label("regency_code"),
                 Regency.name.label("regency")],
        lambda q: q.join(Regency, Regency.id == District.regency_id), lambda: District.regency_id),
    "villages": AreaLevel(
        "villages", Village, "Desa/kelurahan (villages) of Lampung",
        "Village boundaries with their Kemendagri code, kind (desa or kelurahan), district and regency.",
        lambda: [Village.code.label("code"), Village.name.label("name"), Village.kind.label("kind"),
                 District.code.label("district_code"), District.name.label("district"),
                 Regency.code.label("regency_code"), Regency.name.label("regency")],
        lambda q: q.join(District, District.id == Village.district_id).join(Regency, Regency.id == District.regency_id),
        lambda: District.regency_id),
}


def area_attributes(level_name: str) -> dict[str, ColumnElement]:
    """Property name -> SQL column of an area level: what OGC attribute filters may name."""
    level = AREA_LEVELS[level_name]
    return {c.name: c.element for c in level.properties()}


def _area_filtered(level: AreaLevel, columns: list, bbox=None, regency_id=None, code=None, where=()):
    query = level.joins(select(*columns).select_from(level.model)).where(*where)
    if bbox is not None:
        query = query.where(func.ST_Intersects(level.model.geom, _envelope(bbox)))
    if regency_id is not None:
        query = query.where(level.regency_column() == regency_id)
    if code is not None:
        query = query.where(level.model.code == code)
    return query


def area_rows(conn: Connection, level_name: str, *, bbox=None, regency_id: Optional[int] = None,
              tolerance: Optional[float] = None, decimals: int = DEFAULT_DECIMALS, limit: Optional[int] = None,
              offset: int = 0, code: Optional[str] = None, where=()):
    """Rows (id, code, name, ..., geometry as GeoJSON text) of one area level, ordered by code."""
    level = AREA_LEVELS[level_name]
    columns = [level.model.id.label("id"), *level.properties(),
               _geometry(level.model.geom, tolerance, decimals).label("geometry")]
    query = _area_filtered(level, columns, bbox, regency_id, code, where).order_by(level.model.code)
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    return conn.execute(query).mappings().all()


SEARCH_LIMIT = 10


def village_search(conn: Connection, text: str, regency_id: Optional[int] = None) -> list[dict]:
    """Up to ``SEARCH_LIMIT`` villages whose name or code holds every word of ``text`` (the map's
    search box), each with its district, regency and extent to zoom to; exact code first, then
    names starting with the text, then by code."""
    words = [w for w in re.split(r"\s+", text.strip()) if w][:5]
    if not words:
        return []
    level = AREA_LEVELS["villages"]
    like = [Village.name.icontains(w, autoescape=True) | Village.code.startswith(w, autoescape=True) for w in words]
    columns = [Village.id.label("id"), Village.code.label("code"), Village.name.label("name"),
               District.name.label("district"), Regency.name.label("regency"),
               func.ST_XMin(Village.geom).label("minx"), func.ST_YMin(Village.geom).label("miny"),
               func.ST_XMax(Village.geom).label("maxx"), func.ST_YMax(Village.geom).label("maxy")]
    phrase = " ".join(words)
    query = (_area_filtered(level, columns, regency_id=regency_id, where=like)
             .order_by((Village.code != phrase), ~Village.name.istartswith(phrase, autoescape=True), Village.code)
             .limit(SEARCH_LIMIT))
    return [{"id": r["id"], "code": r["code"], "name": r["name"], "district": r["district"], "regency": r["regency"],
             "bbox": [round(float(r[k]), 6) for k in ("minx", "miny", "maxx", "maxy")]}
            for r in conn.execute(query).mappings()]


def count_areas(conn: Connection, level_name: str, *, bbox=None, regency_id: Optional[int] = None,
                where=()) -> int:
    level = AREA_LEVELS[level_name]
    return conn.execute(select(func.count()).select_from(
        _area_filtered(level, [level.model.id], bbox, regency_id, where=where).subquery())).scalar_one()


def area_feature(row) -> str:
    props = {k: v for k, v in row.items() if k not in ("id", "geometry")}
    return feature(row["code"], row["geometry"], props)


def areas_geojson(conn: Connection, level_name: str, *, bbox=None, regency_id=None,
                  tolerance: Optional[float] = None, decimals: int = DEFAULT_DECIMALS) -> str:
    """A FeatureCollection of one area level (feature id = Kemendagri code)."""
    rows = area_rows(conn, level_name, bbox=bbox, regency_id=regency_id, tolerance=tolerance, decimals=decimals)
    return feature_collection(area_feature(r) for r in rows)


def _extent_of(conn: Connection, query) -> Optional[list[float]]:
    """[minx, miny, maxx, maxy] of the geometries ``query`` selects (one column ``g``), from
    ST_Extent, rounded outward to 6 decimals so every coordinate lies inside; None when empty."""
    box = query.subquery()
    ext = func.ST_Extent(box.c.g)
    row = conn.execute(select(func.ST_XMin(ext), func.ST_YMin(ext), func.ST_XMax(ext), func.ST_YMax(ext))).one()
    if row[0] is None:
        return None
    minx, miny, maxx, maxy = (float(v) for v in row)
    return [math.floor(minx * 1e6) / 1e6, math.floor(miny * 1e6) / 1e6,
            math.ceil(maxx * 1e6) / 1e6, math.ceil(maxy * 1e6) / 1e6]


def province_extent(conn: Connection) -> list[float]:
    """[minx, miny, maxx, maxy] of all regencies, villages and districts together."""
    boxes = [collection_extent(conn, name) for name in AREA_LEVELS]
    boxes = [b for b in boxes if b]
    if not boxes:
        return [-180.0, -90.0, 180.0, 90.0]
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def collection_extent(conn: Connection, name: str, scope: Optional[Scope] = None) -> Optional[list[float]]:
    """The exact extent of one OGC collection's geometries (zones: those of ``scope``)."""
    if name == "zones":
        return _extent_of(conn, select(PriorityZone.geom.label("g")).where(in_scope(PriorityZone, scope)))
    model = AREA_LEVELS[name].model
    return _extent_of(conn, select(model.geom.label("g")))


# --- villages with their measures (scoped) ------------------------------------------------------

def measure_properties(m: Optional[dict]) -> dict:
    """A village's map properties from its measures row (zeros without one); the snapshot
    figures (gis/snapshot_measures.py) use the same shape."""
    if not m:
        return {"households": 0, "desil1": 0, "reached": 0, "coverage": 0.0, "multi_program": 0, "gaps": 0,
                "programs_3plus": 0}
    return {"households": int(m["households"]), "desil1": int(m["desil1"]), "reached": int(m["reached"]),
            "coverage": float(m["coverage"] or 0), "multi_program": int(m["multi_program"]), "gaps": int(m["gaps"]),
            "programs_3plus": int(m["programs_3plus"])}


def villages_geojson(conn: Connection, scope: Scope, *, year: int, max_desil: int = 1,
                     regency_id: Optional[int] = None, bbox=None, tolerance: Optional[float] = None,
                     decimals: int = DEFAULT_DECIMALS, measures: Optional[dict[int, dict]] = None,
                     snapshot: Optional[dict] = None) -> str:
    """Villages (all of them, or one regency's, or those meeting ``bbox``) with id (the
    database id the household list filters by), code, name, kind, district, regency and
    the measures of ``gis.queries.village_measures`` for the scope (0 where the scope
    holds no household of the village). ``measures``: those figures already computed (village
    id -> properties; a chosen snapshot's, gis/snapshot_measures.py), then also named in the
    collection's ``snapshot`` member ({id, label})."""
    if measures is None:
        measures = {m["village_id"]: measure_properties(m) for m in
                    queries.village_measures(conn, year, scope, max_desil, regency_id=regency_id)}
    rows = area_rows(conn, "villages", bbox=bbox, regency_id=regency_id, tolerance=tolerance, decimals=decimals)
    features = []
    for r in rows:  # the village code holds the district and regency codes: only their names here
        props = {k: v for k, v in r.items() if k not in ("geometry", "district_code", "regency_code")}
        props.update(measures.get(r["id"]) or measure_properties(None))
        features.append(feature(r["code"], r["geometry"], props))
    extra = {"snapshot": snapshot} if snapshot is not None else {}  # the default answer stays as it was
    return feature_collection(features, year=year, k=max_desil, **extra)


class MeasuresCache:
    """``village_measures`` per (scope, year, k), kept ``ttl`` seconds: the village tiles of one
    map view (a dozen requests at once) share one computation. One lock per key, so tiles
    requested together wait for the first instead of all computing it."""

    def __init__(self):
        self._data: dict = {}
        self._locks: dict = {}
        self._guard = threading.Lock()

    def get(self, conn: Connection, scope: Scope, year: int, max_desil: int, ttl: float) -> dict[int, dict]:
        key = (scope, year, max_desil)
        if ttl <= 0 or queries.kept_scope(scope):  # kept measures are current and cheap: never cache them
            return self._compute(conn, scope, year, max_desil)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._data.get(key)
            if hit and time.monotonic() - hit[0] < ttl:
                return hit[1]
            value = self._compute(conn, scope, year, max_desil)
            with self._guard:
                now = time.monotonic()
                for k in [k for k, (t, _) in self._data.items() if now - t >= ttl]:
                    del self._data[k]
                self._data[key] = (now, value)
            return value

    def clear(self) -> None:
        with self._guard:
            self._data.clear()

    @staticmethod
    def _compute(conn, scope, year, max_desil):
        return {m["village_id"]: measure_properties(m) for m in queries.village_measures(conn, year, scope, max_desil)}


measures_cache = MeasuresCache()


# --- zones (scoped) -----------------------------------------------------------------------------

def zone_attributes() -> dict[str, ColumnElement]:
    """Property name -> SQL column of a zone feature: what OGC attribute filters may name."""
    return {"id": PriorityZone.id, "name": PriorityZone.name, "year": PriorityZone.year,
            "priority_level": PriorityZone.priority_level, "basis": PriorityZone.basis,
            "regency_code": Regency.code, "regency": Regency.name}


def _zone_filtered(columns: list, scope: Scope, *, year: Optional[int] = None, years=None, bbox=None,
                   zone_id: Optional[int] = None, where=()):
    query = (select(*columns).select_from(PriorityZone)
             .outerjoin(Regency, Regency.id == PriorityZone.regency_id)
             .where(in_scope(PriorityZone, scope)).where(*where))
    if year is not None:
        query = query.where(PriorityZone.year == year)
    if years is not None:
        start, end = years
        if start is not None:
            query = query.where(PriorityZone.year >= start.year)
        if end is not None:
            query = query.where(PriorityZone.year <= end.year)
    if bbox is not None:
        query = query.where(func.ST_Intersects(PriorityZone.geom, _envelope(bbox)))
    if zone_id is not None:
        query = query.where(PriorityZone.id == zone_id)
    return query


def zone_rows(conn: Connection, scope: Scope, *, year: Optional[int] = None, years=None, bbox=None,
              tolerance: Optional[float] = None, decimals: int = DEFAULT_DECIMALS, limit: Optional[int] = None,
              offset: int = 0, zone_id: Optional[int] = None, where=()):
    """Scoped priority zones (id, name, year, priority_level, basis, regency_code, regency,
    geometry text), ordered by id."""
    columns = [PriorityZone.id, PriorityZone.name, PriorityZone.year, PriorityZone.priority_level,
               PriorityZone.basis, Regency.code.label("regency_code"), Regency.name.label("regency"),
               _valid_geometry(PriorityZone.geom, tolerance, decimals).label("geometry")]
    query = _zone_filtered(columns, scope, year=year, years=years, bbox=bbox, zone_id=zone_id,
                           where=where).order_by(PriorityZone.id)
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    return conn.execute(query).mappings().all()


def count_zones(conn: Connection, scope: Scope, *, years=None, year=None, bbox=None, where=()) -> int:
    return conn.execute(select(func.count()).select_from(
        _zone_filtered([PriorityZone.id], scope, year=year, years=years, bbox=bbox, where=where).subquery())
    ).scalar_one()


def zone_feature(row) -> str:
    props = {k: v for k, v in row.items() if k not in ("geometry",)}
    return feature(row["id"], row["geometry"], props)


def zones_geojson(conn: Connection, scope: Scope, *, year: Optional[int] = None, bbox=None,
                  tolerance: Optional[float] = None, decimals: int = DEFAULT_DECIMALS) -> str:
    rows = zone_rows(conn, scope, year=year, bbox=bbox, tolerance=tolerance, decimals=decimals)
    return feature_collection(zone_feature(r) for r in rows)


# --- households (scoped, paged) -----------------------------------------------------------------

def household_page(conn: Connection, scope: Scope, *, year: int, bbox=None, regency_id: Optional[int] = None,
                   limit: int = 1000, offset: int = 0):
    """One page of scoped households ordered by id: rows (id, no_kk, desil, location_status,
    programs, geometry) and whether another page follows. ``programs`` counts the distinct
    programmes of the year the scope may see (counted statuses only). Without ``bbox``
    households without a point are included (geometry null); with it only points inside.
    ``regency_id``: only households registered in a village of that regency. Desil, village,
    point and status are those of the snapshot read (``queries.household_points``)."""
    pts = queries.household_points(scope, with_status=True).subquery("pts")
    page = select(pts.c.id, pts.c.no_kk, pts.c.desil, pts.c.location_status,
                  func.ST_AsGeoJSON(position(pts.c.location, scope), DEFAULT_DECIMALS).label("geometry"))
    if regency_id is not None:
        page = page.where(pts.c.village_id.in_(
            select(Village.id).join(District, District.id == Village.district_id)
            .where(District.regency_id == regency_id)))
    if bbox is not None and scope.can_unmask:
        page = page.where(func.ST_Intersects(pts.c.location, _envelope(bbox)))
    elif bbox is not None:
        # The shown (snapped) point decides, or a run of small bboxes would pin down the house;
        # the widened test on the exact point keeps the GiST index in use.
        page = page.where(func.ST_Intersects(pts.c.location, func.ST_Expand(_envelope(bbox), POSITION_SLACK)),
                          func.ST_Intersects(position(pts.c.location, scope), _envelope(bbox)))
    page = page.order_by(pts.c.id).limit(limit + 1).offset(offset).cte("page")
    enrolments = queries._counted_enrolments(year, scope).subquery("e")
    programs = (select(enrolments.c.household_id, func.count(distinct(enrolments.c.program_id)).label("programs"))
                .where(enrolments.c.household_id.in_(select(page.c.id)))
                .group_by(enrolments.c.household_id).subquery("p"))
    rows = conn.execute(
        select(page, func.coalesce(programs.c.programs, 0).label("programs"))
        .select_from(page.outerjoin(programs, programs.c.household_id == page.c.id))
        .order_by(page.c.id)).mappings().all()
    return rows[:limit], len(rows) > limit


def household_feature(row, scope: Scope) -> str:
    """A household as a Feature: id, desil, programs, location_status and the No KK masked
    for users without the right to see personal data. Never the NIK."""
    return feature(row["id"], row["geometry"], {
        "id": row["id"], "no_kk": mask_number(row["no_kk"], scope), "desil": row["desil"],
        "programs": int(row["programs"]), "location_status": row["location_status"]})


# --- OGC API - Features documents ---------------------------------------------------------------

OGC_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    # Part 3 (gis/ogc_filter.py): queryables, property=value parameters, CQL2 text filter
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
]
SCHEMA_TYPE = "application/schema+json"
OGC_DEFAULT_LIMIT = 10
OGC_MAX_LIMIT = 10_000
OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.0"


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    public: bool
    # property name -> SQL column: the attributes items may be filtered on (?name=value, CQL2).
    # They are the feature properties themselves, so no query parameter shadows a property.
    attributes: Callable[[], dict]


OGC_COLLECTIONS: dict[str, Collection] = {
    **{name: Collection(name, AREA_LEVELS[name].title, AREA_LEVELS[name].description, True,
                        functools.partial(area_attributes, name)) for name in ("regencies", "districts", "villages")},
    "zones": Collection("zones", "Zona prioritas (priority zones)",
                        "Regional priority zones for poverty reduction, with year, priority level and basis. "
                        "Needs a login (Authorization: Bearer <token>); each user sees the zones of their scope.",
                        False, zone_attributes),
}


def link(href: str, rel: str, type_: str, title: Optional[str] = None) -> dict:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def ogc_landing(base: str, title: str) -> dict:
    return {
        "title": title,
        "description": "OGC API - Features of Sinergi: administrative areas of Lampung (public) and priority "
                       "zones (login required).",
        "links": [
            link(f"{base}/?f=json", "self", "application/json", "This document"),
            link(f"{base}/api", "service-desc", OPENAPI_TYPE, "The API definition (OpenAPI 3.0)"),
            link(f"{base.rsplit('/ogc', 1)[0]}/swagger/v1", "service-doc", "text/html",
                 "Dokumentasi API (Swagger UI)"),
            link(f"{base}/conformance", "conformance", "application/json", "Conformance classes"),
            link(f"{base}/collections", "data", "application/json", "Feature collections"),
        ],
    }


def ogc_collection(base: str, coll: Collection, extent: Optional[list[float]]) -> dict:
    url = f"{base}/collections/{coll.id}"
    extent = extent or [-180.0, -90.0, 180.0, 90.0]
    return {
        "id": coll.id, "title": coll.title, "description": coll.description, "itemType": "feature",
        "extent": {"spatial": {"bbox": [extent], "crs": CRS84}},
        "crs": [CRS84], "storageCrs": CRS84,
        "links": [
            link(url, "self", "application/json", coll.title),
            link(f"{base}/collections", "parent", "application/json", "All collections"),
            link(f"{url}/items", "items", GEOJSON, "Items as GeoJSON"),
            link(f"{url}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA_TYPE,
                 "Queryables (filterable properties)"),
        ],
    }


def ogc_collections(base: str, collections: list[tuple[Collection, Optional[list[float]]]]) -> dict:
    """The collections document; ``collections`` holds only those the caller may read."""
    return {
        "links": [link(f"{base}/collections", "self", "application/json", "Feature collections")],
        "collections": [ogc_collection(base, c, extent) for c, extent in collections],
        "crs": [CRS84],
    }


def ogc_openapi(base: str, title: str, collections=None) -> dict:
    """A small OpenAPI 3.0 document of the OGC API (QGIS reads limit's default/maximum here,
    and GDAL the property parameters it may send for ``-where``). ``collections``: those the
    caller may read (default all)."""
    def param(name, description, schema, required=False, in_="query"):
        p = {"name": name, "in": in_, "description": description, "required": required, "schema": schema}
        if in_ == "query":
            p.update(style="form", explode=False)
        return p

    json_resp = {"200": {"description": "OK", "content": {"application/json": {}}}}
    geo_resp = {"description": "OK", "content": {GEOJSON: {}}}
    errors = {"400": {"description": "Bad request"}, "401": {"description": "Login required"},
              "404": {"description": "Not found"}}
    paths = {
        "/": {"get": {"summary": "Landing page", "operationId": "getLandingPage", "responses": json_resp}},
        "/conformance": {"get": {"summary": "Conformance classes", "operationId": "getConformance",
                                 "responses": json_resp}},
        "/collections": {"get": {"summary": "Feature collections", "operationId": "getCollections",
                                 "responses": json_resp}},
    }
    from gis.ogc_filter import TITLES, is_integer

    for coll in (OGC_COLLECTIONS.values() if collections is None else collections):
        extra = [param(n, TITLES.get(n, n), {"type": "integer" if is_integer(c) else "string"})
                 for n, c in coll.attributes().items()]
        extra += [param("filter", "CQL2 text filter on the queryables", {"type": "string"}),
                  param("filter-lang", "Filter language", {"type": "string", "enum": ["cql2-text"],
                                                            "default": "cql2-text"})]
        paths[f"/collections/{coll.id}"] = {"get": {
            "summary": f"{coll.title}: description", "operationId": f"describe_{coll.id}",
            "responses": {**json_resp, **errors}}}
        paths[f"/collections/{coll.id}/items"] = {"get": {
            "summary": f"{coll.title}: items", "operationId": f"items_{coll.id}",
            "parameters": [{"$ref": "#/components/parameters/f"}, {"$ref": "#/components/parameters/bbox"},
                           {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/offset"},
                           {"$ref": "#/components/parameters/datetime"}, *extra],
            "responses": {"200": geo_resp, **errors}}}
        paths[f"/collections/{coll.id}/queryables"] = {"get": {
            "summary": f"{coll.title}: queryables", "operationId": f"queryables_{coll.id}",
            "responses": {"200": {"description": "OK", "content": {SCHEMA_TYPE: {}}}, **errors}}}
        paths[f"/collections/{coll.id}/items/{{featureId}}"] = {"get": {
            "summary": f"{coll.title}: one item", "operationId": f"item_{coll.id}",
            "parameters": [{"$ref": "#/components/parameters/f"},
                           param("featureId", "Kemendagri code (areas) or id (zones)", {"type": "string"}, True,
                                 "path")],
            "responses": {"200": geo_resp, **errors}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0.0",
                 "description": "OGC API - Features (Part 1 Core, GeoJSON). Coordinates in CRS84 (lon, lat).",
                 "contact": {"name": "Bappeda Provinsi Lampung"}},
        "servers": [{"url": base}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "parameters": {
                "f": param("f", "Format: json (default)", {"type": "string", "enum": ["json"], "default": "json"}),
                "bbox": {**param("bbox", "minx,miny,maxx,maxy in CRS84",
                                 {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}})},
                "limit": param("limit", "Items per page", {"type": "integer", "minimum": 1,
                                                           "maximum": OGC_MAX_LIMIT, "default": OGC_DEFAULT_LIMIT}),
                "offset": param("offset", "Items to skip", {"type": "integer", "minimum": 0, "default": 0}),
                "datetime": param("datetime", "Instant or interval (RFC 3339); zones match by year",
                                  {"type": "string"}),
            },
        },
        "security": [{}, {"bearer": []}],
        "paths": paths,
    }


def ogc_items_links(url: str, params: dict, offset: int, limit: int, returned: int, matched: int) -> list[dict]:
    """self/alternate/next/prev links of an items page (``params`` without limit/offset)."""
    from urllib.parse import urlencode

    def page(off: int) -> str:
        q = {**params, "limit": limit, "offset": off}
        return f"{url}?{urlencode(q)}"

    links = [link(page(offset), "self", GEOJSON, "This page"),
             link(f"{url}?{urlencode({**params, 'f': 'json', 'limit': limit, 'offset': offset})}", "alternate",
                  GEOJSON, "This page as GeoJSON (f=json)")]
    if offset + returned < matched:
        links.append(link(page(offset + limit), "next", GEOJSON, "Next page"))
    if offset > 0:
        links.append(link(page(max(0, offset - limit)), "prev", GEOJSON, "Previous page"))
    return links


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


__all__ = [
    "QueryError", "parse_bbox", "parse_int", "parse_float", "parse_datetime", "zoom_tolerance", "tolerance_decimals",
    "resolve_simplify", "regency_id_for", "feature", "feature_collection", "AREA_LEVELS", "area_rows",
    "count_areas", "area_feature", "areas_geojson", "province_extent", "collection_extent", "area_attributes",
    "zone_attributes", "villages_geojson", "measures_cache",
    "zone_rows", "count_zones", "zone_feature", "zones_geojson", "household_page", "household_feature",
    "OGC_CONFORMANCE", "OGC_COLLECTIONS", "OGC_DEFAULT_LIMIT", "OGC_MAX_LIMIT", "ogc_landing", "ogc_collection",
    "ogc_collections", "ogc_openapi", "ogc_items_links", "utc_now", "CRS84", "GEOJSON",
]
