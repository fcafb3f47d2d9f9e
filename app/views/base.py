"""The base of every domain screen: scope on every path, validation, masking.

``ScopedModelView`` puts ``ScopeFilter`` in ``base_filters`` (FAB applies it to list,
show, edit and delete), re-checks write scope on add/edit/delete, and fetches the rows
of every ``@action`` through the same filter (FAB's own action handlers do not filter).
"""
from __future__ import annotations

from flask import abort, flash, redirect, request
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.urltools import get_filter_args
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from wtforms.validators import ValidationError

from app.extensions import db
from app.security import scope as scope_mod
from app.security.scope import SCOPE_FILTERS
from app.services.validation import InputError, validate_item
from app.views.masked_sort import MaskedSortMixin
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


def check_write_scope(item, action_label: str) -> None:
    if not scope_mod.is_in_scope(db.session, item, write=True):
        db.session.rollback()
        raise scope_mod.ScopeError(_("You may not %(action)s this row: it lies outside your area or agency.",
                                     action=action_label))


class ScopedModelView(MaskedSortMixin, RemoteFilterMixin, ModelView):
    base_filters = SCOPE_FILTERS
    page_size = 50

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
        if request.method != "POST":
            return super()._edit(pk)
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
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
        return self._get_edit_widget(form=form, exclude_cols=exclude_cols)

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
