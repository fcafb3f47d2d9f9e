"""Poverty indicators; a regency above the provincial rate of the same period is flagged."""
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from markupsafe import Markup

from app.models.zones import PovertyIndicator
from app.views.base import ScopedModelView
from app.views.list_export import ListExportMixin
from app.views.choices import PERIOD_CHOICES, choice_label, select_field
from app.labels import LABELS


def above_province_badge(flag) -> Markup | str:
    return Markup('<span class="label label-danger">{}</span>').format(gettext("above the provincial rate")) \
        if flag else ""


class PovertyIndicatorView(ListExportMixin, ScopedModelView):
    datamodel = SQLAInterface(PovertyIndicator)
    list_title = show_title = add_title = edit_title = _("Poverty indicators")
    label_columns = LABELS
    list_columns = ["area_name", "year", "period", "poverty_rate", "above_province", "poor_people", "target_rate",
                    "source"]
    show_columns = ["province", "regency", "year", "period", "poverty_rate", "above_province", "poor_people",
                    "target_rate", "source"]
    add_columns = edit_columns = ["province", "regency", "year", "period", "poverty_rate", "poor_people",
                                  "target_rate", "source"]
    search_columns = ["province", "regency", "year", "period", "source"]
    formatters_columns = {"period": choice_label(PERIOD_CHOICES), "above_province": above_province_badge}
    add_form_extra_fields = edit_form_extra_fields = {"period": select_field(_("Period"), PERIOD_CHOICES)}
    base_order = ("year", "desc")
