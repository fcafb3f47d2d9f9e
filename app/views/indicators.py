"""Poverty indicators; a regency above the provincial rate of the same period is flagged."""
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _

from app.models.zones import PovertyIndicator
from app.views.base import ScopedModelView
from app.views.choices import PERIOD_CHOICES, choice_label, select_field
from app.views.labels import LABELS


class PovertyIndicatorView(ScopedModelView):
    datamodel = SQLAInterface(PovertyIndicator)
    list_title = show_title = add_title = edit_title = _("Poverty indicators")
    label_columns = LABELS
    list_columns = ["area_name", "year", "period", "poverty_rate", "poor_people", "target_rate", "source"]
    show_columns = ["province", "regency", "year", "period", "poverty_rate", "poor_people", "target_rate", "source"]
    add_columns = edit_columns = show_columns
    search_columns = ["province", "regency", "year", "period", "source"]
    formatters_columns = {"period": choice_label(PERIOD_CHOICES)}
    add_form_extra_fields = edit_form_extra_fields = {"period": select_field(_("Period"), PERIOD_CHOICES)}
    base_order = ("year", "desc")
