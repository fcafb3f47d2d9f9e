"""LP2KD (Laporan Pelaksanaan Penanggulangan Kemiskinan Daerah): the data of the report for
the province or one kabupaten/kota, for semester I (Jan-Jun), semester II (Jul-Dec) or a
year, as the user's scope allows.

``build_report(conn, scope, regency_id, year, period)`` returns every section at once:

- indicators: the area's poverty rate against the RPJMD target, the period's rows and the
  whole series (and, for the province, the regencies above the provincial rate);
- tkpk: the area's TKPK institution, its decree, documents with status, facilities;
- programs: the fiscal year's programs of the area (province: all; a regency: the programs
  covering it, the rule ``app.security.scope`` gives its operator) by cluster, with budget
  and realisation as exact Decimals;
- beneficiaries: counted enrolments of the period by desil, cluster and program;
- coverage / overlap / gaps / zones: from the building blocks of ``gis/queries.py``;
- complaints and update requests filed in the period, counted by state and category/kind;
- note: the free-text section "problems and follow-up" (``Lp2kdNote``).

Periods. A program belongs to the report's year by its ``fiscal_year``. An enrolment
belongs to the year by its ``year`` (always the program's fiscal year) and to a semester
by its ``date``: an enrolment without a date, or dated outside the year, counts in the
annual report only (``Report.undated_enrolments`` says how many there are). Complaints and
update requests belong to a period by their ``created_at`` in Lampung time (WIB).

Targeting data (``snapshot_id``). By default every desil-based figure (beneficiaries by desil,
coverage of desil 1-4, overlap, gaps, zones) reads each household's latest desil, village and
point (the ``household`` row, which the kept per-village measures of gis/measures.py sum: the
fast path). With a snapshot chosen (BDT 2015, DTSEN 2025-Q3 ...) they read that snapshot's
rows, live (``gis.queries.reading_snapshot``): the households it lists, in its villages,
with its desil, exactly as the analysis screens do with ``snapshot=<id>``. The section
"changes in the targeting data" compares the chosen snapshot (by default the latest) with
the one before it.

One definition. Coverage, overlap and gaps are those of the analysis screens: for the
annual report the SQL is exactly ``gis.queries``' (``_program_counts``, ``program_matrix``,
``_gap_households`` ...); for a semester it is the same SQL built from the same blocks
(``_households``, ``_counted_enrolments``, ``_in_zone_households``) with one added
predicate, the enrolment's date inside the semester (``counted_enrolments``).
tests/integration/test_lp2kd.py checks both against independent queries.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Optional

from sqlalchemy import Integer, and_, cast, distinct, func, literal, or_, select, union_all
from sqlalchemy.engine import Connection

from app.models.areas import District, Province, Regency, Village
from app.models.households import Enrolment
from app.models.measures import village_measure as VM, village_program as VP
from app.models.programs import CLUSTERS, Program
from app.models.tkpk import Agency, TkpkDocument, TkpkInstitution, TkpkMember
from app.models.workflow import REPORT_PERIODS, Complaint, Lp2kdNote, UpdateRequest
from app.models.zones import PovertyIndicator, PriorityZone
from app.security.scope import Scope, ScopeError, in_scope, is_in_scope, predicate
from app.services.complaints import WIB  # Lampung time, for the dates of complaints and requests
from app.services.snapshot_diff import snapshot_label
from gis import queries as gq

PERIODS = REPORT_PERIODS  # "s1" (January-June), "s2" (July-December), "tahunan" (the year)
GAP_MAX_DESIL = 1  # a gap: a household of desil <= 1 in a priority zone of the year without a program
ZONE_VILLAGE_MIN_SHARE = 0.01  # a zone's villages: more than 1 % of the village's area inside the zone
TOP_PAIRS = 10
# BPS measures poverty in March and September; the indicator rows of each report period.
INDICATOR_PERIODS = {"s1": ("maret",), "s2": ("september",), "tahunan": ("maret", "september", "tahunan")}
PERCENT = Decimal("0.01")
NOTE_MAX = 20000  # characters per free-text field


class ReportError(ValueError):
    """A report that cannot be asked for (bad period, an area outside the scope)."""


# --- periods ---------------------------------------------------------------------------------------

def period_range(year: int, period: str) -> tuple[dt.date, dt.date]:
    """First and last day of the period."""
    if period == "s1":
        return dt.date(year, 1, 1), dt.date(year, 6, 30)
    if period == "s2":
        return dt.date(year, 7, 1), dt.date(year, 12, 31)
    if period == "tahunan":
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    raise ReportError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")


def enrolment_dates(year: int, period: str) -> Optional[tuple[dt.date, dt.date]]:
    """The date range an enrolment of the year must lie in to count in the period; None for
    the year (every enrolment of the year counts, dated or not)."""
    first, last = period_range(year, period)
    return None if period == "tahunan" else (first, last)


def _created_in(column, year: int, period: str):
    """``column`` (timestamptz) inside the period, days in WIB; index-friendly bounds."""
    first, last = period_range(year, period)
    start = dt.datetime.combine(first, dt.time(), WIB)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), WIB)
    return and_(column >= start, column < end)


default_year = gq.default_year  # the year reports open on: the analysis screens' rule


def may_report_on(scope: Scope, regency_id: Optional[int]) -> bool:
    """Who may open which report: a regency-scoped user (operator, regency Pimpinan) only their
    regency's; everyone else with a scope the province's or any regency's (their rows scoped)."""
    if scope.kind == "none":
        return False
    if scope.kind == "regency":
        return regency_id is not None and regency_id == scope.regency_id
    return True


def percent(part, whole, places: Decimal = PERCENT) -> Optional[Decimal]:
    """100 * part / whole, exact, rounded half up to ``places``; None when whole is 0."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(places, rounding=ROUND_HALF_UP)


# --- the shared building blocks with the period --------------------------------------------------

def counted_enrolments(year: int, scope: Scope, dates: Optional[tuple[dt.date, dt.date]] = None):
    """``gis.queries``' counted enrolments of the year, only those dated inside ``dates``."""
    return gq._counted_enrolments(year, scope, dates)


def program_counts(year: int, scope: Scope, regency_id: Optional[int] = None,
                   dates: Optional[tuple[dt.date, dt.date]] = None):
    """Per scoped household of the area: distinct counted programs of the period (0 included)."""
    return gq._program_counts(year, scope, regency_id, dates)


def program_matrix(conn: Connection, year: int, scope: Scope, regency_id: Optional[int] = None,
                   dates: Optional[tuple[dt.date, dt.date]] = None):
    """``gis.queries.program_matrix`` for the period."""
    return gq.program_matrix(conn, year, scope, regency_id, dates)


def gap_households(year: int, scope: Scope, regency_id: Optional[int] = None,
                   dates: Optional[tuple[dt.date, dt.date]] = None, max_desil: int = GAP_MAX_DESIL):
    """(zone_id, household_id, village_id): ``gis.queries._gap_households`` for the period."""
    return gq._gap_households(year, scope, max_desil, regency_id, dates)


# --- the report ----------------------------------------------------------------------------------

@dataclass
class Report:
    year: int
    period: str
    regency_id: Optional[int]          # None: the province
    area_code: str
    area_name: str
    first_day: dt.date
    last_day: dt.date
    scope_kind: str
    summary: dict = field(default_factory=dict)
    indicators: dict = field(default_factory=dict)
    tkpk: Optional[dict] = None
    programs: dict = field(default_factory=dict)
    beneficiaries: dict = field(default_factory=dict)
    coverage: list = field(default_factory=list)
    overlap: dict = field(default_factory=dict)
    gaps: dict = field(default_factory=dict)
    zones: list = field(default_factory=list)
    complaints: dict = field(default_factory=dict)
    requests: dict = field(default_factory=dict)
    note: Optional[dict] = None
    undated_enrolments: int = 0
    # What changed between the chosen (or latest) targeting snapshot and the one before it:
    # None with no snapshot at all; {"a": None, "b": label} when it is the first one.
    targeting_changes: Optional[dict] = None
    # The targeting data read: a chosen snapshot (id, label), or None and the label of the
    # latest snapshot (each household's latest values).
    snapshot_id: Optional[int] = None
    snapshot_label: Optional[str] = None

    @property
    def is_province(self) -> bool:
        return self.regency_id is None


def build_report(conn: Connection, scope: Scope, regency_id: Optional[int], year: int, period: str,
                 snapshot_id: Optional[int] = None) -> Report:
    """Every section of the LP2KD of the province (``regency_id`` None) or a regency, for the
    year and period, limited to what ``scope`` may see; the desil-based figures read the
    targeting snapshot ``snapshot_id`` (None: each household's latest, see the module's
    docstring). ReportError for a period that does not exist, an unknown snapshot or an area
    the scope may not report on."""
    first, last = period_range(year, period)
    if not may_report_on(scope, regency_id):
        raise ReportError("this report lies outside your area")
    label = snapshot_label(conn, snapshot_id)
    if snapshot_id is not None and label is None:
        raise ReportError(f"there is no targeting snapshot {snapshot_id}")
    if snapshot_id is not None:  # computed live over the snapshot's rows
        gq.live_work_mem(conn)
    with gq.reading_snapshot(snapshot_id):
        report = _build_report(conn, scope, regency_id, year, period, first, last, snapshot_id)
    report.snapshot_id, report.snapshot_label = snapshot_id, label
    return report


def _build_report(conn, scope, regency_id, year, period, first, last, snapshot_id) -> Report:
    """``build_report``'s sections, inside its ``reading_snapshot``."""
    if regency_id is None:
        area = conn.execute(select(Province.code, Province.name).order_by(Province.code).limit(1)).first()
    else:
        area = conn.execute(select(Regency.code, Regency.name).where(Regency.id == regency_id)).first()
    if area is None:
        raise ReportError("no such area")
    dates = enrolment_dates(year, period)
    report = Report(year=year, period=period, regency_id=regency_id, area_code=area.code, area_name=area.name,
                    first_day=first, last_day=last, scope_kind=scope.kind)
    report.indicators = _indicators(conn, scope, regency_id, year, period)
    report.tkpk = _tkpk(conn, scope, regency_id)
    report.programs = _programs(conn, scope, regency_id, year)
    report.beneficiaries = _beneficiaries(conn, scope, regency_id, year, dates)
    report.coverage, report.overlap = _coverage_and_overlap(conn, scope, regency_id, year, dates)
    report.gaps, report.zones = _gaps_and_zones(conn, scope, regency_id, year, dates)
    report.complaints = _complaints(conn, scope, regency_id, year, period)
    report.requests = _requests(conn, scope, regency_id, year, period)
    report.note = _note(conn, scope, regency_id, year, period)
    report.targeting_changes = _targeting_changes(conn, scope, regency_id, year, snapshot_id)
    if dates is not None:
        report.undated_enrolments = _undated(conn, scope, regency_id, year, dates)
    report.summary = _summary(report)
    return report


# --- sections --------------------------------------------------------------------------------------

def _indicator_query(scope: Scope):
    """Indicator rows with the area's name and the ``above_province`` flag (computed by the
    database, models/zones.py)."""
    return (select(PovertyIndicator.year, PovertyIndicator.period, PovertyIndicator.poverty_rate,
                   PovertyIndicator.target_rate, PovertyIndicator.poor_people, PovertyIndicator.source,
                   PovertyIndicator.above_province.label("above_province"),
                   func.coalesce(Regency.name, Province.name).label("area_name"))
            .outerjoin(Regency, Regency.id == PovertyIndicator.regency_id)
            .outerjoin(Province, Province.id == PovertyIndicator.province_id)
            .where(in_scope(PovertyIndicator, scope)))


def _indicator_rows(conn, query) -> list[dict]:
    rows = []
    for r in conn.execute(query).mappings():
        row = dict(r)
        row["above_province"] = bool(row["above_province"])
        row["difference"] = None if r["target_rate"] is None else r["poverty_rate"] - r["target_rate"]
        rows.append(row)
    return rows


def indicator_series(conn: Connection, scope: Scope, regency_id: Optional[int]) -> list[dict]:
    """Every poverty-rate row of the province (``regency_id`` None) or a regency, oldest first:
    year, period, poverty_rate, target_rate, difference, poor_people, source, above_province,
    area_name."""
    area = (PovertyIndicator.province_id.is_not(None) if regency_id is None
            else PovertyIndicator.regency_id == regency_id)
    rank = {"maret": 0, "september": 1, "tahunan": 2}
    return sorted(_indicator_rows(conn, _indicator_query(scope).where(area)),
                  key=lambda r: (r["year"], rank.get(r["period"], 9)))


def _indicators(conn, scope, regency_id, year, period) -> dict:
    """The area's poverty rate against the RPJMD target: ``series`` (every row, oldest first),
    ``period`` (the rows of the report's period: March for semester I, September for
    semester II, every row of the year for the annual report) and, for the province,
    ``above_province``: regency rows of the period above the provincial rate."""
    series = indicator_series(conn, scope, regency_id)
    current = [r for r in series if r["year"] == year and r["period"] in INDICATOR_PERIODS[period]]
    above = []
    if regency_id is None:
        above = _indicator_rows(conn, _indicator_query(scope).where(
            PovertyIndicator.regency_id.is_not(None), PovertyIndicator.year == year,
            PovertyIndicator.period.in_(INDICATOR_PERIODS[period]), PovertyIndicator.above_province)
            .order_by(PovertyIndicator.period, PovertyIndicator.poverty_rate.desc(), Regency.code))
    return {"series": series, "period": current, "above_province": above}


def _tkpk(conn, scope, regency_id) -> Optional[dict]:
    """The area's TKPK institution (None when there is none, or the scope hides it)."""
    area = TkpkInstitution.regency_id.is_(None) if regency_id is None else TkpkInstitution.regency_id == regency_id
    inst = conn.execute(select(TkpkInstitution.id, TkpkInstitution.level, TkpkInstitution.decree_number,
                               TkpkInstitution.decree_date, TkpkInstitution.chair,
                               TkpkInstitution.secretariat_address, TkpkInstitution.facilities_available,
                               TkpkInstitution.facilities_lacking)
                        .where(area, in_scope(TkpkInstitution, scope))).first()
    if inst is None:
        return None
    documents = [dict(kind=d.kind, status=d.status, status_date=d.status_date, has_file=bool(d.file))
                 for d in conn.execute(select(TkpkDocument.kind, TkpkDocument.status, TkpkDocument.status_date,
                                              TkpkDocument.file)
                                       .where(TkpkDocument.institution_id == inst.id).order_by(TkpkDocument.kind))]
    members = conn.execute(select(func.count()).select_from(TkpkMember)
                           .where(TkpkMember.institution_id == inst.id)).scalar_one()

    def items(text_value):
        return [part.strip() for part in (text_value or "").replace("\n", ";").split(";") if part.strip()]

    return dict(level=inst.level, decree_number=inst.decree_number, decree_date=inst.decree_date, chair=inst.chair,
                secretariat_address=inst.secretariat_address, members=members, documents=documents,
                facilities_available=items(inst.facilities_available),
                facilities_lacking=items(inst.facilities_lacking))


def area_programs(scope: Scope, regency_id: Optional[int], year: int):
    """The scoped programs of the fiscal year for the area: every one for the province; for a
    regency those covering it (listed in program_regency, or run by one of its own agencies),
    which is the rule that decides what the regency's operator sees."""
    query = select(Program.id).where(Program.fiscal_year == year, in_scope(Program, scope))
    if regency_id is not None:
        covering = predicate(Program, Scope("regency", regency_id=regency_id))
        if covering is not None:
            query = query.where(covering)
    return query


def _programs(conn, scope, regency_id, year) -> dict:
    """``rows`` (each program: budget, realised, realisation %) and ``clusters`` (1, 2, 3 with
    programs, budget, realised, %), ``total``; money as exact Decimals."""
    ids = area_programs(scope, regency_id, year)
    rows = [dict(r) for r in conn.execute(
        select(Program.id, Program.code, Program.name, Program.cluster, Program.synergy_type, Program.level,
               Program.status, Program.budget, Program.realised_budget, Program.target_households,
               Agency.name.label("agency"))
        .join(Agency, Agency.id == Program.agency_id)
        .where(Program.id.in_(ids)).order_by(Program.cluster, Program.code)).mappings()]
    for r in rows:
        r["realisation"] = percent(r["realised_budget"], r["budget"])
    clusters = []
    for cluster in CLUSTERS:
        members = [r for r in rows if r["cluster"] == cluster]
        budget = sum((r["budget"] for r in members), Decimal("0.00"))
        realised = sum((r["realised_budget"] for r in members), Decimal("0.00"))
        clusters.append(dict(cluster=cluster, programs=len(members), budget=budget, realised_budget=realised,
                             realisation=percent(realised, budget)))
    budget = sum((c["budget"] for c in clusters), Decimal("0.00"))
    realised = sum((c["realised_budget"] for c in clusters), Decimal("0.00"))
    total = dict(cluster=None, programs=len(rows), budget=budget, realised_budget=realised,
                 realisation=percent(realised, budget))
    return {"rows": rows, "clusters": clusters, "total": total}


def _area_enrolments(year, scope, regency_id, dates):
    """Counted enrolments of the period of the area's scoped households, with desil and value."""
    households = gq._households(scope, regency_id).subquery("h")
    enrolments = counted_enrolments(year, scope, dates).add_columns(Enrolment.benefit_value).subquery("e")
    return (select(enrolments.c.household_id, enrolments.c.program_id, enrolments.c.benefit_value,
                   households.c.desil)
            .join(households, households.c.household_id == enrolments.c.household_id)).subquery("ae")


def _beneficiaries(conn, scope, regency_id, year, dates) -> dict:
    """Households reached, enrolments and benefit value (Rp) of the period by ``desil``,
    ``cluster`` and ``program``; ``total``.

    One statement, one pass over the area's enrolments (at 1 M households four separate
    aggregates took 13 s): per (household, cluster) first, then per household; a household is
    counted once per desil, per cluster and in the total. Per program, households = enrolments:
    a household is in a program once a year (uq_enrolment_household_program_year)."""
    if gq.kept_scope(scope, dates):
        return _kept_beneficiaries(conn, scope, regency_id, year)
    ae = _area_enrolments(year, scope, regency_id, dates)
    area = select(ae).cte("ae").prefix_with("MATERIALIZED")
    per_cluster = (select(area.c.household_id, area.c.desil, Program.cluster, func.count().label("n"),
                          func.coalesce(func.sum(area.c.benefit_value), 0).label("v"))
                   .join(Program, Program.id == area.c.program_id)
                   .group_by(area.c.household_id, area.c.desil, Program.cluster).cte("hc"))
    per_household = (select(per_cluster.c.desil, func.sum(per_cluster.c.n).label("n"),
                            func.sum(per_cluster.c.v).label("v"))
                     .group_by(per_cluster.c.household_id, per_cluster.c.desil).subquery("hh"))

    def measures(households, n, v):
        return (households.label("households"), cast(func.coalesce(func.sum(n), 0), Integer).label("enrolments"),
                func.coalesce(func.sum(v), 0).label("benefit_value"))

    rows = conn.execute(union_all(
        select(literal("desil").label("kind"), per_household.c.desil.label("key"),
               *measures(func.count(), per_household.c.n, per_household.c.v)).group_by(per_household.c.desil),
        select(literal("cluster"), per_cluster.c.cluster,
               *measures(func.count(), per_cluster.c.n, per_cluster.c.v)).group_by(per_cluster.c.cluster),
        select(literal("program"), area.c.program_id,
               *measures(func.count(), literal(1), area.c.benefit_value)).group_by(area.c.program_id),
    )).mappings().all()
    return _beneficiary_tables(conn, rows)


def _kept_beneficiaries(conn, scope, regency_id, year) -> dict:
    """``_beneficiaries`` of a whole year from the kept per-village measures (gis/measures.py)."""
    k = gq.kept_rows(conn, VM, year, scope, regency_id)
    kp = gq.kept_rows(conn, VP, year, scope, regency_id)
    money = lambda column: func.coalesce(func.sum(column), 0)  # noqa: E731
    by_cluster = {c: (gq.int_sum(getattr(k.c, f"cluster_{c}"))) for c in CLUSTERS}
    enrolments_by_cluster = (select(Program.cluster, gq.int_sum(kp.c.households).label("enrolments"),
                                    money(kp.c.benefit_value).label("benefit_value"))
                             .join(Program, Program.id == kp.c.program_id).group_by(Program.cluster).subquery("ec"))
    cluster_households = select(*(v.label(f"c{c}") for c, v in by_cluster.items())).subquery("ch")
    rows = [*conn.execute(select(literal("desil").label("kind"), k.c.desil.label("key"),
                                 gq.int_sum(k.c.households - k.c.programs_0).label("households"),
                                 gq.int_sum(k.c.program_sum).label("enrolments"),
                                 money(k.c.benefit_value).label("benefit_value"))
                          .group_by(k.c.desil)).mappings(),
            *conn.execute(select(literal("program").label("kind"), kp.c.program_id.label("key"),
                                 gq.int_sum(kp.c.households).label("households"),
                                 gq.int_sum(kp.c.households).label("enrolments"),
                                 money(kp.c.benefit_value).label("benefit_value"))
                          .group_by(kp.c.program_id)).mappings()]
    households = conn.execute(select(cluster_households)).mappings().one()
    for r in conn.execute(select(enrolments_by_cluster)).mappings():
        rows.append(dict(kind="cluster", key=r["cluster"], households=households[f"c{r['cluster']}"],
                         enrolments=r["enrolments"], benefit_value=r["benefit_value"]))
    return _beneficiary_tables(conn, [r for r in rows if r["households"] or r["enrolments"]])


def _beneficiary_tables(conn, rows) -> dict:
    """The by-desil / by-cluster / by-program / total tables from rows (kind, key, households,
    enrolments, benefit_value)."""
    found = defaultdict(dict)
    for r in rows:
        found[r["kind"]][r["key"]] = dict(households=r["households"], enrolments=r["enrolments"],
                                          benefit_value=r["benefit_value"])
    empty = dict(households=0, enrolments=0, benefit_value=Decimal("0"))
    desil = [dict(empty, **found["desil"].get(d, {}), desil=d) for d in (1, 2, 3, 4)]
    cluster = [dict(empty, **found["cluster"].get(c, {}), cluster=c) for c in CLUSTERS]
    program = []
    if found["program"]:
        for r in conn.execute(select(Program.id, Program.code, Program.name, Program.cluster,
                                     Agency.name.label("agency"))
                              .join(Agency, Agency.id == Program.agency_id)
                              .where(Program.id.in_(list(found["program"])))
                              .order_by(Program.cluster, Program.code)).mappings():
            program.append(dict(r, **found["program"][r["id"]]))
    total = {k: sum(r[k] for r in found["desil"].values()) if found["desil"] else empty[k] for k in empty}
    for rows_ in (desil, cluster, program, [total]):
        for r in rows_:
            r["benefit_value"] = Decimal(r["benefit_value"]).quantize(PERCENT)
    return {"desil": desil, "cluster": cluster, "program": program, "total": total}


COVERAGE_DESILS = (1, 2, 3, 4)  # the poorest 40 % (BDT 2015's whole range; DTSEN desil 1-4)
_COUNTS = ("households", "reached", "multi_program", "programs_3plus")


def desil_counts(conn, scope: Scope, regency_id: Optional[int], year: int,
                 dates: Optional[tuple[dt.date, dt.date]] = None) -> dict[int, dict]:
    """Per desil (every desil the scoped households have, 1-10): households, reached (1+
    program), multi_program (2+), programs_3plus."""
    if gq.kept_scope(scope, dates):  # the kept per-village measures (gis/measures.py), summed
        k = gq.kept_rows(conn, VM, year, scope, regency_id)
        query = select(k.c.desil, gq.int_sum(k.c.households).label("households"),
                       gq.int_sum(k.c.households - k.c.programs_0).label("reached"),
                       gq.int_sum(k.c.programs_2 + k.c.programs_3plus).label("multi_program"),
                       gq.int_sum(k.c.programs_3plus).label("programs_3plus")).group_by(k.c.desil)
    else:
        counts = program_counts(year, scope, regency_id, dates).subquery("c")
        query = (select(counts.c.desil, func.count().label("households"),
                        func.count().filter(counts.c.programs >= 1).label("reached"),
                        func.count().filter(counts.c.programs >= 2).label("multi_program"),
                        func.count().filter(counts.c.programs >= 3).label("programs_3plus"))
                 .group_by(counts.c.desil))
    return {r["desil"]: dict(r) for r in conn.execute(query).mappings()}


def _total(rows) -> dict:
    total = {k: sum(r[k] for r in rows) for k in _COUNTS}
    total.update(desil=None, coverage=percent(total["reached"], total["households"], Decimal("0.1")))
    return total


def desil_coverage(conn, scope: Scope, regency_id: Optional[int], year: int,
                   dates: Optional[tuple[dt.date, dt.date]] = None, found: Optional[dict] = None) -> list[dict]:
    """Coverage of desil 1-4: per desil households, reached (1+ program), multi_program (2+),
    programs_3plus and coverage %, then a total row (desil None) of desil 1-4 (DTSEN households
    of desil 5-10 are not in it). The LP2KD report and the dashboard both show it. ``found``:
    ``desil_counts`` already read."""
    if found is None:
        found = desil_counts(conn, scope, regency_id, year, dates)
    coverage = []
    for d in COVERAGE_DESILS:
        r = found.get(d, dict(desil=d, households=0, reached=0, multi_program=0, programs_3plus=0))
        coverage.append(dict(r, coverage=percent(r["reached"], r["households"], Decimal("0.1"))))
    coverage.append(_total(coverage))
    return coverage


def _coverage_and_overlap(conn, scope, regency_id, year, dates):
    """Coverage of desil 1-4 (``desil_coverage``) and overlap (every household, whatever its
    desil, with 0, 1, 2, 3+ programs, and the busiest program pairs: the analysis screens' rule)."""
    found = desil_counts(conn, scope, regency_id, year, dates)
    coverage = desil_coverage(conn, scope, regency_id, year, dates, found)
    total = _total(list(found.values()))

    distribution = [
        dict(programs="0", households=total["households"] - total["reached"]),
        dict(programs="1", households=total["reached"] - total["multi_program"]),
        dict(programs="2", households=total["multi_program"] - total["programs_3plus"]),
        dict(programs="3+", households=total["programs_3plus"]),
    ]
    for r in distribution:
        r["share"] = percent(r["households"], total["households"], Decimal("0.1"))
    matrix = program_matrix(conn, year, scope, regency_id, dates)
    names = dict(conn.execute(select(Program.id, Program.name).where(
        Program.id.in_({r["program_a"] for r in matrix} | {r["program_b"] for r in matrix}))).all()) if matrix else {}
    pairs = sorted((r for r in matrix if r["program_a"] != r["program_b"]),
                   key=lambda r: (-r["households"], r["code_a"], r["code_b"]))
    top = [dict(r, name_a=names.get(r["program_a"]), name_b=names.get(r["program_b"])) for r in pairs[:TOP_PAIRS]]
    diagonal = {r["program_a"]: r["households"] for r in matrix if r["program_a"] == r["program_b"]}
    overlap = {"distribution": distribution, "households": total["households"], "reached": total["reached"],
               "multi_program": total["multi_program"], "pairs": top, "pair_count": len(pairs),
               "program_households": diagonal}
    return coverage, overlap


def _gaps_and_zones(conn, scope, regency_id, year, dates):
    """Gaps (households of desil <= 1 in the year's zones without a counted enrolment in the
    period: ``total``, ``villages`` with the most, all as ``by_village``) and the zones of
    the year in the area with their villages, households, desil-1 households and gaps."""
    if gq.kept_scope(scope, dates):  # whole year: the kept per-village and per-zone measures
        per_village = {r["village_id"]: r["gap_households"]
                       for r in gq.gaps_by_village(conn, year, scope, GAP_MAX_DESIL, regency_id)}
        kz = gq.kept_zone_rows(conn, year, scope, regency_id)
        member_counts = {r.zone_id: r for r in conn.execute(
            select(kz.c.zone_id, gq.int_sum(kz.c.households).label("households"),
                   gq.int_sum(kz.c.households, kz.c.desil <= GAP_MAX_DESIL).label("desil1"),
                   gq.int_sum(kz.c.gaps, kz.c.desil <= GAP_MAX_DESIL).label("gap_households"))
            .group_by(kz.c.zone_id))}
        gaps_per_zone = {z: r.gap_households for z, r in member_counts.items()}
    else:
        # The gap rows are few (desil-1 households in zones without a program): read them once.
        gap_rows = conn.execute(gap_households(year, scope, regency_id, dates)).all()
        zone_sets = defaultdict(set)
        per_village = defaultdict(int)
        for r in gap_rows:
            zone_sets[r.zone_id].add(r.household_id)
        for village_id in {r.household_id: r.village_id for r in gap_rows}.values():
            per_village[village_id] += 1
        gaps_per_zone = {z: len(h) for z, h in zone_sets.items()}
        members = gq._in_zone_households(scope, year, regency_id).subquery("m")
        member_counts = {r.zone_id: r for r in conn.execute(
            select(members.c.zone_id, func.count(distinct(members.c.household_id)).label("households"),
                   func.count(distinct(members.c.household_id)).filter(members.c.desil <= GAP_MAX_DESIL)
                   .label("desil1")).group_by(members.c.zone_id))}
    by_village = []
    if per_village:
        names = {r.id: r for r in conn.execute(
            select(Village.id, Village.code, Village.name, District.name.label("district"))
            .join(District, District.id == Village.district_id).where(Village.id.in_(list(per_village))))}
        by_village = sorted((dict(village_id=v, code=names[v].code, name=names[v].name,
                                  district=names[v].district, gap_households=n) for v, n in per_village.items()),
                            key=lambda r: (-r["gap_households"], r["code"]))
    total = sum(per_village.values())  # a household lies in one village: no double count
    villages = defaultdict(int)
    for r in gq.zone_villages_in_scope(conn, scope, min_share=ZONE_VILLAGE_MIN_SHARE, regency_id=regency_id):
        villages[r["zone_id"]] += 1
    zones = []
    for z in conn.execute(select(PriorityZone.id, PriorityZone.name, PriorityZone.priority_level,
                                 PriorityZone.basis, PriorityZone.regency_id, Regency.name.label("regency"))
                          .outerjoin(Regency, Regency.id == PriorityZone.regency_id)
                          .where(PriorityZone.year == year, in_scope(PriorityZone, scope))
                          .order_by(PriorityZone.priority_level, PriorityZone.name)).mappings():
        if regency_id is not None and z["regency_id"] != regency_id and not villages.get(z["id"]):
            continue  # another regency's zone, or a province-wide zone not touching this one
        counts = member_counts.get(z["id"])
        zones.append(dict(z, villages=villages.get(z["id"], 0), households=counts.households if counts else 0,
                          desil1=counts.desil1 if counts else 0, gap_households=gaps_per_zone.get(z["id"], 0)))
    return {"total": total, "by_village": by_village, "max_desil": GAP_MAX_DESIL}, zones


def _state_counts(conn, model, group_column, scope, regency_id, year, period) -> dict:
    query = (select(group_column, model.state, func.count()).where(_created_in(model.created_at, year, period),
                                                                   in_scope(model, scope))
             .group_by(group_column, model.state))
    if regency_id is not None:
        query = query.where(model.regency_id == regency_id)
    cells = {(g, s): n for g, s, n in conn.execute(query)}
    by_state, by_group = defaultdict(int), defaultdict(int)
    for (g, s), n in cells.items():
        by_state[s] += n
        by_group[g] += n
    return {"cells": cells, "by_state": dict(by_state), "by_group": dict(by_group), "total": sum(cells.values())}


def _complaints(conn, scope, regency_id, year, period) -> dict:
    """Complaints filed in the period: counts by (category, state), by state, by category."""
    return _state_counts(conn, Complaint, Complaint.category, scope, regency_id, year, period)


def _requests(conn, scope, regency_id, year, period) -> dict:
    """Data update requests made in the period: counts by (kind, state), by state, by kind."""
    return _state_counts(conn, UpdateRequest, UpdateRequest.kind, scope, regency_id, year, period)


def _note_area(regency_id):
    return Lp2kdNote.regency_id.is_(None) if regency_id is None else Lp2kdNote.regency_id == regency_id


def _note(conn, scope, regency_id, year, period) -> Optional[dict]:
    row = conn.execute(select(Lp2kdNote.problems, Lp2kdNote.follow_up, Lp2kdNote.updated_by, Lp2kdNote.updated_at)
                       .where(_note_area(regency_id), Lp2kdNote.year == year, Lp2kdNote.period == period,
                              in_scope(Lp2kdNote, scope))).mappings().first()
    return dict(row) if row else None


def _targeting_changes(conn, scope, regency_id, year, snapshot_id: Optional[int] = None) -> Optional[dict]:
    """The changes between the snapshot ``snapshot_id`` (None: the latest) and the one before it
    (app/services/snapshot_diff.py): the pair's labels, the summary and the counts per regency
    (province) or per village (a regency). None without any snapshot; ``a`` None when the
    snapshot is the first one (no earlier period to compare it with)."""
    from app.services import snapshot_diff

    known = snapshot_diff.snapshots(conn)  # newest first
    if not known:
        return None
    newer = known[0] if snapshot_id is None else next(s for s in known if s.id == snapshot_id)
    try:
        pair = snapshot_diff.choose_pair(conn, None, newer.id)  # A: the latest snapshot older than B
    except snapshot_diff.DiffError:
        return {"a": None, "b": newer.label}
    per_area = snapshot_diff.counts_by_regency if regency_id is None else snapshot_diff.counts_by_village
    return {"a": pair.a.label, "b": pair.b.label, "sources_differ": pair.sources_differ,
            "summary": snapshot_diff.summary(conn, pair, scope, regency_id, year),
            "by_area": per_area(conn, pair, scope, regency_id, year)}


def _undated(conn, scope, regency_id, year, dates) -> int:
    """Counted enrolments of the year in the area that no semester holds (no date, or dated
    outside the year)."""
    households = gq._households(scope, regency_id).subquery("h")
    enrolments = gq._counted_enrolments(year, scope).add_columns(Enrolment.date).subquery("e")
    return conn.execute(select(func.count()).select_from(enrolments).join(
        households, households.c.household_id == enrolments.c.household_id).where(
        or_(enrolments.c.date.is_(None), enrolments.c.date < dt.date(year, 1, 1),
            enrolments.c.date > dt.date(year, 12, 31)))).scalar_one()


def _summary(report: Report) -> dict:
    total = report.coverage[-1]
    current = report.indicators["period"][-1] if report.indicators["period"] else None
    return dict(poverty_rate=current["poverty_rate"] if current else None,
                target_rate=current["target_rate"] if current else None,
                indicator_period=current["period"] if current else None,
                programs=report.programs["total"]["programs"], budget=report.programs["total"]["budget"],
                realised_budget=report.programs["total"]["realised_budget"],
                realisation=report.programs["total"]["realisation"],
                households=total["households"], reached=total["reached"], coverage=total["coverage"],
                multi_program=total["multi_program"], gap_households=report.gaps["total"],
                enrolments=report.beneficiaries["total"]["enrolments"],
                benefit_value=report.beneficiaries["total"]["benefit_value"],
                zones=len(report.zones), complaints=report.complaints["total"], requests=report.requests["total"])


# --- the free-text section ---------------------------------------------------------------------------

def save_note(session, scope: Scope, regency_id: Optional[int], year: int, period: str,
              problems: Optional[str], follow_up: Optional[str], username: str) -> Lp2kdNote:
    """Create or change the "problems and follow-up" text of a report. The row must lie in
    the scope for writing (``app.security.scope``: an operator their regency's; Admin and
    Bappeda any, the province's included); ScopeError otherwise. The caller commits."""
    period_range(year, period)
    if not may_report_on(scope, regency_id):
        raise ScopeError("this report lies outside your area")
    problems = (problems or "").strip()[:NOTE_MAX] or None
    follow_up = (follow_up or "").strip()[:NOTE_MAX] or None
    note = session.execute(select(Lp2kdNote).where(_note_area(regency_id), Lp2kdNote.year == year,
                                                   Lp2kdNote.period == period)
                           .with_for_update()).scalars().first()
    if note is None:
        note = Lp2kdNote(regency_id=regency_id, year=year, period=period)
        session.add(note)
    note.problems, note.follow_up, note.updated_by = problems, follow_up, username
    if not is_in_scope(session, note, scope, write=True):
        session.rollback()
        raise ScopeError("you may not write this report's text: it lies outside your area")
    return note


def note_writable(scope: Scope, regency_id: Optional[int]) -> bool:
    """Whether the scope may write the note of this area (the same rule ``save_note`` checks
    in the database): a regency scope its own regency's, an "everything" scope any."""
    if scope.everything:
        return True
    return scope.kind == "regency" and regency_id is not None and regency_id == scope.regency_id
