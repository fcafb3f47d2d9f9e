"""Eligibility filters of the enrolment list, in the style of app/views/household_filters.py:
FAB search filters on pseudo-columns, so the list, its pages and its exports (which read the
same ``_flt_<n>_<column>`` arguments) show the same rows.

- ``desil_target`` "Di luar sasaran desil": 'ya' lists the enrolments whose household's desil,
  read in the program's source, lies outside the program's target range; 'tidak' the others
  (app/services/eligibility.py ``outside_target_clause``, the one rule);
- ``household_regency`` "Kabupaten/kota rumah tangga": the regency code (18.07) of the
  household's declared village, for the analysis pages' links when they are filtered to a regency.

``enrolment_list_url`` builds the list's URL for a program's counted enrolments outside its
target: the program overlap page links its counts with it.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlencode

from flask import current_app, url_for
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import gettext, lazy_gettext as _
from sqlalchemy import select
from wtforms import StringField

from app.models.households import Enrolment, Household
from app.services.eligibility import outside_target_clause
from app.views.household_filters import TargetingFiltersMixin, _refuse, _single, filter_by_regency

YES = {"ya", "yes", "1"}
NO = {"tidak", "no", "0"}


class OutsideTargetFilter(BaseFilter):
    name = _("is")

    def apply(self, query, value):
        text = _single(value).lower()
        if not text:
            return query
        if text in YES | {str(gettext("yes")).lower()}:
            return query.filter(outside_target_clause())
        if text in NO | {str(gettext("no")).lower()}:
            return query.filter(~outside_target_clause())
        return _refuse(query, gettext("Outside the target desil: choose 'ya' or 'tidak' (got %(value)s).",
                                      value=text[:20]))


class HouseholdRegencyFilter(BaseFilter):
    name = _("equals (code)")

    def apply(self, query, value):
        return filter_by_regency(query, value, lambda villages: Enrolment.household_id.in_(
            select(Household.id).where(Household.village_id.in_(villages))))


ELIGIBILITY_FILTERS = {"desil_target": [OutsideTargetFilter], "household_regency": [HouseholdRegencyFilter]}
ELIGIBILITY_LABELS = {"desil_target": _("Outside the target desil"),
                      "household_regency": _("Household's regency")}


class EligibilityFiltersMixin:
    """Adds ELIGIBILITY_FILTERS to the enrolment list's search filters (text inputs in FAB's
    filter form: 'ya' / 'tidak', a regency code)."""

    def _init_properties(self):
        super()._init_properties()
        self.search_columns = list(self.search_columns)
        self.label_columns = {**self.label_columns, **ELIGIBILITY_LABELS}
        for column, classes in ELIGIBILITY_FILTERS.items():
            if column not in self.search_columns:
                self.search_columns.append(column)
            for filters in (self._filters._search_filters, self._filters._all_filters):
                filters[column] = list(filters.get(column, [])) + [cls(column, self.datamodel) for cls in classes]
        extra = {
            "desil_target": StringField(ELIGIBILITY_LABELS["desil_target"], widget=BS3TextFieldWidget(),
                                        render_kw={"placeholder": _("ya / tidak")}),
            "household_regency": StringField(ELIGIBILITY_LABELS["household_regency"], widget=BS3TextFieldWidget(),
                                             render_kw={"placeholder": "18.07"}),
        }
        self.search_form_extra_fields = {**extra, **(self.search_form_extra_fields or {})}

    filter_arg = TargetingFiltersMixin.filter_arg  # ``_flt_<n>_<column>`` of one filter of this view


def _enrolment_view():
    for view in current_app.appbuilder.baseviews:
        if isinstance(view, EligibilityFiltersMixin) and view.datamodel.obj is Enrolment:
            return view
    raise LookupError("the enrolment list view is not registered")


def enrolment_list_url(program_id: int, outside: bool = True, counted: bool = True,
                       regency_code: Optional[str] = None) -> str:
    """The enrolment list of one program, outside (or inside) its target desil; ``counted``: not
    rejected (status usulan, ditetapkan, disalurkan: the analysis pages' counted enrolments);
    ``regency_code``: households of that regency only."""
    from flask_appbuilder.models.sqla.filters import FilterNotEqual, FilterRelationOneToManyEqual

    view = _enrolment_view()
    args = [(view.filter_arg("program", FilterRelationOneToManyEqual), program_id),
            (view.filter_arg("desil_target", OutsideTargetFilter), "ya" if outside else "tidak")]
    if counted:
        args.append((view.filter_arg("status", FilterNotEqual), "ditolak"))
    if regency_code:
        args.append((view.filter_arg("household_regency", HouseholdRegencyFilter), regency_code))
    return url_for(f"{view.__class__.__name__}.list") + "?" + urlencode(args)
