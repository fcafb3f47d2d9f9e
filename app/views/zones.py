"""Priority zone screens. Geometry never appears in a form: a zone is made EITHER from a set
of villages (the union of their polygons, computed in PostGIS, with ``source_villages``
kept so the zone can be rebuilt) OR from an uploaded GeoJSON file (validated, made valid,
stored as MULTIPOLYGON). The show page draws the zone and its source villages from
``/priorityzoneview/geojson/<pk>``.
"""
from __future__ import annotations

import json
from datetime import date

from flask import abort, current_app, jsonify, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2ManyWidget, Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext, lazy_gettext as _, ngettext
from flask_wtf.file import FileField
from markupsafe import Markup
from sqlalchemy import func, select
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange, StopValidation, ValidationError
from wtforms.widgets import FileInput

from app.extensions import db
from app.models.areas import Village
from app.models.zones import PriorityZone, zone_source_village
from app.security.scope import current_scope
from app.views.base import ScopedModelView
from app.views.list_export import ListExportMixin
from app.views.choices import PRIORITY_CHOICES, ZONE_BASIS_CHOICES, choice_label, select_field
from app.views.households import (ScopedMultiSelectField, ScopedSelectField, scoped_regencies, scoped_villages,
                                  village_label)
from app.labels import LABELS
from gis.zones import GeoJSONProblem, union_of_villages, zone_geometry_from_geojson

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
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        raw = self.data.stream.read(limit + 1)
        if len(raw) > limit:
            raise StopValidation(gettext("is larger than %(mb)d MB: simplify the polygons first",
                                         mb=limit // (1024 * 1024)))
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


class PriorityZoneView(ListExportMixin, ScopedModelView):
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
