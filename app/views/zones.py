"""Priority zone screens (geometry never in a form)."""
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _

from app.models.zones import PriorityZone
from app.views.base import ScopedModelView
from app.views.choices import PRIORITY_CHOICES, ZONE_BASIS_CHOICES, choice_label, select_field
from app.views.labels import LABELS


class PriorityZoneView(ScopedModelView):
    datamodel = SQLAInterface(PriorityZone)
    list_title = show_title = add_title = edit_title = _("Priority zones")
    label_columns = LABELS
    list_columns = ["name", "year", "priority_level", "basis", "regency"]
    show_columns = ["name", "year", "priority_level", "basis", "regency", "description"]
    add_columns = edit_columns = ["name", "year", "priority_level", "basis", "regency", "description"]
    search_columns = ["name", "year", "priority_level", "basis", "regency"]
    formatters_columns = {"basis": choice_label(ZONE_BASIS_CHOICES), "priority_level": choice_label(PRIORITY_CHOICES)}
    add_form_extra_fields = edit_form_extra_fields = {
        "basis": select_field(_("Basis"), ZONE_BASIS_CHOICES),
        "priority_level": select_field(_("Priority level"), PRIORITY_CHOICES, coerce=int),
    }
