"""The household edit form per role (separation of duties, app/security/duties.py).

Admin gets the whole form; every other role gets it without the request-only fields (desil,
village, point, number of members), with a note that points to "Propose a change". The form
is chosen per request — the view object is shared by every request, so nothing on it is
swapped. A POST that names a request-only field anyway (a crafted form) is refused with a
400 naming the fields, nothing written. Admin's change of one of those fields is audited
under the action ``direct_edit`` (before/after as for every change).
"""
from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_appbuilder.forms import GeneralModelConverter

from app.errors import BadInput
from app.extensions import db
from app.security import duties


def _user():
    return current_app.appbuilder.sm.current_user


class RequestOnlyFieldsMixin:
    """For a ModelView whose ``edit_columns`` hold fields listed in
    ``duties.REQUEST_ONLY_FORM_FIELDS``."""

    def _init_forms(self):
        super()._init_forms()
        self._full_edit_form = self.__dict__.pop("edit_form")
        limited = [c for c in self.edit_columns if c not in duties.REQUEST_ONLY_FORM_FIELDS]
        self._limited_edit_form = GeneralModelConverter(self.datamodel).create_form(
            self.label_columns, limited, self.description_columns, self.validators_columns,
            self.edit_form_extra_fields, self.edit_form_query_rel_fields)

    def _direct(self) -> bool:
        return not has_request_context() or duties.may_edit_directly(_user())

    @property
    def edit_form(self):
        """FAB reads ``self.edit_form`` for GET and POST: the whole form for Admin only."""
        full = self.__dict__.get("_full_edit_form")
        if full is None or self._direct():
            return full
        return self._limited_edit_form

    @edit_form.setter
    def edit_form(self, form):
        self.__dict__["edit_form"] = form  # FAB's _init_forms; moved to _full_edit_form above

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        if self._direct():
            return super()._get_edit_widget(form=form, exclude_cols=exclude_cols, widgets=widgets)
        # FAB's form template reads form[col] for every included column before it looks at
        # exclude_cols: the limited form's columns must be the included ones.
        widgets = widgets or {}
        widgets["edit"] = self.edit_widget(form=form, exclude_cols=exclude_cols or [],
                                           include_cols=[c for c in self.edit_columns
                                                         if c not in duties.REQUEST_ONLY_FORM_FIELDS],
                                           fieldsets=self.edit_fieldsets)
        return widgets

    def _edit(self, pk):
        if request.method == "POST" and not self._direct():
            crafted = duties.posted_request_only(request.form.keys())
            if crafted:
                raise BadInput(duties.refusal_message(crafted))
        return super()._edit(pk)

    def pre_update(self, item):
        # Named before the scope check, whose query may flush the change.
        if self._direct():
            duties.annotate_direct_edit(db.session, item)
        try:
            super().pre_update(item)
        except Exception:
            db.session.info.pop("sinergi_audit", None)  # the change is not written: forget its name
            raise
