"""Staff screens of the workflows: data update requests (pemutakhiran) and public complaints.

Both are ``ScopedModelView``s: list, show and every endpoint below fetch their row through
the view's base filters (the scope), so a row of another regency answers 404; the services
(app/services/update_requests.py, complaints.py) check the write scope and the role again
for every step. Menu entries carry live counts of what awaits the user.
"""
from __future__ import annotations

from types import SimpleNamespace

from flask import abort, current_app, flash, g, has_request_context, redirect, request, send_file, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.fieldwidgets import BS3TextAreaFieldWidget, BS3TextFieldWidget
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name
from flask_babel import LazyString, gettext
from flask_babel import lazy_gettext as _
from markupsafe import Markup
from sqlalchemy import or_, select
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.extensions import db
from app.labels import LABELS
from app.models.areas import Village
from app.models.audit import AuditLog
from app.models.households import Household, lon_lat_of
from app.models.workflow import Complaint, UpdateEvidence, UpdateRequest
from app.security import scope as scope_mod
from app.security.scope import SCOPE_FILTERS, current_scope
from app.services import complaints as complaints_service
from app.services import update_requests as requests_service
from app.services.update_requests import WorkflowError
from app.services.validation import InputError, check_id_number
from app.views.base import ScopedModelView
from app.views.cell_format import datetime_text
from app.views.choices import DESIL_CHOICES, choice_label, select_field
from app.views.households import PointField, village_field, village_label


def _user():
    return current_app.appbuilder.sm.current_user


def _blank(value):
    return "" if value is None else value


def _note(value):
    """A note of free text: a NIK / No KK typed into it is masked for users who see them masked."""
    return "" if value is None else scope_mod.mask_text(value)


def _writable_household(no_kk: Optional[str]) -> tuple[Optional[Household], Optional[str]]:
    """The household with this No KK that the user may change, or the reason there is none."""
    text = (no_kk or "").strip()
    problem = check_id_number(text, False)
    if problem:
        return None, problem
    household = db.session.execute(scope_mod.apply(select(Household).where(Household.no_kk == text),
                                                   Household, write=True)).scalar()
    return household, None if household is not None else gettext("no household with this No KK in your area")


def _read_upload(field_name: str, max_bytes: int):
    """(filename, bytes) of an uploaded file, reading at most max_bytes + 1; None when absent."""
    storage = request.files.get(field_name)
    if storage is None or not storage.filename:
        return None
    return storage.filename, storage.stream.read(max_bytes + 1)


# --- live counts in the menu ------------------------------------------------------------------

def _cached_count(key: str, compute) -> int:
    cache = g.setdefault("sinergi_menu_counts", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def count_label(text, key: str, compute) -> LazyString:
    """A menu label 'text (n)' evaluated at render time, once per request."""
    def render():
        if not has_request_context():
            return str(text)
        user = _user()
        if user is None or not getattr(user, "is_authenticated", False):
            return str(text)
        return f"{text} ({_cached_count(key, lambda: compute(db.session, user))})"

    return LazyString(render)


class NoActionsMixin:
    """These views have no @action: answer 404 rather than look one up (ScopedModelView's
    action endpoints would fail on an unknown name)."""

    @expose("/action/<string:name>/<pk>", methods=["GET"])
    def action(self, name, pk):
        abort(404)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        abort(404)


# --- list presets: "?preset=..." narrows a list (pagination and sorting keep it) ---------------

class _PresetFilter(BaseFilter):
    name = "preset"
    arg_name = None
    presets: dict = {}

    def apply(self, query, value):
        if not has_request_context():
            return query
        preset = self.presets.get(request.args.get("preset", ""))
        return query if preset is None else query.filter(preset())


def _awaiting_clause():
    return requests_service.awaiting_clause(_user())


class RequestPresetFilter(_PresetFilter):
    presets = {"awaiting": _awaiting_clause}


class ComplaintPresetFilter(_PresetFilter):
    presets = {
        "overdue": lambda: complaints_service.overdue_clause(),
        "baru": lambda: Complaint.state == "baru",
        "mine": lambda: (Complaint.handler_id == getattr(_user(), "id", None)) & (Complaint.state == "diproses"),
    }


# --- data update requests ----------------------------------------------------------------------

class NewRequestForm(DynamicForm):
    kind = select_field(_("Kind of request"), list(requests_service.KIND_LABELS.items()),
                        validators=[DataRequired()])
    no_kk = StringField(_("No KK of the household"), widget=BS3TextFieldWidget(),
                        description=_("For a change or a removal: the household's 16-digit No KK"))
    village = village_field(_("Village"), write=True, validators=[Optional()],
                            description=_("For a new household: the village it lives in"))
    removal_reason = select_field(_("Reason of the removal"),
                                  [("", "—")] + list(requests_service.REASON_LABELS.items()),
                                  description=_("For a removal"), validators=[Optional()], validate_choice=False)
    note = TextAreaField(_("Note"), widget=BS3TextAreaFieldWidget(), validators=[Optional(), Length(max=2000)],
                         description=_("Why the data should change, and the source of the new data"))


class ProposalForm(DynamicForm):
    no_kk = StringField(_("No KK"), widget=BS3TextFieldWidget())
    head_nik = StringField(_("Head's NIK"), widget=BS3TextFieldWidget())
    head_name = StringField(_("Head of household"), widget=BS3TextFieldWidget(), validators=[Length(max=150)])
    address = TextAreaField(_("Address"), widget=BS3TextAreaFieldWidget())
    rt = StringField(_("RT"), widget=BS3TextFieldWidget(), validators=[Optional(), Length(max=3)])
    rw = StringField(_("RW"), widget=BS3TextFieldWidget(), validators=[Optional(), Length(max=3)])
    village = village_field(_("Village"), write=True, validators=[DataRequired()])
    desil = select_field(_("Desil"), DESIL_CHOICES, coerce=int)
    member_count = IntegerField(_("Number of members"), widget=BS3TextFieldWidget(),
                                validators=[DataRequired(), NumberRange(min=1, max=99)])
    location = PointField(_("Location"))
    note = TextAreaField(_("Note"), widget=BS3TextAreaFieldWidget(), validators=[Optional(), Length(max=2000)])


class RemovalForm(DynamicForm):
    removal_reason = select_field(_("Reason of the removal"), list(requests_service.REASON_LABELS.items()),
                                  validators=[DataRequired()])
    note = TextAreaField(_("Note"), widget=BS3TextAreaFieldWidget(), validators=[Optional(), Length(max=2000)])


PROPOSAL_FIELD_OF = {"village_id": "village"}  # service field -> form field


def _village_text(village_id) -> str:
    if village_id is None:
        return ""
    village = db.session.get(Village, village_id)
    return village_label(village) if village is not None else f"#{village_id}"


def display_value(field: str, value) -> str:
    """A proposed or current value as text (numbers masked and points rounded unless the user
    may see them)."""
    if value is None or value == "":
        return ""
    if field in ("no_kk", "head_nik"):
        return scope_mod.mask_number(str(value)) or ""
    if field == "village_id":
        return _village_text(value)
    if field == "location":
        point = lon_lat_of(value)
        if point is None:
            return ""
        lon, lat = (scope_mod.round_coordinate(c) for c in point)
        return f"{lat:.6f}, {lon:.6f}"
    return str(value)


FIELD_LABELS = {**LABELS, "village_id": LABELS["village"]}


def request_diff(item: UpdateRequest) -> list[dict]:
    """Rows of the before/after table: field label, current (or, once applied, the value
    before the approval), proposed, changed?"""
    proposed = item.proposed or {}
    if item.kind == "hapus":
        before = proposed.get("removed") or requests_service.household_values(item.household)
        return [{"field": FIELD_LABELS.get(f, f), "current": display_value(f, before.get(f)), "proposed": "",
                 "changed": True} for f in requests_service.FIELDS if before.get(f) not in (None, "")]
    if item.kind == "baru":
        current = {}
    elif item.state == "disetujui":
        current = _before_approval(item)
    else:
        current = requests_service.household_values(item.household)
    rows = []
    for field in requests_service.FIELDS:
        if item.kind == "ubah" and field not in proposed:
            if current.get(field) in (None, ""):
                continue
            rows.append({"field": FIELD_LABELS.get(field, field), "current": display_value(field, current.get(field)),
                         "proposed": display_value(field, current.get(field)), "changed": False})
            continue
        if item.kind == "baru" and proposed.get(field) in (None, ""):
            continue
        rows.append({"field": FIELD_LABELS.get(field, field), "current": display_value(field, current.get(field)),
                     "proposed": display_value(field, proposed.get(field)),
                     "changed": current.get(field) != proposed.get(field)})
    return rows


def _before_approval(item: UpdateRequest) -> dict:
    """The household as it was just before this request was applied (from the audit trail)."""
    if item.household_id is None:
        return {}
    label = requests_service.audit_label(item)  # "pemutakhiran #12" must not find request #123's row
    row = db.session.execute(
        select(AuditLog.before).where(AuditLog.entity == "household", AuditLog.entity_id == item.household_id,
                                      AuditLog.action == "approve",
                                      or_(AuditLog.note == label, AuditLog.note.like(f"{label}: %")))
        .order_by(AuditLog.id.desc()).limit(1)).scalar()
    before = requests_service.household_values(item.household)
    for key, value in (row or {}).items():
        if key in before:
            before[key] = value
    return before


def _household_link(value):
    if value is None:
        return ""
    return Markup('<a href="{}">{}</a>').format(url_for("HouseholdView.show", pk=value.id), repr(value))


def _state_label(value):
    return requests_service.STATE_LABELS.get(value, value)


class UpdateRequestView(NoActionsMixin, ScopedModelView):
    datamodel = SQLAInterface(UpdateRequest)
    list_title = _("Data update requests")
    show_title = _("Data update request")
    add_title = _("New data update request")
    edit_title = _("Edit the proposal")
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_delete", "can_transition",
                        "can_evidence"]
    base_filters = SCOPE_FILTERS + [["id", RequestPresetFilter, lambda: None]]
    label_columns = {**LABELS, "id": _("No."), "kind": _("Kind"), "state": _("State"),
                     "removal_reason": _("Reason of the removal"), "note": _("Note"),
                     "created_by": _("Proposed by"), "created_at": _("Proposed at")}
    list_columns = ["id", "kind", "household", "regency", "state", "created_by", "created_at"]
    show_columns = ["id", "kind", "state", "household", "regency", "removal_reason", "note", "created_by",
                    "created_at"]
    search_columns = ["kind", "state", "regency", "created_by", "created_at"]
    add_columns = edit_columns = ["note"]  # FAB's generic forms are not used (add / edit below)
    formatters_columns = {"kind": choice_label(list(requests_service.KIND_LABELS.items())), "state": _state_label,
                          "removal_reason": lambda v: requests_service.REASON_LABELS.get(v, _blank(v)),
                          "note": _note, "created_at": datetime_text, "household": _household_link}
    base_order = ("id", "desc")
    show_template = "workflow/request_show.html"
    form_template = "workflow/request_form.html"

    @expose("/list/")
    @has_access
    def list(self):
        self.update_redirect()
        widgets = self._list()
        title = _("Requests awaiting me") if request.args.get("preset") == "awaiting" else self.list_title
        return self.render_template(self.list_template, title=title, widgets=widgets)

    def _item(self, pk) -> UpdateRequest:
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        return item

    # --- show -------------------------------------------------------------------------------
    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        item = self._item(pk)
        user = _user()
        complaint = db.session.execute(scope_mod.apply(
            select(Complaint).where(Complaint.update_request_id == item.id), Complaint)).scalar()
        sm = self.appbuilder.sm
        can = {name: sm.has_access(f"can_{name}", self.class_permission_name)
               for name in ("edit", "delete", "transition", "evidence")}
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets, related_views=[], item=item,
            mask_text=scope_mod.mask_text,
            diff=request_diff(item), steps=item.steps, evidence=item.evidence, complaint=complaint,
            transitions=requests_service.allowed_targets(item, user) if can["transition"] else [],
            duties_note=requests_service.duties_note(item, user) if can["transition"] else None,
            state_label=_state_label, fmt_datetime=datetime_text, can=can,
            kind_label=requests_service.KIND_LABELS.get(item.kind, item.kind),
            evidence_max_mb=requests_service.evidence_max_bytes() / 1048576,
        )

    # --- add: kind + household / village; the proposal itself is entered on the edit page -----
    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        form = NewRequestForm.refresh()
        if request.method == "GET":
            self._prefill_household(form)
        if request.method == "POST" and form.validate():
            household = None
            kind = form.kind.data
            if kind in ("ubah", "hapus"):
                household = self._household_by_no_kk(form)
            if not form.errors:
                try:
                    item = requests_service.create_request(
                        db.session, _user(), kind, household=household,
                        village_id=form.village.data.id if form.village.data is not None else None,
                        removal_reason=form.removal_reason.data or None, note=(form.note.data or "").strip())
                    db.session.commit()
                except InputError as exc:
                    db.session.rollback()
                    self._errors_to_form(form, exc)
                except WorkflowError as exc:
                    db.session.rollback()
                    flash(str(exc), "danger")
                else:
                    flash(gettext("Draft request #%(id)s created.", id=item.id), "success")
                    if kind == "hapus":
                        return redirect(url_for(".show", pk=item.id))
                    return redirect(url_for(".edit", pk=item.id))
        return self.render_template(self.form_template, title=self.add_title, form=form, item=None,
                                    fields=["kind", "no_kk", "village", "removal_reason", "note"], with_map=False)

    @staticmethod
    def _prefill_household(form) -> None:
        """``?household=<id>`` ("Propose a change" on a household's page): a change of that
        household, its No KK filled in — when the user may change it; ``&kind=hapus`` ("Propose
        removal") a removal of it. ``?kind=baru`` ("Propose a new household" on the list): a new
        household."""
        kind = request.args.get("kind")
        pk = request.args.get("household", type=int)
        if kind == "baru":
            form.kind.data = "baru"
        if pk is None:
            return
        household = db.session.execute(scope_mod.apply(select(Household).where(Household.id == pk), Household,
                                                       write=True)).scalar()
        if household is None:
            flash(gettext("No KK: %(reason)s", reason=gettext("no household with this No KK in your area")),
                  "warning")
            return
        form.kind.data = "hapus" if kind == "hapus" else "ubah"
        form.no_kk.data = household.no_kk

    def _household_by_no_kk(self, form) -> Household | None:
        household, problem = _writable_household(form.no_kk.data)
        if problem:
            form.no_kk.errors = list(form.no_kk.errors) + [problem]
        return household

    @staticmethod
    def _errors_to_form(form, exc: InputError) -> None:
        for field, messages in exc.errors.items():
            name = PROPOSAL_FIELD_OF.get(field, field)
            if name == "household":
                name = "no_kk"
            if name in form:
                form[name].errors = list(form[name].errors) + list(messages)
            else:
                label = FIELD_LABELS.get(field, field)
                flash(f"{label} {' '.join(messages)}".strip(), "danger")

    # --- edit: the proposal of a draft ------------------------------------------------------------
    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        item = self._item(self._deserialize_pk_if_composite(pk))
        if item.state != "draft":
            flash(gettext("Only a draft can be changed; this request is “%(state)s”.", state=_state_label(item.state)),
                  "warning")
            return redirect(url_for(".show", pk=item.id))
        if item.kind == "hapus":
            form_class, fields = RemovalForm, ["removal_reason", "note"]
            data = SimpleNamespace(removal_reason=item.removal_reason, note=item.note)
        else:
            form_class = ProposalForm
            fields = ["no_kk", "head_nik", "head_name", "address", "rt", "rw", "village", "desil", "member_count",
                      "location", "note"]
            values = {**(requests_service.household_values(item.household) if item.kind == "ubah" else {}),
                      **(item.proposed or {})}
            village = db.session.get(Village, values["village_id"]) if values.get("village_id") else None
            data = SimpleNamespace(**{f: values.get(f) for f in requests_service.FIELDS}, village=village,
                                   note=item.note)
        form = form_class.refresh() if request.method == "POST" else form_class.refresh(obj=data)
        if request.method == "POST" and form.validate():
            try:
                if item.kind == "hapus":
                    requests_service.set_proposal(db.session, item, _user(), {}, note=(form.note.data or "").strip(),
                                                  removal_reason=form.removal_reason.data)
                else:
                    values = {"no_kk": form.no_kk.data, "head_nik": form.head_nik.data,
                              "head_name": form.head_name.data, "address": form.address.data, "rt": form.rt.data,
                              "rw": form.rw.data, "village_id": form.village.data.id, "desil": form.desil.data,
                              "member_count": form.member_count.data, "location": form.location.data}
                    requests_service.set_proposal(db.session, item, _user(), values,
                                                  note=(form.note.data or "").strip())
                db.session.commit()
            except InputError as exc:
                db.session.rollback()
                self._errors_to_form(form, exc)
            except WorkflowError as exc:
                db.session.rollback()
                flash(str(exc), "danger")
                return redirect(url_for(".show", pk=item.id))
            else:
                flash(gettext("Proposal saved. Attach the evidence and submit the request."), "success")
                return redirect(url_for(".show", pk=item.id))
        return self.render_template(self.form_template, title=self.edit_title, form=form, item=item, fields=fields,
                                    with_map=item.kind != "hapus",
                                    kind_label=requests_service.KIND_LABELS.get(item.kind, item.kind))

    # --- delete: drafts only --------------------------------------------------------------------
    def pre_delete(self, item):
        if item.state != "draft":
            raise WorkflowError(gettext("Only a draft can be deleted; this request is “%(state)s”.",
                                       state=_state_label(item.state)))
        if not requests_service.may(_user(), requests_service.PROPOSERS):
            raise WorkflowError(gettext("Your role may not propose data updates."))
        super().pre_delete(item)
        g.sinergi_files_to_remove = [e.file for e in item.evidence]

    def post_delete(self, item):
        for relative in g.pop("sinergi_files_to_remove", []):
            requests_service.remove_file(relative)

    # --- steps ------------------------------------------------------------------------------------
    @expose("/transition/<int:pk>", methods=["POST"])
    @has_access
    def transition(self, pk):
        item = self._item(pk)
        target = request.form.get("to_state", "")
        try:
            requests_service.transition(db.session, item, target, _user(), request.form.get("note"))
            db.session.commit()
        except (WorkflowError, InputError) as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            flash(gettext("Request #%(id)s is now “%(state)s”.", id=pk, state=_state_label(target)), "success")
        return redirect(url_for(".show", pk=pk))

    # --- evidence ---------------------------------------------------------------------------------
    @expose("/evidence/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("edit")
    def evidence_upload(self, pk):
        item = self._item(pk)
        upload = _read_upload("file", requests_service.evidence_max_bytes())
        if upload is None:
            flash(gettext("Choose a file to attach."), "danger")
            return redirect(url_for(".show", pk=pk))
        try:
            requests_service.add_evidence(db.session, item, _user(), *upload)
            db.session.commit()
        except (ValueError, WorkflowError) as exc:
            db.session.rollback()
            flash(gettext("The evidence was not attached: %(reason)s", reason=str(exc)), "danger")
        else:
            flash(gettext("Evidence attached."), "success")
        return redirect(url_for(".show", pk=pk))

    def _evidence(self, evidence_id: int) -> UpdateEvidence:
        query = scope_mod.apply(select(UpdateEvidence).where(UpdateEvidence.id == evidence_id), UpdateEvidence)
        evidence = db.session.execute(query).scalar()
        if evidence is None:
            abort(404)
        return evidence

    @expose("/evidence_file/<int:evidence_id>")
    @has_access
    @permission_name("evidence")
    def evidence_file(self, evidence_id):
        evidence = self._evidence(evidence_id)
        path = requests_service.stored_path(evidence.file)
        if path is None:
            abort(404)
        kind = path.suffix.lstrip(".")
        response = send_file(path, mimetype=requests_service.MIMETYPES.get(kind, "application/octet-stream"),
                             as_attachment=True, download_name=evidence.original_name or path.name, max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @expose("/evidence_delete/<int:evidence_id>", methods=["POST"])
    @has_access
    @permission_name("edit")
    def evidence_delete(self, evidence_id):
        evidence = self._evidence(evidence_id)
        pk = evidence.request_id
        try:
            requests_service.remove_evidence(db.session, evidence, _user())
            db.session.commit()
        except WorkflowError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            flash(gettext("Evidence removed."), "success")
        return redirect(url_for(".show", pk=pk))


# --- complaints ------------------------------------------------------------------------------------

def _complaint_state_label(value):
    return complaints_service.STATE_LABELS.get(value, value)


def _category_label(value):
    return complaints_service.CATEGORY_LABELS.get(value, value)


def _contact(value):
    """The complainant's contact is personal data: shown only to users who may see it."""
    if not value:
        return ""
    return value if current_scope().can_unmask else gettext("(hidden)")


def _text_block(value):
    """Free text of the public: escaped, line breaks kept."""
    if not value:
        return ""
    return Markup('<span class="sinergi-public-text" style="white-space: pre-wrap">{}</span>').format(
        scope_mod.mask_text(value))


def _user_name(value):
    if value is None:
        return ""
    full = " ".join(p for p in (value.first_name, value.last_name) if p)
    return f"{full} ({value.username})" if full else value.username


def _request_link(value):
    if value is None:
        return ""
    return Markup('<a href="{}">{}</a>').format(url_for("UpdateRequestView.show", pk=value.id), repr(value))


PRESET_TITLES = {"overdue": _("Overdue complaints"), "baru": _("New complaints"),
                 "mine": _("Complaints I handle")}


class ComplaintView(NoActionsMixin, ScopedModelView):
    datamodel = SQLAInterface(Complaint)
    list_title = _("Complaints")
    show_title = _("Complaint")
    base_permissions = ["can_list", "can_show", "can_handle", "can_evidence"]
    base_filters = SCOPE_FILTERS + [["id", ComplaintPresetFilter, lambda: None]]
    label_columns = {**LABELS, "ticket": _("Ticket"), "category": _("Category"), "state": _("State"),
                     "description": _("Description"), "contact": _("Contact"), "handler": _("Handler"),
                     "deadline": _("Deadline"), "resolution": _("Resolution (public)"),
                     "update_request": _("Data update request"), "created_at": _("Filed at")}
    list_columns = ["ticket", "category", "village", "state", "handler", "deadline", "created_at"]
    show_columns = ["ticket", "category", "state", "village", "regency", "created_at", "deadline", "handler",
                    "description", "contact", "resolution", "update_request"]
    search_columns = ["ticket", "category", "state", "regency", "handler", "deadline", "created_at"]
    add_columns = edit_columns = ["resolution"]  # no add / edit: complaints come from the public form
    formatters_columns = {"category": _category_label, "state": _complaint_state_label, "created_at": datetime_text,
                          "deadline": datetime_text, "handler": _user_name, "contact": _contact,
                          "description": _text_block, "resolution": _text_block, "update_request": _request_link,
                          "village": _blank}
    base_order = ("created_at", "desc")
    show_template = "workflow/complaint_show.html"

    def _item(self, pk) -> Complaint:
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        return item

    @expose("/list/")
    @has_access
    def list(self):
        self.update_redirect()
        widgets = self._list()
        title = PRESET_TITLES.get(request.args.get("preset", ""), self.list_title)
        return self.render_template(self.list_template, title=title, widgets=widgets)

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        item = self._item(pk)
        user = _user()
        can_handle = self.appbuilder.sm.has_access("can_handle", self.class_permission_name) \
            and complaints_service.may_handle(user)
        can_evidence = self.appbuilder.sm.has_access("can_evidence", self.class_permission_name)
        point = lon_lat_of(item.location)  # may be the complainant's house: rounded like a household's
        point = point and tuple(scope_mod.round_coordinate(c) for c in point)
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets, related_views=[], item=item,
            mask_text=scope_mod.mask_text,
            can_handle=can_handle, can_evidence=can_evidence,
            transitions=complaints_service.allowed_targets(item, user) if can_handle else [],
            handlers=complaints_service.eligible_handlers(db.session, item) if can_handle else [],
            overdue=complaints_service.is_overdue(item), point=point,
            kinds=list(requests_service.KIND_LABELS.items()),
            reasons=list(requests_service.REASON_LABELS.items()),
            suggested_kind={"tidak_terdata": "baru", "terdata_tidak_miskin": "hapus"}.get(item.category, "ubah"),
            state_label=_complaint_state_label,
        )

    def _act(self, pk, action):
        item = self._item(pk)
        try:
            result = action(item)
            db.session.commit()
        except (WorkflowError, InputError) as exc:
            db.session.rollback()
            flash(str(exc) if isinstance(exc, WorkflowError) else requests_service.describe_errors(exc), "danger")
            return None
        return result

    @expose("/transition/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("handle")
    def transition(self, pk):
        target = request.form.get("to_state", "")
        handler = request.form.get("handler_id", type=int)
        done = self._act(pk, lambda item: complaints_service.transition(
            db.session, item, target, _user(), resolution=request.form.get("resolution"), handler_id=handler))
        if done is not None:
            flash(gettext("Complaint %(ticket)s is now “%(state)s”.", ticket=done.ticket,
                          state=_complaint_state_label(target)), "success")
        return redirect(url_for(".show", pk=pk))

    @expose("/assign/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("handle")
    def assign(self, pk):
        handler = request.form.get("handler_id", type=int)
        done = self._act(pk, lambda item: complaints_service.assign(db.session, item, handler, _user()))
        if done is not None:
            flash(gettext("Handler saved."), "success")
        return redirect(url_for(".show", pk=pk))

    @expose("/update_request/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("handle")
    def update_request(self, pk):
        kind = request.form.get("kind", "")
        household = None
        if kind in ("ubah", "hapus"):
            household, problem = _writable_household(request.form.get("no_kk"))
            if problem:
                flash(gettext("No KK: %(reason)s", reason=problem), "danger")
                return redirect(url_for(".show", pk=pk))
        created = self._act(pk, lambda item: complaints_service.create_update_request(
            db.session, item, _user(), kind, household=household,
            removal_reason=request.form.get("removal_reason") or None))
        if created is None:
            return redirect(url_for(".show", pk=pk))
        flash(gettext("Draft request #%(id)s created from the complaint.", id=created.id), "success")
        if created.kind == "hapus":
            return redirect(url_for("UpdateRequestView.show", pk=created.id))
        return redirect(url_for("UpdateRequestView.edit", pk=created.id))

    @expose("/photo/<int:pk>")
    @has_access
    @permission_name("evidence")
    def photo(self, pk):
        item = self._item(pk)
        path = requests_service.stored_path(item.photo) if item.photo else None
        if path is None:
            abort(404)
        kind = path.suffix.lstrip(".")
        response = send_file(path, mimetype=requests_service.MIMETYPES.get(kind, "application/octet-stream"),
                             max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        response.headers["Cache-Control"] = "private, no-store"
        return response


# --- registration ------------------------------------------------------------------------------------

CATEGORY = "Households"  # requests and complaints are about household data; no extra top-level menu


def register(appbuilder) -> None:
    appbuilder.add_separator(CATEGORY)
    appbuilder.add_view(UpdateRequestView, "Update requests", label=_("Data update requests"),
                        icon="fa-pencil-square-o", category=CATEGORY)
    appbuilder.add_link("Requests awaiting me", href="/updaterequestview/list/?preset=awaiting",
                        label=count_label(_("Requests awaiting me"), "requests",
                                          requests_service.count_awaiting),
                        icon="fa-hourglass-half", category=CATEGORY)
    appbuilder.add_separator(CATEGORY)
    appbuilder.add_view(ComplaintView, "Complaints", label=_("Complaints"), icon="fa-bullhorn", category=CATEGORY)
    appbuilder.add_link("New complaints", href="/complaintview/list/?preset=baru",
                        label=count_label(_("New complaints"), "complaints_new",
                                          lambda s, u: complaints_service.count(s, u, Complaint.state == "baru")),
                        icon="fa-envelope-o", category=CATEGORY)
    appbuilder.add_link("Overdue complaints", href="/complaintview/list/?preset=overdue",
                        label=count_label(_("Overdue complaints"), "complaints_overdue",
                                          lambda s, u: complaints_service.count(s, u,
                                                                                complaints_service.overdue_clause())),
                        icon="fa-clock-o", category=CATEGORY)
