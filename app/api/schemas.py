"""Marshmallow fields and the schema converter of the REST API.

FAB builds every schema of a ``ModelRestApi`` (list, show, add, edit and the ones made on
the fly for ``?q=(columns:...)``) through ``model2schemaconverter``. Ours differs from
FAB's in four ways, so every resource gets them without hand-written schemas:

- Geometry columns are GeoJSON objects, in and out (FAB raises ModelConversionError on
  them). Input is checked (GeoJSON, geometry type, valid, finite lon/lat) and stored as
  EWKT ``SRID=4326;...``; a Polygon given for a MultiPolygon column becomes a MultiPolygon.
- Numeric columns go out as exact decimal strings ("1500000.00"), never floats. Money
  (``app.models.programs.MONEY``) comes in as a string or an integer; a JSON float is
  refused with the same message as ``check_money`` (a float is not an exact amount).
- Integer columns refuse 1.5 instead of truncating it to 1.
- Relations come in by id, as in FAB, but an id that does not exist, or that lies outside
  the user's read scope, is a 422 on that field (marshmallow-sqlalchemy would build a new
  empty row for an unknown id, and FAB would link to any row by id).

Errors name the field (marshmallow's ``{"field": ["reason"]}``, returned as 422 by FAB)
and are translated with flask_babel like app/services/validation.py.

Also here: ``scoped_rel_fields`` (scope the relation choices FAB lists in ``/_info``) and
``database_error_messages`` (a constraint refused by PostgreSQL -> 422 naming the field).
"""
from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

import shapely
from flask_appbuilder.api.convert import Model2SchemaConverter
from flask_babel import gettext as _
from geoalchemy2 import Geometry
from geoalchemy2.elements import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from marshmallow import ValidationError, fields
from marshmallow_sqlalchemy.fields import Related, RelatedList
from shapely.geometry import MultiPolygon, shape
from sqlalchemy import Integer, Numeric, select

from app.models.programs import MONEY
from app.security import scope as scope_mod
from app.services.validation import check_money

GEOJSON_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                 "GeometryCollection")
EXAMPLES = {
    "POINT": {"type": "Point", "coordinates": [105.3131, -5.1127]},
    "MULTIPOLYGON": {"type": "MultiPolygon", "coordinates": [[[[105.30, -5.12], [105.33, -5.12], [105.33, -5.10],
                                                                [105.30, -5.10], [105.30, -5.12]]]]},
}


# --- geometry -------------------------------------------------------------------------------

def geometry_to_shape(value):
    """A shapely geometry from what a Geometry attribute may hold: a GeoAlchemy element
    (read from the database) or WKT / EWKT text (just assigned by an API load)."""
    if value is None:
        return None
    if isinstance(value, (WKBElement, WKTElement)):
        return to_shape(value)
    text = str(value)
    if text.upper().startswith("SRID="):
        text = text.split(";", 1)[1]
    return shapely.from_wkt(text)


def to_geojson(value) -> Optional[dict]:
    """A GeoJSON geometry object (a dict) for a Geometry attribute value, or None."""
    geom = geometry_to_shape(value)
    return None if geom is None else _plain(shapely.geometry.mapping(geom))


def _plain(obj):
    """shapely's mapping() uses tuples; JSON wants lists (and tests compare with lists)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


class GeoJSON(fields.Field):
    """A geometry column as a GeoJSON geometry object (EPSG:4326 lon/lat).

    ``geometry_type`` is the column's type (POINT, MULTIPOLYGON, ...). For a MULTI*
    column the single type is accepted too and wrapped (Polygon -> MultiPolygon, what
    ST_Multi does). Loads to EWKT text ``SRID=4326;...``, which GeoAlchemy binds with
    ST_GeomFromEWKT.
    """

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = 4326, **kwargs):
        self.geometry_type = (geometry_type or "GEOMETRY").upper()
        self.srid = srid if srid and srid > 0 else 4326
        if self.geometry_type == "GEOMETRY":
            accepted = GEOJSON_TYPES
        else:
            main = next(t for t in GEOJSON_TYPES if t.upper() == self.geometry_type)
            accepted = (main, main[len("Multi"):]) if main.startswith("Multi") else (main,)
        self.accepted = accepted
        metadata = {
            "type": "object",
            "description": f"GeoJSON geometry ({' or '.join(accepted)}), longitude/latitude in EPSG:{self.srid}",
            "properties": {"type": {"type": "string", "enum": list(accepted)},
                           "coordinates": {"type": "array", "items": {}}},
            **({"example": EXAMPLES[self.geometry_type]} if self.geometry_type in EXAMPLES else {}),
            **kwargs.pop("metadata", {}),
        }
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return to_geojson(value)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        expected = " / ".join(self.accepted)
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise ValidationError(_("must be a GeoJSON geometry object (%(expected)s), "
                                    "for example {\"type\": \"Point\", \"coordinates\": [105.31, -5.11]}",
                                    expected=expected))
        if value["type"] not in self.accepted:
            raise ValidationError(_("must be a GeoJSON %(expected)s, not %(got)s", expected=expected,
                                    got=str(value["type"])[:40]))
        try:
            geom = shape(value)
        except Exception:  # shapely raises many kinds (ValueError, TypeError, IndexError...)
            raise ValidationError(_("is not valid GeoJSON %(expected)s (check the coordinates)", expected=expected))
        if geom.is_empty:
            raise ValidationError(_("has no coordinates"))
        geom = shapely.force_2d(geom)
        coords = shapely.get_coordinates(geom)
        if not all(math.isfinite(c) for c in coords.ravel()):
            raise ValidationError(_("has coordinates that are not numbers"))
        if (abs(coords[:, 0]) > 180).any() or (abs(coords[:, 1]) > 90).any():
            raise ValidationError(_("has coordinates outside longitude -180..180 / latitude -90..90 "
                                    "(GeoJSON order is [longitude, latitude])"))
        if not geom.is_valid:
            raise ValidationError(_("is not a valid geometry: %(reason)s", reason=shapely.is_valid_reason(geom)))
        if self.geometry_type == "MULTIPOLYGON" and geom.geom_type == "Polygon":
            geom = MultiPolygon([geom])
        # rounding_precision=-1: full precision, the stored point is the point that was sent.
        return f"SRID={self.srid};{shapely.to_wkt(geom, rounding_precision=-1)}"


# --- numbers --------------------------------------------------------------------------------

class ExactDecimal(fields.Decimal):
    """A Numeric column: dumped as a decimal string ("12.50"), loaded from a string or a
    number into a Decimal that fits the column (precision, scale)."""

    def __init__(self, precision: Optional[int] = None, scale: Optional[int] = None, **kwargs):
        self.precision, self.scale = precision, scale
        metadata = {"type": "string", "format": "decimal",
                    "description": "exact decimal number, written as a string", **kwargs.pop("metadata", {})}
        super().__init__(as_string=True, metadata=metadata, **kwargs)

    def _to_decimal(self, value) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise ValidationError(_("is not a number"))
        try:
            # repr() of a float is the shortest text that reads back to it: 12.5 -> "12.5"
            number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation:
            raise ValidationError(_("is not a number"))
        if not number.is_finite():
            raise ValidationError(_("is not a number"))
        return number

    def _check_fits(self, number: Decimal) -> None:
        if self.precision is not None:
            digits = self.precision - (self.scale or 0)
            if abs(number) >= Decimal(10) ** digits:
                raise ValidationError(_("is too large (at most %(n)d digits before the decimal point)", n=digits))
        if self.scale is not None:
            try:
                exact = number == number.quantize(Decimal(1).scaleb(-self.scale))
            except InvalidOperation:  # more digits than the decimal context holds
                raise ValidationError(_("is too large"))
            if not exact:
                raise ValidationError(_("has more than %(n)d decimals", n=self.scale))

    def _deserialize(self, value, attr, data, **kwargs) -> Decimal:
        number = self._to_decimal(value)
        self._check_fits(number)
        return number

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return str(value if isinstance(value, Decimal) else Decimal(str(value)))


class Money(ExactDecimal):
    """Rupiah: a string ("1500000.00") or an integer; never a float, never negative.
    The reasons are app.services.validation.check_money's, so screens and API agree."""

    def __init__(self, **kwargs):
        metadata = {"description": "amount in Rupiah, exact: a string such as \"1500000.00\" or an integer "
                                   "(a floating-point number is refused)",
                    "example": "1500000.00", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"}
        super().__init__(precision=MONEY.precision, scale=MONEY.scale, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> Decimal:
        if isinstance(value, float):
            raise ValidationError(check_money(value))
        number = self._to_decimal(value)
        if abs(number) >= Decimal(10) ** (MONEY.precision - MONEY.scale):
            raise ValidationError(_("is too large (at most %(n)d digits before the decimal point)",
                                    n=MONEY.precision - MONEY.scale))
        reason = check_money(number)
        if reason:
            raise ValidationError(reason)
        return number


class WholeNumber(fields.Integer):
    """An Integer column that refuses 1.5 (marshmallow would silently make it 1)."""

    def _validated(self, value):
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError(_("must be a whole number"))
        if isinstance(value, Decimal) and value != value.to_integral_value():
            raise ValidationError(_("must be a whole number"))
        if isinstance(value, str) and not re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
            raise ValidationError(_("must be a whole number"))
        return super()._validated(value)


# --- relations ------------------------------------------------------------------------------

def _pk_column(model):
    return model.__mapper__.primary_key[0]


class ScopedRelated(Related):
    """A many-to-one relation given by the related row's id. The row must exist and lie in
    the user's read scope (app/security/scope.py); otherwise 422 on this field."""

    def _deserialize(self, value, *args, **kwargs):
        model = self.related_model
        if isinstance(value, dict):
            value = value.get(_pk_column(model).key)
        if isinstance(value, bool) or not isinstance(value, (int, str)) \
                or not re.fullmatch(r"\s*[0-9]{1,18}\s*", str(value)):
            raise ValidationError(_("must be the id of a %(model)s", model=model.__name__))
        pk = int(value)
        query = select(model).where(_pk_column(model) == pk)
        pred = scope_mod.predicate(model)
        if pred is not None:
            query = query.where(pred)
        with self.session.no_autoflush:
            row = self.session.execute(query).scalar_one_or_none()
        if row is None:
            raise ValidationError(_("%(model)s %(id)s does not exist or lies outside your area",
                                    model=model.__name__, id=pk))
        return row


# --- the converter --------------------------------------------------------------------------

class SinergiSchemaConverter(Model2SchemaConverter):
    """FAB's converter plus GeoJSON geometry, exact decimals, whole numbers and scoped
    relations (see the module docstring). Set as ``model2schemaconverter`` on the API."""

    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        name = column.name
        if datamodel.is_relation(name):
            if nested and column.children:
                return super()._column2field(datamodel, column, nested, parent_schema_name)
            return self._relation_field(datamodel, name)
        sqla_column = datamodel.list_columns.get(name)
        if sqla_column is None or datamodel.is_enum(name):
            return super()._column2field(datamodel, column, nested, parent_schema_name)
        kind = sqla_column.type
        kwargs: dict[str, Any] = {
            "allow_none": bool(sqla_column.nullable),
            "required": not sqla_column.nullable and sqla_column.default is None
            and sqla_column.server_default is None and not sqla_column.primary_key,
        }
        if isinstance(kind, Geometry):
            field = GeoJSON(kind.geometry_type, kind.srid, **kwargs)
        elif isinstance(kind, Numeric) and getattr(kind, "asdecimal", True):
            if (kind.precision, kind.scale) == (MONEY.precision, MONEY.scale):
                field = Money(**kwargs)
            else:
                field = ExactDecimal(kind.precision, kind.scale, **kwargs)
        elif isinstance(kind, Integer):
            base = super()._column2field(datamodel, column, nested, parent_schema_name)
            field = WholeNumber(required=base.required, allow_none=base.allow_none, validate=base.validators,
                                metadata=base.metadata, dump_only=base.dump_only)
        else:
            return super()._column2field(datamodel, column, nested, parent_schema_name)
        if sqla_column.primary_key:
            field.dump_only = True
        field.unique = datamodel.is_unique(name)
        if name in self.validators_columns:
            field.validators.append(self.validators_columns[name])
        return field

    @staticmethod
    def _relation_field(datamodel, name):
        if datamodel.is_relation_many_to_one(name):
            required = not datamodel.is_nullable(name)
            field = ScopedRelated(required=required, allow_none=not required)
        else:  # to-many: a list of ids
            field = RelatedList(ScopedRelated(), required=datamodel.get_info(name).get("required", False))
        field.unique = False
        return field


def scoped_rel_fields(*names: str) -> dict[str, list]:
    """``add_query_rel_fields`` / ``edit_query_rel_fields`` that limit the choices FAB lists
    in ``/_info`` for these relations to the user's read scope (FAB lists every row)."""
    return {name: scope_mod.SCOPE_FILTERS for name in names}


# --- database refusals ----------------------------------------------------------------------

def _constraint_columns(name: Optional[str]) -> list[str]:
    """Column names of a named constraint of ours (naming convention), best effort."""
    from flask_appbuilder import Model
    from sqlalchemy import CheckConstraint

    if not name:
        return []
    for table in Model.metadata.tables.values():
        for constraint in table.constraints:
            if constraint.name != name:
                continue
            if isinstance(constraint, CheckConstraint):
                words = set(re.findall(r"[a-z_]+", str(constraint.sqltext)))
                return [c.name for c in table.columns if c.name in words]
            return [c.name for c in constraint.columns]
    return []


def database_error_messages(exc) -> dict[str, list[str]]:
    """{field: [reason]} for a constraint the database refused (unique, check, foreign key,
    not null), so the API answers 422 naming the field instead of 500 or the raw SQL."""
    orig = getattr(exc, "orig", None)
    diag = getattr(orig, "diag", None)
    state = getattr(orig, "sqlstate", None) or ""
    name = getattr(diag, "constraint_name", None)
    columns = _constraint_columns(name)
    if state == "23505":
        reason = _("is already used by another row")
    elif state == "23503":
        reason = _("refers to a row that does not exist")
    elif state == "23502":
        reason = _("is required")
        columns = [getattr(diag, "column_name", None) or "_schema"]
    elif state == "23514":
        reason = _("breaks the rule %(rule)s", rule=name or "?")
    else:
        reason = _("was refused by the database")
    fields_ = [c[:-3] if c.endswith("_id") else c for c in columns] or ["_schema"]
    return {field: [reason] for field in fields_}
