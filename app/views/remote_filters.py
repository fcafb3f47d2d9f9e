"""List filters on large relations whose choices load on demand, searched as the user types.

FAB renders a relation filter as a ``<select>`` holding every related row, and puts that
HTML into the list page's filter script for every column the user might filter by: the
village filter of the household list alone was 2,640 options, 260 KB of a 400 KB page.
Here such a filter is a Select2 that asks
``/<view>/filter_choices/<column>?q=<text>&page=<n>`` while the user types: 20 choices a
page, searched by name and code (every word must match), scoped by app.security.scope —
an operator of Lampung Timur is offered the villages of Lampung Timur only.

Only the field changes: the filter is still FAB's relation filter, so the list's URLs
(``/householdview/list/?_flt_0_village=<id>``, the map popups link there) keep working.
A filter already applied comes back after a reload with its label: the widget renders the
options of the filter values in the query string (looked up within the scope), nothing else.

A view lists its remote filters in ``remote_filters = {"column": SOURCE}``; the endpoint
answers with FAB's ``can_list`` on the view, so whoever may see the list may search its
filter choices, and nobody else.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from flask import abort, jsonify, request, url_for
from flask_appbuilder import expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext, lazy_gettext as _
from markupsafe import Markup, escape
from sqlalchemy import or_, select
from sqlalchemy.sql.elements import ColumnElement
from wtforms import Field

from app.errors import BadInput
from app.extensions import db
from app.models.areas import District, Regency, Village
from app.models.programs import Program
from app.models.tkpk import Agency
from app.security import scope as scope_mod

PAGE_SIZE = 20
MAX_PAGE = 1000
MAX_QUERY_CHARS = 100
MAX_WORDS = 5


@dataclass(frozen=True)
class ChoiceSource:
    """Where the choices of one relation filter come from.

    ``columns()`` -> the selected columns, the row's id first; ``joins(stmt)`` adds what
    they need; ``label(row)`` is what the user reads; ``search()`` the columns each typed
    word is looked for in; ``order()`` the order; ``scope()`` the predicate of the rows the
    current user may choose (None: all)."""

    name: str
    columns: Callable[[], tuple]
    label: Callable[[tuple], str]
    search: Callable[[], tuple]
    order: Callable[[], tuple]
    scope: Callable[[], Optional[ColumnElement]]
    placeholder: object
    joins: Callable = lambda stmt: stmt

    def _select(self):
        stmt = self.joins(select(*self.columns()))
        pred = self.scope()
        return stmt if pred is None else stmt.where(pred)

    def find(self, text: str, page: int) -> tuple[list[dict], bool]:
        """One page of the choices matching every word of ``text``, and whether more follow."""
        stmt = self._select()
        for word in text.split()[:MAX_WORDS]:
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
            stmt = stmt.where(or_(*(col.ilike(pattern, escape="\\") for col in self.search())))
        rows = db.session.execute(stmt.order_by(*self.order()).offset((page - 1) * PAGE_SIZE)
                                  .limit(PAGE_SIZE + 1)).all()
        return [{"id": row[0], "text": self.label(row)} for row in rows[:PAGE_SIZE]], len(rows) > PAGE_SIZE

    def labels(self, ids: list[int]) -> list[tuple[int, str]]:
        """(id, label) of the given ids that the user may choose, in the source's order."""
        if not ids:
            return []
        id_column = self.columns()[0]
        rows = db.session.execute(self._select().where(id_column.in_(ids)).order_by(*self.order())).all()
        return [(row[0], self.label(row)) for row in rows]


# --- the sources ---------------------------------------------------------------------------

VILLAGES = ChoiceSource(
    name="village",
    columns=lambda: (Village.id, Village.name, Village.code, District.name),
    joins=lambda stmt: stmt.join(District, District.id == Village.district_id),
    # 'Sukadana — Sukadana (18.07.01.2001)': a name found in several kecamatan is told apart.
    label=lambda row: f"{row[1]} — {row[3]} ({row[2]})",
    search=lambda: (Village.name, Village.code, District.name),
    order=lambda: (Village.code,),
    # The villages the user may filter by: an operator's or a regency leader's own regency.
    scope=lambda: scope_mod.choosable_areas(Village, write=False),
    placeholder=_("Type a village name or code"),
)

DISTRICTS = ChoiceSource(
    name="district",
    columns=lambda: (District.id, District.name, District.code, Regency.name),
    joins=lambda stmt: stmt.join(Regency, Regency.id == District.regency_id),
    label=lambda row: f"{row[1]} — {row[3]} ({row[2]})",
    search=lambda: (District.name, District.code, Regency.name),
    order=lambda: (District.code,),
    scope=lambda: scope_mod.predicate(District),
    placeholder=_("Type a district name or code"),
)

PROGRAMS = ChoiceSource(
    name="program",
    columns=lambda: (Program.id, Program.code, Program.name, Program.fiscal_year),
    label=lambda row: f"{row[1]} — {row[2]} ({row[3]})",
    search=lambda: (Program.code, Program.name),
    order=lambda: (Program.fiscal_year.desc(), Program.code, Program.id),
    scope=lambda: scope_mod.predicate(Program),
    placeholder=_("Type a program name or code"),
)

AGENCIES = ChoiceSource(
    name="agency",
    columns=lambda: (Agency.id, Agency.name),
    label=lambda row: row[1],
    search=lambda: (Agency.name,),
    order=lambda: (Agency.name, Agency.id),
    scope=lambda: scope_mod.predicate(Agency),
    placeholder=_("Type an agency name"),
)


# --- the field ------------------------------------------------------------------------------

def active_filter_ids(column: str) -> list[int]:
    """The ids of the request's filters on ``column`` (``_flt_<n>_<column>=<id>``)."""
    pattern = re.compile(r"_flt_\d+_" + re.escape(column))
    ids = []
    for key, value in request.args.items(multi=True):
        if pattern.fullmatch(key) and value.isdigit() and len(value) < 10:
            ids.append(int(value))
    return ids


def remote_select(element_id: str, name: str, choices_url: str, placeholder, selected=(),
                  allow_clear: bool = False) -> Markup:
    """An empty ``<select>`` that static/js/remote_select.js turns into a Select2 asking
    ``choices_url``; only ``selected`` [(id, label)] are options. ``allow_clear`` adds an
    empty first option and a clear button, for a form where "no choice" means "all"."""
    options = Markup("").join(Markup('<option value="{}" selected>{}</option>').format(pk, label)
                              for pk, label in selected)
    if allow_clear:
        options = Markup('<option value=""></option>') + options
    attrs = {
        "class": "form-control sinergi-remote-select",
        "id": element_id,
        "name": name,
        "data-choices-url": choices_url,
        "data-placeholder": str(placeholder),
        "data-searching": gettext("Searching…"),
        "data-no-results": gettext("Nothing matches"),
        "data-error": gettext("The choices could not be loaded"),
        "data-loading-more": gettext("Loading more…"),
    }
    if allow_clear:
        attrs["data-allow-clear"] = "1"
    rendered = " ".join(f'{key}="{escape(value)}"' for key, value in attrs.items())
    return Markup(f"<select {rendered}>") + options + Markup("</select>")


class RemoteSelectWidget:
    """A list filter's remote select: the filters already applied are its options."""

    def __call__(self, field, **kwargs):
        return remote_select(field.id, field.name, url_for(f"{field.endpoint}.filter_choices", column=field.name),
                             field.source.placeholder, field.source.labels(active_filter_ids(field.name)))


class RemoteSelectField(Field):
    """The search-form field of a remote filter (FAB reads only its label and its HTML)."""

    widget = RemoteSelectWidget()

    def __init__(self, label=None, source: ChoiceSource = None, endpoint: str = "", **kwargs):
        super().__init__(label, **kwargs)
        self.source = source
        self.endpoint = endpoint


# --- the view side -------------------------------------------------------------------------

class RemoteFilterMixin:
    """``remote_filters = {"column": ChoiceSource}``: those search filters load their choices
    from ``/<view>/filter_choices/<column>`` instead of carrying them in the page."""

    remote_filters: dict[str, ChoiceSource] = {}

    def _init_forms(self):
        if self.remote_filters:
            fields = {col: RemoteSelectField(self.label_columns.get(col, col), source=source,
                                             endpoint=self.__class__.__name__)
                      for col, source in self.remote_filters.items()}
            self.search_form_extra_fields = {**(self.search_form_extra_fields or {}), **fields}
        super()._init_forms()

    @expose("/filter_choices/<string:column>")
    @has_access
    @permission_name("list")
    def filter_choices(self, column: str):
        """Select2's JSON: ``{"results": [{"id", "text"}], "pagination": {"more"}}``."""
        source = self.remote_filters.get(column)
        if source is None:
            abort(404)
        page_arg = request.args.get("page", "1")
        if not page_arg.isdigit() or not 1 <= int(page_arg) <= MAX_PAGE:
            raise BadInput(f"Parameter page harus bilangan bulat 1 sampai {MAX_PAGE}.")
        text = (request.args.get("q") or "")[:MAX_QUERY_CHARS]
        results, more = source.find(text, int(page_arg))
        return jsonify({"results": results, "pagination": {"more": more}})
