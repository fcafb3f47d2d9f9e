"""The audit trail screen and the export log screen (Admin, Bappeda Provinsi): read-only
lists with filters. The audit trail exports what its filters select as CSV / XLSX.

Read-only by construction: the view has only list, show and export permissions (no add,
edit, delete, no actions), and there is no API over the trail. Rows are scoped like every
domain row (app/security/scope.py: nobody but Admin and Bappeda reaches them).
"""
from __future__ import annotations

import datetime as dt
import json

import re
from typing import Optional

from flask import abort, request, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from markupsafe import Markup
from werkzeug.routing import BuildError
from wtforms import SelectField

from app.extensions import db
from app.models.audit import AuditLog
from app.labels import LABELS
from app.models.areas import District, Regency
from app.models.households import Household
from app.models.programs import Program
from app.models.tkpk import Agency
from app.models.workflow import UpdateRequest
from app.security import scope as scope_mod
from app.services import update_requests as requests_service
from app.models.jobs import ExportLog
from app.services.complaints import WIB
from app.views.base import ScopedModelView
from app.views.cell_format import date_text, datetime_text, yes_no
from app.views.list_export import format_and_separator
from app.views.workflow import FIELD_LABELS, NoActionsMixin, display_value

ENTITIES = ["household", "household_member", "enrolment", "program", "priority_zone", "ab_user", "ab_role",
            "update_request", "complaint"]
ACTIONS = ["create", "update", "direct_edit", "delete", "approve", "reject", "accept_location", "assign", "handle",
           "resolve", "import"]


def _datetime(value) -> str:
    return datetime_text(value, seconds=True)


# What the trail's codes mean to a reader, and where each kind of row is shown.
ENTITY_LABELS = {"household": _("Household"), "household_member": _("Household member"),
                 "enrolment": _("Enrolment"), "program": _("Program"), "priority_zone": _("Priority zone"),
                 "ab_user": _("User"), "ab_role": _("Role"), "update_request": _("Data update request"),
                 "complaint": _("Complaint")}
ENTITY_VIEWS = {"household": "HouseholdView", "household_member": "HouseholdMemberView",
                "enrolment": "EnrolmentView", "program": "ProgramView", "priority_zone": "PriorityZoneView",
                "update_request": "UpdateRequestView", "complaint": "ComplaintView",
                "ab_user": "SinergiUserDBModelView"}
ACTION_LABELS = {"create": _("Created"), "update": _("Changed"), "direct_edit": _("Changed directly (Admin)"),
                 "delete": _("Deleted"), "approve": _("Approved"),
                 "reject": _("Rejected"), "accept_location": _("Location accepted"), "assign": _("Assigned"),
                 "handle": _("Handled"), "resolve": _("Resolved"), "import": _("Imported")}
assert set(ENTITY_LABELS) == set(ENTITIES) and set(ACTION_LABELS) == set(ACTIONS)
# Foreign keys a row may hold: the field's label, and how the referenced row is named.
REFERENCES = {"regency_id": (LABELS["regency"], Regency, lambda r: f"{r.name} ({r.code})"),
              "district_id": (LABELS["district"], District, lambda d: f"{d.name} ({d.code})"),
              "agency_id": (LABELS["agency"], Agency, lambda a: a.name),
              "program_id": (LABELS["program"], Program, lambda p: f"{p.code} — {p.name}"),
              "household_id": (LABELS["household"], Household, lambda h: scope_mod.mask_number(h.no_kk) or "")}
REQUEST_NOTE = re.compile(r"^pemutakhiran #(\d+)")  # update_requests.audit_label


def _entity_label(value) -> str:
    return str(ENTITY_LABELS.get(value, value or ""))


def _action_label(value) -> str:
    return str(ACTION_LABELS.get(value, value or ""))


def changes(before: Optional[dict], after: Optional[dict]) -> list[dict]:
    """Rows of the before/after table: the field's label, both values as a person reads them
    (a point as latitude, longitude; a village by name and code), changed or not."""
    before, after = before or {}, after or {}
    rows = []
    def label(field):
        return str(REFERENCES[field][0] if field in REFERENCES else FIELD_LABELS.get(field, field))

    for field in sorted(set(before) | set(after), key=label):
        old, new = before.get(field), after.get(field)
        rows.append({"field": label(field), "code": field,
                     "before": _value_text(field, old), "after": _value_text(field, new),
                     "changed": bool(before) and bool(after) and old != new})
    return rows


def _value_text(field: str, value) -> str:
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if field.endswith("_date") or field in ("date", "deadline"):
        try:
            return date_text(dt.date.fromisoformat(str(value)[:10]))
        except ValueError:
            pass
    if field == "state":
        return str(requests_service.STATE_LABELS.get(value, value))
    if field in REFERENCES and value not in (None, ""):
        _label, model, name = REFERENCES[field]
        row = db.session.get(model, value)
        return name(row) if row is not None else f"#{value}"
    return display_value(field, value)


def _record_link(item: AuditLog) -> Optional[str]:
    """The record's own page, while it exists and the user may open it."""
    view = ENTITY_VIEWS.get(item.entity)
    if view is None or item.entity_id is None or item.action == "delete":
        return None
    try:
        return url_for(f"{view}.show", pk=item.entity_id)
    except BuildError:
        return None


def _request_of(item: AuditLog) -> Optional[UpdateRequest]:
    """The data update request an audit row came from (its approval writes the row), so the
    page can say who proposed, verified and approved it."""
    request_id = item.entity_id if item.entity == "update_request" else None
    if request_id is None:
        match = REQUEST_NOTE.match(item.note or "")
        request_id = int(match.group(1)) if match else None
    return None if request_id is None else db.session.get(UpdateRequest, request_id)


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
        "entity": SelectField(_("Entity"), choices=[(e, ENTITY_LABELS[e]) for e in ENTITIES]),
        "action": SelectField(_("Action"), choices=[(a, ACTION_LABELS[a]) for a in ACTIONS]),
    }
    formatters_columns = {"at": _datetime, "before": _json_table, "after": _json_table,
                          "note": lambda v: "" if v is None else v, "entity": _entity_label,
                          "action": _action_label, "entity_id": lambda v: "" if v is None else v}
    base_order = ("id", "desc")
    list_template = "audit/list.html"
    show_template = "audit/show.html"

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """One row as a reader wants it: labelled fields with their values before and after,
        a link to the record, and for an approved data update who proposed, verified and
        approved it. The stored JSON and the hashes stay below, for the auditor."""
        pk = self._deserialize_pk_if_composite(pk)
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        widgets = self._show(pk)
        update_request = _request_of(item)
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets, related_views=[], item=item,
            changes=changes(item.before, item.after), record_link=_record_link(item),
            entity_label=_entity_label(item.entity), action_label=_action_label(item.action),
            at=_datetime(item.at), update_request=update_request,
            request_steps=[] if update_request is None else update_request.steps,
            state_label=lambda s: str(requests_service.STATE_LABELS.get(s, s)), fmt_datetime=datetime_text)

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
