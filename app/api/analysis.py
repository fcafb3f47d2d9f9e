"""/api/v1/analysis/...: the analysis answers as JSON (or CSV / XLSX with ``format``).

The same answers as the screens (app/analysis_answers.py ``ANSWERS``), from gis/queries.py with
``current_scope()`` — which follows FAB's current user, so a JWT caller gets exactly the rows
their role and area allow. Query arguments are checked: a malformed one answers 400 naming
the argument; a regency outside the caller's area 403.
"""
from __future__ import annotations

from flask import request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import protect

from app.query_guard import guarded_connection
from app.security.scope import current_scope
from app import analysis_answers as A
from gis import queries

PARAMETERS = {
    "analysis_year": {"in": "query", "name": "year", "required": False, "schema": {"type": "integer", "minimum": 2000,
                      "maximum": 2100}, "description": "Program year; default: the latest year with enrolments "
                                                       "in your scope."},
    "analysis_k": {"in": "query", "name": "k", "required": False,
                   "schema": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                   "description": "Gaps count households with desil <= k."},
    "analysis_snapshot": {"in": "query", "name": "snapshot", "required": False, "schema": {"type": "integer"},
                          "description": "A targeting data snapshot (BDT 2015, DTSEN 2025-Q4 ...): desil, village "
                                         "and point as it lists them; default: each household's latest."},
    "analysis_regency_id": {"in": "query", "name": "regency_id", "required": False,
                            "schema": {"type": "integer"},
                            "description": "Only this regency (an operator may give only their own)."},
    "analysis_zone_id": {"in": "query", "name": "zone_id", "required": False, "schema": {"type": "integer"},
                         "description": "Only this priority zone."},
    "analysis_min_share": {"in": "query", "name": "min_share", "required": False,
                           "schema": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
                           "description": "Only villages with more than this share (0-1) of their area in the zone."},
    "analysis_page": {"in": "query", "name": "page", "required": False,
                      "schema": {"type": "integer", "minimum": 1, "default": 1}},
    "analysis_page_size": {"in": "query", "name": "page_size", "required": False,
                           "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
    "analysis_format": {"in": "query", "name": "format", "required": False,
                        "schema": {"type": "string", "enum": ["json", "csv", "xlsx"], "default": "json"},
                        "description": "json (default), or a csv / xlsx download of every row."},
    "analysis_sep": {"in": "query", "name": "sep", "required": False,
                     "schema": {"type": "string", "enum": [",", ";"], "default": ","},
                     "description": "CSV separator; with ';' decimals are written with a comma."},
}
SCHEMAS = {
    "AnalysisFilters": {"type": "object", "properties": {
        "year": {"type": "integer"}, "k": {"type": "integer"}, "regency_id": {"type": "integer", "nullable": True},
        "zone_id": {"type": "integer", "nullable": True}, "min_share": {"type": "number"}}},
    "AnalysisError": {"type": "object", "properties": {"message": {"type": "string"}}},
}


class AnalysisApi(BaseApi):
    resource_name = "analysis"
    openapi_spec_tag = "Analysis"
    allow_browser_login = True  # the screens' session works too (JWT for machines)
    method_permission_name = {name: "get" for name in (
        "overlap_villages", "overlap_households", "overlap_matrix", "overlap_regencies", "gaps_villages",
        "gaps_zones", "zones_villages", "measures_villages")}

    def add_apispec_components(self, api_spec):
        super().add_apispec_components(api_spec)
        for name, spec in PARAMETERS.items():
            if name not in api_spec.components.parameters:
                spec = dict(spec)
                api_spec.components.parameter(name, spec.pop("in"), spec)
        for name, spec in SCHEMAS.items():
            if name not in api_spec.components.schemas:
                api_spec.components.schema(name, spec)

    # --- plumbing ----------------------------------------------------------------------------------
    def _filters(self, conn, scope, page_size=A.HTML_PAGE_SIZE):
        return A.parse_filters(request.args, conn, scope, page_size)

    def _answer(self, name: str, filter_names: tuple[str, ...]):
        """JSON of one answer, or its download with format=csv|xlsx."""
        scope, conn = current_scope(), guarded_connection()
        try:
            filters = self._filters(conn, scope)
            fmt = self._format()
            if fmt != "json":
                return A.export_answer(name, fmt, filters, request.args.get("sep"))
            rows = A.json_rows(A.answer_rows(name, conn, scope, filters))
        except A.FilterError as exc:
            return self.response(exc.status, message=exc.message)
        return self.response(200, filters=self._echo(filters, filter_names), count=len(rows), result=rows)

    @staticmethod
    def _format() -> str:
        return A.response_format(request.args)

    @staticmethod
    def _echo(filters, names):
        return {n: getattr(filters, n) for n in names}

    # --- overlap -----------------------------------------------------------------------------------
    @expose("/overlap/regencies", methods=["GET"])
    @protect()
    @safe
    def overlap_regencies(self):
        """Per regency: households, reached (1+ program), with 2+ programs, program enrolments
        ---
        get:
          summary: Program overlap per regency
          description: >-
            Scoped households per regency for a program year: all, reached by at least one
            counted program (status usulan, ditetapkan, disalurkan), with 2 or more programs,
            and the number of counted enrolments.
          parameters:
          - analysis_year
          - analysis_snapshot
          - analysis_regency_id
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: Rows per regency
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      filters: {$ref: '#/components/schemas/AnalysisFilters'}
                      count: {type: integer}
                      result:
                        type: array
                        items:
                          type: object
                          properties:
                            regency_id: {type: integer}
                            code: {type: string}
                            name: {type: string}
                            households: {type: integer}
                            reached: {type: integer}
                            multi_program: {type: integer}
                            program_enrolments: {type: integer}
            400:
              description: A query argument is malformed
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/AnalysisError'}
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        return self._answer("overlap-regencies", ("year", "regency_id"))

    @expose("/overlap/villages", methods=["GET"])
    @protect()
    @safe
    def overlap_villages(self):
        """Per village: households and how many receive 0, 1, 2, 3+ programs
        ---
        get:
          summary: Program overlap per village
          description: >-
            Per village (declared village) with scoped households: the households and how
            many of them receive 0, 1, 2 or 3 and more distinct counted programs in the year.
          parameters:
          - analysis_year
          - analysis_snapshot
          - analysis_regency_id
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: Rows per village
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      filters: {$ref: '#/components/schemas/AnalysisFilters'}
                      count: {type: integer}
                      result:
                        type: array
                        items:
                          type: object
                          properties:
                            village_id: {type: integer}
                            code: {type: string}
                            name: {type: string}
                            district_name: {type: string}
                            households: {type: integer}
                            programs_0: {type: integer}
                            programs_1: {type: integer}
                            programs_2: {type: integer}
                            programs_3plus: {type: integer}
            400:
              description: A query argument is malformed
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/AnalysisError'}
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        return self._answer("overlap-villages", ("year", "regency_id"))

    @expose("/overlap/households", methods=["GET"])
    @protect()
    @safe
    def overlap_households(self):
        """Per household: the number of distinct programs in the year (paginated)
        ---
        get:
          summary: Households and their number of programs
          description: >-
            Every scoped household with its number of distinct counted programs in the year
            and their codes, in household id order, one page at a time (with format=csv|xlsx:
            every row). No KK is masked for roles without the right to see personal data.
          parameters:
          - analysis_year
          - analysis_snapshot
          - analysis_regency_id
          - analysis_page
          - analysis_page_size
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: One page of households
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      filters: {$ref: '#/components/schemas/AnalysisFilters'}
                      count: {type: integer, description: all matching households}
                      page: {type: integer}
                      page_size: {type: integer}
                      result:
                        type: array
                        items:
                          type: object
                          properties:
                            household_id: {type: integer}
                            no_kk: {type: string}
                            head_name: {type: string}
                            village_id: {type: integer}
                            village_code: {type: string}
                            village_name: {type: string}
                            desil: {type: integer}
                            programs: {type: integer}
                            program_codes: {type: string}
            400:
              description: A query argument is malformed
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/AnalysisError'}
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        scope, conn = current_scope(), guarded_connection()
        try:
            filters = self._filters(conn, scope)
            fmt = self._format()
            if fmt != "json":
                return A.export_answer("overlap-households", fmt, filters, request.args.get("sep"))
        except A.FilterError as exc:
            return self.response(exc.status, message=exc.message)
        total, rows = queries.household_program_page(conn, filters.year, scope, filters.regency_id,
                                                     limit=filters.page_size,
                                                     offset=(filters.page - 1) * filters.page_size)
        result = A.json_rows(A._masked_rows(rows, scope))
        return self.response(200, filters=self._echo(filters, ("year", "regency_id")), count=total,
                             page=filters.page, page_size=filters.page_size, result=result)

    @expose("/overlap/matrix", methods=["GET"])
    @protect()
    @safe
    def overlap_matrix(self):
        """Program × program: households receiving both
        ---
        get:
          summary: Program × program matrix
          description: >-
            For each pair of programs (program_a <= program_b by id) the scoped households
            receiving both in the year; the diagonal (program_a = program_b) is the program's
            households. ``programs`` lists the programs with their totals.
          parameters:
          - analysis_year
          - analysis_snapshot
          - analysis_regency_id
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: The matrix as pairs
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      filters: {$ref: '#/components/schemas/AnalysisFilters'}
                      count: {type: integer}
                      programs:
                        type: array
                        items:
                          type: object
                          properties:
                            id: {type: integer}
                            code: {type: string}
                            name: {type: string}
                            households: {type: integer}
                            outside_target:
                              type: integer
                              description: counted enrolments whose household's desil, read in the
                                program's source, lies outside its target desil
                      result:
                        type: array
                        items:
                          type: object
                          properties:
                            program_a: {type: integer}
                            code_a: {type: string}
                            program_b: {type: integer}
                            code_b: {type: string}
                            households: {type: integer}
            400:
              description: A query argument is malformed
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/AnalysisError'}
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        scope, conn = current_scope(), guarded_connection()
        try:
            filters = self._filters(conn, scope)
            fmt = self._format()
            if fmt != "json":
                return A.export_answer("overlap-matrix", fmt, filters, request.args.get("sep"))
        except A.FilterError as exc:
            return self.response(exc.status, message=exc.message)
        rows = A.json_rows(queries.program_matrix(conn, filters.year, scope, filters.regency_id))
        programs, _cells = A.matrix(conn, scope, filters)
        return self.response(200, filters=self._echo(filters, ("year", "regency_id")), count=len(rows),
                             programs=programs, result=rows)

    # --- gaps --------------------------------------------------------------------------------------
    @expose("/gaps/villages", methods=["GET"])
    @protect()
    @safe
    def gaps_villages(self):
        """Per village: households with desil <= k in the year's priority zones without any program
        ---
        get:
          summary: Gaps per village
          description: >-
            Scoped households with desil <= k inside a priority zone of the year (the point in
            the zone; without a point, the declared village more than half inside) that have
            no counted enrolment in the year, per declared village (each household once).
          parameters:
          - analysis_year
          - analysis_snapshot
          - analysis_k
          - analysis_regency_id
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: Rows per village
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      filters: {$ref: '#/components/schemas/AnalysisFilters'}
                      count: {type: integer}
                      result:
                        type: array
                        items:
                          type: object
                          properties:
                            village_id: {type: integer}
                            code: {type: string}
                            name: {type: string}
                            district_name: {type: string}
                            gap_households: {type: integer}
            400:
              description: A query argument is malformed
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/AnalysisError'}
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        return self._answer("gaps-villages", ("year", "k", "regency_id"))

    @expose("/gaps/zones", methods=["GET"])
    @protect()
    @safe
    def gaps_zones(self):
        """Per priority zone of the year: households with desil <= k without any program
        ---
        get:
          summary: Gaps per priority zone
          description: >-
            Per scoped priority zone of the year: its scoped households with desil <= k and no
            counted enrolment in the year (zones without a gap are listed with 0).
          parameters:
          - analysis_year
          - analysis_snapshot
          - analysis_k
          - analysis_regency_id
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: Rows per zone
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      filters: {$ref: '#/components/schemas/AnalysisFilters'}
                      count: {type: integer}
                      result:
                        type: array
                        items:
                          type: object
                          properties:
                            zone_id: {type: integer}
                            zone_name: {type: string}
                            gap_households: {type: integer}
            400:
              description: A query argument is malformed
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/AnalysisError'}
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        return self._answer("gaps-zones", ("year", "k", "regency_id"))

    # --- zones -------------------------------------------------------------------------------------
    @expose("/zones/villages", methods=["GET"])
    @protect()
    @safe
    def zones_villages(self):
        """The villages of the priority zones with the share of each village inside
        ---
        get:
          summary: Zone membership
          description: >-
            For each scoped priority zone (or only zone_id) the villages it intersects with the
            share of the village's area inside the zone (0-1, on the current geometries), more
            than min_share. An operator gets only the villages of their regency.
          parameters:
          - analysis_zone_id
          - analysis_min_share
          - analysis_regency_id
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: Rows per zone and village
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      filters: {$ref: '#/components/schemas/AnalysisFilters'}
                      count: {type: integer}
                      result:
                        type: array
                        items:
                          type: object
                          properties:
                            zone_id: {type: integer}
                            zone_name: {type: string}
                            village_id: {type: integer}
                            code: {type: string}
                            name: {type: string}
                            district_name: {type: string}
                            share: {type: number}
                            share_pct: {type: number}
            400:
              description: A query argument is malformed
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/AnalysisError'}
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        return self._answer("zone-villages", ("zone_id", "min_share", "regency_id"))

    # --- measures ----------------------------------------------------------------------------------
    @expose("/measures/villages", methods=["GET"])
    @protect()
    @safe
    def measures_villages(self):
        """Per village: the measures the village map colours by
        ---
        get:
          summary: Measures per village
          description: >-
            Per village with scoped households: households, desil-1 households, reached (1+
            program) and coverage %, households with 2+ programs, and gap households (desil
            <= k in the year's zones without any program).
          parameters:
          - analysis_year
          - analysis_snapshot
          - analysis_k
          - analysis_regency_id
          - analysis_format
          - analysis_sep
          responses:
            200:
              description: Rows per village
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      filters: {$ref: '#/components/schemas/AnalysisFilters'}
                      count: {type: integer}
                      result:
                        type: array
                        items:
                          type: object
                          properties:
                            village_id: {type: integer}
                            code: {type: string}
                            name: {type: string}
                            district_name: {type: string}
                            households: {type: integer}
                            desil1: {type: integer}
                            reached: {type: integer}
                            coverage: {type: number}
                            multi_program: {type: integer}
                            gaps: {type: integer}
            400:
              description: A query argument is malformed
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/AnalysisError'}
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        return self._answer("measures-villages", ("year", "k", "regency_id"))
