"""What changed between two targeting snapshots A (older) and B (newer), as set-based SQL.

Every answer is ONE statement over ``household_snapshot`` A FULL JOIN B on household_id:

- per household: entered (in B, not in A), left (in A, not in B), desil change (B - A, raw
  numbers even when the sources differ: BDT 2015 1-4 against DTSEN 1-10, ``Pair.sources_differ``
  says so), moved village, members added / removed (NIKs of B not in A and the reverse);
- per village / per regency: the number of households of each kind of change;
- per program: counted beneficiaries of a year whose desil in B falls outside the program's
  target range (``target_desil_min`` .. ``target_desil``), or who are no longer listed in B.

Why it stays close to a bare FULL JOIN at 1 M households (bench/bench_snapshot_diff.py): the
member arrays (sorted NIKs) are compared with ``<>`` first, and "a member added / removed" is
array containment (``@>``), never a set difference per household; the exact numbers of members
added and removed are counted only for the rows listed (a page, or an export); the per-area
answers read the changed households once (a materialized CTE); a household page is cut from the
changed rows before the household and village look-ups, its total a window over the same pass. Indexes relied on:
pk_household_snapshot (snapshot_id, household_id) for both sides, ix_enrolment_year.

Scope (app/security/scope.py decides): a province-wide user every household; an operator (or a
Pimpinan of one regency) the households whose village in A or in B lies in the regency (a
household that moved between two regencies is seen by both); an OPD officer the households
with a counted enrolment of the year in the agency's programs (``in_scope(Enrolment)``); per-area
rows only of villages the user may read.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Optional

from flask_babel import gettext, lazy_gettext as _
from sqlalchemy import (Integer, and_, case, cast, false, func, literal, literal_column, or_, select,
                        true, union_all)
from sqlalchemy.engine import Connection

from app.models.areas import District, Regency, Village
from app.models.households import Enrolment, Household
from app.models.programs import Program
from app.models.snapshots import BDT, HouseholdSnapshot, TargetingSnapshot
from app.security.scope import Scope, household_villages, in_scope, villages_in
from app.services.eligibility import program_source

COUNTED_STATUSES = ("usulan", "ditetapkan", "disalurkan")  # as gis/queries.py (a rejected one reaches nobody)

# The kinds of change a household list is filtered by (URL / API values) and their labels.
KINDS = ("entered", "left", "desil_up", "desil_down", "moved", "members_added", "members_removed")
OUTSIDE_TARGET = "outside_target"  # program beneficiaries outside the target desil range in B
KIND_LABELS = {
    "entered": _("Entered (in B, not in A)"),
    "left": _("Left (in A, not in B)"),
    "desil_up": _("Desil up"),
    "desil_down": _("Desil down"),
    "moved": _("Moved village"),
    "members_added": _("Members added"),
    "members_removed": _("Members removed"),
    OUTSIDE_TARGET: _("Program beneficiaries outside the target desil"),
}
# Per-area counts: a move counts in B's village (moved_in) and in A's (moved_out).
AREA_COUNTS = ("entered", "left", "desil_up", "desil_down", "moved_in", "moved_out", "members_added",
               "members_removed")

hs = HouseholdSnapshot.__table__


class DiffError(ValueError):
    """A parameter that cannot be used (unknown snapshot, A == B, A newer than B, bad kind):
    ``message`` is Indonesian and shown as it is; ``status`` 400 or 403."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


@dataclass(frozen=True)
class Snapshot:
    id: int
    source: str
    period: str
    period_start: object
    desil_max: int

    @property
    def label(self) -> str:
        return self.source if self.source == BDT else f"{self.source} {self.period}"


@dataclass(frozen=True)
class Pair:
    a: Snapshot
    b: Snapshot

    @property
    def sources_differ(self) -> bool:
        """BDT 2015 (desil 1-4) against DTSEN (1-10): the desil change is in different scales."""
        return self.a.source != self.b.source


# --- choosing the snapshots ----------------------------------------------------------------------

def snapshots(conn: Connection) -> list[Snapshot]:
    """Every snapshot, newest first (by the first day of its period)."""
    ts = TargetingSnapshot.__table__
    rows = conn.execute(select(ts.c.id, ts.c.source, ts.c.period, ts.c.period_start, ts.c.desil_max)
                        .order_by(ts.c.period_start.desc(), ts.c.id.desc())).all()
    return [Snapshot(*r) for r in rows]


def choose_pair(conn: Connection, a_id: Optional[int], b_id: Optional[int]) -> Optional[Pair]:
    """The pair to compare: the given ids, or by default the two latest snapshots (A the older).
    None when fewer than two snapshots exist and none was asked for. DiffError for an unknown
    snapshot, A == B, or A newer than B."""
    known = snapshots(conn)
    by_id = {s.id: s for s in known}
    for name, value in (("a", a_id), ("b", b_id)):
        if value is not None and value not in by_id:
            raise DiffError(gettext("Snapshot %(name)s: there is no snapshot with id %(id)d.", name=name.upper(),
                                    id=value))
    if a_id is None and b_id is None:
        if len(known) < 2:
            return None
        return Pair(known[1], known[0])
    if a_id is None or b_id is None:
        given = by_id[a_id if a_id is not None else b_id]
        others = [s for s in known if s.id != given.id]
        if a_id is None:  # the latest snapshot older than B
            older = [s for s in others if (s.period_start, s.id) < (given.period_start, given.id)]
            if not older:
                raise DiffError(gettext("There is no snapshot older than B to compare it with."))
            return Pair(older[0], given)
        newer = [s for s in others if (s.period_start, s.id) > (given.period_start, given.id)]
        if not newer:
            raise DiffError(gettext("There is no snapshot newer than A to compare it with."))
        return Pair(given, newer[-1])
    if a_id == b_id:
        raise DiffError(gettext("Snapshots A and B must be different snapshots."))
    a, b = by_id[a_id], by_id[b_id]
    if (a.period_start, a.id) > (b.period_start, b.id):
        raise DiffError(gettext("Snapshot A (%(a)s) must be older than snapshot B (%(b)s).", a=a.label, b=b.label))
    return Pair(a, b)


def check_kind(kind: Optional[str], allow_outside: bool = True) -> Optional[str]:
    """A household-list kind, or None (every change). DiffError names the allowed values."""
    if kind in (None, ""):
        return None
    allowed = KINDS + ((OUTSIDE_TARGET,) if allow_outside else ())
    if kind not in allowed:
        raise DiffError(gettext("kind must be one of %(values)s, not \"%(value)s\"",
                                values=", ".join(allowed), value=kind[:40]))
    return kind


# --- the join ------------------------------------------------------------------------------------

def snapshot_label(conn: Connection, snapshot_id: Optional[int]) -> Optional[str]:
    """The label of the snapshot ``snapshot_id`` ("DTSEN 2025-Q3"), or with None the latest
    one's; None when there is no such snapshot (or none at all)."""
    known = snapshots(conn)  # newest first
    if snapshot_id is None:
        return known[0].label if known else None
    return next((s.label for s in known if s.id == snapshot_id), None)


def _side(snapshot_id: int, name: str):
    return (select(hs.c.household_id, hs.c.desil, hs.c.village_id, hs.c.member_niks)
            .where(hs.c.snapshot_id == snapshot_id).subquery(name))


def _enrolled(year: int, scope: Scope):
    """Households with a counted enrolment of the year that the scope reads (an OPD: its programs)."""
    return select(Enrolment.household_id).where(Enrolment.year == year, Enrolment.status.in_(COUNTED_STATUSES),
                                                in_scope(Enrolment, scope))


_COLUMNS = ("household_id", "desil", "village_id", "member_niks")


def _scoped_villages(scope: Scope, regency_id: Optional[int]):
    """The villages whose households (in A or in B) a province or regency scope reads, cut to
    ``regency_id`` when given; None: every village."""
    sets = [v for v in (household_villages(scope), None if regency_id is None else villages_in([regency_id]))
            if v is not None]
    if not sets:
        return None
    return sets[0] if len(sets) == 1 else select(Village.id).where(*[Village.id.in_(v) for v in sets])


def _village_sides(pair: Pair, villages):
    """(a, b, from) of the households listed in ``villages`` by A or by B: the two sides cut
    by village first (the village index, ~130,000 rows for a regency instead of two million),
    FULL JOINed, then the side a household has outside the villages (it moved across the
    border: it must show as moved, not as entered or left) looked up by primary key, only for
    the rows whose side is missing."""
    av, bv = [select(*[hs.c[k] for k in _COLUMNS]).where(hs.c.snapshot_id == side.id, hs.c.village_id.in_(villages))
              .subquery(name) for side, name in ((pair.a, "av"), (pair.b, "bv"))]
    ax = (select(*[hs.c[k] for k in _COLUMNS])
          .where(hs.c.snapshot_id == pair.a.id, hs.c.household_id == bv.c.household_id, av.c.household_id.is_(None))
          .offset(0).lateral("ax"))  # OFFSET 0: kept a per-row probe, not pulled up into a join over all of A
    bx = (select(*[hs.c[k] for k in _COLUMNS])
          .where(hs.c.snapshot_id == pair.b.id, hs.c.household_id == av.c.household_id, bv.c.household_id.is_(None))
          .offset(0).lateral("bx"))
    frm = (av.join(bv, av.c.household_id == bv.c.household_id, full=True)
           .outerjoin(ax, true()).outerjoin(bx, true()))
    j = select(*[func.coalesce(av.c[k], ax.c[k]).label(f"a_{k}") for k in _COLUMNS],
               *[func.coalesce(bv.c[k], bx.c[k]).label(f"b_{k}") for k in _COLUMNS]).select_from(frm).subquery("j")
    a, b = [SimpleNamespace(c=SimpleNamespace(**{k: j.c[f"{side}_{k}"] for k in _COLUMNS})) for side in "ab"]
    return a, b, j


def _joined(pair: Pair, scope: Scope, regency_id: Optional[int], year: Optional[int]):
    """(a, b, columns, from, conditions): A FULL JOIN B with the per-household change columns,
    for the households the scope reads: by their village in A or in B (a household that moved
    between two regencies is seen by both), or for an OPD by its enrolments of the year."""
    conditions = []
    if scope.kind == "none" or (scope.kind == "agency" and year is None):
        conditions.append(false())
    villages = None if scope.kind in ("none", "agency") else _scoped_villages(scope, regency_id)
    if villages is not None:
        a, b, frm = _village_sides(pair, villages)
    else:
        a, b = _side(pair.a.id, "a"), _side(pair.b.id, "b")
        frm = a.join(b, a.c.household_id == b.c.household_id, full=True)
        hid = func.coalesce(b.c.household_id, a.c.household_id)
        if scope.kind == "agency" and year is not None:
            conditions.append(hid.in_(_enrolled(year, scope)))
            if regency_id is not None:
                regency = villages_in([regency_id])
                conditions.append(or_(a.c.village_id.in_(regency), b.c.village_id.in_(regency)))
    hid = func.coalesce(b.c.household_id, a.c.household_id)
    both = and_(a.c.household_id.is_not(None), b.c.household_id.is_not(None))
    columns = dict(
        household_id=hid,
        village_a=a.c.village_id, village_b=b.c.village_id,
        desil_a=a.c.desil, desil_b=b.c.desil,
        is_entered=a.c.household_id.is_(None),
        is_left=b.c.household_id.is_(None),
        desil_change=cast(b.c.desil - a.c.desil, Integer),
        moved=func.coalesce(a.c.village_id != b.c.village_id, False),
        # "Some NIK of B is not in A" is B not contained in A: an array operator, no set
        # difference per household; the exact numbers are counted only for listed rows.
        # (Equal arrays, most households, stop at the cheap "<>": AND evaluates left to right.)
        added_any=and_(both, a.c.member_niks != b.c.member_niks, ~a.c.member_niks.contains(b.c.member_niks)),
        removed_any=and_(both, a.c.member_niks != b.c.member_niks, ~b.c.member_niks.contains(a.c.member_niks)),
        niks_a=a.c.member_niks, niks_b=b.c.member_niks,
    )
    return a, b, columns, frm, conditions


def _changed(a, b):
    return or_(a.c.household_id.is_(None), b.c.household_id.is_(None), a.c.desil != b.c.desil,
               a.c.village_id != b.c.village_id, a.c.member_niks != b.c.member_niks)


def changes(pair: Pair, scope: Scope, regency_id: Optional[int] = None, year: Optional[int] = None):
    """Subquery ``d``: one row per scoped household that changed between A and B, with
    household_id, village_a, village_b, desil_a, desil_b, is_entered, is_left, desil_change,
    moved, added_any / removed_any (a NIK of B not in A / of A not in B; false for a household
    not in both), niks_a, niks_b."""
    a, b, columns, frm, conditions = _joined(pair, scope, regency_id, year)
    return (select(*[c.label(k) for k, c in columns.items()]).select_from(frm)
            .where(_changed(a, b), *conditions).subquery("d"))


def _changes_once(pair: Pair, scope: Scope, regency_id: Optional[int], year: Optional[int]):
    """``changes`` as a CTE: the per-area answers read it twice (B's village, and A's for a
    move), and a CTE read twice is computed once (materialized) instead of joining twice."""
    a, b, columns, frm, conditions = _joined(pair, scope, regency_id, year)
    return (select(*[c.label(k) for k, c in columns.items()]).select_from(frm)
            .where(_changed(a, b), *conditions).cte("d"))


def _kind_condition(d, kind: Optional[str]):
    return {
        None: true(),
        "entered": d.c.is_entered, "left": d.c.is_left,
        "desil_up": d.c.desil_change > 0, "desil_down": d.c.desil_change < 0,
        "moved": d.c.moved, "members_added": d.c.added_any, "members_removed": d.c.removed_any,
    }[kind]


# --- the answers ---------------------------------------------------------------------------------

def summary(conn: Connection, pair: Pair, scope: Scope, regency_id: Optional[int] = None,
            year: Optional[int] = None) -> dict:
    """Scoped households in A and in B and the number of households of each kind of change
    (a household can be of several kinds: moved and desil up). One pass over A FULL JOIN B."""
    a, b, c, frm, conditions = _joined(pair, scope, regency_id, year)
    count = func.count().filter
    row = conn.execute(select(
        func.count(a.c.household_id).label("households_a"),
        func.count(b.c.household_id).label("households_b"),
        count(c["is_entered"]).label("entered"),
        count(c["is_left"]).label("left"),
        count(b.c.desil > a.c.desil).label("desil_up"),
        count(b.c.desil < a.c.desil).label("desil_down"),
        count(a.c.village_id != b.c.village_id).label("moved"),
        count(c["added_any"]).label("members_added"),
        count(c["removed_any"]).label("members_removed"),
        count(_changed(a, b)).label("changed"),
    ).select_from(frm).where(*conditions)).mappings().one()
    return dict(row)


def _area_sides(d):
    """Per changed household the village it counts in: B's (A's when it left), and for a move
    also A's village as moved_out."""
    one, zero = literal(1), literal(0)

    def flag(condition):
        return case((condition, one), else_=zero)

    main = select(func.coalesce(d.c.village_b, d.c.village_a).label("village_id"),
                  flag(d.c.is_entered).label("entered"), flag(d.c.is_left).label("left"),
                  flag(d.c.desil_change > 0).label("desil_up"), flag(d.c.desil_change < 0).label("desil_down"),
                  flag(d.c.moved).label("moved_in"), zero.label("moved_out"),
                  flag(d.c.added_any).label("members_added"),
                  flag(d.c.removed_any).label("members_removed"))
    out = select(d.c.village_a, zero, zero, zero, zero, zero, one, zero, zero).where(d.c.moved)
    return union_all(main, out).subquery("s")


def _area_villages(scope: Scope, regency_id: Optional[int]) -> list:
    """Which villages' rows the user reads: the scope's villages (an OPD: wherever its
    households are) and the regency filter."""
    conditions = []
    if scope.kind in ("all", "regency"):
        villages = household_villages(scope)
        if villages is not None:
            conditions.append(Village.id.in_(villages))
    if regency_id is not None:
        conditions.append(District.regency_id == regency_id)
    return conditions


def diff_counts_by_village(conn: Connection, snapshot_a: int, snapshot_b: int, scope: Scope,
                           regency_id: Optional[int] = None, year: Optional[int] = None) -> list[dict]:
    """Per village with at least one change: village_id, code, name, district_name, regency_id
    and the counts of AREA_COUNTS (entered, left, desil_up, desil_down, moved_in, moved_out,
    members_added, members_removed). For the village map (gis) and the screen's village table.
    ``year``: the enrolment year that defines an OPD's households (default: none for an OPD)."""
    pair = choose_pair(conn, snapshot_a, snapshot_b)
    s = _area_sides(_changes_once(pair, scope, regency_id, year))
    per_village = (select(s.c.village_id, *[func.sum(s.c[k]).label(k) for k in AREA_COUNTS])
                   .group_by(s.c.village_id).subquery("pv"))
    query = (select(Village.id.label("village_id"), Village.code, Village.name, District.name.label("district_name"),
                    District.regency_id, *[cast(per_village.c[k], Integer).label(k) for k in AREA_COUNTS])
             .join(Village, Village.id == per_village.c.village_id)
             .join(District, District.id == Village.district_id)
             .where(*_area_villages(scope, regency_id)).order_by(Village.code))
    return [dict(r) for r in conn.execute(query).mappings()]


def counts_by_regency(conn: Connection, pair: Pair, scope: Scope, regency_id: Optional[int] = None,
                      year: Optional[int] = None) -> list[dict]:
    """Per regency with at least one change: regency_id, code, name and the AREA_COUNTS."""
    s = _area_sides(_changes_once(pair, scope, regency_id, year))
    query = (select(Regency.id.label("regency_id"), Regency.code, Regency.name,
                    *[cast(func.sum(s.c[k]), Integer).label(k) for k in AREA_COUNTS])
             .select_from(s).join(Village, Village.id == s.c.village_id)
             .join(District, District.id == Village.district_id).join(Regency, Regency.id == District.regency_id)
             .where(*_area_villages(scope, regency_id))
             .group_by(Regency.id, Regency.code, Regency.name).order_by(Regency.code))
    return [dict(r) for r in conn.execute(query).mappings()]


def counts_by_village(conn: Connection, pair: Pair, scope: Scope, regency_id: Optional[int] = None,
                      year: Optional[int] = None) -> list[dict]:
    return diff_counts_by_village(conn, pair.a.id, pair.b.id, scope, regency_id, year)


def _household_query(pair: Pair, scope: Scope, kind: Optional[str], regency_id: Optional[int],
                     year: Optional[int], limit: Optional[int] = None, offset: int = 0, with_total: bool = False):
    """The changed households of ``kind`` in household order; with ``limit`` the page is cut
    from the changed rows first, so the household and village look-ups and the member counts
    are made for that page only. ``with_total``: each row also carries the number of rows of
    every page (``total``, a window over the same pass)."""
    d = changes(pair, scope, regency_id, year)
    page = select(d, *([func.count().over().label("total")] if with_total else [])).where(_kind_condition(d, kind))
    page = page.order_by(d.c.household_id)
    if limit is not None:
        page = page.limit(limit).offset(offset)
    p = page.subquery("p")
    va, vb = Village.__table__.alias("va"), Village.__table__.alias("vb")
    # NIKs of a household are distinct persons: added = |B| - |B and A|, removed = |A| - |B and A|.
    common = literal_column("(SELECT count(*) FROM unnest(p.niks_b) AS n WHERE n = ANY(p.niks_a))", Integer)
    in_both = and_(p.c.niks_a.is_not(None), p.c.niks_b.is_not(None))
    members_added = case((~in_both, None), (p.c.niks_a == p.c.niks_b, 0),
                         else_=func.cardinality(p.c.niks_b) - common)
    members_removed = case((~in_both, None), (p.c.niks_a == p.c.niks_b, 0),
                           else_=func.cardinality(p.c.niks_a) - common)
    return (select(p.c.household_id, Household.no_kk, Household.head_name,
                   va.c.code.label("village_a_code"), va.c.name.label("village_a_name"),
                   vb.c.code.label("village_b_code"), vb.c.name.label("village_b_name"),
                   p.c.desil_a, p.c.desil_b, p.c.desil_change, p.c.is_entered, p.c.is_left, p.c.moved,
                   cast(members_added, Integer).label("members_added"),
                   cast(members_removed, Integer).label("members_removed"),
                   *([p.c.total] if with_total else []))
            .select_from(p).join(Household, Household.id == p.c.household_id)
            .outerjoin(va, va.c.id == p.c.village_a).outerjoin(vb, vb.c.id == p.c.village_b)
            .order_by(p.c.household_id))


def household_count(conn: Connection, pair: Pair, scope: Scope, kind: Optional[str] = None,
                    regency_id: Optional[int] = None, year: Optional[int] = None) -> int:
    d = changes(pair, scope, regency_id, year)
    return conn.execute(select(func.count()).select_from(d).where(_kind_condition(d, kind))).scalar_one()


def household_rows(pair: Pair, scope: Scope, kind: Optional[str] = None, regency_id: Optional[int] = None,
                   year: Optional[int] = None, limit: Optional[int] = None, offset: int = 0):
    """The statement of the changed households of ``kind`` (None: every change) in household
    order: household_id, no_kk, head_name, village A / B code and name, desil_a, desil_b,
    desil_change, is_entered, is_left, moved, members_added, members_removed. No KK unmasked:
    the caller masks (``with_kinds``)."""
    return _household_query(pair, scope, kind, regency_id, year, limit, offset)


def household_page(conn: Connection, pair: Pair, scope: Scope, kind: Optional[str] = None,
                   regency_id: Optional[int] = None, year: Optional[int] = None, limit: int = 50,
                   offset: int = 0) -> tuple[int, list[dict]]:
    """(total, one page of rows) in one pass over the join (the total is a window over the
    filtered rows); a page past the end asks for the total on its own."""
    rows = [dict(r) for r in conn.execute(_household_query(pair, scope, kind, regency_id, year, limit, offset,
                                                           with_total=True)).mappings()]
    total = rows[0].pop("total") if rows else household_count(conn, pair, scope, kind, regency_id, year)
    for row in rows[1:]:
        row.pop("total")
    return total, rows


def with_kinds(row, mask) -> dict:
    """A household row ready for a person: No KK through ``mask``, the kinds as words."""
    row = dict(row)
    kinds = [k for k in KINDS if _row_is(row, k)]
    row["no_kk"] = mask(row["no_kk"])
    row["kinds"] = ", ".join(str(KIND_LABELS[k]) for k in kinds)
    row["kind_keys"] = kinds
    return row


def _row_is(row, kind: str) -> bool:
    change = row.get("desil_change")
    return {"entered": row["is_entered"], "left": row["is_left"], "desil_up": change is not None and change > 0,
            "desil_down": change is not None and change < 0, "moved": row["moved"],
            "members_added": (row["members_added"] or 0) > 0,
            "members_removed": (row["members_removed"] or 0) > 0}[kind]


# --- programs: beneficiaries now outside the target desil ---------------------------------------

def _beneficiaries(pair: Pair, scope: Scope, year: int, regency_id: Optional[int], program_id: Optional[int]):
    """Counted enrolments of the year (scoped) of programs whose target range is read in B's
    source, with B's row of the household (NULL when B does not list it)."""
    b = hs.alias("b")
    query = (select(Enrolment.household_id, Program.id.label("program_id"), Program.code, Program.name,
                    Program.target_desil_min, Program.target_desil, b.c.desil.label("desil_b"),
                    b.c.household_id.label("listed"))
             .join(Program, Program.id == Enrolment.program_id)
             .outerjoin(b, and_(b.c.snapshot_id == pair.b.id, b.c.household_id == Enrolment.household_id))
             .where(Enrolment.year == year, Enrolment.status.in_(COUNTED_STATUSES), in_scope(Enrolment, scope),
                    program_source() == pair.b.source))
    if regency_id is not None:
        query = query.where(Enrolment.household_id.in_(
            select(Household.id).where(Household.village_id.in_(villages_in([regency_id])))))
    if program_id is not None:
        query = query.where(Program.id == program_id)
    return query.subquery("e")


def _outside(e):
    return or_(e.c.desil_b < e.c.target_desil_min, e.c.desil_b > e.c.target_desil)


def programs_outside_target(conn: Connection, pair: Pair, scope: Scope, year: int,
                            regency_id: Optional[int] = None) -> list[dict]:
    """Per program with a counted beneficiary of the year whose desil in B lies outside the
    program's target range: program_id, code, name, target_desil_min, target_desil,
    beneficiaries (households), outside (households outside the range), not_listed
    (beneficiaries B does not list). Only programs whose target source is B's source (a
    program without one targets BDT 2015 desils): a BDT range says nothing about a DTSEN desil."""
    e = _beneficiaries(pair, scope, year, regency_id, None)
    outside = func.count(func.distinct(e.c.household_id)).filter(_outside(e))
    query = (select(e.c.program_id, e.c.code, e.c.name, e.c.target_desil_min, e.c.target_desil,
                    func.count(func.distinct(e.c.household_id)).label("beneficiaries"),
                    outside.label("outside"),
                    func.count(func.distinct(e.c.household_id)).filter(e.c.listed.is_(None)).label("not_listed"))
             .group_by(e.c.program_id, e.c.code, e.c.name, e.c.target_desil_min, e.c.target_desil)
             .having(outside > 0).order_by(e.c.code))
    return [dict(r) for r in conn.execute(query).mappings()]


def outside_target_rows(pair: Pair, scope: Scope, year: int, regency_id: Optional[int] = None,
                        program_id: Optional[int] = None, limit: Optional[int] = None, offset: int = 0):
    """The statement of the (household, program) pairs behind ``programs_outside_target``:
    household_id, no_kk, head_name, village (B) code and name, desil_b, program code,
    target range; in household, program order."""
    e = _beneficiaries(pair, scope, year, regency_id, program_id)
    inner = (select(e.c.household_id, e.c.program_id, e.c.code.label("program_code"),
                    e.c.target_desil_min, e.c.target_desil, e.c.desil_b)
             .where(_outside(e)).distinct().subquery("o"))
    b = hs.alias("bv")
    query = (select(inner.c.household_id, Household.no_kk, Household.head_name, Village.code.label("village_b_code"),
                    Village.name.label("village_b_name"), inner.c.desil_b, inner.c.program_code,
                    inner.c.target_desil_min, inner.c.target_desil)
             .select_from(inner).join(Household, Household.id == inner.c.household_id)
             .join(b, and_(b.c.snapshot_id == pair.b.id, b.c.household_id == inner.c.household_id))
             .join(Village, Village.id == b.c.village_id)
             .order_by(inner.c.household_id, inner.c.program_code))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return query


def outside_target_count(conn: Connection, pair: Pair, scope: Scope, year: int, regency_id: Optional[int] = None,
                         program_id: Optional[int] = None) -> int:
    q = outside_target_rows(pair, scope, year, regency_id, program_id).subquery("q")
    return conn.execute(select(func.count()).select_from(q)).scalar_one()
