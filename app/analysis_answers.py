"""The analysis answers: the request's filters (``parse_filters``), the named answers with
their columns, rows and cell links (``ANSWERS``), and their CSV / XLSX / JSON forms.

One module that both surfaces use, so they cannot drift apart and neither imports the other:
the screens (app/views/analysis.py) render them, the JSON API (app/api/analysis.py) serves
them. Every figure comes from gis/queries.py, asked with the caller's scope.
"""
from __future__ import annotations

import decimal
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional
from urllib.parse import urlencode

from flask import g, url_for
from flask_babel import gettext, lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.engine import Connection

from app import exports
from app.exports import Column
from app.extensions import db
from app.query_guard import guarded_connection
from app.models.areas import District, Regency, Village
from app.models.programs import Program
from app.models.snapshots import TargetingSnapshot
from app.security import scope as scope_mod
from app.security.scope import Scope, current_scope, mask_number
from app.services import eligibility
from app.views.enrolment_filters import enrolment_list_url
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
    snapshot: Optional[int] = None  # the targeting snapshot read (None: each household's latest)

    def query_args(self, *names: str) -> dict:
        """The given filters as URL arguments (None left out); the snapshot always, when chosen:
        every link and download of the page reads the same data."""
        values = {"year": self.year, "k": self.k, "regency_id": self.regency_id, "zone_id": self.zone_id,
                  "min_share": self.min_share or None, "village_id": self.village_id, "status": self.status,
                  "page": self.page, "page_size": self.page_size}
        args = {n: values[n] for n in names if values.get(n) is not None}
        return {**args, "snapshot": self.snapshot} if self.snapshot is not None else args


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
    enrolments), k 1-10 (desil <= k, default 1), regency_id an existing regency the user may
    ask for, zone_id, min_share 0-1, village_id, status, page, page_size (1-1000), snapshot an
    existing targeting snapshot (its desil, village and point are then read for the rest of the
    request: gis.queries.read_snapshot). Raises FilterError with a message naming the argument."""
    snapshot = _int_arg(args, "snapshot", 1, 2 ** 31 - 1)
    if snapshot is not None:
        if conn.execute(select(TargetingSnapshot.id).where(TargetingSnapshot.id == snapshot)).first() is None:
            raise FilterError(gettext("snapshot %(id)d: there is no such targeting data snapshot", id=snapshot))
        queries.read_snapshot(snapshot)
        queries.live_work_mem(conn)
    year = _int_arg(args, "year", 2000, 2100)
    if year is None:
        year = queries.default_year(conn, scope)
    k = _int_arg(args, "k", 1, 10, 1)
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
        snapshot=snapshot,
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
    # Recipients outside the program's target desil (app/services/eligibility.py), counted live.
    outside = eligibility.outside_target_counts(conn, filters.year, scope, filters.regency_id) if ids else {}
    programs = sorted(({"id": pid, "code": codes[pid], "name": names.get(pid, ""),
                        "households": cells.get((pid, pid), 0), "outside_target": outside.get(pid, 0)}
                       for pid in ids), key=lambda p: p["code"])
    g.sinergi_matrix = (key, (programs, cells))
    return programs, cells


def _matrix_rows(conn, scope, filters):
    programs, cells = matrix(conn, scope, filters)
    return [{"code": p["code"], "name": p["name"], "outside_target": p["outside_target"],
             **{f"p{q['id']}": cells.get((p["id"], q["id"]), 0) for q in programs}} for p in programs]


def _matrix_columns(conn, scope, filters):
    programs, _cells = matrix(conn, scope, filters)
    return [Column("code", _("Program code")), Column("name", _("Program")),
            Column("outside_target", _("Recipients outside the target desil"), "int")] + \
        [Column(f"p{p['id']}", p["code"], "int") for p in programs]


def outside_target_url(program_id: int, filters: Filters) -> str:
    """The enrolment list of exactly the enrolments counted in "recipients outside the target
    desil" of one program (the page's regency filter included)."""
    code = None
    if filters.regency_id is not None:
        code = db.session.execute(select(Regency.code).where(Regency.id == filters.regency_id)).scalar()
    return enrolment_list_url(program_id, outside=True, counted=True, regency_code=code)


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
# (app/views/household_filters.py; tests/integration/test_targeting_filters.py and
# tests/integration/test_count_links.py compare them). "total:<key>" links the table's total
# row (app/templates/analysis/_macros.html): the page's whole area, its scope and regency
# filter. With a chosen snapshot the counts read the snapshot's village, desil and
# point, which the list's filters do not: no count links then (None), rather than near ones.
_village_link = {"name": lambda r, f: households_url(r["village_id"])}


def _exact(link):
    return lambda r, f: None if f.snapshot is not None else link(r, f)


def regency_code(regency_id: Optional[int]) -> Optional[str]:
    """The code (18.07) of the page's regency filter, for the list's regency filter."""
    if regency_id is None:
        return None
    return db.session.execute(select(Regency.code).where(Regency.id == regency_id)).scalar()


def _count_link(**criteria):
    """A link to the village's households with ``criteria`` and the page's year."""
    return _exact(lambda r, f: household_list_url(village_id=r["village_id"], year=f.year, **criteria))


_overlap_links = {**_village_link,
                  "households": _exact(lambda r, f: household_list_url(village_id=r["village_id"])),
                  "programs_0": _count_link(programs=0), "programs_1": _count_link(programs=1),
                  "programs_2": _count_link(programs=2), "programs_3plus": _count_link(programs=3)}


def _regency_link(**criteria):
    """gis.queries.regency_overlap: the scoped households of the row's regency (the total row:
    of the page's regency filter, or all), with ``criteria`` in the page's year."""
    def link(r, f):
        code = r.get("code") if r.get("regency_id") is not None else regency_code(f.regency_id)
        return household_list_url(regency_code=code, year=f.year if criteria else None, **criteria)
    return _exact(link)


_regency_links = {"households": _regency_link(), "reached": _regency_link(programs_min=1),
                  "multi_program": _regency_link(programs_min=2)}
_regency_links.update({f"total:{key}": link for key, link in _regency_links.items()})


def _gap_link(r, f):
    """The gap definition of gis.queries.gaps_by_village: desil <= k, inside a priority zone of
    the year, no counted program in the year."""
    return household_list_url(village_id=r["village_id"], year=f.year, desil_to=f.k, programs=0, in_zone=True)


def _zone_gap_link(r, f):
    """gis.queries.gaps_by_zone: desil <= k, inside this zone, no counted program in the year, in
    the page's regency filter."""
    return household_list_url(zone_id=r["zone_id"], year=f.year, desil_to=f.k, programs=0,
                              regency_code=regency_code(f.regency_id))


def matrix_cell_url(program_a: int, program_b: int, f: Filters) -> Optional[str]:
    """The overlap matrix's cell: households receiving both programs (the diagonal: the one), in
    the page's regency filter (gis.queries.program_matrix)."""
    if f.snapshot is not None:
        return None
    return household_list_url(program_ids=tuple(sorted({program_a, program_b})),
                              regency_code=regency_code(f.regency_id))


_gap_links = {**_village_link, "gap_households": _exact(_gap_link)}
_gap_zone_links = {"gap_households": _exact(_zone_gap_link)}
# gis.queries.zone_summary: the scoped households inside the zone (the page's regency filter
# narrows the villages column only).
_zone_links = {"households": _exact(lambda r, f: household_list_url(zone_id=r["zone_id"]))}
_measure_links = {**_village_link,
                  "households": _exact(lambda r, f: household_list_url(village_id=r["village_id"])),
                  "desil1": _exact(lambda r, f: household_list_url(village_id=r["village_id"], desil_to=1)),
                  "reached": _count_link(programs_min=1), "multi_program": _count_link(programs_min=2),
                  "gaps": _exact(_gap_link)}
ANSWERS: dict[str, Answer] = {a.name: a for a in [
    Answer("overlap-regencies", _("Program overlap per regency"),
           [Column("code", _("Regency code")), Column("name", _("Regency")),
            Column("households", _("Households"), "int"), Column("reached", _("Reached (1+ programs)"), "int"),
            Column("multi_program", _("With 2+ programs"), "int"),
            Column("program_enrolments", _("Program enrolments"), "int")],
           _regencies, ("year", "regency_id"), _regency_links),
    Answer("overlap-villages", _("Program overlap per village"),
           VILLAGE + [Column("households", _("Households"), "int"), Column("programs_0", _("0 programs"), "int"),
                      Column("programs_1", _("1 program"), "int"), Column("programs_2", _("2 programs"), "int"),
                      Column("programs_3plus", _("3+ programs"), "int")],
           _overlap_villages, ("year", "regency_id"), _overlap_links),
    Answer("overlap-matrix", _("Program × program: households receiving both"), _matrix_columns, _matrix_rows,
           ("year", "regency_id"), {"cell": matrix_cell_url}),
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
           _gap_zones, ("year", "k", "regency_id"), _gap_zone_links),
    Answer("zones", _("Priority zones"),
           [Column("zone_name", _("Priority zone")), Column("year", _("Year"), "year"),
            Column("priority_level", _("Priority level"), "int"), Column("regency_label", _("Regency")),
            Column("villages", _("Villages"), "int"), Column("households", _("Households"), "int")],
           _zones, ("zone_id", "min_share", "regency_id"), _zone_links),
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


def _check_format(fmt: str, formats) -> str:
    if fmt not in formats:
        raise FilterError(gettext("format must be one of %(values)s, not \"%(value)s\"",
                                  values=", ".join(formats), value=fmt[:20]))
    return fmt


def response_format(args) -> str:
    """The ``format`` argument of an analysis API call: json (default), csv or xlsx; FilterError else."""
    return _check_format(args.get("format") or "json", ("json",) + tuple(exports.FORMATS))


def download_separator(fmt: str, sep_arg: Optional[str]) -> str:
    """The CSV separator of a download in ``fmt`` (csv / xlsx); FilterError for an unknown
    format or separator."""
    _check_format(fmt, exports.FORMATS)
    try:
        return exports.separator(sep_arg)
    except ValueError:
        raise FilterError(gettext("sep must be \",\" or \";\", not \"%(value)s\"", value=(sep_arg or "")[:20]))


def export_answer(name: str, fmt: str, filters: Filters, sep_arg: Optional[str] = None):
    """A CSV / XLSX download of one answer for the current user (scoped) and filters.
    Raises FilterError for an unknown format or separator."""
    sep = download_separator(fmt, sep_arg)
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
