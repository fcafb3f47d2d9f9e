"""The export buttons of the list screens: the current filtered, scoped, ordered list as
CSV (``,`` or ``;``) or XLSX. Which columns a list exports is app/list_exports.py.

``ListExportMixin`` adds ``/<view>/export/?format=csv|xlsx[&sep=;]`` with FAB's permission
``can_export`` on the view (granted with the read permissions in app/security/roles.py)
and the buttons above the list (template list_export/list.html). The rows are exactly the
list's: the search filters of the query string, the scope filter in ``base_filters``, the
list's order; all pages.
"""
from __future__ import annotations

from flask import abort, request
from flask_appbuilder import expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_babel import gettext

from app import exports, list_exports
from app.extensions import db


def format_and_separator() -> tuple[str, str]:
    """``format`` and ``sep`` of the request; 400 with the reason when they are wrong."""
    fmt = request.args.get("format", "csv")
    if fmt not in exports.FORMATS:
        abort(400, gettext("format must be csv or xlsx"))
    try:
        return fmt, exports.separator(request.args.get("sep"))
    except ValueError as exc:
        abort(400, str(exc))


class ListExportMixin:
    list_template = "list_export/list.html"

    @expose("/export/")
    @has_access
    @permission_name("export")
    def export(self):
        """The rows of the list as it is filtered and ordered now (all pages)."""
        fmt, sep = format_and_separator()
        model = self.datamodel.obj
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        filters = self._filters.get_joined_filters(self._base_filters)
        order_column, order_direction = get_order_args().get(self.__class__.__name__) or self.base_order or ("", "")
        query = self.datamodel.apply_all(db.session.query(model), filters, order_column, order_direction)
        logged = {k: request.args.getlist(k) for k in request.args if k.startswith(("_flt_", "_oc_", "_od_"))}
        return list_exports.download(fmt, sep, query, model, logged or None)
