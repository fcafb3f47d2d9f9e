"""What each list screen exports, and how its current filtered, scoped rows are read.

One definition per list (``LISTS``), used by the screens' export buttons
(app/views/list_export.py) and by the REST API (app/api/base.py), so a list exports the same
columns whichever way it is asked. Writing the file (CSV / XLSX, defused cells, NIK as
text, typed cells, sheets, the export log) is app/exports.py.

The rows are the ones the list shows: FAB's filters (the user's search, the scope filter of
app/security/scope.py in ``base_filters``) and order are applied by FAB's own ``apply_all``;
only the selected columns are swapped for plain SQL columns (relations through aliased
outer joins), so a million households stream from a server-side cursor without building an
ORM object per row.

The household, member and enrolment lists export in the BDT file format of the importer
(app/services/household_import/): their headers are that format's column names, written
as Indonesian words ("No KK", "NIK Kepala", ...) that the importer reads back whatever the
user's language, and their values are the importer's codes (L/P, 'anak', 'disalurkan').
A file exported from Sinergi can be imported again unchanged (tests/integration/test_list_exports.py).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Union

from flask_babel import lazy_gettext as _
from sqlalchemy import Numeric, cast, func
from sqlalchemy.orm import aliased

from app import exports
from app.labels import LABELS
from app.models.areas import District, Regency, Village
from app.models.households import Enrolment, Household, HouseholdMember
from app.models.programs import Program
from app.models.tkpk import Agency, TkpkInstitution, TkpkMember
from app.models.zones import PovertyIndicator, PriorityZone
from app.security.scope import Scope, current_scope
from app.services.complaints import WIB

# A column is an attribute path from the listed model ("village.district.name"), or a
# function of an accessor (``lambda at: func.ST_Y(at("location"))``) for computed values.
Path = Union[str, Callable[[Callable[[str], Any]], Any]]


@dataclass(frozen=True)
class Field:
    path: Path
    header: Any  # a lazy string, or a fixed file-format name
    kind: str = "text"  # an app.exports column kind
    personal: bool = False  # NIK / No KK: masked for users without the right to see them
    coordinate: bool = False  # a household's position: rounded for those users


@dataclass(frozen=True)
class ListExport:
    name: str  # file name base and the export log's 'what'
    fields: tuple[Field, ...]


def _lat(at):
    return func.ST_Y(at("location"))


def _lon(at):
    return func.ST_X(at("location"))


# The BDT file format: the import's column names as words (the importer lowercases a
# header and turns spaces into '_': "No KK" -> no_kk). Fixed, not translated: they are a
# file format that must read back in any language. Columns after the format's own ones
# (desa, kecamatan, ...) are for people; the importer ignores them.
HOUSEHOLDS = ListExport("rumah_tangga", (
    Field("no_kk", "No KK", "id_number", personal=True),
    Field("head_nik", "NIK Kepala", "id_number", personal=True),
    Field("head_name", "Nama Kepala"),
    Field("address", "Alamat"),
    Field("rt", "RT"),
    Field("rw", "RW"),
    Field("village.code", "Kode Desa"),
    Field("desil", "Desil", "int"),
    Field("member_count", "Jumlah Anggota", "int"),
    Field(_lat, "Lintang", "number", coordinate=True),
    Field(_lon, "Bujur", "number", coordinate=True),
    Field("source", "Sumber"),
    Field("village.name", "Nama Desa"),
    Field("village.district.name", "Kecamatan"),
    Field("village.district.regency.name", "Kabupaten Kota"),
    Field("location_status", "Status Lokasi"),
    Field("located_village.code", "Kode Desa Titik"),
))

MEMBERS = ListExport("anggota_rumah_tangga", (
    Field("household.no_kk", "No KK", "id_number", personal=True),
    Field("nik", "NIK", "id_number", personal=True),
    Field("name", "Nama"),
    Field("sex", "Jenis Kelamin"),
    Field("birth_date", "Tanggal Lahir", "date"),
    Field("relationship_to_head", "Hubungan"),
    Field("household.head_name", "Nama Kepala"),
    Field("household.village.code", "Kode Desa"),
    Field("household.village.name", "Nama Desa"),
))

ENROLMENTS = ListExport("kepesertaan_program", (
    Field("household.no_kk", "No KK", "id_number", personal=True),
    Field("program.code", "Kode Program"),
    Field("year", "Tahun", "year"),
    Field("status", "Status"),
    Field("benefit_value", "Nilai", "money"),
    Field("program.name", "Nama Program"),
    Field("date", "Tanggal", "date"),
    Field("household.head_name", "Nama Kepala"),
    Field("household.desil", "Desil", "int"),
    Field("household.village.code", "Kode Desa"),
    Field("household.village.name", "Nama Desa"),
))

PROGRAMS = ListExport("program", (
    Field("code", LABELS["code"]), Field("name", LABELS["name"]), Field("cluster", LABELS["cluster"], "int"),
    Field("synergy_type", LABELS["synergy_type"]), Field("agency.name", LABELS["agency"]),
    Field("level", LABELS["level"]), Field("fiscal_year", LABELS["fiscal_year"], "year"),
    Field("budget", LABELS["budget"], "money"), Field("realised_budget", LABELS["realised_budget"], "money"),
    Field("target_households", LABELS["target_households"], "int"),
    Field("target_desil_min", LABELS["target_desil_min"], "int"), Field("target_desil", LABELS["target_desil"], "int"),
    Field(lambda at: func.coalesce(at("target_source"), "BDT 2015"), LABELS["target_source"]),
    Field("status", LABELS["status"]),
))

AGENCIES = ListExport("opd", (
    Field("name", LABELS["name"]), Field("sector", LABELS["sector"]), Field("level", LABELS["level"]),
    Field("regency.code", _("Regency code")), Field("regency.name", LABELS["regency"]),
))

INSTITUTIONS = ListExport("kelembagaan_tkpk", (
    Field("level", LABELS["level"]), Field("regency.code", _("Regency code")),
    Field("regency.name", LABELS["regency"]), Field("decree_number", LABELS["decree_number"]),
    Field("decree_date", LABELS["decree_date"], "date"), Field("chair", LABELS["chair"]),
    Field("secretariat_address", LABELS["secretariat_address"]),
    Field("facilities_available", LABELS["facilities_available"]),
    Field("facilities_lacking", LABELS["facilities_lacking"]),
))

TKPK_MEMBERS = ListExport("anggota_tkpk", (
    Field("institution.level", _("TKPK level")), Field("institution.regency.name", LABELS["regency"]),
    Field("name", LABELS["name"]), Field("position", LABELS["position"]), Field("agency.name", LABELS["agency"]),
))

ZONES = ListExport("zona_prioritas", (
    Field("name", LABELS["name"]), Field("year", LABELS["year"], "year"),
    Field("priority_level", LABELS["priority_level"], "int"), Field("basis", LABELS["basis"]),
    Field("regency.code", _("Regency code")), Field("regency.name", LABELS["regency"]),
    Field(lambda at: func.round(cast(func.ST_Area(func.geography(at("geom"))) / 1e6, Numeric), 3), _("Area (km²)"),
          "number"),
    Field("description", LABELS["description"]),
))

INDICATORS = ListExport("indikator_kemiskinan", (
    Field(lambda at: func.coalesce(at("regency.name"), at("province.name")), LABELS["area_name"]),
    Field("regency.code", _("Regency code")),
    Field("year", LABELS["year"], "year"), Field("period", LABELS["period"]),
    Field("poverty_rate", LABELS["poverty_rate"], "decimal"), Field("poor_people", LABELS["poor_people"], "int"),
    Field("target_rate", LABELS["target_rate"], "decimal"), Field("source", LABELS["source"]),
))

VILLAGES = ListExport("desa", (
    Field("code", LABELS["code"]), Field("name", LABELS["name"]), Field("kind", LABELS["kind"]),
    Field("district.code", _("District code")), Field("district.name", LABELS["district"]),
    Field("district.regency.code", _("Regency code")), Field("district.regency.name", LABELS["regency"]),
    Field("area_km2", _("Area (km²)"), "decimal"),
))

DISTRICTS = ListExport("kecamatan", (
    Field("code", LABELS["code"]), Field("name", LABELS["name"]),
    Field("regency.code", _("Regency code")), Field("regency.name", LABELS["regency"]),
    Field("area_km2", _("Area (km²)"), "decimal"),
))

REGENCIES = ListExport("kabupaten_kota", (
    Field("code", LABELS["code"]), Field("name", LABELS["name"]), Field("kind", LABELS["kind"]),
    Field("area_km2", _("Area (km²)"), "decimal"),
))

LISTS: dict[type, ListExport] = {
    Household: HOUSEHOLDS, HouseholdMember: MEMBERS, Enrolment: ENROLMENTS, Program: PROGRAMS, Agency: AGENCIES,
    TkpkInstitution: INSTITUTIONS, TkpkMember: TKPK_MEMBERS, PriorityZone: ZONES, PovertyIndicator: INDICATORS,
    Village: VILLAGES, District: DISTRICTS, Regency: REGENCIES,
}


# --- reading the rows ------------------------------------------------------------------------------

class _Columns:
    """Attribute paths of one model -> SQL columns, joining each relation once (an aliased
    outer join per path prefix, so FAB's own joins for ordering never collide with ours)."""

    def __init__(self, model):
        self.entities: dict[str, Any] = {"": model}
        self.joins: list = []

    def entity(self, prefix: str):
        if prefix not in self.entities:
            parent_prefix, _, relation = prefix.rpartition(".")
            attribute = getattr(self.entity(parent_prefix), relation)
            alias = aliased(attribute.property.mapper.class_)
            self.joins.append(attribute.of_type(alias))
            self.entities[prefix] = alias
        return self.entities[prefix]

    def __call__(self, path: str):
        prefix, _, name = path.rpartition(".")
        return getattr(self.entity(prefix), name)


def statement(query, model, spec: ListExport):
    """The SELECT of the export's columns for the rows of ``query`` (an ORM query of
    ``model`` with FAB's filters and order applied)."""
    columns = _Columns(model)
    exprs = [(f.path(columns) if callable(f.path) else columns(f.path)).label(f"c{i}")
             for i, f in enumerate(spec.fields)]
    # the primary key last: the same rows in the same order on every export (FAB's order first)
    query = query.with_entities(*exprs).order_by(*model.__mapper__.primary_key)
    for join in columns.joins:
        query = query.outerjoin(join)
    return query.statement


def _protect(spec: ListExport, scope: Scope) -> Callable[[tuple], tuple]:
    """Masks NIK / No KK and rounds positions for a user without the right to see personal data."""
    if scope.can_unmask:
        return lambda row: row
    from app.security.scope import mask_number, round_coordinate

    personal = {i for i, f in enumerate(spec.fields) if f.personal}
    coordinates = {i for i, f in enumerate(spec.fields) if f.coordinate}

    def protect(row):
        return tuple(mask_number(v, scope) if i in personal
                     else round_coordinate(v, scope) if i in coordinates
                     else v for i, v in enumerate(row))

    return protect


def rows(select, spec: ListExport, scope: Scope) -> Iterator[tuple]:
    """The rows, streamed (``exports.stream_rows``), protected for the scope."""
    return map(_protect(spec, scope), exports.stream_rows(select))


def copy_select(select, spec: ListExport, scope: Scope, sep: str) -> Optional[tuple[str, dict]]:
    """(SQL, parameters) of the SELECT whose cells are the CSV texts of the export — masked and
    rounded as ``_protect`` does, written as exports.csv_cell does — for ``exports.export_csv_copy``;
    None when a column has no SQL twin (the export then streams through Python). Filters, scope,
    order: ``select`` itself, run as the inner query."""
    from app.extensions import db
    from app.security.scope import mask_number_sql, round_coordinate_sql

    cells = []
    for i, (f, column) in enumerate(zip(spec.fields, select.selected_columns)):
        expr = f"s.c{i}"
        if not scope.can_unmask and f.personal:
            expr = mask_number_sql(expr)
        if not scope.can_unmask and f.coordinate:
            expr = round_coordinate_sql(expr)
        cell = exports.csv_cell_sql(expr, column.type, f.kind, decimal_comma=(sep == ";"))
        if cell is None:
            return None
        cells.append(cell)
    compiled = select.compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params(escape_names=True)
    processors = getattr(compiled, "_bind_processors", {}) or {}
    escaped = {v: k for k, v in (getattr(compiled, "escaped_bind_names", None) or {}).items()}
    for name, value in params.items():
        process = processors.get(escaped.get(name, name))
        if callable(process) and value is not None:
            params[name] = process(value)
    # the inner query's ORDER BY holds: a sorted subquery is not flattened, its scan keeps the order
    return f"SELECT {', '.join(cells)} FROM ({compiled}) AS s", params


def export_columns(spec: ListExport) -> list[exports.Column]:
    return [exports.Column(i, f.header, f.kind) for i, f in enumerate(spec.fields)]  # rows are tuples


def download(fmt: str, sep: str, query, model, filters: Optional[dict]):
    """The CSV / XLSX response of the list ``query`` (an ORM query of ``model`` with FAB's
    filters and order) for the current user (file name with the time in WIB), logged as the
    list's name with ``filters``."""
    spec = LISTS[model]
    stamp = dt.datetime.now(WIB).strftime("%Y%m%d-%H%M")
    select, scope = statement(query, model, spec), current_scope()
    log = exports.ExportRecord(spec.name, filters)
    if fmt == "csv":  # formatted by the database and streamed by COPY, when every column has its SQL twin
        copy = copy_select(select, spec, scope, sep)
        if copy is not None:
            return exports.export_csv_copy(*copy, export_columns(spec), f"{spec.name}_{stamp}", sep=sep, log=log)
    return exports.export(fmt, rows(select, spec, scope), export_columns(spec), f"{spec.name}_{stamp}", sep=sep,
                          sheet_name=spec.name, log=log)
