"""The audit trail screen and the export log screen (Admin, Bappeda Provinsi): read-only
lists with filters. The audit trail exports what its filters select as CSV / XLSX.

Read-only by construction: the view has only list, show and export permissions (no add,
edit, delete, no actions), and there is no API over the trail. Rows are scoped like every
domain row (app/security/scope.py: nobody but Admin and Bappeda reaches them).
"""
from __future__ import annotations

import datetime as dt
import json

from flask import request
from flask_appbuilder import expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from markupsafe import Markup
from wtforms import SelectField

from app.extensions import db
from app.models.audit import AuditLog
from app.models.jobs import ExportLog
from app.services.complaints import WIB
from app.views.base import ScopedModelView
from app.views.list_export import format_and_separator
from app.views.workflow import NoActionsMixin

ENTITIES = ["household", "household_member", "enrolment", "program", "priority_zone", "ab_user", "ab_role",
            "update_request", "complaint"]
ACTIONS = ["create", "update", "direct_edit", "delete", "approve", "reject", "accept_location", "assign", "handle",
           "resolve", "import"]


def _datetime(value) -> str:
    if value is None:
        return ""
    return value.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S")


def _json_table(value) -> Markup | str:
    """A before/after dict as a small two-column table; every key and value escaped."""
    if not value:
        return ""
    rows = Markup("").join(
        Markup("<tr><th>{}</th><td>{}</td></tr>").format(key, json.dumps(val, ensure_ascii=False)
                                                         if isinstance(val, (dict, list)) else ("" if val is None else val))
        for key, val in sorted(value.items()))
    return Markup('<table class="table table-condensed table-bordered sinergi-audit-values">{}</table>').format(rows)


class AuditLogView(NoActionsMixin, ScopedModelView):
    datamodel = SQLAInterface(AuditLog)
    list_title = show_title = _("Audit trail")
    base_permissions = ["can_list", "can_show", "can_export"]
    label_columns = {"id": _("No."), "at": _("When"), "user_id": _("User id"), "username": _("User"),
                     "action": _("Action"), "entity": _("Entity"), "entity_id": _("Row id"), "before": _("Before"),
                     "after": _("After"), "note": _("Note"), "prev_hash": _("Previous hash"), "hash": _("Hash")}
    list_columns = ["id", "at", "username", "action", "entity", "entity_id", "note"]
    show_columns = ["id", "at", "username", "user_id", "action", "entity", "entity_id", "note", "before", "after",
                    "prev_hash", "hash"]
    search_columns = ["entity", "action", "username", "at", "entity_id", "note"]
    add_columns = edit_columns = ["note"]  # never offered: no add / edit permission exists
    search_form_extra_fields = {
        "entity": SelectField(_("Entity"), choices=[(e, e) for e in ENTITIES]),
        "action": SelectField(_("Action"), choices=[(a, a) for a in ACTIONS]),
    }
    formatters_columns = {"at": _datetime, "before": _json_table, "after": _json_table,
                          "note": lambda v: "" if v is None else v}
    base_order = ("id", "desc")
    list_template = "audit/list.html"

    @expose("/export/")
    @has_access
    @permission_name("export")
    def export(self):
        """The rows the list's current filters select (all pages), newest first, as CSV
        (``?format=csv&sep=;``) or XLSX; the export itself is logged (ExportLog)."""
        from app import exports

        fmt, sep = format_and_separator()
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        filters = self._filters.get_joined_filters(self._base_filters)
        order_column, order_direction = (get_order_args().get(self.__class__.__name__) or self.base_order)
        statement = self.datamodel.apply_all(db.session.query(AuditLog), filters, order_column,
                                             order_direction).statement
        record = exports.ExportRecord("audit_log", {k: v for k, v in request.args.items() if k.startswith("_flt_")})
        columns = [
            ("id", gettext("No."), "int"),
            ("at", gettext("When"), "datetime"),
            ("username", gettext("User"), "text"),
            ("user_id", gettext("User id"), "int"),
            ("action", gettext("Action"), "text"),
            ("entity", gettext("Entity"), "text"),
            ("entity_id", gettext("Row id"), "int"),
            (lambda r: None if r.before is None else json.dumps(r.before, ensure_ascii=False, sort_keys=True),
             gettext("Before"), "text"),
            (lambda r: None if r.after is None else json.dumps(r.after, ensure_ascii=False, sort_keys=True),
             gettext("After"), "text"),
            ("note", gettext("Note"), "text"),
            ("hash", gettext("Hash"), "text"),
        ]
        stamp = dt.datetime.now(WIB).strftime("%Y%m%d-%H%M")
        return exports.export(fmt, map(_Row, exports.stream_rows(statement)), columns, f"jejak_audit_{stamp}",
                              sep=sep, sheet_name="Audit", log=record)


class _Row:
    """An audit row with its time in WIB and without a time zone (spreadsheets have none)."""

    def __init__(self, row):
        self._row = row
        self.at = row.at.astimezone(WIB).replace(tzinfo=None) if row.at else None

    def __getattr__(self, name):
        return getattr(self._row, name)


def _filters_text(value) -> str:
    """The filters an export was made with, one ``name = value`` per line (escaped)."""
    if not value:
        return ""
    return Markup("<br>").join(Markup("{} = {}").format(key, json.dumps(val, ensure_ascii=False))
                               for key, val in sorted(value.items()))


class ExportLogView(NoActionsMixin, ScopedModelView):
    """Who took which data out of Sinergi: every export (lists, analysis, audit, maps as
    GeoJSON / GeoPackage) writes a row in ``export_log`` (app/exports.py). Nothing here
    changes it."""

    datamodel = SQLAInterface(ExportLog)
    list_title = show_title = _("Export log")
    base_permissions = ["can_list", "can_show"]
    label_columns = {"id": _("No."), "at": _("When"), "user_id": _("User id"), "username": _("User"),
                     "what": _("What"), "format": _("Format"), "filters": _("Filters"), "rows": _("Rows")}
    list_columns = ["at", "username", "what", "format", "rows", "filters"]
    show_columns = ["id", "at", "username", "user_id", "what", "format", "rows", "filters"]
    search_columns = ["at", "username", "what", "format"]
    add_columns = edit_columns = ["what"]  # never offered: no add / edit permission exists
    formatters_columns = {"at": _datetime, "filters": _filters_text}
    base_order = ("id", "desc")


def register(appbuilder) -> None:
    appbuilder.add_view(AuditLogView, "Audit trail", label=_("Audit trail"), icon="fa-shield", category="Audit",
                        category_label=_("Audit"), category_icon="fa-shield")
    appbuilder.add_view(ExportLogView, "Export log", label=_("Export log"), icon="fa-download", category="Audit")
