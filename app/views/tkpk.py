"""Screens for TKPK institutions (with members and documents) and agencies (OPD)."""
from flask import abort
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.upload import FileUploadField
from flask_babel import lazy_gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models.tkpk import Agency, TkpkDocument, TkpkInstitution, TkpkMember
from app.security.scope import apply as apply_scope
from app.views.base import ScopedModelView
from app.views.list_export import ListExportMixin
from app.views.remote_filters import AGENCIES
from app.views.choices import (DOCUMENT_KIND_CHOICES, DOCUMENT_STATUS_CHOICES, LEVEL_CHOICES, choice_label,
                               select_field)
from app.labels import LABELS


class AgencyView(ListExportMixin, ScopedModelView):
    datamodel = SQLAInterface(Agency)
    list_title = show_title = add_title = edit_title = _("Agencies (OPD)")
    label_columns = LABELS
    list_columns = ["name", "sector", "level", "regency"]
    show_columns = add_columns = edit_columns = ["name", "sector", "level", "regency"]
    search_columns = ["name", "sector", "level", "regency"]
    formatters_columns = {"level": choice_label(LEVEL_CHOICES)}
    add_form_extra_fields = edit_form_extra_fields = {"level": select_field(_("Level"), LEVEL_CHOICES)}
    base_order = ("name", "asc")


class TkpkMemberView(ListExportMixin, ScopedModelView):
    datamodel = SQLAInterface(TkpkMember)
    list_title = show_title = add_title = edit_title = _("TKPK members")
    label_columns = LABELS
    list_columns = ["institution", "name", "position", "agency"]
    show_columns = add_columns = edit_columns = ["institution", "name", "position", "agency"]
    search_columns = ["institution", "name", "position", "agency"]
    remote_filters = {"agency": AGENCIES}


class TkpkDocumentView(ScopedModelView):
    datamodel = SQLAInterface(TkpkDocument)
    list_title = show_title = add_title = edit_title = _("TKPK documents")
    label_columns = LABELS
    list_columns = ["institution", "kind", "status", "status_date", "download"]
    show_columns = ["institution", "kind", "status", "status_date", "download"]
    add_columns = edit_columns = ["institution", "kind", "status", "status_date", "file"]
    search_columns = ["institution", "kind", "status"]
    label_columns = {**LABELS, "download": _("File")}
    formatters_columns = {"kind": choice_label(DOCUMENT_KIND_CHOICES), "status": choice_label(DOCUMENT_STATUS_CHOICES)}
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": select_field(_("Kind"), DOCUMENT_KIND_CHOICES),
        "status": select_field(_("Status"), DOCUMENT_STATUS_CHOICES),
        # Allowed types and the size limit come from FILE_ALLOWED_EXTENSIONS / MAX_CONTENT_LENGTH (config.py).
        "file": FileUploadField(_("File"), description=_("PDF, DOC, DOCX or ODT")),
    }

    @expose("/download/<string:filename>")
    @has_access
    def download(self, filename):
        """FAB's download serves any uploaded name; serve only files of documents in the user's scope."""
        query = apply_scope(select(TkpkDocument.id).where(TkpkDocument.file == filename), TkpkDocument)
        if db.session.execute(query).first() is None:
            abort(404)
        return ModelView.download(self, filename)  # FAB's own, past ScopedModelView's refusal


class TkpkInstitutionView(ListExportMixin, ScopedModelView):
    datamodel = SQLAInterface(TkpkInstitution)
    list_title = show_title = add_title = edit_title = _("TKPK institutions")
    label_columns = LABELS
    list_columns = ["level", "regency", "decree_number", "decree_date", "chair"]
    show_columns = ["level", "regency", "decree_number", "decree_date", "chair", "secretariat_address",
                    "facilities_available", "facilities_lacking"]
    add_columns = edit_columns = show_columns
    search_columns = ["level", "regency", "decree_number", "chair"]
    formatters_columns = {"level": choice_label(LEVEL_CHOICES)}
    add_form_extra_fields = edit_form_extra_fields = {"level": select_field(_("Level"), LEVEL_CHOICES)}
    related_views = [TkpkMemberView, TkpkDocumentView]
