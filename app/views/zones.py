"""Priority zone screens. Geometry never appears in a form: a zone is made EITHER from a set
of villages (the union of their polygons, computed in PostGIS, with ``source_villages``
kept so the zone can be rebuilt) OR from an uploaded GeoJSON file (validated, made valid,
stored as MULTIPOLYGON). The show page draws the zone and its source villages from
``/priorityzoneview/geojson/<pk>``.
"""
from __future__ import annotations

import json
from datetime import date

from flask import abort, jsonify, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2ManyWidget, Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext, lazy_gettext as _, ngettext
from flask_wtf.file import FileField
from geoalchemy2 import Geometry
from markupsafe import Markup
from sqlalchemy import Boolean, column, func, select, text
from sqlalchemy.exc import DBAPIError
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange, StopValidation, ValidationError
from wtforms.widgets import FileInput

from app.extensions import db
from app.models.areas import Village
from app.models.zones import PriorityZone, zone_source_village
from app.security.scope import current_scope
from app.views.base import ScopedModelView
from app.views.choices import PRIORITY_CHOICES, ZONE_BASIS_CHOICES, choice_label, select_field
from app.views.households import (ScopedMultiSelectField, ScopedSelectField, scoped_regencies, scoped_villages,
                                  village_label)
from app.labels import LABELS

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
ACCEPTED_CRS = {"EPSG:4326", "urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:OGC:1.3:CRS84",
                "urn:ogc:def:crs:OGC::CRS84", "CRS84", "OGC:CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                "http://www.opengis.net/def/crs/EPSG/0/4326"}


# --- geometry: from villages, from a GeoJSON file ---------------------------------------------
# (SQL that belongs with the other spatial queries in gis/queries.py once that module exists.)

def union_of_villages(session, village_ids) -> object:
    """ST_Multi(ST_Union(village polygons)) of the given villages, computed in PostGIS, as a
    GeoAlchemy element (MULTIPOLYGON, EPSG:4326). Reads the villages by primary key."""
    return session.execute(
        select(func.ST_Multi(func.ST_CollectionExtract(func.ST_Union(Village.geom), 3)))
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
    SELECT ST_Multi(ST_CollectionExtract(ST_Union(geom), 3)) AS geom FROM part WHERE NOT ST_IsEmpty(geom)
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


# --- form fields -------------------------------------------------------------------------------

class GeoJSONFileField(FileField):
    """Upload of the zone's area as GeoJSON. Read, checked and turned into the geometry while
    the form validates (so a bad file is a message next to this field); on save it replaces
    the zone's geometry and detaches the source villages."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"accept": ".geojson,.json,application/geo+json,application/json",
                                        "class": "form-control"})
        super().__init__(label, validators, widget=FileInput(), **kwargs)
        self.geometry = None

    def has_file(self) -> bool:
        return bool(self.data) and bool(getattr(self.data, "filename", ""))

    def pre_validate(self, form):
        self.geometry = None
        if not self.has_file():
            return
        raw = self.data.stream.read(MAX_UPLOAD_BYTES + 1)
        if len(raw) > MAX_UPLOAD_BYTES:
            raise StopValidation(gettext("is larger than %(mb)d MB: simplify the polygons first",
                                         mb=MAX_UPLOAD_BYTES // (1024 * 1024)))
        regency_field = getattr(form, "regency", None)
        try:
            self.geometry = zone_geometry_from_geojson(db.session, raw, regency_field.data if regency_field else None)
        except GeoJSONProblem as exc:
            raise StopValidation(gettext("The file %(reason)s", reason=str(exc)))

    def populate_obj(self, obj, name):
        if self.geometry is not None:
            obj.geom = self.geometry
            obj.source_villages = []


class OneGeometrySource:
    """On the villages field: the zone's area comes from villages OR from a file — exactly one
    when adding; when editing, neither keeps the current area (unless it was made from
    villages, which then need at least one)."""

    def __call__(self, form, field):
        has_villages = bool(field.data)
        has_file = form.geojson_file.has_file()
        if has_villages and has_file:
            raise ValidationError(gettext("Give either villages or a GeoJSON file, not both: to use the file, "
                                          "remove the villages"))
        if has_villages or has_file:
            return
        zone_id = getattr(form, "_id", None)
        if zone_id is None:
            raise ValidationError(gettext("Choose the villages of the zone, or upload a GeoJSON file of its area"))
        made_of_villages = db.session.execute(
            select(zone_source_village.c.village_id).where(zone_source_village.c.zone_id == zone_id).limit(1)
        ).first()
        if made_of_villages:
            raise ValidationError(gettext("This zone is made of villages: keep at least one, or upload a GeoJSON "
                                          "file to replace its area"))


class VillagesInRegency:
    """On the villages field: a zone of a regency is made of that regency's villages."""

    def __call__(self, form, field):
        regency = form.regency.data
        if regency is None or not field.data:
            return
        outside = [v for v in field.data if v.district.regency_id != regency.id]
        if outside:
            raise ValidationError(gettext("%(villages)s: not in %(regency)s, the zone's regency",
                                          villages=", ".join(village_label(v) for v in outside[:5])
                                          + (" …" if len(outside) > 5 else ""), regency=regency.name))


class RegencyForScope:
    """On the regency field: a user bound to a regency makes zones of that regency only
    (a province-wide zone is the province's business)."""

    def __call__(self, form, field):
        if field.data is None and current_scope().kind == "regency":
            raise StopValidation(gettext("Choose your regency: a zone for the whole province is made by the "
                                         "province"))


def _district_of(village):
    district = village.district
    return (district.id, f"{district.name} ({district.code})") if district is not None else ("", "")


def _own_regency():
    scope = current_scope()
    if scope.kind != "regency":
        return None
    from app.models.areas import Regency

    return db.session.get(Regency, scope.regency_id)


def _regency_name(regency):
    return regency.name if regency is not None else gettext("Whole province")


def _village_links(villages):
    if not villages:
        return gettext("None: the area was uploaded as a GeoJSON file")
    ordered = sorted(villages, key=lambda v: v.code)
    links = Markup(", ").join(
        Markup('<a href="{}">{} ({})</a>').format(url_for("VillageView.show", pk=v.id), v.name, v.code)
        for v in ordered)
    return Markup("{} — {}").format(ngettext("%(num)d village", "%(num)d villages", len(ordered)), links)


def _form_fields(editing: bool) -> dict:
    if editing:
        file_help = _("Instead of villages: the zone's area as a GeoJSON Polygon, MultiPolygon, Feature or "
                      "FeatureCollection in longitude/latitude (EPSG:4326). Leave empty to keep the current area.")
    else:
        file_help = _("Instead of villages: the zone's area as a GeoJSON Polygon, MultiPolygon, Feature or "
                      "FeatureCollection in longitude/latitude (EPSG:4326).")
    return {
        "year": IntegerField(_("Year"), default=lambda: date.today().year, widget=BS3TextFieldWidget(),
                             validators=[InputRequired(), NumberRange(2000, 2100)]),
        "basis": select_field(_("Basis"), ZONE_BASIS_CHOICES),
        "priority_level": select_field(_("Priority level"), PRIORITY_CHOICES, coerce=int),
        "regency": ScopedSelectField(
            _("Regency"), query_func=lambda: scoped_regencies(write=True), get_pk_func=lambda r: r.id,
            get_label="name", allow_blank=True, blank_text=_("Whole province"), default=_own_regency,
            widget=Select2Widget(), validators=[RegencyForScope()]),
        "source_villages": ScopedMultiSelectField(
            _("Villages"), query_func=lambda: scoped_villages(write=True), get_pk_func=lambda v: v.id,
            get_label=village_label, get_group=_district_of,
            widget=Select2ManyWidget(), validators=[OneGeometrySource(), VillagesInRegency()],
            description=_("The zone becomes the union of these villages. Or leave empty and upload a file "
                          "below.")),
        "geojson_file": GeoJSONFileField(_("GeoJSON file"), description=file_help),
    }


class PriorityZoneView(ScopedModelView):
    datamodel = SQLAInterface(PriorityZone)
    list_title = show_title = add_title = edit_title = _("Priority zones")
    add_template = "zones/add.html"
    edit_template = "zones/edit.html"
    show_template = "zones/show.html"
    label_columns = {**LABELS, "geojson_file": _("GeoJSON file")}
    list_columns = ["name", "year", "priority_level", "basis", "regency"]
    show_columns = ["name", "year", "priority_level", "basis", "regency", "description", "source_villages"]
    add_columns = edit_columns = ["name", "year", "priority_level", "basis", "regency", "description",
                                  "source_villages", "geojson_file"]
    search_columns = ["name", "year", "priority_level", "basis", "regency"]
    formatters_columns = {"basis": choice_label(ZONE_BASIS_CHOICES), "priority_level": choice_label(PRIORITY_CHOICES),
                          "regency": _regency_name, "source_villages": _village_links}
    add_form_extra_fields = _form_fields(editing=False)
    edit_form_extra_fields = _form_fields(editing=True)
    search_form_extra_fields = {
        "regency": ScopedSelectField(_("Regency"), query_func=lambda: scoped_regencies(write=False),
                                     get_pk_func=lambda r: r.id, get_label="name", allow_blank=True,
                                     widget=Select2Widget()),
    }

    # --- writes: the geometry first, then ScopedModelView's validation and write-scope check -----
    def pre_add(self, item):
        self._build_geometry(item)
        super().pre_add(item)

    def pre_update(self, item):
        self._build_geometry(item)
        super().pre_update(item)

    @staticmethod
    def _build_geometry(item):
        """Villages given: the zone is their union (recomputed on every save, so it follows
        boundary updates). An uploaded file has already set ``geom`` (GeoJSONFileField)."""
        if item.source_villages:
            with db.session.no_autoflush:  # validation and the scope check come after, in one flush
                item.geom = union_of_villages(db.session, [v.id for v in item.source_villages])

    # --- the map ------------------------------------------------------------------------------
    @expose("/geojson/<int:pk>")
    @has_access
    def geojson(self, pk: int):
        """The zone polygon and the outlines of its source villages (both simplified to ~10 m)
        as a GeoJSON FeatureCollection for the show page. The zone is fetched through the
        view's base filters, so one outside the user's scope answers 404."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        simplified = lambda geom: func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(geom, 0.0001), 6)  # noqa: E731
        zone_json = db.session.execute(select(simplified(PriorityZone.geom)).where(PriorityZone.id == pk)).scalar_one()
        villages = db.session.execute(
            select(Village.id, Village.code, Village.name, simplified(Village.geom))
            .join(zone_source_village, zone_source_village.c.village_id == Village.id)
            .where(zone_source_village.c.zone_id == pk)
            .order_by(Village.code)
        ).all()
        features = [{"type": "Feature", "geometry": json.loads(zone_json),
                     "properties": {"role": "zone", "id": item.id, "name": item.name, "year": item.year,
                                    "priority_level": item.priority_level}}]
        features += [{"type": "Feature", "geometry": json.loads(geometry),
                      "properties": {"role": "village", "id": vid, "code": code, "name": name}}
                     for vid, code, name, geometry in villages]
        return jsonify({"type": "FeatureCollection", "features": features})
