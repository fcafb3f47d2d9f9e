"""Targeting filters of the household list: "desil-1 households of village X that receive no
program in year Y", as FAB search filters, so the list, its pages, its sort and its exports
(app/views/list_export.py reads the same ``_flt_<n>_<column>`` arguments) show the same rows.

The filters sit on pseudo-columns of the household list (not model columns):

- ``program_year``: the year the program and zone filters speak of (default: the latest year
  with a scoped enrolment, gis.queries.default_year);
- ``programs``: the number of distinct programs the household receives in that year — 0, 1, 2
  or 3 (= 3 or more) — counting enrolments with a counted status (gis.queries.COUNTED_STATUSES),
  the definition of the overlap and gaps pages; or "at least" 1, 2, 3 (reached, 2+ programs);
- ``program``: receives / does not receive one program (a program belongs to one fiscal year,
  and so does each of its enrolments: no year needed); the argument repeated
  (``_flt_0_program=A&_flt_0_program=B``, FAB applies each value) receives both;
- ``zone``: inside a priority zone of the year, by gis.queries' zone rule (``in_zone_clause``),
  or inside one given priority zone (``zone_clause``, the zone pages' per-zone counts);
- ``regency``: the household's declared village lies in the regency (code 18.07), one the user
  may choose (an operator: his own);
- ``number``: "Cari No KK / NIK", the exact 16-digit number of the household, its head or any
  member (masked users may search too: what they see stays masked);
- ``snapshot``: the households a targeting snapshot lists (BDT 2015, DTSEN 2025-Q4 ...); the
  desil filters then read that snapshot's desil instead of the latest (app/models/snapshots.py);

and on ``desil``: "from" (>=) and "to" (<=), next to FAB's own integer filters.

Each is an EXISTS / NOT EXISTS (or a count) over enrolment rows of one household and one year,
correlated to the listed household: ``ix_enrolment_household_id`` answers it with an index
lookup per listed household (a village's list: ~0.3 ms for the filter in the demo data), and the
list's scope (base_filters) and village filter limit the households first. ``household_list_url`` builds the list's URL for a
set of criteria; the analysis pages link their counts with it.
"""
from __future__ import annotations

import re
from typing import Optional
from urllib.parse import urlencode

from flask import current_app, flash, g, has_request_context, render_template, request, url_for
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import gettext, lazy_gettext as _
from markupsafe import Markup
from sqlalchemy import and_, any_, distinct, false, func, or_, select, true, union
from wtforms import StringField

from app.extensions import db
from app.models.areas import Regency, Village
from app.models.households import Enrolment, Household, HouseholdMember
from app.models.snapshots import HouseholdSnapshot, TargetingSnapshot
from app.models.zones import PriorityZone
from app.security.scope import choosable_areas, current_scope, in_scope, villages_in
from app.views.choices import snapshot_choices
from gis import queries
from gis.queries import COUNTED_STATUSES

PROGRAM_COUNTS = (("0", _("0 programs")), ("1", _("1 program")), ("2", _("2 programs")),
                  ("3", _("3 or more programs")))
DESIL_VALUES = tuple(range(1, 11))
SIXTEEN_DIGITS = re.compile(r"\d{16}")
REGENCY_CODE = re.compile(r"\d{2}\.\d{2}")  # 18.07
ZONE_YES = {"1", "ya", "yes"}


def _refuse(query, message: str):
    """Bad filter input: say why once per request (a list runs its filters for the count and for
    the page) and show no rows rather than all of them."""
    if has_request_context():
        said = g.setdefault("sinergi_filter_messages", set())
        if message not in said:
            said.add(message)
            flash(message, "warning")
    return query.filter(false())


def _single(value) -> str:
    return ("" if value is None else str(value)).strip()


# --- the year ------------------------------------------------------------------------------------

_YEAR_ARG = re.compile(r"_flt_\d+_program_year")


def _valid_year(text: str) -> Optional[int]:
    return int(text) if text.isdigit() and 2000 <= int(text) <= 2100 else None


def filter_year() -> int:
    """The year of the program and zone filters: the request's ``_flt_<n>_program_year`` when it
    is a valid year, else gis.queries.default_year for the user (cached for the request)."""
    if has_request_context():
        for key, value in request.args.items(multi=True):
            if _YEAR_ARG.fullmatch(key) and _valid_year(value.strip()) is not None:
                return int(value.strip())
        if "sinergi_default_year" not in g:
            g.sinergi_default_year = queries.default_year(db.session.connection(), current_scope())
        return g.sinergi_default_year
    return queries.default_year(db.session.connection(), current_scope())


def _enrolment_scope():
    """The enrolments that count for the user. An OPD officer counts only their agency's
    programs (as on the analysis pages). For the other scopes the Enrolment rule is "the
    household is in scope", which the list's own base filter already guarantees for the
    correlated household: repeating it would add a regency-wide IN to every lookup."""
    scope = current_scope()
    return in_scope(Enrolment, scope) if scope.kind == "agency" else true()


def _counted(year: int, *where):
    """Counted enrolments of the correlated listed household in ``year``."""
    return (select(Enrolment.program_id)
            .where(Enrolment.household_id == Household.id, Enrolment.year == year,
                   Enrolment.status.in_(COUNTED_STATUSES), _enrolment_scope(), *where))


def _distinct_programs(year: int):
    """The number of distinct counted programs of the correlated listed household in ``year``."""
    return (select(func.count(distinct(Enrolment.program_id)))
            .where(Enrolment.household_id == Household.id, Enrolment.year == year,
                   Enrolment.status.in_(COUNTED_STATUSES), _enrolment_scope())
            .scalar_subquery())


def program_count_clause(year: int, count: int):
    """Households receiving exactly ``count`` distinct counted programs in ``year`` (3: 3 or more)."""
    if count == 0:
        return ~_counted(year).exists()
    return _distinct_programs(year) >= 3 if count >= 3 else _distinct_programs(year) == count


def programs_at_least_clause(year: int, least: int):
    """Households receiving ``least`` or more distinct counted programs in ``year`` (1: reached,
    the overlap pages' and the dashboard's "1+ programs"; 2: their "2+ programs")."""
    if least <= 1:
        return _counted(year).exists()
    return _distinct_programs(year) >= least


# --- the filters ---------------------------------------------------------------------------------

class ProgramYearFilter(BaseFilter):
    """Chooses the year of the program and zone filters; narrows nothing by itself."""

    name = _("is (for the program and zone filters)")

    def apply(self, query, value):
        text = _single(value)
        if text and _valid_year(text) is None:
            return _refuse(query, gettext("Program year: choose a year between 2000 and 2100 (got %(value)s).",
                                          value=text[:20]))
        return query


class ProgramCountFilter(BaseFilter):
    name = _("equals (in the program year)")

    def apply(self, query, value):
        text = _single(value)
        if not text:
            return query
        if text not in {"0", "1", "2", "3"}:
            return _refuse(query, gettext("Number of programs: choose 0, 1, 2 or 3 or more (got %(value)s).",
                                          value=text[:20]))
        return query.filter(program_count_clause(filter_year(), int(text)))


class ProgramsAtLeastFilter(BaseFilter):
    name = _("at least (in the program year)")

    def apply(self, query, value):
        text = _single(value)
        if not text:
            return query
        if text not in {"1", "2", "3"}:
            return _refuse(query, gettext("Number of programs, at least: choose 1, 2 or 3 (got %(value)s).",
                                          value=text[:20]))
        return query.filter(programs_at_least_clause(filter_year(), int(text)))


def _program_id(query, value):
    text = _single(value)
    if not text:
        return None, query
    if not text.isdigit() or len(text) > 9:
        return None, _refuse(query, gettext("Program: choose a program from the list."))
    return int(text), None


class ProgramReceivedFilter(BaseFilter):
    name = _("receives")

    def apply(self, query, value):
        program_id, refused = _program_id(query, value)
        if program_id is None:
            return refused
        return query.filter(_received(program_id))


class ProgramNotReceivedFilter(BaseFilter):
    name = _("does not receive")

    def apply(self, query, value):
        program_id, refused = _program_id(query, value)
        if program_id is None:
            return refused
        return query.filter(~_received(program_id))


def _received(program_id: int):
    # The program's enrolments all have its fiscal year: the year is not a condition here.
    return (select(Enrolment.id)
            .where(Enrolment.household_id == Household.id, Enrolment.program_id == program_id,
                   Enrolment.status.in_(COUNTED_STATUSES), _enrolment_scope())
            .exists())


def in_zone_clause(year: int):
    """Households inside a priority zone of ``year`` that the user sees, by the zone rule of
    gis.queries._in_zone_households (the gaps and zone pages): the household's point inside the
    zone; without a point, its declared village more than half inside the zone.

    Written per listed household rather than as "id IN (every member of every zone)": the point
    test is an EXISTS over the few zones of the year (idx_priority_zone_geom), and the costly part,
    the villages' shares inside the zones (~0.4 s for the 2,640 real polygons), is a hashed subplan
    that PostgreSQL only computes when a listed household has no point.

    Before the point test, a hashed look-up prunes: a point inside a zone lies in its located
    village (the village whose polygon holds it, kept by the household_locate trigger), so that
    village touches the zone; a point outside every village is still tested. At 1 M households
    the count of the dashboard's gap list (desil 1, no program, in a zone) took 1.4-1.8 s, not 2.5-3.0 s:
    the point test ran for 82,000 households of the villages touching a zone, not for 281,000."""
    zones = and_(PriorityZone.year == year, in_scope(PriorityZone, current_scope()))
    touching = (select(Village.id).join(PriorityZone, func.ST_Intersects(PriorityZone.geom, Village.geom))
                .where(zones))
    by_point = and_(or_(Household.located_village_id.is_(None), Household.located_village_id.in_(touching)),
                    select(PriorityZone.id).where(zones, func.ST_Intersects(PriorityZone.geom, Household.location))
                    .exists())
    share = (func.ST_Area(func.ST_Intersection(PriorityZone.geom, Village.geom))
             / func.nullif(func.ST_Area(Village.geom), 0))
    half_inside = (select(Village.id).join(PriorityZone, func.ST_Intersects(PriorityZone.geom, Village.geom))
                   .where(zones, share > 0.5))
    return or_(by_point, and_(Household.location.is_(None), Household.village_id.in_(half_inside)))


def zone_clause(zone_id: int):
    """Households inside the one priority zone ``zone_id`` (whatever its year), by the same rule
    as ``in_zone_clause`` and gis.queries._in_zone_households (the zone and gaps pages' per-zone
    counts): the point inside the zone; without a point, the declared village more than half
    inside it. The zone must be one the user sees (in_scope(PriorityZone)), else nothing (its
    geometry is then NULL and no village is half inside).

    The zone's geometry and its half-inside villages are computed once (InitPlans), so both
    tests are index conditions: ``location && zone`` on the GiST index of household.location and
    ``village_id = ANY(...)`` on ix_household_village_id, OR-ed in one bitmap. At 1 M households
    a province-wide list of one zone takes ~0.3-0.7 s (EXPLAIN ANALYZE on the benchmark data),
    where a per-household test would read all of them."""
    zone = and_(PriorityZone.id == zone_id, in_scope(PriorityZone, current_scope()))
    geom = select(PriorityZone.geom).where(zone).scalar_subquery()
    share = (func.ST_Area(func.ST_Intersection(PriorityZone.geom, Village.geom))
             / func.nullif(func.ST_Area(Village.geom), 0))
    half_inside = func.array(select(Village.id).join(PriorityZone, func.ST_Intersects(PriorityZone.geom, Village.geom))
                             .where(zone, share > 0.5).scalar_subquery())
    return or_(func.ST_Intersects(Household.location, geom),
               and_(Household.location.is_(None), Household.village_id == any_(half_inside)))


class ZoneFilter(BaseFilter):
    name = _("is the zone (number)")

    def apply(self, query, value):
        text = _single(value)
        if not text:
            return query
        known = text.isdigit() and len(text) <= 9 and db.session.execute(
            select(PriorityZone.id).where(PriorityZone.id == int(text),
                                          in_scope(PriorityZone, current_scope()))).first() is not None
        if not known:
            return _refuse(query, gettext("Priority zone: no such zone in your area (%(value)s).", value=text[:20]))
        return query.filter(zone_clause(int(text)))


def regency_id_of(code: str) -> Optional[int]:
    """The id of the regency ``code`` (18.07) if the user may choose it (read), else None."""
    allowed = choosable_areas(Regency, current_scope(), write=False)
    query = select(Regency.id).where(Regency.code == code)
    if allowed is not None:
        query = query.where(allowed)
    return db.session.execute(query).scalar()


def filter_by_regency(query, value, households_in):
    """``query`` narrowed to households declared in the regency whose code (18.07) is ``value``:
    ``households_in(villages)`` makes the clause from the regency's villages (the household list
    filters Household.village_id, the enrolment list its households). An operator may choose
    only his own regency; another one is said and lists nothing (his scope would list nothing
    anyway). The one rule of the analysis pages' per-regency links."""
    text = _single(value)
    if not text:
        return query
    if not REGENCY_CODE.fullmatch(text):
        return _refuse(query, gettext("Regency: type the regency code, e.g. 18.07 (got %(value)s).",
                                      value=text[:20]))
    regency_id = regency_id_of(text)
    if regency_id is None:
        return _refuse(query, gettext("Regency %(value)s: not a regency of your area.", value=text))
    return query.filter(households_in(villages_in([regency_id])))


class RegencyFilter(BaseFilter):
    """The household's declared village in the regency: the overlap page's per-regency counts
    (gis.queries._households joins the declared village's district)."""

    name = _("equals (code)")

    def apply(self, query, value):
        return filter_by_regency(query, value, Household.village_id.in_)


class InZoneFilter(BaseFilter):
    name = _("is (in the program year)")

    def apply(self, query, value):
        text = _single(value)
        if not text:
            return query
        if text.lower() not in ZONE_YES | {str(gettext("yes")).lower()}:
            return _refuse(query, gettext("Priority zone: choose 'yes' (got %(value)s).", value=text[:20]))
        return query.filter(in_zone_clause(filter_year()))


def number_clause(number: str):
    """Households whose No KK, head's NIK or a member's NIK is ``number`` — a union of three
    index lookups (uq_household_no_kk, ix_household_head_nik, ix_household_member_nik), so the
    list joins a handful of ids instead of testing every household."""
    ids = union(select(Household.id).where(Household.no_kk == number),
                select(Household.id).where(Household.head_nik == number),
                select(HouseholdMember.household_id).where(HouseholdMember.nik == number)).subquery("numbers")
    return Household.id.in_(select(ids.c[0]))


class NumberFilter(BaseFilter):
    name = _("is exactly")

    def apply(self, query, value):
        text = re.sub(r"[\s.\-]", "", _single(value))
        if not text:
            return query
        if not SIXTEEN_DIGITS.fullmatch(text):
            return _refuse(query, gettext("No KK / NIK search: type the whole number, 16 digits "
                                          "(got %(count)s characters).", count=len(text)))
        return query.filter(number_clause(text))


def _desil(query, value, label):
    text = _single(value)
    if not text:
        return None, query
    if not text.isdigit() or int(text) not in DESIL_VALUES:
        return None, _refuse(query, gettext("Desil %(which)s: choose 1 to 10 (got %(value)s).",
                                            which=label, value=text[:20]))
    return int(text), None


class DesilFromFilter(BaseFilter):
    name = _("from")

    def apply(self, query, value):
        desil, refused = _desil(query, value, gettext("from"))
        return refused if desil is None else query.filter(desil_clause(lambda column: column >= desil))


class DesilToFilter(BaseFilter):
    name = _("up to")

    def apply(self, query, value):
        desil, refused = _desil(query, value, gettext("up to"))
        return refused if desil is None else query.filter(desil_clause(lambda column: column <= desil))


# --- the snapshot ----------------------------------------------------------------------------------

_SNAPSHOT_ARG = re.compile(r"_flt_\d+_snapshot")


def filter_snapshot() -> Optional[int]:
    """The snapshot chosen in the request (``_flt_<n>_snapshot``), None for "the latest"."""
    if has_request_context():
        for key, value in request.args.items(multi=True):
            if _SNAPSHOT_ARG.fullmatch(key) and value.strip().isdigit():
                return int(value.strip())
    return None


def desil_clause(compare):
    """``compare`` applied to the listed household's desil: the latest (household.desil), or the
    chosen snapshot's (an index lookup on household_snapshot's primary key)."""
    snapshot_id = filter_snapshot()
    if snapshot_id is None:
        return compare(Household.desil)
    return (select(HouseholdSnapshot.household_id)
            .where(HouseholdSnapshot.snapshot_id == snapshot_id, HouseholdSnapshot.household_id == Household.id,
                   compare(HouseholdSnapshot.desil)).exists())


class SnapshotFilter(BaseFilter):
    name = _("is listed by")

    def apply(self, query, value):
        text = _single(value)
        if not text:
            return query
        known = text.isdigit() and db.session.get(TargetingSnapshot, int(text)) is not None
        if not known:
            return _refuse(query, gettext("Data source: no such snapshot (%(value)s).", value=text[:20]))
        return query.filter(select(HouseholdSnapshot.household_id)
                            .where(HouseholdSnapshot.snapshot_id == int(text),
                                   HouseholdSnapshot.household_id == Household.id).exists())


def narrowed_to_an_area() -> bool:
    """Whether the request filters the list by a regency or one zone: their households sit
    together in the No KK order (the number starts with the area's code), so walking the No KK
    index for the first page would read the others first (2.4 s at 1 M households for Lampung
    Timur); app/views/households.py then sorts the area's rows instead, as for a regency scope."""
    if not has_request_context():
        return False
    return any(value.strip() and _AREA_ARG.fullmatch(key) for key, value in request.args.items(multi=True))


_AREA_ARG = re.compile(r"_flt_\d+_(regency|zone)")


# --- the view side -------------------------------------------------------------------------------

TARGETING_FILTERS = {
    "desil": [DesilFromFilter, DesilToFilter],
    "program_year": [ProgramYearFilter],
    "programs": [ProgramCountFilter, ProgramsAtLeastFilter],
    "program": [ProgramReceivedFilter, ProgramNotReceivedFilter],
    "zone": [InZoneFilter, ZoneFilter],
    "number": [NumberFilter],
    "snapshot": [SnapshotFilter],
    "regency": [RegencyFilter],
}

TARGETING_LABELS = {
    "program_year": _("Program year"),
    "programs": _("Number of programs"),
    "program": _("Program"),
    "zone": _("In a priority zone"),
    "number": _("Search No KK / NIK"),
    "snapshot": _("Data source"),
    "regency": _("Regency"),
}


class TargetingFiltersMixin:
    """Adds TARGETING_FILTERS to the view's search filters (the "Add filter" menu) and to the
    filters FAB resolves from ``_flt_<n>_<column>`` arguments, and the targeting panel above
    the list (template households/targeting.html)."""

    def _init_properties(self):
        super()._init_properties()
        self.search_columns = list(self.search_columns)
        self.label_columns = {**self.label_columns, **TARGETING_LABELS}
        for column, classes in TARGETING_FILTERS.items():
            if column not in self.search_columns:
                self.search_columns.append(column)
            for filters in (self._filters._search_filters, self._filters._all_filters):
                filters[column] = list(filters.get(column, [])) + [cls(column, self.datamodel) for cls in classes]
        # Text inputs in FAB's filter form: its script carries every field's HTML, and the list
        # page keeps that script free of <option> lists (tests/integration/test_list_filters.py).
        # The targeting panel offers the same filters as drop-downs.
        extra = {
            "program_year": StringField(TARGETING_LABELS["program_year"], widget=BS3TextFieldWidget()),
            "programs": StringField(TARGETING_LABELS["programs"], widget=BS3TextFieldWidget(),
                                    render_kw={"placeholder": _("0, 1, 2 or 3 (3 or more)")}),
            "zone": StringField(TARGETING_LABELS["zone"], widget=BS3TextFieldWidget(),
                                render_kw={"placeholder": _("yes")}),
            "number": StringField(TARGETING_LABELS["number"], widget=BS3TextFieldWidget(),
                                  render_kw={"placeholder": _("16 digits")}),
            "snapshot": StringField(TARGETING_LABELS["snapshot"], widget=BS3TextFieldWidget()),
            "regency": StringField(TARGETING_LABELS["regency"], widget=BS3TextFieldWidget(),
                                   render_kw={"placeholder": "18.07"}),
        }
        self.search_form_extra_fields = {**extra, **(self.search_form_extra_fields or {})}

    def filter_arg(self, column: str, filter_class: type) -> str:
        """``_flt_<n>_<column>``: the request argument of one filter of this view."""
        for index, flt in enumerate(self._filters._all_filters[column]):
            if type(flt) is filter_class:
                return f"_flt_{index}_{column}"
        raise KeyError((column, filter_class))

    def _list(self, **kwargs):
        widgets = super()._list(**kwargs)
        widgets["targeting"] = lambda: targeting_panel(self)
        return widgets


def _household_view():
    for view in current_app.appbuilder.baseviews:
        if isinstance(view, TargetingFiltersMixin) and view.datamodel.obj is Household:
            return view
    raise LookupError("the household list view is not registered")


def household_list_url(village_id: Optional[int] = None, year: Optional[int] = None,
                       programs: Optional[int] = None, desil_to: Optional[int] = None,
                       desil_from: Optional[int] = None, in_zone: bool = False,
                       program_id: Optional[int] = None, received: bool = True,
                       programs_min: Optional[int] = None, regency_code: Optional[str] = None,
                       zone_id: Optional[int] = None, program_ids: tuple = ()) -> str:
    """The household list filtered to the given criteria (the analysis pages' and the dashboard's
    links): ``programs`` exactly (3: 3 or more) or ``programs_min`` or more programs in ``year``;
    ``program_id`` received (or not); ``program_ids`` all received; ``in_zone`` any zone of the
    year or ``zone_id`` that zone; ``regency_code`` the declared village's regency."""
    from flask_appbuilder.models.sqla.filters import FilterRelationOneToManyEqual

    view = _household_view()
    args = []
    if regency_code is not None:
        args.append((view.filter_arg("regency", RegencyFilter), regency_code))
    if village_id is not None:
        args.append((view.filter_arg("village", FilterRelationOneToManyEqual), village_id))
    if desil_from is not None:
        args.append((view.filter_arg("desil", DesilFromFilter), desil_from))
    if desil_to is not None:
        args.append((view.filter_arg("desil", DesilToFilter), desil_to))
    if year is not None:
        args.append((view.filter_arg("program_year", ProgramYearFilter), year))
    if programs is not None:
        args.append((view.filter_arg("programs", ProgramCountFilter), min(programs, 3)))
    if programs_min is not None:
        args.append((view.filter_arg("programs", ProgramsAtLeastFilter), min(programs_min, 3)))
    if program_id is not None:
        args.append((view.filter_arg("program", ProgramReceivedFilter if received else ProgramNotReceivedFilter),
                     program_id))
    for pid in program_ids:  # the argument repeated: FAB applies each value, receives every one
        args.append((view.filter_arg("program", ProgramReceivedFilter), pid))
    if in_zone:
        args.append((view.filter_arg("zone", InZoneFilter), 1))
    if zone_id is not None:
        args.append((view.filter_arg("zone", ZoneFilter), zone_id))
    return url_for(f"{view.__class__.__name__}.list") + ("?" + urlencode(args) if args else "")


def household_list_args() -> dict[str, str]:
    """The household list's request arguments of its village and "Sumber data" filters
    (``_flt_<n>_village``, ``_flt_<n>_snapshot``): the village map's popup builds its link to a
    village's households, of the snapshot the map shows, in the browser."""
    from flask_appbuilder.models.sqla.filters import FilterRelationOneToManyEqual

    view = _household_view()
    return {"village": view.filter_arg("village", FilterRelationOneToManyEqual),
            "snapshot": view.filter_arg("snapshot", SnapshotFilter)}


# --- the targeting panel -------------------------------------------------------------------------

PLAIN_VILLAGE_SELECT = 600  # up to this many choosable villages (a regency's): a plain <select>


def _kept_labels(view, kept, program_labels: dict, year: int) -> list[str]:
    """What the kept criteria the panel has no field for mean, in words ("Kabupaten/kota 18.07")."""
    def zone_name(value):
        name = db.session.execute(select(PriorityZone.name).where(
            PriorityZone.id == int(value), in_scope(PriorityZone, current_scope()))).scalar() if value.isdigit() else None
        return gettext("Priority zone: %(name)s", name=name or value)

    words = {
        view.filter_arg("regency", RegencyFilter): lambda v: gettext("Regency / city %(code)s", code=v),
        view.filter_arg("zone", ZoneFilter): zone_name,
        view.filter_arg("programs", ProgramsAtLeastFilter):
            lambda v: gettext("At least %(n)s programs in %(year)s", n=v, year=year),
        view.filter_arg("program", ProgramReceivedFilter):
            lambda v: gettext("Also receives %(program)s", program=program_labels.get(int(v), v) if v.isdigit() else v),
    }
    return [words[key](value) for key, value in kept if key in words and value]


def targeting_panel(view) -> Markup:
    """The short form above the household list: village, desil from-to, year, number of programs,
    priority zone, a program received / not received, No KK / NIK; it submits the same ``_flt_``
    arguments as FAB's filter form."""
    from flask_appbuilder.models.sqla.filters import FilterRelationOneToManyEqual

    from app.views.households import scoped_villages, village_label
    from app.views.remote_filters import PROGRAMS, VILLAGES

    names = {
        "village": view.filter_arg("village", FilterRelationOneToManyEqual),
        "desil_from": view.filter_arg("desil", DesilFromFilter),
        "desil_to": view.filter_arg("desil", DesilToFilter),
        "year": view.filter_arg("program_year", ProgramYearFilter),
        "programs": view.filter_arg("programs", ProgramCountFilter),
        "zone": view.filter_arg("zone", InZoneFilter),
        "number": view.filter_arg("number", NumberFilter),
        "received": view.filter_arg("program", ProgramReceivedFilter),
        "not_received": view.filter_arg("program", ProgramNotReceivedFilter),
        "snapshot": view.filter_arg("snapshot", SnapshotFilter),
    }
    values = {key: request.args.get(arg, "") for key, arg in names.items()}
    # Filters set in FAB's filter form (head's name...) or by a count's link (a regency, one zone,
    # "at least N programs", a second program received) are kept on submit, and said.
    kept, shown = [], set()
    for key, value in request.args.items(multi=True):
        if key in names.values() and key not in shown:
            shown.add(key)  # the panel's own field shows the first value
        elif key.startswith("_flt_"):
            kept.append((key, value))
    conn = db.session.connection()
    scope = current_scope()
    year = filter_year()
    years = sorted(set(queries.analysis_years(conn, scope)) | {year}, reverse=True)
    # The programs the user may read (tens a year), the latest year first, labelled as in FAB's
    # program filter ('PKH — Program Keluarga Harapan (2017)').
    programs = [(row[0], PROGRAMS.label(row))
                for row in db.session.execute(PROGRAMS._select().order_by(*PROGRAMS.order()))]
    also = _kept_labels(view, kept, dict(programs), year)
    villages = None
    chosen = []
    if values["village"].isdigit():
        chosen = VILLAGES.labels([int(values["village"])])
    if scope.kind == "regency":
        villages = [(v.id, village_label(v)) for v in scoped_villages(write=False)]
        if len(villages) > PLAIN_VILLAGE_SELECT:
            villages = None
    return Markup(render_template(
        "households/targeting.html", names=names, values=values, year=year, years=years, villages=villages,
        chosen_village=chosen, village_source=VILLAGES, kept=kept, also=also, programs=programs,
        village_choices_url=url_for(f"{view.__class__.__name__}.filter_choices", column="village"),
        program_counts=PROGRAM_COUNTS, desils=DESIL_VALUES,
        snapshots=snapshot_choices(),
        reset_url=url_for(f"{view.__class__.__name__}.list")))
