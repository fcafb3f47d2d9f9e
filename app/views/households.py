"""Household (BDT), member and enrolment screens. NIK and No KK are masked for users
without the right to see personal data."""
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _

from app.models.households import Enrolment, Household, HouseholdMember
from app.views.base import ScopedModelView, masked
from app.views.choices import (DESIL_CHOICES, ENROLMENT_STATUS_CHOICES, RELATIONSHIP_CHOICES, SEX_CHOICES,
                               choice_label, select_field)
from app.views.labels import LABELS
from app.views.programs import rupiah


class HouseholdMemberView(ScopedModelView):
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
        "sex": select_field(_("Sex"), SEX_CHOICES),
        "relationship_to_head": select_field(_("Relationship to head"), RELATIONSHIP_CHOICES),
    }


class EnrolmentView(ScopedModelView):
    datamodel = SQLAInterface(Enrolment)
    list_title = show_title = add_title = edit_title = _("Enrolments")
    label_columns = LABELS
    list_columns = ["household", "program", "year", "status", "benefit_value", "date"]
    show_columns = add_columns = edit_columns = ["household", "program", "year", "status", "benefit_value", "date"]
    search_columns = ["household", "program", "year", "status"]
    formatters_columns = {"status": choice_label(ENROLMENT_STATUS_CHOICES), "benefit_value": rupiah}
    add_form_extra_fields = edit_form_extra_fields = {
        "status": select_field(_("Status"), ENROLMENT_STATUS_CHOICES),
    }


class HouseholdView(ScopedModelView):
    datamodel = SQLAInterface(Household)
    list_title = show_title = add_title = edit_title = _("Households")
    label_columns = LABELS
    list_columns = ["no_kk", "head_name", "village", "desil", "member_count"]
    show_columns = ["no_kk", "head_nik", "head_name", "address", "rt", "rw", "village", "desil", "member_count",
                    "source", "source_date"]
    add_columns = edit_columns = ["no_kk", "head_nik", "head_name", "address", "rt", "rw", "village", "desil",
                                  "member_count", "source", "source_date"]
    search_columns = ["head_name", "village", "desil", "source"]
    formatters_columns = {"no_kk": masked, "head_nik": masked}
    add_form_extra_fields = edit_form_extra_fields = {
        "desil": select_field(_("Desil"), DESIL_CHOICES, coerce=int),
    }
    related_views = [HouseholdMemberView, EnrolmentView]
