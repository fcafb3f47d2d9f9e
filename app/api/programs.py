"""REST resource for programs. Money goes out as exact decimal strings, never floats."""
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.api.base import ScopedModelRestApi
from app.models.programs import Program


class ProgramApi(ScopedModelRestApi):
    resource_name = "program"
    datamodel = SQLAInterface(Program)
    list_columns = show_columns = ["id", "code", "name", "cluster", "synergy_type", "agency.id", "agency.name",
                                   "level", "fiscal_year", "budget", "realised_budget", "target_households",
                                   "target_desil", "status", "regencies.id", "regencies.code"]
    add_columns = edit_columns = ["code", "name", "cluster", "synergy_type", "agency", "level", "fiscal_year",
                                  "budget", "realised_budget", "target_households", "target_desil", "status",
                                  "regencies"]
    search_columns = ["code", "name", "cluster", "synergy_type", "agency", "fiscal_year", "status"]
