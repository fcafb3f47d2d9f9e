"""REST resources for TKPK institutions, members, documents and agencies (relations by id)."""
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.api.base import ListExportApiMixin, ScopedModelRestApi
from app.api.schemas import scoped_rel_fields
from app.models.tkpk import Agency, TkpkDocument, TkpkInstitution, TkpkMember


class AgencyApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "agency"
    datamodel = SQLAInterface(Agency)
    list_columns = show_columns = ["id", "name", "sector", "level", "regency.id", "regency.code"]
    add_columns = edit_columns = ["name", "sector", "level", "regency"]
    search_columns = ["name", "sector", "level", "regency"]
    add_query_rel_fields = edit_query_rel_fields = scoped_rel_fields("regency")


class TkpkInstitutionApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "tkpk_institution"
    datamodel = SQLAInterface(TkpkInstitution)
    list_columns = show_columns = ["id", "level", "regency.id", "regency.code", "decree_number", "decree_date",
                                   "chair", "secretariat_address", "facilities_available", "facilities_lacking"]
    add_columns = edit_columns = ["level", "regency", "decree_number", "decree_date", "chair",
                                  "secretariat_address", "facilities_available", "facilities_lacking"]
    search_columns = ["level", "regency", "decree_number"]
    add_query_rel_fields = edit_query_rel_fields = scoped_rel_fields("regency")


class TkpkMemberApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "tkpk_member"
    datamodel = SQLAInterface(TkpkMember)
    list_columns = show_columns = ["id", "institution.id", "name", "position", "agency.id", "agency.name"]
    add_columns = edit_columns = ["institution", "name", "position", "agency"]
    search_columns = ["institution", "name", "agency"]
    add_query_rel_fields = edit_query_rel_fields = scoped_rel_fields("institution", "agency")


class TkpkDocumentApi(ScopedModelRestApi):
    resource_name = "tkpk_document"
    datamodel = SQLAInterface(TkpkDocument)
    list_columns = show_columns = ["id", "institution.id", "kind", "status", "status_date", "file"]
    add_columns = edit_columns = ["institution", "kind", "status", "status_date"]
    search_columns = ["institution", "kind", "status"]
    add_query_rel_fields = edit_query_rel_fields = scoped_rel_fields("institution")
