"""REST resources for households, members and enrolments; NIK / No KK masked as on screen.

``location`` is a GeoJSON Point (longitude, latitude; optional) in and out; it must lie in
Lampung (app/services/validation.py). Relations are given by id: ``village``,
``household``, ``program``.
"""
from flask import current_app, request
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.api.base import ListExportApiMixin, ScopedModelRestApi
from app.extensions import db
from app.security import duties
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

    # Separation of duties (app/security/duties.py): only Admin changes the desil, village,
    # point or number of members of an existing household directly; others propose it.
    def put_headless(self, pk):
        user = current_app.appbuilder.sm.current_user
        body = request.get_json(silent=True)
        if isinstance(body, dict) and not duties.may_edit_directly(user):
            crafted = duties.posted_request_only(body.keys(), form_names=False)
            if crafted:
                return self.response(403, message=duties.refusal_message(crafted))
        return super().put_headless(pk)

    def pre_update(self, item):
        if duties.may_edit_directly(current_app.appbuilder.sm.current_user):
            duties.annotate_direct_edit(db.session, item)
        try:
            super().pre_update(item)
        except Exception:
            db.session.info.pop("sinergi_audit", None)
            raise


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
