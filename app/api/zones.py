"""REST resources for priority zones and poverty indicators."""
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.api.base import ScopedModelRestApi
from app.models.zones import PovertyIndicator, PriorityZone


class PriorityZoneApi(ScopedModelRestApi):
    resource_name = "priority_zone"
    datamodel = SQLAInterface(PriorityZone)
    list_columns = show_columns = ["id", "name", "year", "priority_level", "basis", "regency.id", "regency.code",
                                   "description"]
    add_columns = edit_columns = ["name", "year", "priority_level", "basis", "regency", "description"]
    search_columns = ["name", "year", "priority_level", "basis", "regency"]


class PovertyIndicatorApi(ScopedModelRestApi):
    resource_name = "poverty_indicator"
    datamodel = SQLAInterface(PovertyIndicator)
    list_columns = show_columns = ["id", "province.id", "regency.id", "regency.code", "area_name", "year", "period",
                                   "poverty_rate", "poor_people", "target_rate", "source"]
    add_columns = edit_columns = ["province", "regency", "year", "period", "poverty_rate", "poor_people",
                                  "target_rate", "source"]
    search_columns = ["regency", "year", "period"]
