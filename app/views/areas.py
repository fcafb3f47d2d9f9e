"""Read-only screens for regencies, districts and villages, each show page with a small map.

Areas change only through the importer (``flask --app run areas import``), so no
add/edit/delete here, and geometry never appears in a form.
"""
import json

from flask import abort, jsonify
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _
from sqlalchemy import func, select

from app.extensions import db
from app.models.areas import District, Regency, Village
from app.security.scope import SCOPE_FILTERS
from app.views.list_export import ListExportMixin
from app.views.base import ScopedListWidget
from app.views.readable_values import ReadableValuesMixin
from app.views.remote_filters import DISTRICTS, RemoteFilterMixin

LABELS = {
    "code": _("Code"),
    "name": _("Name"),
    "kind": _("Kind"),
    "area_km2": _("Area (km²)"),
    "province": _("Province"),
    "regency": _("Regency"),
    "district": _("District"),
}


class _AreaView(ReadableValuesMixin, ListExportMixin, RemoteFilterMixin, ModelView):
    base_filters = SCOPE_FILTERS  # areas are readable by every role today; the one scope function says so
    base_permissions = ["can_list", "can_show", "can_geojson", "can_export"]
    list_widget = ScopedListWidget  # the count as people write it (2.640); no edit/delete exists here anyway
    show_template = "areas/show.html"
    label_columns = LABELS
    page_size = 50
    base_order = ("code", "asc")
    search_columns = ["code", "name"]
    # Never used (no add/edit permission) but FAB builds the forms anyway; keep geometry out.
    add_columns = edit_columns = ["name"]

    @expose("/geojson/<int:pk>")
    @has_access
    def geojson(self, pk: int):
        """The polygon of one area as GeoJSON, simplified to ~10 m, for the show page map.
        Fetched through the datamodel with the view's base filters so scope applies."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        model = self.datamodel.obj
        geometry = db.session.execute(
            select(func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(model.geom, 0.0001), 6))
            .where(model.id == pk)
        ).scalar_one()
        return jsonify({"type": "Feature", "geometry": json.loads(geometry),
                        "properties": {"code": item.code, "name": item.name}})


class VillageView(_AreaView):
    datamodel = SQLAInterface(Village)
    list_title = _("Villages")
    show_title = _("Village")
    list_columns = ["code", "name", "kind", "district", "area_km2"]
    show_columns = ["code", "name", "kind", "district", "area_km2"]
    search_columns = ["code", "name", "kind", "district"]
    remote_filters = {"district": DISTRICTS}  # 229 kecamatan: searched as typed, not carried in the page


class DistrictView(_AreaView):
    datamodel = SQLAInterface(District)
    list_title = _("Districts")
    show_title = _("District")
    list_columns = ["code", "name", "regency", "area_km2"]
    show_columns = ["code", "name", "regency", "area_km2"]
    search_columns = ["code", "name", "regency"]
    related_views = [VillageView]


class RegencyView(_AreaView):
    datamodel = SQLAInterface(Regency)
    list_title = _("Regencies")
    show_title = _("Regency")
    list_columns = ["code", "name", "kind", "area_km2"]
    show_columns = ["code", "name", "kind", "province", "area_km2"]
    search_columns = ["code", "name", "kind"]
    related_views = [DistrictView]
