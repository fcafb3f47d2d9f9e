"""REST resources for priority zones and poverty indicators.

A zone's ``geom`` is GeoJSON in and out: a MultiPolygon, or a Polygon (stored as a
MultiPolygon) on input, longitude/latitude in EPSG:4326.
"""
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import inspect

from app.api.base import ListExportApiMixin, ScopedModelRestApi
from app.extensions import db
from app.api.schemas import scoped_rel_fields
from app.models.zones import PovertyIndicator, PriorityZone
from gis.zones import clean_zone_geometry


class PriorityZoneApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "priority_zone"
    datamodel = SQLAInterface(PriorityZone)
    list_columns = show_columns = ["id", "name", "year", "priority_level", "basis", "regency.id", "regency.code",
                                   "description", "geom"]
    add_columns = edit_columns = ["name", "year", "priority_level", "basis", "regency", "description", "geom"]
    search_columns = ["name", "year", "priority_level", "basis", "regency"]
    order_columns = ["id", "name", "year", "priority_level", "basis"]
    add_query_rel_fields = edit_query_rel_fields = scoped_rel_fields("regency")
    description_columns = {"geom": "GeoJSON MultiPolygon or Polygon, longitude/latitude (EPSG:4326)",
                           "regency": "id of the kabupaten/kota; empty for a province-wide zone"}

    # The geometry is stored on the published 6-decimal grid, valid (gis.zones.clean_zone_expr),
    # before validation and the write-scope check see it; the audit records the cleaned value.
    def pre_add(self, item):
        item.geom = clean_zone_geometry(db.session, item.geom)
        super().pre_add(item)

    def pre_update(self, item):
        if item.geom is not None and not _unchanged(item):
            item.geom = clean_zone_geometry(db.session, item.geom)
        super().pre_update(item)


def _unchanged(item) -> bool:
    return not inspect(item).attrs.geom.history.has_changes()


class PovertyIndicatorApi(ListExportApiMixin, ScopedModelRestApi):
    resource_name = "poverty_indicator"
    datamodel = SQLAInterface(PovertyIndicator)
    list_columns = show_columns = ["id", "province.id", "regency.id", "regency.code", "area_name", "year", "period",
                                   "poverty_rate", "poor_people", "target_rate", "source"]
    add_columns = edit_columns = ["province", "regency", "year", "period", "poverty_rate", "poor_people",
                                  "target_rate", "source"]
    search_columns = ["regency", "year", "period"]
    add_query_rel_fields = edit_query_rel_fields = scoped_rel_fields("province", "regency")
