"""Registers every view and menu; the menu labels are translated (Bahasa Indonesia by default)."""
from flask_babel import lazy_gettext as _


def register_views(appbuilder) -> None:
    from app.views.areas import DistrictView, RegencyView, VillageView

    category = "Areas"
    appbuilder.add_view(RegencyView, "Regencies", label=_("Regencies"), icon="fa-map",
                        category=category, category_label=_("Areas"), category_icon="fa-globe")
    appbuilder.add_view(DistrictView, "Districts", label=_("Districts"), icon="fa-map-o", category=category)
    appbuilder.add_view(VillageView, "Villages", label=_("Villages"), icon="fa-map-marker", category=category)
