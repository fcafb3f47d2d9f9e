"""Server-side filtering of OGC API - Features items (Part 3 "Filtering", CQL2 text).

Two ways to filter, both on an allow-list of attribute columns per collection (the feature
properties: ``gis.features.area_attributes`` / ``zone_attributes``), both turned into
SQLAlchemy expressions, never SQL text:

- ``?<property>=<value>``: equality on a property (what GDAL's OAPIF driver sends for
  ``-where "regency='Kabupaten Lampung Timur'"`` when the API definition lists the property).
- ``?filter=<CQL2 text>&filter-lang=cql2-text``: parsed by pygeofilter (a maintained OGC
  parser; lark grammar) and translated by its SQLAlchemy backend with our column mapping.
  Only comparisons, LIKE, BETWEEN, IN, IS NULL, AND/OR/NOT on known attributes are accepted;
  an unknown attribute, a function, a spatial or temporal predicate, a literal of the wrong
  type or bad syntax is a QueryError (400), so no filter reaches PostgreSQL unchecked.

``queryables`` builds the JSON Schema of ``/ogc/collections/{id}/queryables``.
"""
from __future__ import annotations

from typing import Mapping, Optional

from pygeofilter import ast
from pygeofilter.backends.sqlalchemy.evaluate import to_filter
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text
from sqlalchemy import Integer
from sqlalchemy.sql.elements import ColumnElement

from gis.features import QueryError, parse_int

INT_MIN, INT_MAX = -2 ** 31, 2 ** 31 - 1  # PostgreSQL integer: a larger literal would be a 500
MAX_FILTER_LENGTH = 4000
FILTER_LANGS = ("cql2-text",)

TITLES = {
    "id": "Id zona", "code": "Kode Kemendagri", "name": "Nama", "kind": "Jenis",
    "district_code": "Kode kecamatan", "district": "Nama kecamatan",
    "regency_code": "Kode kabupaten/kota (mis. 18.07)", "regency": "Nama kabupaten/kota",
    "year": "Tahun", "priority_level": "Tingkat prioritas", "basis": "Dasar penetapan",
}


def is_integer(column: ColumnElement) -> bool:
    return isinstance(column.type, Integer)


def _no_nul(name: str, value: str) -> str:
    if "\x00" in value:
        raise QueryError(f"{name}: karakter NUL tidak diperbolehkan")
    return value


def property_conditions(args: Mapping[str, str], attributes: dict[str, ColumnElement]) -> list:
    """``column == value`` for every query parameter named after a property."""
    conditions = []
    for name, column in attributes.items():
        value = args.get(name)
        if value is None:
            continue
        _no_nul(name, value)
        if is_integer(column):
            conditions.append(column == parse_int(value, name, None, INT_MIN, INT_MAX))
        else:
            conditions.append(column == value)
    return conditions


def _literal_ok(value, integer: bool) -> bool:
    if integer:
        return isinstance(value, int) and not isinstance(value, bool) and INT_MIN <= value <= INT_MAX
    return isinstance(value, str)


def _check(node, attributes: dict[str, ColumnElement]) -> None:
    """Walk the CQL2 tree: only the predicates we support, on known attributes, with literals
    of the attribute's type (PostgreSQL would reject 'year = ''x''' with an error, not a 400)."""
    if isinstance(node, (ast.And, ast.Or)):
        _check(node.lhs, attributes)
        _check(node.rhs, attributes)
        return
    if isinstance(node, ast.Not):
        _check(node.sub_node, attributes)
        return
    if isinstance(node, (ast.Comparison, ast.Between, ast.Like, ast.In, ast.IsNull)):
        lhs = node.lhs
        if not isinstance(lhs, ast.Attribute):
            raise QueryError("filter: di sisi kiri setiap perbandingan harus ada nama atribut")
        if lhs.name not in attributes:
            raise QueryError(f"filter: atribut {lhs.name!r} tidak dikenal; atribut: {', '.join(attributes)}")
        integer = is_integer(attributes[lhs.name])
        if isinstance(node, ast.Comparison):
            values = [node.rhs]
        elif isinstance(node, ast.Between):
            values = [node.low, node.high]
        elif isinstance(node, ast.In):
            values = list(node.sub_nodes)
        elif isinstance(node, ast.Like):
            if integer:
                raise QueryError(f"filter: LIKE hanya untuk atribut teks, bukan {lhs.name!r}")
            values = [node.pattern]
        else:
            values = []
        for value in values:
            if not _literal_ok(value, integer):
                kind = "bilangan bulat" if integer else "teks dalam tanda kutip"
                raise QueryError(f"filter: {lhs.name!r} dibandingkan dengan {value!r}; diharapkan {kind}")
            if isinstance(value, str):
                _no_nul("filter", value)
        return
    raise QueryError(f"filter: {type(node).__name__} tidak didukung (hanya perbandingan, LIKE, BETWEEN, IN, "
                     "IS NULL, AND/OR/NOT pada atribut)")


def cql2_condition(text: Optional[str], lang: Optional[str], attributes: dict[str, ColumnElement]):
    """The SQLAlchemy condition of a ``filter`` parameter, or None when there is none."""
    if lang not in (None, "") and lang not in FILTER_LANGS:
        raise QueryError(f"filter-lang: hanya {', '.join(FILTER_LANGS)} yang didukung")
    if text is None or text == "":
        return None
    _no_nul("filter", text)
    if len(text) > MAX_FILTER_LENGTH:
        raise QueryError(f"filter: paling panjang {MAX_FILTER_LENGTH} karakter")
    try:
        tree = parse_cql2_text(text)
    except Exception as exc:  # lark's UnexpectedInput & co.: the first line says where
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QueryError(f"filter: sintaks CQL2 tidak valid: {reason}") from None
    _check(tree, attributes)
    return to_filter(tree, attributes, undefined_as_null=False)


def queryables(url: str, title: str, attributes: dict[str, ColumnElement]) -> dict:
    """OGC API - Features Part 3 queryables: a JSON Schema of the filterable properties."""
    props = {name: {"title": TITLES.get(name, name), "type": "integer" if is_integer(col) else "string"}
             for name, col in attributes.items()}
    props["geometry"] = {"$ref": "https://geojson.org/schema/MultiPolygon.json"}
    return {"$schema": "https://json-schema.org/draft/2019-09/schema", "$id": url, "type": "object",
            "title": title, "properties": props, "additionalProperties": False}
