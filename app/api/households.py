"""REST resources for households, members and enrolments; NIK / No KK masked as on screen.

``location`` is a GeoJSON Point (longitude, latitude; optional) in and out; it must lie in
Lampung (app/services/validation.py). Relations are given by id: ``village``,
``household``, ``program``.
"""
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.api.base import ListExportApiMixin, ScopedModelRestApi
from app.api.schemas import scoped_rel_fields
from app.models.households import Enrolment, Household, HouseholdMember


class HouseholdApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "household"
    datamodel = SQLAInterface(Household)
    masked_fields = ("no_kk", "head_nik")
    position_fields = ("location",)
    list_columns = show_columns = ["id", "no_kk", "head_nik", "head_name", "address", "rt", "rw", "village.id",
                                   "village.code", "desil", "member_count", "location", "source", "source_date"]
    add_columns = edit_columns = ["no_kk", "head_nik", "head_name", "address", "rt", "rw", "village", "desil",
                                  "member_count", "location", "source", "source_date"]
    # Filtering or sorting on no_kk is refused to users who see it masked (ScopedModelRestApi).
    search_columns = ["no_kk", "head_name", "village", "desil"]
    order_columns = ["id", "no_kk", "head_name", "desil", "member_count", "source_date"]
    add_query_rel_fields = edit_query_rel_fields = scoped_rel_fields("village")
    description_columns = {"location": "GeoJSON Point [longitude, latitude] inside Lampung (optional)",
                           "village": "id of the village (desa/kelurahan)"}


class HouseholdMemberApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "household_member"
    datamodel = SQLAInterface(HouseholdMember)
    masked_fields = ("nik",)
    list_columns = show_columns = ["id", "household.id", "nik", "name", "sex", "birth_date", "relationship_to_head"]
    add_columns = edit_columns = ["household", "nik", "name", "sex", "birth_date", "relationship_to_head"]
    search_columns = ["household", "name", "sex"]
    order_columns = ["id", "nik", "name", "sex", "birth_date"]
    add_query_rel_fields = edit_query_rel_fields = scoped_rel_fields("household")


class EnrolmentApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "enrolment"
    datamodel = SQLAInterface(Enrolment)
    list_columns = show_columns = ["id", "household.id", "program.id", "program.code", "year", "status",
                                   "benefit_value", "date"]
    add_columns = edit_columns = ["household", "program", "year", "status", "benefit_value", "date"]
    search_columns = ["household", "program", "year", "status"]
    add_query_rel_fields = edit_query_rel_fields = scoped_rel_fields("household", "program")
