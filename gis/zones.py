"""Zone geometry in PostGIS: the union of a set of villages, or an uploaded GeoJSON file
read, checked (Lampung, the zone's regency, swapped coordinates) and made valid. Messages
are for the person who made the file; they name what is wrong."""
from __future__ import annotations

import json

from flask_babel import gettext
from geoalchemy2 import Geometry
from sqlalchemy import Boolean, column, func, select, text
from sqlalchemy.exc import DBAPIError

from app.models.areas import Village

# The grid zones are stored on: the 6 decimals every GeoJSON/OGC answer publishes (~0.1 m).
# A polygon that is valid in doubles can collapse when its coordinates are rounded to it
# (a 0.004 m² sliver became "too few points" in GDAL), so it is snapped at write time.
ZONE_GRID = 1e-6


def clean_zone_expr(geom):
    """SQL: ``geom`` made valid, reduced to ZONE_GRID (ST_ReducePrecision keeps it valid and
    drops parts that collapse), polygons only, as a MULTIPOLYGON, in one canonical vertex order
    (ST_Normalize, exterior rings counter-clockwise as GeoJSON wants): cleaning a clean zone
    changes nothing, so an edit of its name does not rewrite its geometry. Used by every zone
    write and by migration 0009."""
    return func.ST_ForcePolygonCCW(func.ST_Normalize(func.ST_Multi(func.ST_CollectionExtract(
        func.ST_MakeValid(func.ST_ReducePrecision(func.ST_MakeValid(geom), ZONE_GRID)), 3))))


CLEAN_ZONE_SQL = ("ST_ForcePolygonCCW(ST_Normalize(ST_Multi(ST_CollectionExtract(ST_MakeValid("
                  "ST_ReducePrecision(ST_MakeValid({g}), 1e-6)), 3))))")


def clean_zone_geometry(session, value):
    """A zone geometry value (GeoAlchemy element, or EWKT/WKT text as an API load gives it)
    cleaned by ``clean_zone_expr`` in PostGIS; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        source = func.ST_GeomFromEWKT(value) if value.upper().startswith("SRID=") \
            else func.ST_GeomFromText(value, 4326)
    else:
        source = value  # a GeoAlchemy element binds as geometry
    return session.execute(select(clean_zone_expr(source).label("geom"))).scalar_one()

ACCEPTED_CRS = {"EPSG:4326", "urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:OGC:1.3:CRS84",
                "urn:ogc:def:crs:OGC::CRS84", "CRS84", "OGC:CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                "http://www.opengis.net/def/crs/EPSG/0/4326"}


def union_of_villages(session, village_ids) -> object:
    """ST_Multi(ST_Union(village polygons)) of the given villages, computed in PostGIS, as a
    GeoAlchemy element (MULTIPOLYGON, EPSG:4326). Reads the villages by primary key."""
    return session.execute(
        select(clean_zone_expr(func.ST_Union(Village.geom)))
        .where(Village.id.in_(list(village_ids)))
    ).scalar_one()


class GeoJSONProblem(ValueError):
    """The uploaded file cannot be a zone; the message says why, in the user's language."""


def polygon_parts(raw: bytes) -> list[str]:
    """The polygonal geometries of a GeoJSON text (Polygon, MultiPolygon, Feature,
    FeatureCollection, GeometryCollection) as GeoJSON geometry strings.

    Checks in Python what gives the clearest message: JSON syntax, the kinds of geometry,
    a declared CRS other than EPSG:4326, coordinates that are not degrees or are swapped."""
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise GeoJSONProblem(gettext("is not a text file (GeoJSON is UTF-8 text)"))
    except json.JSONDecodeError as exc:
        raise GeoJSONProblem(gettext("is not valid JSON: %(reason)s at line %(line)d, column %(col)d",
                                     reason=exc.msg, line=exc.lineno, col=exc.colno))
    if not isinstance(doc, dict) or "type" not in doc:
        raise GeoJSONProblem(gettext("is not GeoJSON: expected an object with a \"type\""))
    crs = doc.get("crs")
    if isinstance(crs, dict):
        name = (crs.get("properties") or {}).get("name")
        if name and name not in ACCEPTED_CRS:
            raise GeoJSONProblem(gettext("uses the coordinate system %(crs)s; only longitude/latitude in "
                                         "EPSG:4326 is accepted: reproject the file first", crs=name))
    parts: list[dict] = []
    others: set[str] = set()

    def take(geometry):
        if geometry is None:
            return
        if not isinstance(geometry, dict):
            raise GeoJSONProblem(gettext("holds a geometry that is not a GeoJSON object"))
        kind = geometry.get("type")
        if kind in ("Polygon", "MultiPolygon"):
            parts.append(geometry)
        elif kind == "GeometryCollection":
            for member in geometry.get("geometries") or []:
                take(member)
        else:
            others.add(str(kind))

    kind = doc["type"]
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise GeoJSONProblem(gettext("is a FeatureCollection without a list of features"))
        for feature in features:
            take(feature.get("geometry") if isinstance(feature, dict) else feature)
    elif kind == "Feature":
        take(doc.get("geometry"))
    else:
        take(doc)
    if not parts:
        if others:
            raise GeoJSONProblem(gettext("holds no polygon (found: %(kinds)s); a zone needs a Polygon or "
                                         "MultiPolygon", kinds=", ".join(sorted(others))))
        raise GeoJSONProblem(gettext("holds no polygon; a zone needs a Polygon or MultiPolygon"))

    xs, ys = [], []

    def positions(coords, depth):
        if depth == 0:
            if (not isinstance(coords, list) or len(coords) < 2
                    or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords[:2])):
                raise GeoJSONProblem(gettext("has a coordinate that is not a pair of numbers: %(value)s",
                                             value=json.dumps(coords)[:60]))
            xs.append(coords[0])
            ys.append(coords[1])
            return
        if not isinstance(coords, list):
            raise GeoJSONProblem(gettext("has polygon coordinates in the wrong structure"))
        if depth == 1 and len(coords) < 4:
            raise GeoJSONProblem(gettext("has a polygon ring with fewer than 4 positions"))
        for item in coords:
            positions(item, depth - 1)

    for part in parts:
        positions(part.get("coordinates"), 2 if part["type"] == "Polygon" else 3)
    if not (-180 <= min(xs) and max(xs) <= 180 and -90 <= min(ys) and max(ys) <= 90):
        if -90 <= min(xs) and max(xs) <= 90 and -180 <= min(ys) and max(ys) <= 180:
            raise GeoJSONProblem(gettext("lies outside Lampung: latitude and longitude look swapped "
                                         "(GeoJSON puts longitude first)"))
        raise GeoJSONProblem(gettext("has coordinates that are not longitude/latitude degrees (e.g. %(x)s, "
                                     "%(y)s): export the file in EPSG:4326", x=xs[0], y=ys[0]))
    return [json.dumps(part) for part in parts]


_UPLOAD_SQL = text("""
WITH part AS (
    SELECT ST_CollectionExtract(ST_MakeValid(ST_SetSRID(ST_Force2D(ST_GeomFromGeoJSON(p)), 4326)), 3) AS geom
    FROM unnest(CAST(:parts AS text[])) AS p
), zone AS (
    SELECT """ + CLEAN_ZONE_SQL.format(g="ST_Union(geom)") + """ AS geom FROM part WHERE NOT ST_IsEmpty(geom)
)
SELECT ST_AsEWKB(zone.geom) AS geom,
       COALESCE(ST_IsEmpty(zone.geom) OR ST_Area(zone.geom) = 0, true) AS empty,
       ST_Intersects(zone.geom, province.geom) AS in_province,
       ST_Intersects(ST_FlipCoordinates(zone.geom), province.geom) AS swapped_in_province,
       (SELECT ST_Intersects(zone.geom, regency.geom) FROM regency WHERE regency.id = :regency_id) AS in_regency
FROM zone CROSS JOIN province
WHERE province.code = '18'
""").columns(column("geom", Geometry("MULTIPOLYGON", srid=4326)), column("empty", Boolean),
             column("in_province", Boolean), column("swapped_in_province", Boolean), column("in_regency", Boolean))


def zone_geometry_from_geojson(session, raw: bytes, regency=None):
    """The zone geometry of an uploaded GeoJSON file: its polygons, each made valid, unioned
    into one MULTIPOLYGON (EPSG:4326) in PostGIS. Raises GeoJSONProblem when the file is not
    GeoJSON, holds no polygon, or lies outside Lampung (or outside ``regency``, if given)."""
    parts = polygon_parts(raw)
    try:
        with session.begin_nested():
            row = session.execute(_UPLOAD_SQL, {"parts": parts,
                                                "regency_id": regency.id if regency is not None else None}).one()
    except DBAPIError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise GeoJSONProblem(gettext("holds a geometry PostGIS cannot read: %(reason)s", reason=reason))
    if row.empty:
        raise GeoJSONProblem(gettext("holds no area: its polygons are empty or collapse to lines"))
    if not row.in_province:
        if row.swapped_in_province:
            raise GeoJSONProblem(gettext("lies outside Lampung: latitude and longitude look swapped "
                                         "(GeoJSON puts longitude first)"))
        raise GeoJSONProblem(gettext("lies outside Lampung"))
    if regency is not None and not row.in_regency:
        raise GeoJSONProblem(gettext("does not touch %(regency)s, the zone's regency", regency=regency.name))
    return row.geom


