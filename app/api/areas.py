"""Read-only REST resources for the areas (geometry through the GIS endpoints, not here)."""
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.api.base import ListExportApiMixin, ScopedModelRestApi
from app.models.areas import District, Regency, Village

READ_ONLY = {"get", "info"}


class RegencyApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "regency"
    datamodel = SQLAInterface(Regency)
    include_route_methods = READ_ONLY | {"get_list", "export"}
    add_columns = edit_columns = ["name"]  # unused (read-only) but FAB converts them; keep geometry out
    list_columns = show_columns = ["id", "code", "name", "kind", "area_km2", "province.code"]
    search_columns = ["code", "name", "kind"]


class DistrictApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "district"
    datamodel = SQLAInterface(District)
    include_route_methods = READ_ONLY | {"get_list", "export"}
    add_columns = edit_columns = ["name"]  # unused (read-only) but FAB converts them; keep geometry out
    list_columns = show_columns = ["id", "code", "name", "area_km2", "regency.code"]
    search_columns = ["code", "name", "regency"]


class VillageApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "village"
    datamodel = SQLAInterface(Village)
    include_route_methods = READ_ONLY | {"get_list", "export"}
    add_columns = edit_columns = ["name"]  # unused (read-only) but FAB converts them; keep geometry out
    list_columns = show_columns = ["id", "code", "name", "kind", "area_km2", "district.code"]
    search_columns = ["code", "name", "kind", "district"]
