"""/api/v1/snapshot-diff/...: what changed between two targeting snapshots, as JSON (or CSV /
XLSX with ``format``), the same answers as the screen (app/views/snapshot_diff.py).

Scoped by ``current_scope()`` (the JWT's user); No KK masked for roles without the right to see
personal data. A bad parameter (unknown snapshot, A == B, A newer than B, unknown kind, a
malformed number) answers 400 with an Indonesian message; a regency outside the area 403.
"""
from __future__ import annotations

from flask import request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import protect
from flask_babel import gettext

from app import snapshot_diff_answers as S
from app.analysis_answers import FilterError, json_rows, response_format
from app.query_guard import guarded_connection
from app.security.scope import current_scope
from app.services import snapshot_diff as D

PARAMETERS = {
    "diff_a": {"in": "query", "name": "a", "required": False, "schema": {"type": "integer"},
               "description": "Snapshot A (older); default: the second latest."},
    "diff_b": {"in": "query", "name": "b", "required": False, "schema": {"type": "integer"},
               "description": "Snapshot B (newer); default: the latest."},
    "diff_kind": {"in": "query", "name": "kind", "required": False,
                  "schema": {"type": "string", "enum": list(D.KINDS) + [D.OUTSIDE_TARGET]},
                  "description": "Only households of this kind of change (default: every change)."},
    "diff_program_id": {"in": "query", "name": "program_id", "required": False, "schema": {"type": "integer"},
                        "description": "With kind=outside_target: only this program."},
}
class SnapshotDiffApi(BaseApi):
    resource_name = "snapshot-diff"
    openapi_spec_tag = "Snapshot diff"
    allow_browser_login = True
    method_permission_name = {name: "get" for name in ("summary", "regencies", "villages", "households",
                                                       "programs")}

    def add_apispec_components(self, api_spec):
        super().add_apispec_components(api_spec)
        from app.api.analysis import PARAMETERS as ANALYSIS_PARAMETERS

        for name, spec in {**ANALYSIS_PARAMETERS, **PARAMETERS}.items():
            if name not in api_spec.components.parameters:
                spec = dict(spec)
                api_spec.components.parameter(name, spec.pop("in"), spec)

    def _params(self, conn, scope, page_size=S.PAGE_SIZE):
        params = S.parse_params(request.args, conn, scope, page_size)
        if params.pair is None:
            raise D.DiffError(gettext("There are not yet two snapshots of the data to compare."), 404)
        return params, response_format(request.args)

    def _echo(self, params):
        return {**S.pair_json(params.pair), "year": params.year, "regency_id": params.regency_id}

    def _table(self, table: str, rows_of):
        scope, conn = current_scope(), guarded_connection()
        try:
            params, fmt = self._params(conn, scope)
            if fmt != "json":
                return S.export_table(table, fmt, params, request.args.get("sep"))
        except (D.DiffError, FilterError) as exc:
            return self.response(exc.status, message=exc.message)
        rows = json_rows(rows_of(conn, params, scope))
        return self.response(200, filters=self._echo(params), count=len(rows), result=rows)

    @expose("/summary", methods=["GET"])
    @protect()
    @safe
    def summary(self):
        """Counts of each kind of change between snapshots A and B
        ---
        get:
          summary: Snapshot diff summary
          description: >-
            Scoped households in A and in B, and how many entered, left, went up or down in
            desil, moved village, gained or lost members. sources_differ is true when A and B come
            from different sources (BDT 2015 desil 1-4, DTSEN 1-10): desil changes are raw numbers.
          parameters:
          - diff_a
          - diff_b
          - analysis_year
          - analysis_regency_id
          responses:
            200:
              description: The counts
            400:
              description: A parameter is wrong (unknown snapshot, A == B, A newer than B)
            401:
              $ref: '#/components/responses/401'
        """
        scope, conn = current_scope(), guarded_connection()
        try:
            params, _fmt = self._params(conn, scope)
        except (D.DiffError, FilterError) as exc:
            return self.response(exc.status, message=exc.message)
        counts = D.summary(conn, params.pair, scope, params.regency_id, params.year)
        return self.response(200, filters=self._echo(params), result=counts)

    @expose("/regencies", methods=["GET"])
    @protect()
    @safe
    def regencies(self):
        """Per regency: households of each kind of change
        ---
        get:
          summary: Snapshot diff per regency
          parameters:
          - diff_a
          - diff_b
          - analysis_year
          - analysis_regency_id
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: Rows per regency (entered, left, desil_up, desil_down, moved_in, moved_out, members_added, members_removed)
            400:
              description: A parameter is wrong
            401:
              $ref: '#/components/responses/401'
        """
        return self._table("regencies", lambda conn, p, scope: D.counts_by_regency(conn, p.pair, scope,
                                                                                    p.regency_id, p.year))

    @expose("/villages", methods=["GET"])
    @protect()
    @safe
    def villages(self):
        """Per village: households of each kind of change
        ---
        get:
          summary: Snapshot diff per village
          parameters:
          - diff_a
          - diff_b
          - analysis_year
          - analysis_regency_id
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: Rows per village (a move counts in B's village as moved_in and in A's as moved_out)
            400:
              description: A parameter is wrong
            401:
              $ref: '#/components/responses/401'
        """
        return self._table("villages", lambda conn, p, scope: D.counts_by_village(conn, p.pair, scope,
                                                                                   p.regency_id, p.year))

    @expose("/programs", methods=["GET"])
    @protect()
    @safe
    def programs(self):
        """Programs whose beneficiaries' desil in B lies outside the target range
        ---
        get:
          summary: Beneficiaries outside the target desil
          description: >-
            Per program (target source = B's source) with counted enrolments of the year: the
            beneficiaries, those whose desil in B lies outside target_desil_min..target_desil, and
            those B does not list. The households: /households?kind=outside_target&program_id=.
          parameters:
          - diff_a
          - diff_b
          - analysis_year
          - analysis_regency_id
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: Rows per program
            400:
              description: A parameter is wrong
            401:
              $ref: '#/components/responses/401'
        """
        return self._table("programs", lambda conn, p, scope: D.programs_outside_target(conn, p.pair, scope, p.year,
                                                                                         p.regency_id))

    @expose("/households", methods=["GET"])
    @protect()
    @safe
    def households(self):
        """The changed households (paginated), filtered by kind
        ---
        get:
          summary: Changed households
          description: >-
            The scoped households that changed between A and B (or only one kind), in household
            order, one page at a time (format=csv|xlsx: every row). No KK masked for roles without
            the right to see personal data.
          parameters:
          - diff_a
          - diff_b
          - diff_kind
          - diff_program_id
          - analysis_year
          - analysis_regency_id
          - analysis_page
          - analysis_page_size
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: One page of households
            400:
              description: A parameter is wrong
            401:
              $ref: '#/components/responses/401'
        """
        scope, conn = current_scope(), guarded_connection()
        try:
            params, fmt = self._params(conn, scope)
            if fmt != "json":
                return S.export_table("households", fmt, params, request.args.get("sep"))
        except (D.DiffError, FilterError) as exc:
            return self.response(exc.status, message=exc.message)
        total, rows = S.household_page(conn, params, scope)
        for row in rows:
            row.pop("kinds", None)  # words for people; kind_keys for machines
        return self.response(200, filters={**self._echo(params), "kind": params.kind,
                                           "program_id": params.program_id},
                             count=total, page=params.filters.page, page_size=params.filters.page_size,
                             result=json_rows(rows))
