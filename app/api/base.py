"""The base of every domain REST resource: the same scope, validation and masking as the screens.

FAB's ModelRestApi applies ``base_filters`` to list/get/put/delete (out-of-scope rows
answer 404); writes are validated (422 with the field and reason) and re-checked
against the write scope (403). ``masked_fields`` are masked and ``position_fields`` rounded
(``scope.position``) in every response for users without the right to see personal data.
"""
from __future__ import annotations

from flask import request
from flask_appbuilder.api import ModelRestApi, expose, get_list_schema, protect, rison, safe
from flask_appbuilder.exceptions import (FABException, InvalidColumnFilterFABException,
                                         InvalidOrderByColumnFABException)
from sqlalchemy.exc import IntegrityError

from app import exports, list_exports
from app.api.schemas import SinergiSchemaConverter, database_error_messages
from app.extensions import db
from app.labels import LABELS
from app.security import scope as scope_mod
from app.security.scope import SCOPE_FILTERS, ScopeError
from app.services.validation import InputError, validate_item


class ScopedModelRestApi(ModelRestApi):
    base_filters = SCOPE_FILTERS
    masked_fields: tuple[str, ...] = ()
    position_fields: tuple[str, ...] = ()  # a household's point: rounded to ~1 km for those users
    label_columns = LABELS  # the same translated labels as the screens
    allow_browser_login = True  # the screens' session works too (JWT for machines)
    model2schemaconverter = SinergiSchemaConverter  # GeoJSON, exact decimals, scoped relations by id

    # --- responses: mask personal numbers ---------------------------------------------------
    def _mask(self, row: dict) -> None:
        for field in self.masked_fields:
            if field in row:
                row[field] = scope_mod.mask_number(row[field])
        for field in self.position_fields:  # GeoJSON points: rounded as on the screens
            point = row.get(field)
            if isinstance(point, dict) and point.get("type") == "Point":
                point["coordinates"] = [scope_mod.round_coordinate(c) for c in point["coordinates"]]

    def pre_get(self, data):
        self._mask(data.get("result", {}))

    def pre_get_list(self, data):
        for row in data.get("result", []):
            self._mask(row)

    def _masked_for_user(self) -> bool:
        return bool(self.masked_fields) and not scope_mod.current_scope().can_unmask

    # A user who sees masked numbers may not filter or sort on them either (an oracle): the
    # same rule as the screens' (scope.masked_column).
    def _handle_filters_args(self, rison_args):
        for flt in rison_args.get("filters", []) or []:
            if isinstance(flt, dict) and scope_mod.masked_column(str(flt.get("col"))):
                raise InvalidColumnFilterFABException(f"Filter column: {flt['col']} not allowed to filter")
        return super()._handle_filters_args(rison_args)

    def _handle_order_args(self, rison_args):
        if scope_mod.masked_column(str(rison_args.get("order_column") or "")):
            raise InvalidOrderByColumnFABException(f"Invalid order by column: {rison_args['order_column']}")
        return super()._handle_order_args(rison_args)

    # --- writes ------------------------------------------------------------------------------
    def pre_add(self, item):
        with db.session.no_autoflush:
            validate_item(db.session, item)
        db.session.add(item)
        self._check_write(item)

    def pre_update(self, item):
        with db.session.no_autoflush:
            validate_item(db.session, item)
        self._check_write(item)

    def pre_delete(self, item):
        self._check_write(item)

    def _check_write(self, item):
        if not scope_mod.is_in_scope(db.session, item, write=True):
            db.session.rollback()
            raise ScopeError("row lies outside your area or agency")

    def _guarded(self, call):
        try:
            return self._mask_response(call())
        except InputError as exc:
            db.session.rollback()
            return self.response_422(message=exc.errors)
        except ScopeError as exc:
            db.session.rollback()
            return self.response(403, message=str(exc))
        except IntegrityError as exc:  # a constraint refused the flush: 422 naming the field, not 500
            db.session.rollback()
            return self.response_422(message=database_error_messages(exc))

    def _mask_response(self, response):
        """The 200/201 bodies of POST/PUT carry the written row: mask it like a GET."""
        if self._masked_for_user() and response.status_code in (200, 201) and response.is_json:
            body = response.get_json()
            if isinstance(body, dict) and isinstance(body.get("result"), dict):
                self._mask(body["result"])
                return self.response(response.status_code, **body)
        return response

    def post_headless(self):
        return self._guarded(super().post_headless)

    def put_headless(self, pk):
        return self._guarded(lambda: super(ScopedModelRestApi, self).put_headless(pk))

    def delete_headless(self, pk):
        return self._guarded(lambda: super(ScopedModelRestApi, self).delete_headless(pk))


class ListExportApiMixin:
    """``GET /api/v1/<resource>/export/?format=csv|xlsx&sep=;&q=(filters:!(...),order_column:...)``:
    the same file as the list screen's export button (app/list_exports.py), for the rows the
    list endpoint's rison filters and order select (all of them, not a page). Permission
    ``can_export`` on the resource."""

    @expose("/export/", methods=["GET"])
    @protect()
    @safe
    @rison(get_list_schema)
    def export(self, **kwargs):
        """Download the filtered list as CSV or XLSX
        ---
        get:
          summary: The filtered, scoped list as a CSV or XLSX file (all rows, streamed)
          parameters:
          - in: query
            name: q
            description: rison filters and order, as for the list endpoint (page arguments are ignored)
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/get_list_schema'
          - in: query
            name: format
            schema:
              type: string
              enum: [csv, xlsx]
              default: csv
          - in: query
            name: sep
            description: CSV separator; ';' writes decimal commas for Excel set to Indonesian
            schema:
              type: string
              enum: [',', ';']
              default: ','
          responses:
            200:
              description: The file (NIK / No KK masked for users without the right to see them)
              content:
                text/csv: {}
                application/vnd.openxmlformats-officedocument.spreadsheetml.sheet: {}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        fmt = request.args.get("format", "csv")
        if fmt not in exports.FORMATS:
            return self.response_400(message="format must be csv or xlsx")
        try:
            sep = exports.separator(request.args.get("sep"))
        except ValueError as exc:
            return self.response_400(message=str(exc))
        args = kwargs.get("rison", {})
        try:
            filters = self._handle_filters_args(args)
            order_column, order_direction = self._handle_order_args(args)
        except FABException as exc:
            return self.response_400(message=str(exc))
        model = self.datamodel.obj
        query = self.datamodel.apply_all(db.session.query(model), filters, order_column, order_direction)
        logged = {key: args[key] for key in ("filters", "order_column", "order_direction") if args.get(key)}
        return list_exports.download(fmt, sep, query, model, logged or None)
