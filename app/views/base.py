"""The base of every domain screen: scope on every path, validation, masking.

``ScopedModelView`` puts ``ScopeFilter`` in ``base_filters`` (FAB applies it to list,
show, edit and delete), re-checks write scope on add/edit/delete, and fetches the rows
of every ``@action`` through the same filter (FAB's own action handlers do not filter).

No dead ends: a row the user may read but not write (a province-wide TKPK or indicator, a
program of another regency covering the user's, another agency) gets no edit/delete button
in any list (the view's own or a related list on a show/edit page), and its edit and delete
URLs answer 403 in the app's layout saying why, before any form is shown or read.
"""
from __future__ import annotations

from flask import abort, flash, redirect, request
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.urltools import get_filter_args, get_order_args, get_page_args, get_page_size_args
from flask_appbuilder.widgets import ListWidget
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select
from wtforms.validators import ValidationError

from app.errors import Refused
from app.extensions import db
from app.security import scope as scope_mod
from app.security.scope import SCOPE_FILTERS
from app.services.validation import InputError, validate_item
from app.views.masked_sort import MaskedSortMixin
from app.views.readable_values import ReadableValuesMixin
from app.views.remote_filters import RemoteFilterMixin


def masked(value):
    """Formatter for NIK / No KK columns: masked unless the user may see personal data."""
    return scope_mod.mask_number(value)


class FieldRule:
    """WTForms validator running one rule of app.services.validation on a form field."""

    def __init__(self, check, *args):
        self.check, self.args = check, args

    def __call__(self, form, field):
        message = self.check(field.data, *self.args)
        if message:
            raise ValidationError(message)


def outside_scope_message(action_label) -> str:
    return _("You may not %(action)s this row: it lies outside your area or agency.", action=action_label)


def check_write_scope(item, action_label: str) -> None:
    if not scope_mod.is_in_scope(db.session, item, write=True):
        db.session.rollback()
        raise scope_mod.ScopeError(outside_scope_message(action_label))


class ScopedListWidget(ListWidget):
    """FAB's list, whose edit/delete buttons show only on the rows in ``writable_pks``."""

    template = "scoped/list_widget.html"


class ScopedModelView(ReadableValuesMixin, MaskedSortMixin, RemoteFilterMixin, ModelView):
    base_filters = SCOPE_FILTERS
    page_size = 50
    list_widget = ScopedListWidget

    # --- rows the user reads but may not write: no buttons, and 403 on edit/delete ------------
    def writable_pks(self, pks) -> set | None:
        """Which of ``pks`` the user may change (one query); None: all of them."""
        model = self.datamodel.obj
        pred = scope_mod.predicate(model, write=True)
        if pred is None:
            return None
        if not pks:
            return set()
        return set(db.session.execute(select(model.id).where(model.id.in_(pks), pred)).scalars())

    def _get_list_widget(self, **kwargs):
        widgets = super()._get_list_widget(**kwargs)
        args = widgets["list"].template_args
        sm = self.appbuilder.sm
        if any(sm.has_access(p, self.class_permission_name) for p in ("can_edit", "can_delete")):
            args["writable_pks"] = self.writable_pks(args.get("pks") or [])
        return widgets

    def _writable_item(self, pk, action_label):
        """The row through the scope (404 when unreadable), or 403 when the user may read but
        not write it. Called before an edit form is shown or read and before a delete."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        if not scope_mod.is_in_scope(db.session, item, write=True):
            raise Refused(outside_scope_message(action_label))
        return item

    # --- writes: validate, then make sure the row is (still) inside the user's scope --------
    def pre_add(self, item):
        self._validate(item)
        db.session.add(item)
        check_write_scope(item, lazy_gettext("add"))

    def pre_update(self, item):
        self._validate(item)
        check_write_scope(item, lazy_gettext("change"))

    def pre_delete(self, item):
        check_write_scope(item, lazy_gettext("delete"))

    def _validate(self, item):
        try:
            with db.session.no_autoflush:
                validate_item(db.session, item)
        except InputError:
            db.session.rollback()
            raise

    # --- bad input re-shows the form with the message at the field: nothing typed is lost ------
    # FAB's own _add/_edit flash the error of pre_add/pre_update and redirect, which loses the
    # input; these follow FAB's logic and differ only in that.
    def _show_input_errors(self, form, exc: InputError) -> None:
        for field, messages in exc.errors.items():
            if field in form:
                form[field].errors = list(form[field].errors) + list(messages)
            else:
                label = self.label_columns.get(field, field)
                flash(f"{label}: {' '.join(messages)}", "danger")

    def _add(self):
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        if request.method == "POST":
            self._fill_form_exclude_cols(exclude_cols, form)
            if form.validate():
                self.process_form(form, True)
                item = self.datamodel.obj()
                try:
                    form.populate_obj(item)
                    self.pre_add(item)
                except InputError as exc:
                    self._show_input_errors(form, exc)
                    return self._get_add_widget(form=form, exclude_cols=exclude_cols)
                except scope_mod.ScopeError as exc:
                    flash(str(exc), "danger")
                    return self._get_add_widget(form=form, exclude_cols=exclude_cols)
                try:
                    self.datamodel.add(item)
                except Exception:
                    flash(self.database_error_message, "danger")
                    return self._get_add_widget(form=form, exclude_cols=exclude_cols)
                self.post_add(item)
                flash(self.add_row_message, "success")
                return None
            return self._get_add_widget(form=form, exclude_cols=exclude_cols)
        self.update_redirect()
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)

    def _edit(self, pk):
        item = self._writable_item(pk, lazy_gettext("change"))
        if request.method != "POST":
            return super()._edit(pk)
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        pk = self.datamodel.get_pk_value(item)
        form = self.edit_form.refresh(request.form)
        self._fill_form_exclude_cols(exclude_cols, form)
        form._id = pk
        if form.validate():
            self.process_form(form, False)
            try:
                form.populate_obj(item)
                self.pre_update(item)
            except InputError as exc:
                self._show_input_errors(form, exc)
            except scope_mod.ScopeError as exc:
                flash(str(exc), "danger")
            else:
                try:
                    self.datamodel.edit(item)
                except Exception:
                    flash(self.database_error_message, "danger")
                else:
                    self.post_update(item)
                    flash(self.edit_row_message, "success")
                    return None
        widgets = self._get_edit_widget(form=form, exclude_cols=exclude_cols)
        # The edit page shows the related lists too (TKPK institution: members, documents); without
        # them the template failed on a re-shown form (the 500 of issue 11).
        return self._get_related_views_widgets(item, filters={}, orders=get_order_args(), pages=get_page_args(),
                                               page_sizes=get_page_size_args(), widgets=widgets)

    def _delete(self, pk):
        self._writable_item(pk, lazy_gettext("delete"))
        return super()._delete(pk)

    # --- actions: FAB fetches their rows by primary key alone; fetch them through the scope ---
    def _scoped_items(self, pks):
        items = [self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters) for pk in pks]
        if any(item is None for item in items):
            abort(404)
        return items

    @expose("/action/<string:name>/<pk>", methods=["GET"])
    def action(self, name, pk):
        if not self.is_get_mutation_allowed():
            flash(_("Access is Denied"), "danger")
            return redirect(self.get_redirect())
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(name), self.class_permission_name):
            abort(403)
        return self.actions[name].func(self._scoped_items([pk])[0])

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        name = request.form["action"]
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(name), self.class_permission_name):
            abort(403)
        return self.actions[name].func(self._scoped_items(request.form.getlist("rowid")))
