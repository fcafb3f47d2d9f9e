"""Analysis screens: program overlap, gaps, priority-zone membership and the location check.

Every figure comes from gis/queries.py, asked with ``current_scope()``; this module only
parses the request, names the answers and their columns, and renders or exports them.
The same answers serve three surfaces, so they cannot drift apart:

- the screens here (``AnalysisView``: /analysis/overlap/, /analysis/gaps/, /analysis/zones/;
  ``LocationCheckView``: /locationcheck/list/),
- the JSON API (app/api/analysis.py, /api/v1/analysis/...),
- the CSV / XLSX downloads (app/exports.py), from a button under each table and from the
  API with ``?format=csv|xlsx``.

``ANSWERS`` maps an answer name (``overlap-villages`` ...) to its title, columns and rows.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Optional
from urllib.parse import urlencode

from flask import abort, flash, g, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext, lazy_gettext as _, ngettext
from sqlalchemy import or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import joinedload

from app import exports
from app.errors import BadInput
from app.exports import Column
from app.extensions import db
from app.query_guard import guarded_connection
from app.models.areas import District, Regency, Village
from app.models.households import Household
from app.models.programs import Program
from app.security import scope as scope_mod
from app.security.scope import Scope, current_scope, mask_number
from app.services import audit
from app.views.cell_format import format_value
from app.views.household_filters import household_list_url
from gis import queries

LOCATION_STATUS_LABELS = {
    "cocok": _("Matches (cocok)"),
    "beda_desa": _("In another village (beda desa)"),
    "di_luar_wilayah": _("Outside every village (di luar wilayah)"),
    "tanpa_titik": _("No point (tanpa titik)"),
}
HTML_PAGE_SIZE = 100  # village tables on the screens; downloads hold every row
LOCATION_PAGE_SIZE = 50
SCREEN_MIN_SHARE_PCT = 1.0  # zone membership screen: villages with more than 1 % inside
MAX_PAGE_SIZE = 1000


# --- filters ---------------------------------------------------------------------------------------

class FilterError(ValueError):
    """A query argument that cannot be used; ``status`` 400 (malformed) or 403 (outside scope)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class Filters:
    year: int
    k: int = 1
    regency_id: Optional[int] = None
    zone_id: Optional[int] = None
    min_share: float = 0.0
    village_id: Optional[int] = None
    status: Optional[str] = None  # location check: one status, or None for both mismatch statuses
    page: int = 1
    page_size: int = HTML_PAGE_SIZE

    def query_args(self, *names: str) -> dict:
        """The given filters as URL arguments (None left out)."""
        values = {"year": self.year, "k": self.k, "regency_id": self.regency_id, "zone_id": self.zone_id,
                  "min_share": self.min_share or None, "village_id": self.village_id, "status": self.status,
                  "page": self.page, "page_size": self.page_size}
        return {n: values[n] for n in names if values.get(n) is not None}


def _int_arg(args, name: str, low: int, high: int, default=None) -> Optional[int]:
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise FilterError(gettext("%(name)s must be a whole number from %(low)d to %(high)d, not \"%(value)s\"",
                                  name=name, low=low, high=high, value=raw[:40]))
    return value


def _float_arg(args, name: str, low: float, high: float, default: float) -> float:
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip().replace(",", "."))
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise FilterError(gettext("%(name)s must be a number from %(low)s to %(high)s, not \"%(value)s\"",
                                  name=name, low=low, high=high, value=raw[:40]))
    return value


def parse_filters(args, conn: Connection, scope: Scope, page_size: int = HTML_PAGE_SIZE) -> Filters:
    """Filters from request arguments, checked: year 2000-2100 (default: the latest year with
    enrolments), k 1-4 (desil <= k, default 1), regency_id an existing regency the user may
    ask for, zone_id, min_share 0-1, village_id, status, page, page_size (1-1000).
    Raises FilterError with a message naming the argument."""
    year = _int_arg(args, "year", 2000, 2100)
    if year is None:
        year = queries.default_year(conn, scope)
    k = _int_arg(args, "k", 1, 4, 1)
    regency_id = _int_arg(args, "regency_id", 1, 2 ** 31 - 1)
    if regency_id is not None:
        if conn.execute(select(Regency.id).where(Regency.id == regency_id)).first() is None:
            raise FilterError(gettext("regency_id %(id)d: there is no such regency", id=regency_id))
        allowed = scope_mod.choosable_areas(Regency, scope, write=False)
        if allowed is not None and conn.execute(select(Regency.id).where(Regency.id == regency_id, allowed)).first() \
                is None:
            raise FilterError(gettext("regency_id %(id)d lies outside your area", id=regency_id), 403)
    status = (args.get("status") or "").strip() or None
    if status is not None and status not in queries.MISMATCH_STATUSES:
        raise FilterError(gettext("status must be one of %(values)s, not \"%(value)s\"",
                                  values=", ".join(queries.MISMATCH_STATUSES), value=status[:40]))
    return Filters(
        year=year, k=k, regency_id=regency_id,
        zone_id=_int_arg(args, "zone_id", 1, 2 ** 31 - 1),
        min_share=_float_arg(args, "min_share", 0.0, 1.0, 0.0),
        village_id=_int_arg(args, "village_id", 1, 2 ** 31 - 1),
        status=status,
        page=_int_arg(args, "page", 1, 10 ** 7, 1),
        page_size=_int_arg(args, "page_size", 1, MAX_PAGE_SIZE, page_size),
    )


# --- the answers ----------------------------------------------------------------------------------

def households_url(village_id: int) -> str:
    """The household list filtered by one (declared) village."""
    return url_for("HouseholdView.list") + "?" + urlencode({"_flt_0_village": village_id})


def _district_names(conn: Connection, village_ids: Iterable[int]) -> dict[int, str]:
    ids = list(set(village_ids))
    if not ids:
        return {}
    rows = conn.execute(select(Village.id, District.name).join(District, District.id == Village.district_id)
                        .where(Village.id.in_(ids)))
    return dict(rows.all())


def _with_district(conn: Connection, rows) -> list[dict]:
    names = _district_names(conn, (r["village_id"] for r in rows))
    return [{**r, "district_name": names.get(r["village_id"], "")} for r in rows]


def _regencies(conn, scope, filters):
    return queries.regency_overlap(conn, filters.year, scope, filters.regency_id)


def _overlap_villages(conn, scope, filters):
    return _with_district(conn, queries.village_overlap(conn, filters.year, scope, filters.regency_id))


def _gap_villages(conn, scope, filters):
    return _with_district(conn, queries.gaps_by_village(conn, filters.year, scope, filters.k, filters.regency_id))


def _gap_zones(conn, scope, filters):
    return queries.gaps_by_zone(conn, filters.year, scope, filters.k, filters.regency_id)


def _measures(conn, scope, filters):
    return _with_district(conn, queries.village_measures(conn, filters.year, scope, filters.k, filters.regency_id))


def _zone_villages(conn, scope, filters):
    rows = queries.zone_villages_in_scope(conn, scope, filters.zone_id, filters.min_share, filters.regency_id)
    return [{**r, "share_pct": round(100.0 * (r["share"] or 0), 1)} for r in rows]


def _zones(conn, scope, filters):
    """Scoped zones with their households and villages (share > min_share, in the regency filter)."""
    villages = queries.zone_villages_in_scope(conn, scope, filters.zone_id, filters.min_share, filters.regency_id)
    counts: dict[int, int] = {}
    for r in villages:
        counts[r["zone_id"]] = counts.get(r["zone_id"], 0) + 1
    return [{**z, "villages": counts.get(z["zone_id"], 0),
             "regency_label": z["regency_name"] or str(_("Province-wide"))}
            for z in queries.zone_summary(conn, scope, filters.zone_id)]


def _masked_rows(rows, scope: Scope):
    for row in rows:
        yield {**row, "no_kk": mask_number(row["no_kk"], scope)}


def _households(conn, scope, filters):
    return _masked_rows(queries.iter_household_programs(conn, filters.year, scope, filters.regency_id), scope)


def _mismatch_statuses(filters) -> tuple[str, ...]:
    return (filters.status,) if filters.status else queries.MISMATCH_STATUSES


def _location_rows(conn, scope, filters):
    labels = {key: str(label) for key, label in LOCATION_STATUS_LABELS.items()}  # translated now
    for row in _masked_rows(queries.iter_location_mismatches(conn, scope, _mismatch_statuses(filters),
                                                             filters.regency_id), scope):
        yield {**row, "status_label": labels.get(row["location_status"], row["location_status"])}


def matrix(conn: Connection, scope: Scope, filters: Filters) -> tuple[list[dict], dict]:
    """(programs, cells): the programs of the program × program matrix in code order (id,
    code, name, households = the diagonal) and cells[(a, b)] = households receiving both,
    filled both ways. Computed once per request (the download asks for columns and rows)."""
    key = (scope, filters.year, filters.regency_id)
    cached = g.get("sinergi_matrix")
    if cached and cached[0] == key:
        return cached[1]
    rows = queries.program_matrix(conn, filters.year, scope, filters.regency_id)
    cells = {}
    ids = set()
    for r in rows:
        cells[(r["program_a"], r["program_b"])] = cells[(r["program_b"], r["program_a"])] = r["households"]
        ids.update((r["program_a"], r["program_b"]))
    names = dict(conn.execute(select(Program.id, Program.name).where(Program.id.in_(ids))).all()) if ids else {}
    codes = {}
    for r in rows:
        codes[r["program_a"]], codes[r["program_b"]] = r["code_a"], r["code_b"]
    programs = sorted(({"id": pid, "code": codes[pid], "name": names.get(pid, ""),
                        "households": cells.get((pid, pid), 0)} for pid in ids), key=lambda p: p["code"])
    g.sinergi_matrix = (key, (programs, cells))
    return programs, cells


def _matrix_rows(conn, scope, filters):
    programs, cells = matrix(conn, scope, filters)
    return [{"code": p["code"], "name": p["name"], **{f"p{q['id']}": cells.get((p["id"], q["id"]), 0)
                                                      for q in programs}} for p in programs]


def _matrix_columns(conn, scope, filters):
    programs, _cells = matrix(conn, scope, filters)
    return [Column("code", _("Program code")), Column("name", _("Program"))] + \
        [Column(f"p{p['id']}", p["code"], "int") for p in programs]


VILLAGE = [Column("code", _("Village code")), Column("name", _("Village")), Column("district_name", _("District"))]


@dataclass(frozen=True)
class Answer:
    name: str
    title: Any
    columns: Any  # list[Column], or a function (conn, scope, filters) -> list[Column]
    rows: Callable[[Connection, Scope, Filters], Iterable[Mapping]]
    filters: tuple[str, ...]  # the filters that shape it (file names, links)
    links: dict = field(default_factory=dict)  # column key -> function(row, filters) -> URL, on screens
    streamed: bool = False  # one row per household: streamed from its own connection, never held

    def columns_for(self, conn, scope, filters) -> list[Column]:
        return self.columns(conn, scope, filters) if callable(self.columns) else self.columns

    def filename(self, filters: Filters) -> str:
        parts = ["sinergi", self.name.replace("-", "_")]
        args = filters.query_args(*self.filters)
        for key in ("year", "k", "regency_id", "zone_id", "status"):
            if key in args:
                parts.append(f"{'' if key == 'year' else key.split('_')[0]}{args[key]}")
        return "_".join(parts)


# Links of the tables' cells: column key -> function(row, filters) -> URL. A household count
# opens the household list filtered to exactly the households it counts
# (app/views/household_filters.py; tests/integration/test_targeting_filters.py compares them).
_village_link = {"name": lambda r, f: households_url(r["village_id"])}


def _count_link(**criteria):
    """A link to the village's households with ``criteria`` and the page's year."""
    return lambda r, f: household_list_url(village_id=r["village_id"], year=f.year, **criteria)


_overlap_links = {**_village_link, "households": lambda r, f: household_list_url(village_id=r["village_id"]),
                  "programs_0": _count_link(programs=0), "programs_1": _count_link(programs=1),
                  "programs_2": _count_link(programs=2), "programs_3plus": _count_link(programs=3)}


def _gap_link(r, f):
    """The gap definition of gis.queries.gaps_by_village: desil <= k, inside a priority zone of
    the year, no counted program in the year."""
    return household_list_url(village_id=r["village_id"], year=f.year, desil_to=f.k, programs=0, in_zone=True)


_gap_links = {**_village_link, "gap_households": _gap_link}
_measure_links = {**_village_link, "households": lambda r, f: household_list_url(village_id=r["village_id"]),
                  "desil1": lambda r, f: household_list_url(village_id=r["village_id"], desil_to=1),
                  "gaps": _gap_link}
ANSWERS: dict[str, Answer] = {a.name: a for a in [
    Answer("overlap-regencies", _("Program overlap per regency"),
           [Column("code", _("Regency code")), Column("name", _("Regency")),
            Column("households", _("Households"), "int"), Column("reached", _("Reached (1+ programs)"), "int"),
            Column("multi_program", _("With 2+ programs"), "int"),
            Column("program_enrolments", _("Program enrolments"), "int")],
           _regencies, ("year", "regency_id")),
    Answer("overlap-villages", _("Program overlap per village"),
           VILLAGE + [Column("households", _("Households"), "int"), Column("programs_0", _("0 programs"), "int"),
                      Column("programs_1", _("1 program"), "int"), Column("programs_2", _("2 programs"), "int"),
                      Column("programs_3plus", _("3+ programs"), "int")],
           _overlap_villages, ("year", "regency_id"), _overlap_links),
    Answer("overlap-matrix", _("Program × program: households receiving both"), _matrix_columns, _matrix_rows,
           ("year", "regency_id")),
    Answer("overlap-households", _("Households and their number of programs"),
           [Column("no_kk", _("No KK"), "id_number"), Column("head_name", _("Head of household")),
            Column("village_code", _("Village code")), Column("village_name", _("Village")),
            Column("desil", _("Desil"), "int"), Column("programs", _("Programs"), "int"),
            Column("program_codes", _("Program codes"))],
           _households, ("year", "regency_id"), streamed=True),
    Answer("gaps-villages", _("Gaps per village"),
           VILLAGE + [Column("gap_households", _("Households without any program"), "int")],
           _gap_villages, ("year", "k", "regency_id"), _gap_links),
    Answer("gaps-zones", _("Gaps per priority zone"),
           [Column("zone_name", _("Priority zone")),
            Column("gap_households", _("Households without any program"), "int")],
           _gap_zones, ("year", "k", "regency_id")),
    Answer("zones", _("Priority zones"),
           [Column("zone_name", _("Priority zone")), Column("year", _("Year"), "year"),
            Column("priority_level", _("Priority level"), "int"), Column("regency_label", _("Regency")),
            Column("villages", _("Villages"), "int"), Column("households", _("Households"), "int")],
           _zones, ("zone_id", "min_share", "regency_id")),
    Answer("zone-villages", _("Villages of the priority zones"),
           [Column("zone_name", _("Priority zone"))] + VILLAGE
           + [Column("share_pct", _("Share of the village inside the zone (%)"), "decimal")],
           _zone_villages, ("zone_id", "min_share", "regency_id"), _village_link),
    Answer("measures-villages", _("Measures per village"),
           VILLAGE + [Column("households", _("Households"), "int"), Column("desil1", _("Desil 1 households"), "int"),
                      Column("reached", _("Reached (1+ programs)"), "int"),
                      Column("coverage", _("Coverage (%)"), "decimal"),
                      Column("multi_program", _("With 2+ programs"), "int"),
                      Column("gaps", _("Households without any program in zones"), "int")],
           _measures, ("year", "k", "regency_id"), _measure_links),
    Answer("location-check", _("Households whose point is not in their village"),
           [Column("no_kk", _("No KK"), "id_number"), Column("head_name", _("Head of household")),
            Column("desil", _("Desil"), "int"),
            Column("village_code", _("Declared village code")), Column("village_name", _("Declared village")),
            Column("located_code", _("Located village code")), Column("located_name", _("Located village")),
            Column("status_label", _("Status"))],
           _location_rows, ("regency_id", "status"), streamed=True),
]}


def answer_rows(name: str, conn: Connection, scope: Scope, filters: Filters):
    return ANSWERS[name].rows(conn, scope, filters)


def export_answer(name: str, fmt: str, filters: Filters, sep_arg: Optional[str] = None):
    """A CSV / XLSX download of one answer for the current user (scoped) and filters.
    Raises FilterError for an unknown format or separator."""
    if fmt not in exports.FORMATS:
        raise FilterError(gettext("format must be one of %(values)s, not \"%(value)s\"",
                                  values=", ".join(exports.FORMATS), value=fmt[:20]))
    try:
        sep = exports.separator(sep_arg)
    except ValueError:
        raise FilterError(gettext("sep must be \",\" or \";\", not \"%(value)s\"", value=sep_arg[:20]))
    answer = ANSWERS[name]
    scope = current_scope()
    conn = guarded_connection()
    columns = answer.columns_for(conn, scope, filters)
    if answer.streamed:
        rows = _streamed_rows(answer, scope, filters)
    else:
        rows = list(answer.rows(conn, scope, filters))
    record = exports.ExportRecord(f"analysis:{name}", filters.query_args(*answer.filters))
    return exports.export(fmt, rows, columns, answer.filename(filters), sep=sep, sheet_name=str(answer.title)[:24],
                          log=record)


def _streamed_rows(answer: Answer, scope: Scope, filters: Filters):
    """The rows from a connection of their own, held while the download streams: the request's
    session is closed when the view returns, before a streamed CSV body is sent."""
    with db.engine.connect() as conn:
        yield from answer.rows(conn, scope, filters)


def plain(value):
    """A JSON-ready value (Decimal -> float)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def json_rows(rows) -> list[dict]:
    return [{k: plain(v) for k, v in dict(r).items()} for r in rows]


# --- rendering -------------------------------------------------------------------------------------

@dataclass
class Table:
    """One answer ready for the screen: header, formatted cells with links, a page of rows,
    and the download links with the same filters."""

    answer: Answer
    columns: list[Column]
    rows: list
    filters: Filters
    page_arg: Optional[str] = None  # paginated (and sortable, over all pages) when set
    page: int = 1
    total_row: Optional[dict] = None
    sort: Optional[str] = None  # a column key; rows in the answer's order when None
    descending: bool = False

    def __post_init__(self):
        if self.sort:
            # None last whichever the direction; text compared without case
            def key(row):
                value = row[self.sort]
                return (value is None, value.casefold() if isinstance(value, str) else value)

            present = sorted((r for r in self.rows if r[self.sort] is not None), key=key, reverse=self.descending)
            self.rows = present + [r for r in self.rows if r[self.sort] is None]

    @property
    def name(self) -> str:
        return self.answer.name

    @property
    def title(self):
        return self.answer.title

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.rows) / HTML_PAGE_SIZE)) if self.page_arg else 1

    @property
    def shown(self) -> list:
        if not self.page_arg:
            return self.rows
        start = (min(self.page, self.pages) - 1) * HTML_PAGE_SIZE
        return self.rows[start:start + HTML_PAGE_SIZE]

    def cells(self, row) -> list[tuple[str, Optional[str], bool]]:
        out = []
        for column in self.columns:
            value = column.value(row)
            link = self.answer.links.get(column.key)
            url = link(row, self.filters) if link and value is not None else None
            out.append((format_value(value, column.kind), url,
                        column.kind in exports.NUMERIC_KINDS))
        return out

    def total_cells(self) -> list[tuple[str, Optional[str], bool]]:
        return [(format_value(self.total_row.get(c.key), c.kind) if isinstance(c.key, str) else "", None,
                 c.kind in exports.NUMERIC_KINDS) for c in self.columns]

    def downloads(self) -> list[tuple[str, str]]:
        args = self.filters.query_args(*self.answer.filters)
        return [("CSV", url_for("AnalysisView.download", name=self.name, fmt="csv", **args)),
                (gettext("CSV (;)"), url_for("AnalysisView.download", name=self.name, fmt="csv", sep=";", **args)),
                ("XLSX", url_for("AnalysisView.download", name=self.name, fmt="xlsx", **args))]

    def page_url(self, page: int) -> str:
        args = request.args.to_dict()
        args[self.page_arg] = page
        return request.path + "?" + urlencode(args)

    def sortable(self, column) -> bool:
        return bool(self.page_arg) and isinstance(column.key, str)

    def sort_url(self, column) -> str:
        """The page sorted by ``column`` (descending first for numbers), from page 1; the same
        column again turns the order round."""
        args = request.args.to_dict()
        args.pop(self.page_arg, None)
        first = "desc" if column.kind in exports.NUMERIC_KINDS else "asc"
        args["sort"] = column.key
        args["dir"] = ("asc" if self.descending else "desc") if self.sort == column.key else first
        return request.path + "?" + urlencode(args)

    def map_url(self, row) -> Optional[str]:
        """The village map zoomed to the row's village, coloured by the sorted column when the
        map has that measure, else by the table's own (``MAP_MEASURES``)."""
        measure = MAP_MEASURES.get(self.name)
        if measure is None or not row.get("code"):
            return None
        if self.sort in queries.MEASURES:
            measure = self.sort
        elif self.sort == "gap_households":
            measure = "gaps"
        args = {"village": row["code"], "measure": measure, "year": self.filters.year}
        if self.name.startswith("gaps"):
            args["k"] = self.filters.k
        return url_for("MapView.villages", **args)


# The village map's measure a village table's rows open the map with.
MAP_MEASURES = {"overlap-villages": "programs_0", "gaps-villages": "gaps", "zone-villages": "desil1"}


def _table(name, conn, scope, filters, page_arg=None, total_keys=()) -> Table:
    answer = ANSWERS[name]
    columns = answer.columns_for(conn, scope, filters)
    rows = [dict(r) if hasattr(r, "keys") else r for r in answer.rows(conn, scope, filters)]
    page, sort, descending = 1, None, False
    if page_arg:
        try:
            page = max(1, int(request.args.get(page_arg, 1)))
        except ValueError:
            page = 1
        sort = request.args.get("sort") or None
        keys = [c.key for c in columns if isinstance(c.key, str)]
        if sort is not None and sort not in keys:
            raise BadInput(gettext("Parameter sort: sort by one of %(keys)s.", keys=", ".join(keys)))
        direction = request.args.get("dir", "asc")
        if direction not in ("asc", "desc"):
            raise BadInput(gettext("Parameter dir: asc or desc."))
        descending = direction == "desc"
    total_row = {k: sum(r[k] or 0 for r in rows) for k in total_keys} if total_keys and rows else None
    if total_row is not None:
        total_row[columns[1].key] = str(_("Total"))
    return Table(answer, columns, rows, filters, page_arg, page, total_row, sort, descending)


def _regency_choices(scope: Scope):
    """Regencies for the filter: only for users whose scope spans several regencies."""
    if scope.kind == "regency":
        return []
    from app.views.households import scoped_regencies

    return scoped_regencies(write=False)


def _year_choices(conn, scope, filters) -> list[int]:
    years = set(queries.analysis_years(conn, scope)) | {filters.year, dt.date.today().year}
    return sorted(years, reverse=True)


class _AnalysisPage(BaseView):
    """Common: parse filters (a bad argument is a flash message and the defaults)."""

    def _filters(self, conn, scope, page_size=HTML_PAGE_SIZE) -> Filters:
        try:
            return parse_filters(request.args, conn, scope, page_size)
        except FilterError as exc:
            if exc.status == 403:
                abort(403)
            flash(exc.message, "danger")
            return parse_filters({}, conn, scope, page_size)

    def _render(self, template, conn, scope, filters, **kwargs):
        return self.render_template(template, filters=filters, scope=scope, fmt=format_value,
                                    years=_year_choices(conn, scope, filters),
                                    regencies=_regency_choices(scope), **kwargs)


class AnalysisView(_AnalysisPage):
    """Overlap, gaps and zone membership pages, and the downloads of their tables."""

    route_base = "/analysis"
    default_view = "overlap"
    method_permission_name = {"overlap": "read", "gaps": "read", "zones": "read", "download": "read"}

    @expose("/overlap/")
    @has_access
    def overlap(self):
        scope, conn = current_scope(), guarded_connection()
        filters = self._filters(conn, scope)
        regencies = _table("overlap-regencies", conn, scope, filters,
                           total_keys=("households", "reached", "multi_program", "program_enrolments"))
        villages = _table("overlap-villages", conn, scope, filters, page_arg="page")
        programs, cells = matrix(conn, scope, filters)
        largest = max([v for (a, b), v in cells.items() if a != b] or [0])
        return self._render("analysis/overlap.html", conn, scope, filters, title=_("Program overlap"),
                            regency_table=regencies, village_table=villages, programs=programs, cells=cells,
                            largest=largest, matrix_answer=ANSWERS["overlap-matrix"],
                            household_answer=ANSWERS["overlap-households"])

    @expose("/gaps/")
    @has_access
    def gaps(self):
        scope, conn = current_scope(), guarded_connection()
        filters = self._filters(conn, scope)
        zones = _table("gaps-zones", conn, scope, filters, total_keys=())
        villages = _table("gaps-villages", conn, scope, filters, page_arg="page")
        return self._render("analysis/gaps.html", conn, scope, filters, title=_("Gaps"), zone_table=zones,
                            village_table=villages)

    @expose("/zones/")
    @has_access
    def zones(self):
        scope, conn = current_scope(), guarded_connection()
        filters = self._filters(conn, scope)
        # The min share is typed as a percentage on the screen (min_share_pct, default 1 %: a
        # village touching a zone along its border is not "in" it) and is a 0-1 fraction in
        # the API and the download links.
        if request.args.get("min_share") in (None, ""):
            try:
                pct = _float_arg(request.args, "min_share_pct", 0, 100, SCREEN_MIN_SHARE_PCT)
            except FilterError as exc:
                flash(exc.message, "danger")
                pct = SCREEN_MIN_SHARE_PCT
            filters = replace(filters, min_share=pct / 100.0)
        zone_table = _table("zones", conn, scope, filters)
        village_table = _table("zone-villages", conn, scope, filters, page_arg="page")
        lookup_text = (request.args.get("village") or "").strip()
        found, village_zones = self._village_lookup(conn, scope, lookup_text, filters.village_id,
                                                    filters.min_share)
        all_zones = queries.zone_summary(conn, scope)
        return self._render("analysis/zones.html", conn, scope, filters, title=_("Zone membership"),
                            zone_table=zone_table, village_table=village_table, all_zones=all_zones,
                            lookup_text=lookup_text, found=found, village_zones=village_zones)

    @staticmethod
    def _village_lookup(conn, scope, text: str, village_id: Optional[int], min_share: float = 0.0):
        """Villages matching a code or a name (up to 10, within the areas the user may pick)
        and, per village, the scoped zones it lies in."""
        if not text and village_id is None:
            return [], {}
        query = (select(Village.id, Village.code, Village.name, District.name.label("district_name"))
                 .join(District, District.id == Village.district_id).order_by(Village.code).limit(10))
        if village_id is not None:
            query = query.where(Village.id == village_id)
        else:
            query = query.where(or_(Village.code.startswith(text), Village.name.ilike(f"%{text}%")))
        allowed = scope_mod.choosable_areas(Village, scope, write=False)
        if allowed is not None:
            query = query.where(allowed)
        found = conn.execute(query).mappings().all()
        zones: dict[int, list] = {v["id"]: [] for v in found}
        for row in queries.zones_of_villages(conn, scope, list(zones)):
            if row["share"] > min_share:
                zones[row["village_id"]].append({**row, "share_pct": round(100.0 * row["share"], 1)})
        return found, zones

    @expose("/download/<name>.<fmt>")
    @has_access
    def download(self, name: str, fmt: str):
        if name not in ANSWERS:
            abort(404)
        scope, conn = current_scope(), guarded_connection()
        try:
            filters = parse_filters(request.args, conn, scope)
            return export_answer(name, fmt, filters, request.args.get("sep"))
        except FilterError as exc:
            return jsonify(message=exc.message), exc.status


# --- location check ---------------------------------------------------------------------------------

class LocationCheckView(_AnalysisPage):
    """Households whose point lies in another village than the declared one, or outside every
    village: a list with a map of the listed points, and the action that accepts the located
    village as the declared one (write scope, audited)."""

    route_base = "/locationcheck"
    default_view = "list"
    method_permission_name = {"list": "read", "geojson": "read", "download": "read"}

    def _page(self, conn, scope, filters):
        return queries.location_mismatch_page(conn, scope, _mismatch_statuses(filters), filters.regency_id,
                                              limit=filters.page_size, offset=(filters.page - 1) * filters.page_size)

    @expose("/list/")
    @has_access
    def list(self):
        scope, conn = current_scope(), guarded_connection()
        filters = self._filters(conn, scope, LOCATION_PAGE_SIZE)
        total, rows = self._page(conn, scope, filters)
        rows = [{**r, "no_kk": mask_number(r["no_kk"], scope),
                 "status_label": LOCATION_STATUS_LABELS.get(r["location_status"], r["location_status"])}
                for r in rows]
        can_accept = self.appbuilder.sm.has_access("can_accept_location", self.class_permission_name)
        pages = max(1, math.ceil(total / filters.page_size))
        filter_args = filters.query_args("regency_id", "status")
        downloads = [("CSV", url_for(".download", fmt="csv", **filter_args)),
                     (gettext("CSV (;)"), url_for(".download", fmt="csv", sep=";", **filter_args)),
                     ("XLSX", url_for(".download", fmt="xlsx", **filter_args))]
        return self.render_template(
            "analysis/location.html", title=_("Location check"), filters=filters, scope=scope, rows=rows,
            total=total, pages=pages, can_accept=can_accept, regencies=_regency_choices(scope),
            statuses=[(s, LOCATION_STATUS_LABELS[s]) for s in queries.MISMATCH_STATUSES],
            geojson_url=url_for(".geojson", **filters.query_args("regency_id", "status", "page", "page_size")),
            downloads=downloads, households_url=households_url,
            page_url=lambda p: url_for(".list", **{**filter_args, "page": p}),
        )

    @expose("/geojson")
    @has_access
    def geojson(self):
        """The listed households (same filters and page as the list) as GeoJSON: their points,
        declared villages and located villages. Scoped; No KK masked as on the list."""
        scope, conn = current_scope(), guarded_connection()
        try:
            filters = parse_filters(request.args, conn, scope, LOCATION_PAGE_SIZE)
        except FilterError as exc:
            return jsonify(message=exc.message), exc.status
        _total, rows = self._page(conn, scope, filters)
        by_id = {r["household_id"]: r for r in rows}
        features = []
        for f in queries.location_mismatch_features(conn, scope, list(by_id)):
            properties = {"role": f["role"], "id": f["id"]}
            if f["role"] == "household":
                r = by_id[f["household_id"]]
                properties.update(no_kk=mask_number(r["no_kk"], scope), head_name=r["head_name"],
                                  status=r["location_status"],
                                  status_label=str(LOCATION_STATUS_LABELS.get(r["location_status"], "")),
                                  declared=f"{r['village_name']} ({r['village_code']})",
                                  located=f"{r['located_name']} ({r['located_code']})" if r["located_code"] else "")
            features.append({"type": "Feature", "geometry": json.loads(f["geojson"]), "properties": properties})
        return jsonify({"type": "FeatureCollection", "features": features})

    @expose("/download/<fmt>")
    @has_access
    def download(self, fmt: str):
        scope, conn = current_scope(), guarded_connection()
        try:
            filters = parse_filters(request.args, conn, scope)
            return export_answer("location-check", fmt, filters, request.args.get("sep"))
        except FilterError as exc:
            return jsonify(message=exc.message), exc.status

    @expose("/accept", methods=["POST"])
    @has_access
    @permission_name("accept_location")
    def accept(self):
        """Accept the located village as the declared village of the selected households.

        Only households in the user's WRITE scope: one outside the read scope answers 404, one
        visible but not writable 403, and nothing is changed. The household must still lie in
        the write scope afterwards (an operator cannot move a household into another regency).
        Each change is audited as accept_location with the villages in the note."""
        back = url_for(".list", **{k: v for k, v in request.form.items() if k in ("regency_id", "status", "page")
                                   and v})
        try:
            ids = sorted({int(v) for v in request.form.getlist("rowid")})
        except ValueError:
            abort(400)
        if not ids:
            flash(gettext("Select at least one household."), "warning")
            return redirect(back)
        scope = current_scope()
        visible = set(db.session.scalars(scope_mod.apply(select(Household.id).where(Household.id.in_(ids)),
                                                         Household, scope)))
        if visible != set(ids):
            abort(404)
        households = db.session.scalars(
            scope_mod.apply(select(Household).where(Household.id.in_(ids)), Household, scope, write=True)
            .options(joinedload(Household.village), joinedload(Household.located_village))
            .order_by(Household.id)).unique().all()
        if len(households) != len(ids):
            abort(403)
        acceptable = [h for h in households if h.location_status == "beda_desa" and h.located_village_id]
        skipped = [h for h in households if h not in acceptable]
        for h in acceptable:
            before, after = h.village, h.located_village
            audit.annotate(db.session, "accept_location",
                           f"located village accepted: {before.code} {before.name} -> {after.code} {after.name}")
            h.village_id = after.id
            h.location_status = "cocok"
            db.session.flush()  # one audit row per household, named by the annotation
        outside = [h for h in acceptable if not scope_mod.is_in_scope(db.session, h, scope, write=True)]
        if outside:
            db.session.rollback()
            flash(gettext("Nothing was changed: the located village of %(name)s (%(kk)s) lies outside your area.",
                          name=outside[0].head_name, kk=mask_number(outside[0].no_kk, scope)), "danger")
            return redirect(back)
        db.session.commit()
        if acceptable:
            flash(ngettext("%(num)d household now has its located village as its village.",
                           "%(num)d households now have their located village as their village.",
                           len(acceptable)), "success")
        if skipped:
            flash(ngettext("%(num)d household was left as it is: it has no located village (no point, or the "
                           "point lies outside every village).",
                           "%(num)d households were left as they are: they have no located village (no point, "
                           "or the point lies outside every village).", len(skipped)), "warning")
        return redirect(back)


def register(appbuilder) -> None:
    """The Analysis menu (overlap, gaps, zone membership, location check) and the analysis API."""
    from app.api.analysis import AnalysisApi

    category = dict(category="Analysis", category_label=_("Analysis"), category_icon="fa-bar-chart")
    appbuilder.add_view(AnalysisView, "Overlap", href="AnalysisView.overlap", label=_("Overlap"), icon="fa-clone",
                        **category)
    appbuilder.add_link("Gaps", href="AnalysisView.gaps", label=_("Gaps"), icon="fa-circle-o", **category)
    appbuilder.add_link("Zone membership", href="AnalysisView.zones", label=_("Zone membership"),
                        icon="fa-object-group", **category)
    appbuilder.add_view(LocationCheckView, "Location check", href="LocationCheckView.list",
                        label=_("Location check"), icon="fa-map-pin", **category)
    appbuilder.add_api(AnalysisApi)
