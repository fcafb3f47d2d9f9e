"""Household (BDT), member and enrolment screens. NIK and No KK are masked for users
without the right to see personal data.

The household form takes the location as latitude + longitude (typed, or picked on a small
Leaflet map); ``PointField`` turns them into ``item.location`` (EWKT) before
``ScopedModelView.pre_add`` / ``pre_update`` validate the row and check the write scope.
The show page draws the point and the declared village from ``/householdview/geojson/<pk>``.
"""
from __future__ import annotations

import json
import math
import re

from flask import abort, current_app, jsonify, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.fields import QuerySelectField, QuerySelectMultipleField
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.validators import Unique
from flask_babel import gettext, lazy_gettext as _
from markupsafe import Markup
from sqlalchemy import asc, desc, func, select
from sqlalchemy.orm import joinedload, load_only
from wtforms import Field, StringField
from wtforms.utils import unset_value
from wtforms.validators import DataRequired, StopValidation, ValidationError

from app.extensions import db
from app.models.areas import District, Regency, Village
from app.models.households import Enrolment, Household, HouseholdMember, lon_lat_of, point_ewkt
from app.security import scope as scope_mod
from app.security.scope import current_scope
from app.models.programs import desil_range_text
from app.services import eligibility
from app.services.validation import check_desil, check_id_number, check_point_in_province
from app.views.base import FieldRule, ScopedModelView, masked
from app.views.direct_edit import RequestOnlyFieldsMixin
from app.views.enrolment_filters import EligibilityFiltersMixin
from app.views.household_filters import TargetingFiltersMixin, narrowed_to_an_area
from app.views.list_export import ListExportMixin
from app.views.remote_filters import PROGRAMS, VILLAGES
from app.views.cell_format import date_text
from app.views.choices import (ANY_DESIL_CHOICES, ENROLMENT_STATUS_CHOICES, RELATIONSHIP_CHOICES, SEX_CHOICES,
                               choice_label, select_field)
from app.labels import LABELS
from app.views.programs import rupiah


# --- villages a user may pick ----------------------------------------------------------------

def scoped_villages(write: bool = True) -> list[Village]:
    """The villages the current user may choose (app.security.scope.choosable_areas), loaded
    without geometry (2,640 real polygons would be ~4 MB per page)."""
    query = (db.session.query(Village)
             .options(load_only(Village.id, Village.code, Village.name, Village.district_id),
                      joinedload(Village.district).load_only(District.id, District.code, District.name,
                                                                 District.regency_id))
             .order_by(Village.code))
    pred = scope_mod.choosable_areas(Village, write=write)
    return (query if pred is None else query.filter(pred)).all()


def scoped_regencies(write: bool = True) -> list[Regency]:
    """The regencies the current user may choose (app.security.scope.choosable_areas)."""
    query = db.session.query(Regency).options(load_only(Regency.id, Regency.code, Regency.name)).order_by(Regency.code)
    pred = scope_mod.choosable_areas(Regency, write=write)
    return (query if pred is None else query.filter(pred)).all()


class HouseholdNoKKField(StringField):
    """The household of a member or an enrolment, typed as its No KK and looked up within
    the user's scope. A drop-down of every household does not scale (Lampung holds about
    a million). For users who see masked numbers the current household shows masked and,
    left unchanged, is kept."""

    widget = BS3TextFieldWidget()

    def __init__(self, label=None, write: bool = True, **kwargs):
        kwargs.setdefault("description", _("The household's 16-digit No KK"))
        super().__init__(label, **kwargs)
        self.write = write
        self.household = None
        self._current = None

    def process_data(self, value):
        if isinstance(value, Household):
            self._current = value
            self.data = scope_mod.mask_number(value.no_kk)
        else:
            self.data = value

    def pre_validate(self, form):
        text = (self.data or "").strip()
        if self._current is not None and text == scope_mod.mask_number(self._current.no_kk):
            self.household = self._current
            return
        if not text:
            raise StopValidation(gettext("is required"))
        problem = check_id_number(text, False)
        if problem:
            raise StopValidation(problem)
        query = scope_mod.apply(select(Household).where(Household.no_kk == text), Household, write=self.write)
        self.household = db.session.execute(query).scalar()
        if self.household is None:
            raise StopValidation(gettext("no household with this No KK in your area"))

    def populate_obj(self, obj, name):
        setattr(obj, name, self.household)


def household_field(label, write: bool):
    return HouseholdNoKKField(label, write=write)


def village_label(village: Village) -> str:
    """'Sukadana — Sukadana (18.07.01.2001)': village, kecamatan and code, so a name that
    occurs in several kecamatan can be told apart and searched by kecamatan."""
    district = village.district.name if village.district is not None else "?"
    return f"{village.name} — {district} ({village.code})"


class ScopedSelectField(QuerySelectField):
    """A Select2 of rows from a scoped query; a value outside it gets a clear message."""

    def pre_validate(self, form):
        try:
            super().pre_validate(form)
        except ValidationError:
            # StopValidation: DataRequired would otherwise replace this message with "required".
            raise StopValidation(gettext("is not one you may choose (outside your area): pick one from the list"))


class ScopedMultiSelectField(QuerySelectMultipleField):
    """Multi-select of rows from a scoped query; ``get_group(obj) -> (key, label)`` puts
    data-group / data-group-label on each option (the kecamatan of a village), so the page
    can add a whole group at once."""

    def __init__(self, *args, get_group=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.get_group = get_group

    def iter_choices(self):
        selected = self.data or []
        for pk, obj in self._get_object_list():
            attrs = {}
            if self.get_group:
                key, label = self.get_group(obj)
                attrs = {"data-group": key, "data-group-label": label}
            yield pk, self.get_label(obj), obj in selected, attrs

    def pre_validate(self, form):
        # Resolve the posted ids first: FAB's check reads the "invalid" flag before it is set.
        self._get_data()
        try:
            super().pre_validate(form)
        except ValidationError:
            raise StopValidation(gettext("holds a value you may not choose (outside your area): pick from the list"))


def village_field(label, write: bool = True, **kwargs):
    return ScopedSelectField(label, query_func=lambda: scoped_villages(write), get_pk_func=lambda v: v.id,
                             get_label=village_label, allow_blank=True, blank_text=_("Choose a village"),
                             widget=Select2Widget(), **kwargs)


# --- the point: latitude + longitude inputs and a map picker ---------------------------------

def parse_coordinate(text: str) -> float:
    """'-5,4321' or '−5.4321' -> -5.4321 (decimal comma and the Unicode minus accepted)."""
    value = text.strip().replace("\u2212", "-").replace(" ", "")
    if "," in value and "." not in value:
        value = value.replace(",", ".")
    if not re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", value):
        raise ValueError(text)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def point_problem(session, lon: float, lat: float) -> str | None:
    """Why the point cannot be a household location in Lampung, or None.

    Swapped input (latitude ~105, longitude ~-5) is out of the latitude range, which
    check_point_in_province reports as an invalid coordinate; test the swapped reading
    first so the message names the real mistake."""
    if not -90 <= lat <= 90 and -90 <= lon <= 90 and -180 <= lat <= 180 \
            and check_point_in_province(session, lat, lon) is None:
        return gettext("lies outside Lampung: latitude and longitude look swapped")
    return check_point_in_province(session, lon, lat)


def _format_coordinate(value: float) -> str:
    return f"{value:.7f}".rstrip("0").rstrip(".")


class PointPickerWidget:
    """Latitude and longitude inputs plus a Leaflet map (static/js/point_picker.js): click to
    set the point, drag the marker, type the numbers; both stay in sync. The map shows the
    outline of the village chosen in the form's ``village`` select."""

    def __call__(self, field, **kwargs):
        village_url = url_for("VillageView.geojson", pk=987654321).replace("987654321", "{id}")
        scope = current_scope()
        # Orientation without a base layer: the user's regency, when they have one.
        context_url = url_for("RegencyView.geojson", pk=scope.regency_id) if scope.kind == "regency" else ""
        invalid = " has-error" if field.errors else ""

        def coordinate_input(name, label, text, placeholder):
            return Markup(
                '<div class="col-sm-6 form-group{invalid}"><label for="{name}">{label}</label>'
                '<input type="text" inputmode="decimal" autocomplete="off" class="form-control" id="{name}" '
                'name="{name}" value="{value}" placeholder="{placeholder}"></div>'
            ).format(invalid=invalid, name=name, label=label, value=text, placeholder=placeholder)

        return Markup(
            '<div class="sinergi-point-field" id="{id}">'
            '<div class="row">{lat}{lon}</div>'
            '<div id="point-picker" class="sinergi-point-picker" role="application" aria-label="{map_label}" '
            'style="height: 340px; border: 1px solid #ddd;" data-village-select="village" '
            'data-village-geojson-url="{village_url}" data-context-geojson-url="{context_url}" '
            'data-basemap-url="{basemap}" '
            'data-error-text="{error_text}"></div>'
            '<p class="help-block">{help} '
            '<button type="button" class="btn btn-default btn-xs" id="point-clear">'
            '<i class="fa fa-times"></i> {clear}</button></p>'
            '</div>'
        ).format(
            id=field.id,
            lat=coordinate_input("latitude", gettext("Latitude"), field.lat_text, "-5.1234567"),
            lon=coordinate_input("longitude", gettext("Longitude"), field.lon_text, "105.1234567"),
            map_label=gettext("Map: click to set the household's location"),
            village_url=village_url,
            context_url=context_url,
            basemap=current_app.config.get("SINERGI_BASEMAP_URL") or "",
            error_text=gettext("The map could not be loaded"),
            help=gettext("Click the map to set the point, drag the marker to move it, or type the numbers "
                         "(decimal degrees, e.g. latitude -5.12, longitude 105.3). Leave both empty for no point."),
            clear=gettext("Clear point"),
        )


class PointField(Field):
    """``location`` edited as two inputs, ``latitude`` and ``longitude``.

    ``data`` is the EWKT 'SRID=4326;POINT(lon lat)' or None (both empty). One number
    without the other, a non-number, or a point outside Lampung is a field error, shown
    next to the inputs with what was typed kept. When neither input is posted at all (a
    client that does not know the field) the stored location is left as it is."""

    widget = PointPickerWidget()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.lat_text = self.lon_text = ""
        self.absent = False

    def process(self, formdata, data=unset_value, extra_filters=None):
        self.process_errors = []
        data = None if data is unset_value else data
        self.object_data = data
        self.process_data(data)
        self.absent = False
        if formdata is not None:
            self.absent = "latitude" not in formdata and "longitude" not in formdata
            if not self.absent:
                self.lat_text = (formdata.get("latitude") or "").strip()
                self.lon_text = (formdata.get("longitude") or "").strip()
                self.raw_data = [self.lat_text, self.lon_text]

    def process_data(self, value):
        point = lon_lat_of(value)
        self.data = None if point is None else point_ewkt(*point)
        self.lat_text, self.lon_text = ("", "") if point is None else (_format_coordinate(point[1]),
                                                                       _format_coordinate(point[0]))

    def pre_validate(self, form):
        if self.absent:
            return
        if not self.lat_text and not self.lon_text:
            self.data = None
            return
        if not self.lon_text:
            raise StopValidation(gettext("Longitude is missing: give both latitude and longitude, or neither"))
        if not self.lat_text:
            raise StopValidation(gettext("Latitude is missing: give both latitude and longitude, or neither"))
        numbers = {}
        for key, text, label in (("lat", self.lat_text, gettext("Latitude")),
                                 ("lon", self.lon_text, gettext("Longitude"))):
            try:
                numbers[key] = parse_coordinate(text)
            except ValueError:
                raise StopValidation(gettext("%(field)s is not a number in decimal degrees (got %(value)s)",
                                             field=label, value=text))
        problem = point_problem(db.session, numbers["lon"], numbers["lat"])
        if problem:
            raise StopValidation(gettext("The point %(reason)s", reason=problem))
        self.data = point_ewkt(numbers["lon"], numbers["lat"])

    def populate_obj(self, obj, name):
        if not self.absent:
            setattr(obj, name, self.data)


class _Required(FieldRule):
    """A shared rule that also marks the field as required (the red star)."""

    field_flags = {"required": True}


# --- screens ---------------------------------------------------------------------------------

class HouseholdMemberView(ListExportMixin, ScopedModelView):
    datamodel = SQLAInterface(HouseholdMember)
    list_title = show_title = add_title = edit_title = _("Household members")
    label_columns = LABELS
    list_columns = ["household", "nik", "name", "sex", "birth_date", "relationship_to_head"]
    show_columns = add_columns = edit_columns = ["household", "nik", "name", "sex", "birth_date",
                                                 "relationship_to_head"]
    search_columns = ["name", "sex", "relationship_to_head"]
    formatters_columns = {"nik": masked, "sex": choice_label(SEX_CHOICES),
                          "relationship_to_head": choice_label(RELATIONSHIP_CHOICES)}
    add_form_extra_fields = edit_form_extra_fields = {
        "household": household_field(_("Household"), write=True),
        "nik": StringField(_("NIK"), validators=[_Required(check_id_number, True)], widget=BS3TextFieldWidget()),
        "sex": select_field(_("Sex"), SEX_CHOICES),
        "relationship_to_head": select_field(_("Relationship to head"), RELATIONSHIP_CHOICES),
    }


class EnrolmentView(EligibilityFiltersMixin, ListExportMixin, ScopedModelView):
    datamodel = SQLAInterface(Enrolment)
    list_title = show_title = add_title = edit_title = _("Enrolments")
    label_columns = LABELS
    list_columns = ["household", "program", "year", "status", "benefit_value", "date"]
    add_columns = edit_columns = ["household", "program", "year", "status", "benefit_value", "date"]
    # desil_target: inside / outside the program's target desil (app/services/eligibility.py),
    # a flag for review: an enrolment outside it is never refused.
    show_columns = add_columns + ["desil_target"]
    # "Di luar sasaran desil" and the household's regency: app/views/enrolment_filters.py.
    search_columns = ["program", "year", "status"]
    remote_filters = {"program": PROGRAMS}  # the programs of every year: searched as typed
    formatters_columns = {"status": choice_label(ENROLMENT_STATUS_CHOICES), "benefit_value": rupiah,
                          "desil_target": lambda value: value}
    add_form_extra_fields = edit_form_extra_fields = {
        # Read scope: an OPD officer enrols households of the regencies their programs cover.
        "household": household_field(_("Household"), write=False),
        "status": select_field(_("Status"), ENROLMENT_STATUS_CHOICES),
    }

    def _get_show_widget(self, pk, item, **kwargs):
        item.desil_target = target_flag(eligibility.target_rows(db.session.connection(), [item.id]).get(item.id))
        return super()._get_show_widget(pk, item, **kwargs)


def target_flag(row) -> Markup | str:
    """'Di luar sasaran desil: desil 6 (DTSEN), sasaran 1–4 (DTSEN)' (a warning label), or
    'Dalam sasaran desil: ...' — the household's desil read in the program's source."""
    if row is None:
        return ""
    detail = gettext("desil %(desil)s (%(source)s), target %(range)s", desil=row["desil"], source=row["source"],
                     range=desil_range_text(row["min"], row["max"], row["source"]))
    if row["outside"]:
        return Markup('<span class="label label-warning">{}</span> {}').format(
            gettext("Outside the target desil"), detail)
    return Markup('<span class="label label-success">{}</span> {}').format(
        gettext("Inside the target desil"), detail)


def village_link(village) -> Markup | str:
    """Formatter: the village's name and code, linked to its page (no extra query per row)."""
    if village is None:
        return ""
    return Markup('<a href="{}">{} ({})</a>').format(url_for("VillageView.show", pk=village.id), village.name,
                                                    village.code)


def blank_if_none(value):
    """Empty optional fields show as empty, not as Python's 'None'."""
    return "" if value is None else value


def _coordinate(value):
    """A latitude or longitude on the show page: rounded (~1 km) for users who see masked numbers."""
    if value is None:
        return ""
    if current_scope().can_unmask:
        return _format_coordinate(value)
    return f"{_format_coordinate(scope_mod.round_coordinate(value))} ({gettext('rounded to ~1 km')})"


class _HouseholdInterface(SQLAInterface):
    """Households, ordered so that a regency's or an agency's list reads its own rows first.

    No KK and NIK start with the region's code, so one regency's households sit together in
    the middle of their indexes: walking ``uq_household_no_kk`` for the first page of
    Lampung Timur read 500,000 other households before the first of its own (1.0-1.5 s at
    1 M households). For those scopes the order is on ``no_kk || ''`` — the same order, but
    not the index's expression — so PostgreSQL takes the scope's rows by village and sorts
    them (0.2 s). Bappeda's list keeps the index walk, which is the fast plan for everything
    but a list filtered to one regency or zone (household_filters.narrowed_to_an_area)."""

    SORTED_IN_MEMORY = ("no_kk", "head_nik")

    def apply_order_by(self, query, order_column, order_direction, aliases_mapping=None,
                       bypass_many_to_many=False, add_pk=False):
        query = super().apply_order_by(query, order_column, order_direction, aliases_mapping=aliases_mapping,
                                       bypass_many_to_many=bypass_many_to_many, add_pk=add_pk)
        if order_column in self.SORTED_IN_MEMORY and (current_scope().kind in ("regency", "agency")
                                                      or narrowed_to_an_area()):
            direction = asc if order_direction == "asc" else desc
            query = query.order_by(None).order_by(direction(getattr(Household, order_column).concat("")),
                                                  direction(Household.id))
        return query


_households = _HouseholdInterface(Household)


class HouseholdView(RequestOnlyFieldsMixin, TargetingFiltersMixin, ListExportMixin, ScopedModelView):
    datamodel = _households
    list_template = "households/list.html"  # the targeting panel (app/views/household_filters.py) above the list
    list_title = show_title = add_title = edit_title = _("Households")
    add_template = "households/add.html"
    edit_template = "households/edit.html"
    show_template = "households/show.html"
    label_columns = LABELS
    list_columns = ["no_kk", "head_name", "village", "desil", "member_count"]
    show_columns = ["no_kk", "head_nik", "head_name", "address", "rt", "rw", "village", "latitude", "longitude",
                    "desil", "member_count", "source", "source_date"]
    add_columns = edit_columns = ["no_kk", "head_nik", "head_name", "address", "rt", "rw", "village", "location",
                                  "desil", "member_count", "source", "source_date"]
    # /householdview/list/?_flt_0_village=<village id> lists one village (the map popups link here);
    # TargetingFiltersMixin adds desil from/to, program year, number of programs, program, zone, No KK/NIK.
    search_columns = ["head_name", "village", "desil", "source"]
    formatters_columns = {"no_kk": masked, "head_nik": masked, "village": village_link, "latitude": _coordinate,
                          "longitude": _coordinate, "source_date": date_text,
                          "address": blank_if_none, "rt": blank_if_none, "rw": blank_if_none}
    add_form_extra_fields = edit_form_extra_fields = {
        "no_kk": StringField(_("No KK"), widget=BS3TextFieldWidget(),
                             validators=[_Required(check_id_number, False),
                                         Unique(_households, "no_kk",
                                                _("is already registered for another household"))]),
        "head_nik": StringField(_("Head's NIK"), widget=BS3TextFieldWidget(),
                                validators=[_Required(check_id_number, True)]),
        "village": village_field(_("Village"), write=True, validators=[DataRequired()]),
        "location": PointField(_("Location")),
        # 1-10: a household whose snapshot is DTSEN holds desil 1-10; the household's own range
        # (its snapshot's, BDT 2015's 1-4 without one) is checked in app/services/validation.py.
        "desil": select_field(_("Desil"), ANY_DESIL_CHOICES, coerce=int, validators=[FieldRule(check_desil, 10)]),
    }
    # 2,640 villages: searched as typed (app/views/remote_filters.py), not carried in the page;
    # "program" is the received / not received filter of app/views/household_filters.py.
    remote_filters = {"village": VILLAGES, "program": PROGRAMS}
    related_views = [HouseholdMemberView, EnrolmentView]
    base_order = ("no_kk", "asc")  # the unique index keeps a page cheap at a million rows

    @expose("/geojson/<int:pk>")
    @has_access
    def geojson(self, pk: int):
        """The household's point and its declared village (simplified to ~10 m) as a GeoJSON
        FeatureCollection for the show page. The row is fetched through the view's base
        filters, so a household outside the user's scope answers 404. NIK is never sent;
        No KK and the exact point only to users who may see personal data ("inside_village"
        is still computed from the exact point)."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        row = db.session.execute(
            select(func.ST_AsGeoJSON(scope_mod.position(Household.location), 7),
                   func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(Village.geom, 0.0001), 6),
                   func.ST_Covers(Village.geom, Household.location))
            .join(Village, Village.id == Household.village_id)
            .where(Household.id == pk)
        ).one()
        point_json, village_json, inside = row
        village = item.village
        features = [{
            "type": "Feature", "geometry": json.loads(village_json),
            "properties": {"role": "village", "id": village.id, "code": village.code, "name": village.name},
        }]
        if point_json is not None:
            properties = {"role": "household", "id": item.id, "head_name": item.head_name, "desil": item.desil,
                          "inside_village": bool(inside)}
            if current_scope().can_unmask:
                properties["no_kk"] = item.no_kk
            features.append({"type": "Feature", "geometry": json.loads(point_json), "properties": properties})
        return jsonify({"type": "FeatureCollection", "features": features})

