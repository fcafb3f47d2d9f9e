"""Program screens: budget and realisation in exact Rupiah, cluster, synergy type, coverage."""
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _

from app.models.programs import Program
from app.views.base import ScopedModelView
from app.views.list_export import ListExportMixin
from app.views.remote_filters import AGENCIES
from app.views.choices import (ANY_DESIL_CHOICES, CLUSTER_CHOICES, LEVEL_CHOICES, PROGRAM_STATUS_CHOICES,
                               SYNERGY_CHOICES, TARGET_SOURCE_CHOICES, choice_label, select_field)
from app.labels import LABELS


def rupiah(value):
    """Rp 1.234.567,50 — Indonesian thousands and decimal separators, from the exact Decimal."""
    if value is None:
        return ""
    whole, _sep, cents = f"{value:,.2f}".partition(".")
    return f"Rp {whole.replace(',', '.')},{cents}"


class ProgramView(ListExportMixin, ScopedModelView):
    datamodel = SQLAInterface(Program)
    list_title = show_title = add_title = edit_title = _("Programs")
    label_columns = LABELS
    list_columns = ["code", "name", "cluster", "synergy_type", "agency", "fiscal_year", "budget", "realised_budget",
                    "target_desil_range", "status"]
    show_columns = ["code", "name", "cluster", "synergy_type", "agency", "level", "fiscal_year", "budget",
                    "realised_budget", "target_households", "target_desil_range", "regencies", "status"]
    # The target range: desil from-to, read in a source (app/services/validation.py check_program_target).
    add_columns = edit_columns = ["code", "name", "cluster", "synergy_type", "agency", "level", "fiscal_year",
                                  "budget", "realised_budget", "target_households", "target_desil_min",
                                  "target_desil", "target_source", "regencies", "status"]
    search_columns = ["code", "name", "cluster", "synergy_type", "agency", "level", "fiscal_year", "status",
                      "regencies"]
    remote_filters = {"agency": AGENCIES}
    formatters_columns = {
        "cluster": choice_label(CLUSTER_CHOICES), "synergy_type": choice_label(SYNERGY_CHOICES),
        "level": choice_label(LEVEL_CHOICES), "status": choice_label(PROGRAM_STATUS_CHOICES),
        "budget": rupiah, "realised_budget": rupiah,
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "cluster": select_field(_("Cluster"), CLUSTER_CHOICES, coerce=int),
        "synergy_type": select_field(_("Synergy type"), SYNERGY_CHOICES),
        "level": select_field(_("Level"), LEVEL_CHOICES),
        "status": select_field(_("Status"), PROGRAM_STATUS_CHOICES),
        # 1-10 offered; the source's range (BDT 2015: 1-4) is checked with a message per field.
        "target_desil_min": select_field(_("Target desil from"), ANY_DESIL_CHOICES, coerce=int, default=1),
        "target_desil": select_field(_("Target desil up to"), ANY_DESIL_CHOICES, coerce=int),
        "target_source": select_field(_("Target desil source"), TARGET_SOURCE_CHOICES, default="",
                                      description=_("BDT 2015: desil 1-4; DTSEN: desil 1-10")),
    }
    base_order = ("code", "asc")
