"""The screen "Perubahan antar periode data": what changed between two targeting snapshots.

Choose A (older) and B (newer), default the two latest; the page shows the counts of each kind
of change, a table per regency (province-wide users) or per village (a regency chosen, or an
operator's own), the programs whose beneficiaries now fall outside their target desil, and a
paged household list filtered by kind, each with CSV / XLSX downloads. The SQL lives in
app/services/snapshot_diff.py, the parameters and downloads in app/snapshot_diff_answers.py.
"""
from __future__ import annotations

import math
from urllib.parse import urlencode

from flask import abort, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _

from app.analysis_answers import FilterError
from app.errors import BadInput
from app.query_guard import guarded_connection
from app.security.scope import current_scope
from app.services import snapshot_diff as D
from app import snapshot_diff_answers as S
from app.views.cell_format import format_value
from gis import queries


def _bad(exc):
    if exc.status == 403:
        abort(403)
    raise BadInput(exc.message)


class SnapshotDiffView(BaseView):
    route_base = "/snapshotdiff"
    default_view = "page"
    method_permission_name = {"page": "read", "download": "read"}

    @expose("/")
    @has_access
    def page(self):
        scope, conn = current_scope(), guarded_connection()
        try:
            params = S.parse_params(request.args, conn, scope)
        except (D.DiffError, FilterError) as exc:
            _bad(exc)
        context = dict(title=_("Changes between data periods"), params=params, scope=scope, fmt=format_value,
                       snapshots=D.snapshots(conn), kinds=[(k, D.KIND_LABELS[k]) for k in D.KINDS + (D.OUTSIDE_TARGET,)],
                       years=sorted(set(queries.analysis_years(conn, scope)) | {params.year}, reverse=True),
                       regencies=self._regencies(scope))
        if params.pair is None:
            return self.render_template("snapshot_diff/page.html", **context)
        summary = D.summary(conn, params.pair, scope, params.regency_id, params.year)
        area_name, area_rows = S.area_table(conn, params, scope)
        programs = D.programs_outside_target(conn, params.pair, scope, params.year, params.regency_id)
        total, rows = S.household_page(conn, params, scope)
        pages = max(1, math.ceil(total / params.filters.page_size))
        return self.render_template(
            "snapshot_diff/page.html", **context, summary=summary, area_name=area_name, area_rows=area_rows,
            area_columns=S.columns(area_name), programs=programs, program_columns=S.PROGRAM_COLUMNS,
            total=total, rows=rows, pages=pages, household_columns=S.columns("households", params.kind),
            downloads=lambda table: self._downloads(table, params), url=lambda **kw: self._url(params, **kw))

    @staticmethod
    def _regencies(scope):
        if scope.kind == "regency":
            return []
        from app.views.households import scoped_regencies

        return scoped_regencies(write=False)

    @staticmethod
    def _url(params, **changes) -> str:
        """This page with the parameters changed (None removes one); page 1 unless given."""
        args = {**params.query_args(), **changes}
        return url_for("SnapshotDiffView.page") + "?" + urlencode({k: v for k, v in args.items() if v is not None})

    @staticmethod
    def _downloads(table, params):
        args = params.query_args()
        return [("CSV", url_for("SnapshotDiffView.download", table=table, fmt="csv", **args)),
                (gettext("CSV (;)"), url_for("SnapshotDiffView.download", table=table, fmt="csv", sep=";", **args)),
                ("XLSX", url_for("SnapshotDiffView.download", table=table, fmt="xlsx", **args))]

    @expose("/download/<table>.<fmt>")
    @has_access
    def download(self, table: str, fmt: str):
        if table not in S.TABLES:
            abort(404)
        scope, conn = current_scope(), guarded_connection()
        try:
            params = S.parse_params(request.args, conn, scope)
            if params.pair is None:
                raise D.DiffError(gettext("There are not yet two snapshots of the data to compare."))
            return S.export_table(table, fmt, params, request.args.get("sep"))
        except (D.DiffError, FilterError) as exc:
            _bad(exc)


def register(appbuilder) -> None:
    appbuilder.add_view(SnapshotDiffView, "Snapshot changes", href="SnapshotDiffView.page",
                        label=_("Changes between data periods"), icon="fa-exchange", category="Analysis",
                        category_label=_("Analysis"), category_icon="fa-bar-chart")
