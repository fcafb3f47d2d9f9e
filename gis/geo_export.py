"""Geo downloads for QGIS: the villages with their measures and the priority zones, as
GeoJSON (one layer per file) or as one GeoPackage holding both layers ("desa" and
"zona_prioritas").

Endpoints (``GeoExportView``, login by session or ``Authorization: Bearer <JWT>``, FAB
permission ``can_export`` on ``GeoExportView``, granted with the other GIS views in
app/security/roles.py; anonymous callers get 401, roles without it 403):

- ``/gis/export/villages.geojson``  layer "desa"
- ``/gis/export/zones.geojson``     layer "zona_prioritas"
- ``/gis/export/sinergi.gpkg``      both layers in one GeoPackage

Parameters are the village map's (app/views/maps.py, and the GIS endpoints it loads):
``regency`` (Kemendagri code, e.g. 18.07), ``year`` (default: the year the map opens on,
the last year with enrolments), ``k`` (gaps count desil <= k, default 1) and ``snapshot``
(the map's "Sumber data": the households that targeting snapshot lists, with its desil and
village, app/services/snapshot_arg.py; default the latest data); ``measure`` only colours the
map and is ignored. A bad value answers 400 naming the parameter.

What a user gets is what the village map shows them (app.security.scope):
- the villages of the chosen regency, or of the whole province; a regency scope (Operator
  TKPK, Pimpinan of one kabupaten) always gets only its own regency. The measures are
  those of ``gis.queries.village_measures`` for the scope (0 where it holds no household):
  an OPD officer sees every village, counted over the households and enrolments of their
  agency's scope, as on the map;
- the scoped priority zones of the year, limited to the chosen (or own) regency: the zones
  of that regency and the province-wide zones that reach into it.

Every download is logged in ``export_log`` (app/exports.py) with what ``geo:villages`` or
``geo:zones``, the format (``geojson``/``gpkg``; a GeoPackage logs one line per layer),
the filters and the number of features.

Geometry: MultiPolygon in EPSG:4326. GeoJSON follows RFC 7946: no "crs" member, lon/lat,
exterior rings counter-clockwise (``ST_ForcePolygonCCW``), coordinates with up to 15
significant decimals, i.e. exactly the stored ones: rounding to 6 or 9 decimals turned
two demo zones (unions of villages with slivers) into invalid polygons. The GeoPackage
holds the stored geometry as WKB.

Memory: rows come from a server-side cursor; GeoJSON is streamed feature by feature
(PostGIS writes the geometry text, Python never parses coordinates) and the GeoPackage is
written in batches of ``BATCH`` features to a temporary file, sent and deleted.

Measured on the demo data (2,640 villages, 20,000 households, 7 zones of 2017) through
gunicorn, on a 2-CPU machine shared with a test run (load average about 4):
- whole province (Bappeda): GeoPackage 6.5 MB (2.9 MB gzipped) in 2.7-3.4 s, of which the
  village query takes 1.1 s and the zone query 0.9 s (``queries._in_zone_households`` runs
  twice in it, once for the households and once inside the gaps, about 0.4 s each);
  villages GeoJSON 7.5 MB (1.7 MB gzipped) in 1.4-1.6 s, first byte after 0.05 s; zones
  GeoJSON 0.2 MB in 1.0-1.3 s;
- one regency (op1807, 264 villages): GeoPackage 0.86 MB in 0.9 s, villages GeoJSON
  0.82 MB in 0.5 s.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import pyogrio.raw
from flask import Response, current_app, request, send_file, stream_with_context
from flask_appbuilder.api import BaseApi, expose
from flask_appbuilder.security.decorators import permission_name, protect
from flask_babel import gettext as _
from sqlalchemy import Float, Integer, Numeric, and_, cast, distinct, func, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection

from app import exports
from app.extensions import db
from app.models.areas import District, Regency, Village
from app.models.zones import PriorityZone
from app.security.scope import Scope, current_scope, in_scope
from app.services.snapshot_arg import SnapshotArgError, parse_snapshot
from gis import features as F
from gis import queries
from gis.features import QueryError

_log = logging.getLogger(__name__)

GPKG_MIMETYPE = "application/geopackage+sqlite3"
BATCH = 1000  # features per GeoPackage write / rows per cursor fetch
IN_ZONE_SHARE = 0.5  # a village is "in" a zone when more than half of its area lies inside
GEOJSON_DIGITS = 15  # significant decimals: the stored coordinates, unrounded (see the docstring)
VILLAGE_LAYER = "desa"
ZONE_LAYER = "zona_prioritas"

# (field, type) of each layer, in file order; types: str, int (32-bit), float, bool.
VILLAGE_FIELDS = (
    ("kode_desa", "str"), ("nama_desa", "str"), ("jenis", "str"), ("kode_kec", "str"), ("kecamatan", "str"),
    ("kode_kab", "str"), ("kabupaten", "str"), ("tahun", "int"), ("desil_maks", "int"),
    ("jml_rt", "int"), ("desil1", "int"), ("desil2", "int"), ("desil3", "int"), ("desil4", "int"),
    ("desil5_10", "int"),  # DTSEN ranks desil 1-10: the households above the poorest 40 %
    ("penerima", "int"), ("cakupan_pct", "float"), ("tanpa_program", "int"), ("prog_1", "int"), ("prog_2", "int"),
    ("prog_3plus", "int"), ("tumpang_tindih", "int"), ("belum_jangkau", "int"), ("di_zona", "bool"),
    ("nama_zona", "str"),
)
ZONE_FIELDS = (
    ("id_zona", "int"), ("nama_zona", "str"), ("tahun", "int"), ("prioritas", "int"), ("dasar", "str"),
    ("keterangan", "str"), ("kode_kab", "str"), ("kabupaten", "str"), ("desil_maks", "int"), ("jml_rt", "int"),
    ("belum_jangkau", "int"),
)
NUMPY_TYPES = {"int": np.int32, "float": np.float64, "bool": np.bool_, "str": object}


# --- what is asked ------------------------------------------------------------------------------

class SelectionError(QueryError):
    """A parameter that cannot be used: 400 (malformed) or 403 (a regency outside the user's area)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Selection:
    """The village map's parameters, resolved for one user: the year, k (gaps: desil <= k)
    and the regency the layers are limited to (None: the whole province)."""

    year: int
    k: int = 1
    regency_id: Optional[int] = None
    regency_code: Optional[str] = None
    regency_name: Optional[str] = None
    snapshot: Optional[int] = None  # the targeting snapshot read; None: each household's latest

    def log_filters(self) -> dict:
        filters = {"year": self.year, "k": self.k, "regency": self.regency_code}
        return filters if self.snapshot is None else {**filters, "snapshot": self.snapshot}

    def filename(self, stem: str, ext: str) -> str:
        area = (self.regency_code or "lampung").replace(".", "")
        source = "" if self.snapshot is None else f"_sumber{self.snapshot}"
        return exports.safe_filename(f"{stem}_{area}_{self.year}_k{self.k}{source}.{ext}")


def parse_selection(conn: Connection, scope: Scope, args) -> Selection:
    """The map's ``regency``/``year``/``k`` from request arguments, checked like the GIS
    endpoints the map loads (QueryError naming the parameter); year defaults to the year the
    map opens on; a regency scope is always held to its own regency."""
    year = F.parse_int(args.get("year"), "year", None, 2000, 2100)
    if year is None:
        year = queries.default_year(conn, scope)
    k = F.parse_int(args.get("k"), "k", 1, 1, 4)
    try:
        snapshot = parse_snapshot(args, conn)
    except SnapshotArgError as exc:
        raise SelectionError(exc.message) from None
    regency_id = F.regency_id_for(conn, args.get("regency"))
    if scope.kind == "regency":
        if regency_id is not None and regency_id != scope.regency_id:
            raise SelectionError("regency: outside your area", 403)
        regency_id = scope.regency_id
    code = name = None
    if regency_id is not None:
        code, name = conn.execute(select(Regency.code, Regency.name).where(Regency.id == regency_id)).one()
    return Selection(year=year, k=k, regency_id=regency_id, regency_code=code, regency_name=name, snapshot=snapshot)


# --- SQL ----------------------------------------------------------------------------------------

def _geometry(column, kind: str):
    """WKB for the GeoPackage; for GeoJSON the RFC 7946 ring order, all stored decimals, no crs member."""
    if kind == "wkb":
        return func.ST_AsBinary(column)
    return func.ST_AsGeoJSON(func.ST_ForcePolygonCCW(column), GEOJSON_DIGITS, 0)


def village_query(scope: Scope, sel: Selection, geometry: str = "wkb"):
    """Villages (of ``sel.regency_id`` or all) with the scoped measures, ordered by code.

    The counts are built from the same blocks as ``gis.queries.village_measures``
    (``_program_counts``, ``_gap_households``), so jml_rt/desil1/penerima/cakupan_pct/
    tumpang_tindih/belum_jangkau equal its households/desil1/reached/coverage/
    multi_program/gaps; villages without scoped households get 0 (cakupan_pct NULL). The
    other fields: desil2..4, desil5_10 (DTSEN households above desil 4), tanpa_program/prog_1/prog_2/prog_3plus (0, 1, 2, 3+ counted
    programs in the year, as ``village_overlap``), di_zona/nama_zona (the scoped zones of
    the year holding more than half of the village's area: the rule ``_in_zone_households``
    uses for households without a point). Indexes: those of village_measures, and
    idx_priority_zone_geom / idx_village_geom for the zone test."""
    counts = queries._program_counts(sel.year, scope, sel.regency_id).subquery("c")
    programs = counts.c.programs
    per_village = (select(counts.c.village_id, func.count().label("households"),
                          *[func.count().filter(counts.c.desil == d).label(f"desil{d}") for d in (1, 2, 3, 4)],
                          func.count().filter(counts.c.desil >= 5).label("desil5_10"),
                          func.count().filter(programs == 0).label("programs_0"),
                          func.count().filter(programs == 1).label("programs_1"),
                          func.count().filter(programs == 2).label("programs_2"),
                          func.count().filter(programs >= 3).label("programs_3plus"))
                   .group_by(counts.c.village_id).subquery("pv"))
    gaps = queries._gap_households(sel.year, scope, sel.k, sel.regency_id).subquery("g")
    gap_counts = (select(gaps.c.village_id, func.count(distinct(gaps.c.household_id)).label("gaps"))
                  .group_by(gaps.c.village_id).subquery("gc"))
    zones = queries._zones(scope, sel.year).subquery("z")
    share = (func.ST_Area(func.ST_Intersection(zones.c.geom, Village.geom))
             / func.nullif(func.ST_Area(Village.geom), 0))
    in_zones = (select(Village.id.label("village_id"),
                       func.string_agg(zones.c.name, aggregate_order_by("; ", zones.c.name)).label("names"))
                .select_from(Village).join(zones, func.ST_Intersects(zones.c.geom, Village.geom))
                .where(share > IN_ZONE_SHARE).group_by(Village.id).subquery("iz"))

    def n(column):
        return func.coalesce(column, 0)

    households = n(per_village.c.households)
    reached = households - n(per_village.c.programs_0)
    query = (select(
        Village.code.label("kode_desa"), Village.name.label("nama_desa"), Village.kind.label("jenis"),
        District.code.label("kode_kec"), District.name.label("kecamatan"), Regency.code.label("kode_kab"),
        Regency.name.label("kabupaten"),
        # bound as literals: psycopg 3 binds server-side, where a bare parameter has no type
        cast(sel.year, Integer).label("tahun"), cast(sel.k, Integer).label("desil_maks"),
        households.label("jml_rt"),
        *[n(per_village.c[f"desil{d}"]).label(f"desil{d}") for d in (1, 2, 3, 4)],
        n(per_village.c["desil5_10"]).label("desil5_10"),
        reached.label("penerima"),
        # village_measures: round(100.0 * reached / households, 1); NULL without households
        cast(func.round(cast(100.0 * reached / func.nullif(households, 0), Numeric), 1), Float)
        .label("cakupan_pct"),
        n(per_village.c.programs_0).label("tanpa_program"), n(per_village.c.programs_1).label("prog_1"),
        n(per_village.c.programs_2).label("prog_2"), n(per_village.c.programs_3plus).label("prog_3plus"),
        (n(per_village.c.programs_2) + n(per_village.c.programs_3plus)).label("tumpang_tindih"),
        n(gap_counts.c.gaps).label("belum_jangkau"),
        in_zones.c.names.is_not(None).label("di_zona"), in_zones.c.names.label("nama_zona"),
        _geometry(Village.geom, geometry).label("geometry"))
        .select_from(Village)
        .join(District, District.id == Village.district_id)
        .join(Regency, Regency.id == District.regency_id)
        .outerjoin(per_village, per_village.c.village_id == Village.id)
        .outerjoin(gap_counts, gap_counts.c.village_id == Village.id)
        .outerjoin(in_zones, in_zones.c.village_id == Village.id)
        .order_by(Village.code))
    if sel.regency_id is not None:
        query = query.where(District.regency_id == sel.regency_id)
    return query.where(in_scope(Village, scope))  # areas are public; a user with no scope gets none


def zone_query(scope: Scope, sel: Selection, geometry: str = "wkb"):
    """The scoped priority zones of ``sel.year`` (of the chosen regency and the province-wide
    zones reaching into it, when a regency is set), ordered by name and id, with the scoped
    households inside each (jml_rt, the rule of ``queries.zone_households``) and the gap
    households (belum_jangkau, as ``queries.gaps_by_zone``)."""
    members = queries._in_zone_households(scope, sel.year, sel.regency_id).subquery("m")
    member_counts = (select(members.c.zone_id, func.count(distinct(members.c.household_id)).label("households"))
                     .group_by(members.c.zone_id).subquery("mc"))
    gaps = queries._gap_households(sel.year, scope, sel.k, sel.regency_id).subquery("g")
    gap_counts = (select(gaps.c.zone_id, func.count(distinct(gaps.c.household_id)).label("gaps"))
                  .group_by(gaps.c.zone_id).subquery("gc"))
    query = (select(
        PriorityZone.id.label("id_zona"), PriorityZone.name.label("nama_zona"), PriorityZone.year.label("tahun"),
        PriorityZone.priority_level.label("prioritas"), PriorityZone.basis.label("dasar"),
        PriorityZone.description.label("keterangan"), Regency.code.label("kode_kab"), Regency.name.label("kabupaten"),
        cast(sel.k, Integer).label("desil_maks"),
        func.coalesce(member_counts.c.households, 0).label("jml_rt"),
        func.coalesce(gap_counts.c.gaps, 0).label("belum_jangkau"),
        _geometry(PriorityZone.geom, geometry).label("geometry"))
        .select_from(PriorityZone)
        .outerjoin(Regency, Regency.id == PriorityZone.regency_id)
        .outerjoin(member_counts, member_counts.c.zone_id == PriorityZone.id)
        .outerjoin(gap_counts, gap_counts.c.zone_id == PriorityZone.id)
        .where(PriorityZone.year == sel.year, in_scope(PriorityZone, scope))
        .order_by(PriorityZone.name, PriorityZone.id))
    if sel.regency_id is not None:
        regency_geom = select(Regency.geom).where(Regency.id == sel.regency_id).scalar_subquery()
        query = query.where(or_(PriorityZone.regency_id == sel.regency_id,
                                and_(PriorityZone.regency_id.is_(None),
                                     func.ST_Intersects(PriorityZone.geom, regency_geom))))
    return query


LAYERS = {  # layer name -> (query builder, fields, feature id field, export_log "what")
    VILLAGE_LAYER: (village_query, VILLAGE_FIELDS, "kode_desa", "geo:villages"),
    ZONE_LAYER: (zone_query, ZONE_FIELDS, "id_zona", "geo:zones"),
}


def _rows(conn: Connection, layer: str, scope: Scope, sel: Selection, geometry: str):
    build = LAYERS[layer][0]
    # The query builders read the snapshot when they build (gis.queries._households).
    with queries.reading_snapshot(sel.snapshot):
        statement = build(scope, sel, geometry)
    if sel.snapshot is not None:
        queries.live_work_mem(conn)
    result = conn.execute(statement, execution_options={"stream_results": True, "yield_per": BATCH})
    yield from result.mappings()


def prepare(conn: Connection) -> Connection:
    """A statement timeout for the export's queries (``SINERGI_GEO_EXPORT_STATEMENT_TIMEOUT_MS``,
    default 5 minutes: a province with a million households takes seconds, not minutes); JIT is
    off on every connection of the app (config.SQLALCHEMY_ENGINE_OPTIONS)."""
    timeout = int(current_app.config.get("SINERGI_GEO_EXPORT_STATEMENT_TIMEOUT_MS", 300_000))
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout:d}")
    return conn


# --- GeoJSON ------------------------------------------------------------------------------------

def _value(value, kind: str):
    if value is None:
        return None
    return {"int": int, "float": float, "bool": bool, "str": str}[kind](value)


def geojson_chunks(conn: Connection, layer: str, scope: Scope, sel: Selection, counter: Optional[list] = None
                   ) -> Iterator[str]:
    """One layer as an RFC 7946 FeatureCollection, in pieces of at most ``BATCH`` features.
    The collection's foreign members name the layer (GDAL/QGIS take "name" as the layer
    name), the year, k, regency (and the snapshot read, if chosen). ``counter[0]`` is the number of features written."""
    _build, fields, id_field, _what = LAYERS[layer]
    counter = counter if counter is not None else [0]
    head = {"type": "FeatureCollection", "name": layer, "year": sel.year, "k": sel.k,
            "regency": sel.regency_code}
    if sel.snapshot is not None:
        head["snapshot"] = sel.snapshot
    yield json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"features":['
    pending: list[str] = []
    for row in _rows(conn, layer, scope, sel, "geojson"):
        props = {name: _value(row[name], kind) for name, kind in fields}
        pending.append(F.feature(props[id_field], row["geometry"], props))
        counter[0] += 1
        if len(pending) >= BATCH:
            yield ("," if counter[0] > len(pending) else "") + ",".join(pending)
            pending = []
    if pending:
        yield ("," if counter[0] > len(pending) else "") + ",".join(pending)
    yield "]}"


# --- GeoPackage ---------------------------------------------------------------------------------

def _columns(rows: list, fields) -> tuple[list, list]:
    """Typed numpy columns and their null masks (None where a column has no NULL)."""
    data, masks = [], []
    for name, kind in fields:
        values = [r[name] for r in rows]
        if kind == "str":
            data.append(np.array(values, dtype=object))
            masks.append(None)  # pyogrio writes None in an object column as NULL
            continue
        mask = np.array([v is None for v in values], dtype=bool)
        filler = {"int": 0, "float": np.nan, "bool": False}[kind]
        data.append(np.array([filler if v is None else v for v in values], dtype=NUMPY_TYPES[kind]))
        masks.append(mask if mask.any() else None)
    return data, masks


def _write_layer(path: str, conn: Connection, layer: str, scope: Scope, sel: Selection, title: str,
                 description: str) -> int:
    """Append one layer to the GeoPackage at ``path``, ``BATCH`` features per write (an empty
    layer still gets its fields). Returns the number of features."""
    _build, fields, _id, _what = LAYERS[layer]
    names = [name for name, _kind in fields]
    count = 0
    created = False

    def write(batch: list) -> None:
        nonlocal created
        data, masks = _columns(batch, fields)
        geometry = np.array([bytes(r["geometry"]) for r in batch], dtype=object)
        # VERSION=1.2: GDAL 3.8+ writes GeoPackage 1.4 by default, which GDAL 3.6 (Debian 12,
        # QGIS 3.22-3.28) opens with a "may only be partially supported" warning; 1.2 has all we use.
        options = {} if created else {"layer_options": {"IDENTIFIER": title, "DESCRIPTION": description}}
        if not os.path.exists(path):
            options["dataset_options"] = {"VERSION": "1.2"}
        pyogrio.raw.write(path, geometry, data, names, field_mask=masks, layer=layer, driver="GPKG",
                          geometry_type="MultiPolygon", crs="EPSG:4326", promote_to_multi=True,
                          append=created, **options)
        created = True

    batch: list = []
    for row in _rows(conn, layer, scope, sel, "wkb"):
        batch.append(row)
        if len(batch) >= BATCH:
            write(batch)
            count += len(batch)
            batch = []
    if batch or not created:
        write(batch)
        count += len(batch)
    return count


def write_gpkg(path: str, conn: Connection, scope: Scope, sel: Selection) -> dict[str, int]:
    """Both layers into a new GeoPackage at ``path``; returns features per layer."""
    area = f"{sel.regency_name} ({sel.regency_code})" if sel.regency_code else _("the whole province")
    counts = {
        VILLAGE_LAYER: _write_layer(
            path, conn, VILLAGE_LAYER, scope, sel, _("Villages with their measures, %(year)d", year=sel.year),
            _("Households, desil, programs received, coverage and households not yet reached (desil ≤ %(k)d in a "
              "priority zone, no program) per village in %(year)d; %(area)s. Sinergi, %(date)s.",
              k=sel.k, year=sel.year, area=area, date=dt.date.today().isoformat())),
        ZONE_LAYER: _write_layer(
            path, conn, ZONE_LAYER, scope, sel, _("Priority zones %(year)d", year=sel.year),
            _("Priority zones of %(year)d with their households and households not yet reached (desil ≤ %(k)d, "
              "no program); %(area)s. Sinergi, %(date)s.",
              k=sel.k, year=sel.year, area=area, date=dt.date.today().isoformat())),
    }
    return counts


# --- HTTP ---------------------------------------------------------------------------------------

def _refused(exc: QueryError) -> Response:
    return Response(json.dumps({"message": str(exc)}), status=getattr(exc, "status", 400),
                    mimetype="application/json")


def _record(layer: str, sel: Selection) -> exports.ExportRecord:
    return exports.ExportRecord(LAYERS[layer][3], sel.log_filters())


class GeoExportView(BaseApi):
    """GeoJSON and GeoPackage downloads of the village map's layers (module docstring)."""

    route_base = "/gis/export"
    allow_browser_login = True
    openapi_spec_tag = "GIS"

    @expose("/villages.geojson", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("export")
    def villages_geojson(self):
        return self._geojson(VILLAGE_LAYER, "sinergi_desa")

    @expose("/zones.geojson", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("export")
    def zones_geojson(self):
        return self._geojson(ZONE_LAYER, "sinergi_zona_prioritas")

    @expose("/sinergi.gpkg", methods=["GET"])
    @protect(allow_browser_login=True)
    @permission_name("export")
    def geopackage(self):
        scope = current_scope()
        conn = prepare(db.session.connection())
        try:
            sel = parse_selection(conn, scope, request.args)
        except QueryError as exc:
            return _refused(exc)
        # GDAL writes the file and its journal next to each other: a directory of our own,
        # removed once the file is open (Linux keeps the open file readable).
        folder = tempfile.mkdtemp(prefix="sinergi-gpkg-")
        try:
            path = os.path.join(folder, "sinergi.gpkg")
            counts = write_gpkg(path, conn, scope, sel)
            stream = open(path, "rb")
            size = os.fstat(stream.fileno()).st_size
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        _log.info("geo export gpkg %s: %s (%d bytes)", sel.log_filters(), counts, size)
        for layer, count in counts.items():
            exports.log_export(_record(layer, sel), "gpkg", count)
        response = send_file(stream, mimetype=GPKG_MIMETYPE, as_attachment=True,
                             download_name=sel.filename("sinergi", "gpkg"), max_age=0)
        response.headers["Cache-Control"] = "private, no-store"
        return response

    def _geojson(self, layer: str, stem: str) -> Response:
        scope = current_scope()
        try:
            sel = parse_selection(db.session.connection(), scope, request.args)
        except QueryError as exc:
            return _refused(exc)
        record = _record(layer, sel)

        def generate():
            # A connection of its own, held while the body streams.
            counter = [0]
            with db.engine.connect() as conn:
                for chunk in geojson_chunks(prepare(conn), layer, scope, sel, counter):
                    yield chunk.encode("utf-8")
            _log.info("geo export %s geojson %s: %d features", layer, sel.log_filters(), counter[0])
            exports.log_export(record, "geojson", counter[0])

        exports.end_request_transaction()  # the filters are read; the body needs no request transaction
        response = Response(stream_with_context(generate()), mimetype=F.GEOJSON)
        response.headers["Content-Disposition"] = f'attachment; filename="{sel.filename(stem, "geojson")}"'
        response.headers["Cache-Control"] = "private, no-store"
        return response

