"""REST resource for programs. Money goes out as exact decimal strings, never floats, and
comes in as a string or an integer (a JSON float is refused: app/api/schemas.py Money)."""
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.api.base import ListExportApiMixin, ScopedModelRestApi
from app.api.schemas import scoped_rel_fields
from app.models.programs import Program


class ProgramApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "program"
    datamodel = SQLAInterface(Program)
    list_columns = show_columns = ["id", "code", "name", "cluster", "synergy_type", "agency.id", "agency.name",
                                   "level", "fiscal_year", "budget", "realised_budget", "target_households",
                                   "target_desil_min", "target_desil", "target_source", "target_desil_range",
                                   "status", "regencies.id", "regencies.code"]
    add_columns = edit_columns = ["code", "name", "cluster", "synergy_type", "agency", "level", "fiscal_year",
                                  "budget", "realised_budget", "target_households", "target_desil_min",
                                  "target_desil", "target_source", "status",
                                  "regencies"]
    search_columns = ["code", "name", "cluster", "synergy_type", "agency", "fiscal_year", "status"]
    add_query_rel_fields = edit_query_rel_fields = scoped_rel_fields("agency", "regencies")
    description_columns = {"budget": "Rupiah, exact: a string such as \"1500000.00\" or an integer",
                           "realised_budget": "Rupiah, exact: a string such as \"1500000.00\" or an integer",
                           "agency": "id of the owning agency (OPD)", "regencies": "ids of the regencies covered",
                           "target_desil_min": "lowest desil targeted (default 1)",
                           "target_desil": "highest desil targeted: at most 4 for BDT 2015 (no source), 10 for DTSEN",
                           "target_source": "source of the target desils: null (= BDT 2015), \"BDT 2015\" or \"DTSEN\"",
                           "target_desil_range": "the target range as shown on screen: \"1\u20134 (DTSEN)\""}
