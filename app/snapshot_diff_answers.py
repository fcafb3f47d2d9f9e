"""The snapshot-diff answers for the screen (app/views/snapshot_diff.py) and the REST API
(app/api/snapshot_diff.py): the request's parameters, checked (``parse_params``), the tables'
columns, and their CSV / XLSX downloads. The SQL is app/services/snapshot_diff.py.

Parameters: ``a``, ``b`` (snapshot ids; default the two latest), ``kind`` (a kind of change,
or ``outside_target``), ``program_id`` (with outside_target), and the analysis filters
``year`` (enrolment year; default the latest with enrolments), ``regency_id`` (checked against
the user's area), ``page``, ``page_size`` (app/analysis_answers.py ``parse_filters``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from flask_babel import gettext, lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.engine import Connection

from app import exports
from app.analysis_answers import Filters, _int_arg, download_separator, parse_filters
from app.exports import Column
from app.models.programs import Program
from app.security import scope as scope_mod
from app.security.scope import Scope, current_scope, mask_number
from app.services import snapshot_diff as D

PAGE_SIZE = 50
AREA_COLUMNS = [Column("entered", _("Entered"), "int"), Column("left", _("Left"), "int"),
                Column("desil_up", _("Desil up"), "int"), Column("desil_down", _("Desil down"), "int"),
                Column("moved_in", _("Moved in"), "int"), Column("moved_out", _("Moved out"), "int"),
                Column("members_added", _("Households with members added"), "int"),
                Column("members_removed", _("Households with members removed"), "int")]
REGENCY_COLUMNS = [Column("code", _("Regency code")), Column("name", _("Regency"))] + AREA_COLUMNS
VILLAGE_COLUMNS = [Column("code", _("Village code")), Column("name", _("Village")),
                   Column("district_name", _("District"))] + AREA_COLUMNS
HOUSEHOLD_COLUMNS = [
    Column("no_kk", _("No KK"), "id_number"), Column("head_name", _("Head of household")),
    Column("village_a_code", _("Village code in A")), Column("village_a_name", _("Village in A")),
    Column("village_b_code", _("Village code in B")), Column("village_b_name", _("Village in B")),
    Column("desil_a", _("Desil in A"), "int"), Column("desil_b", _("Desil in B"), "int"),
    Column("desil_change", _("Desil change (B - A)"), "int"),
    Column("members_added", _("Members added"), "int"), Column("members_removed", _("Members removed"), "int"),
    Column("kinds", _("Changes")),
]
OUTSIDE_COLUMNS = [
    Column("no_kk", _("No KK"), "id_number"), Column("head_name", _("Head of household")),
    Column("village_b_code", _("Village code in B")), Column("village_b_name", _("Village in B")),
    Column("desil_b", _("Desil in B"), "int"), Column("program_code", _("Program code")),
    Column("target_desil_min", _("Target desil from"), "int"), Column("target_desil", _("Target desil to"), "int"),
]
PROGRAM_COLUMNS = [
    Column("code", _("Program code")), Column("name", _("Program")),
    Column("target_desil_min", _("Target desil from"), "int"), Column("target_desil", _("Target desil to"), "int"),
    Column("beneficiaries", _("Beneficiaries"), "int"),
    Column("outside", _("Outside the target desil in B"), "int"),
    Column("not_listed", _("Not listed in B"), "int"),
]
TABLES = ("households", "regencies", "villages", "programs")


@dataclass(frozen=True)
class Params:
    pair: Optional[D.Pair]  # None: fewer than two snapshots exist
    filters: Filters
    kind: Optional[str] = None
    program_id: Optional[int] = None

    @property
    def year(self) -> int:
        return self.filters.year

    @property
    def regency_id(self) -> Optional[int]:
        return self.filters.regency_id

    def query_args(self, *extra: str) -> dict:
        args = {"a": self.pair.a.id if self.pair else None, "b": self.pair.b.id if self.pair else None,
                "kind": self.kind, "program_id": self.program_id, **self.filters.query_args("year", "regency_id")}
        if "page" in extra:
            args["page"] = self.filters.page
        return {k: v for k, v in args.items() if v is not None}

    def filename(self, table: str) -> str:
        parts = ["sinergi_perubahan", table]
        if self.pair:
            parts.append(f"{self.pair.a.id}_{self.pair.b.id}")
        for key in ("kind", "regency_id", "program_id"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key.split('_')[0]}{value}")
        return "_".join(parts)


def parse_params(args, conn: Connection, scope: Scope, page_size: int = PAGE_SIZE) -> Params:
    """Checked parameters; DiffError / FilterError (400, or 403 for a regency outside the area)."""
    filters = parse_filters(args, conn, scope, page_size)
    a_id = _int_arg(args, "a", 1, 2 ** 31 - 1)
    b_id = _int_arg(args, "b", 1, 2 ** 31 - 1)
    pair = D.choose_pair(conn, a_id, b_id)
    kind = D.check_kind((args.get("kind") or "").strip() or None)
    program_id = _int_arg(args, "program_id", 1, 2 ** 31 - 1)
    if program_id is not None and conn.execute(select(Program.id).where(
            Program.id == program_id, scope_mod.in_scope(Program, scope))).first() is None:
        raise D.DiffError(gettext("program_id %(id)d: there is no such program in your area.", id=program_id))
    return Params(pair, filters, kind, program_id)


def masker(scope: Scope):
    return lambda value: mask_number(value, scope)


def household_page(conn: Connection, params: Params, scope: Scope) -> tuple[int, list[dict]]:
    """(total, one page of rows) of the household list the parameters ask for."""
    f, offset = params.filters, (params.filters.page - 1) * params.filters.page_size
    mask = masker(scope)
    if params.kind == D.OUTSIDE_TARGET:
        total = D.outside_target_count(conn, params.pair, scope, params.year, params.regency_id, params.program_id)
        rows = conn.execute(D.outside_target_rows(params.pair, scope, params.year, params.regency_id,
                                                  params.program_id, f.page_size, offset)).mappings()
        return total, [{**r, "no_kk": mask(r["no_kk"])} for r in rows]
    total, rows = D.household_page(conn, params.pair, scope, params.kind, params.regency_id, params.year,
                                   f.page_size, offset)
    return total, [D.with_kinds(r, mask) for r in rows]


def area_table(conn: Connection, params: Params, scope: Scope) -> tuple[str, list[dict]]:
    """("regencies" | "villages", rows): per regency for a province-wide view without a regency
    chosen, else per village."""
    if scope.kind in ("all", "agency") and params.regency_id is None:
        return "regencies", D.counts_by_regency(conn, params.pair, scope, None, params.year)
    return "villages", D.counts_by_village(conn, params.pair, scope, params.regency_id, params.year)


def columns(table: str, kind: Optional[str] = None) -> list[Column]:
    if table == "households":
        return OUTSIDE_COLUMNS if kind == D.OUTSIDE_TARGET else HOUSEHOLD_COLUMNS
    return {"regencies": REGENCY_COLUMNS, "villages": VILLAGE_COLUMNS, "programs": PROGRAM_COLUMNS}[table]


def export_table(table: str, fmt: str, params: Params, sep_arg: Optional[str] = None):
    """A CSV / XLSX download of one table for the current user. The household list streams
    from a connection of its own (every changed household, constant memory)."""
    sep = download_separator(fmt, sep_arg)
    scope = current_scope()
    from app.query_guard import guarded_connection

    conn = guarded_connection()
    if table == "households":
        mask = masker(scope)
        if params.kind == D.OUTSIDE_TARGET:
            statement = D.outside_target_rows(params.pair, scope, params.year, params.regency_id, params.program_id)
            rows = ({**r._mapping, "no_kk": mask(r.no_kk)} for r in exports.stream_rows(statement))
        else:
            statement = D.household_rows(params.pair, scope, params.kind, params.regency_id, params.year)
            rows = (D.with_kinds(r._mapping, mask) for r in exports.stream_rows(statement))
    elif table == "regencies":
        rows = D.counts_by_regency(conn, params.pair, scope, params.regency_id, params.year)
    elif table == "villages":
        rows = D.counts_by_village(conn, params.pair, scope, params.regency_id, params.year)
    else:
        rows = D.programs_outside_target(conn, params.pair, scope, params.year, params.regency_id)
    record = exports.ExportRecord(f"snapshot-diff:{table}", params.query_args())
    return exports.export(fmt, rows, columns(table, params.kind), params.filename(table), sep=sep,
                          sheet_name=table, log=record)


def pair_json(pair: D.Pair) -> dict:
    def one(s):
        return {"id": s.id, "label": s.label, "source": s.source, "period": s.period,
                "period_start": s.period_start.isoformat(), "desil_max": s.desil_max}

    return {"a": one(pair.a), "b": one(pair.b), "sources_differ": pair.sources_differ}
