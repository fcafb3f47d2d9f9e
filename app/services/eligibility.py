"""Program eligibility by desil: is an enrolment inside the desil range its program targets?

A program targets desils ``target_desil_min`` .. ``target_desil`` read in one source
(``program.target_source``: 'DTSEN', or NULL / 'BDT 2015' = BDT 2015, the seed's programs).
An enrolment outside that range is FLAGGED ("di luar sasaran desil"), never refused: a
beneficiary whose desil rose above the range is a case to review (docs/domain.md).

The household's desil in a source (``household_desil_in_source``):
  its row in the latest snapshot of that source (by ``targeting_snapshot.period_start``; for
  a program with no source, 'BDT 2015'); when that snapshot does not list the household,
  ``household.desil`` (the value of the latest snapshot that lists it) stands in. As snapshots
  of a source follow each other in time, this is the household's desil in the latest snapshot
  of that source that lists it; read this way it is one primary-key lookup, or for a province
  one hash join with that snapshot's rows.

Everything that flags or counts uses ``_outside`` (the enrolment list filter, the enrolment
page, the program overlap analysis), so they cannot disagree: ``outside_target_clause`` as an
EXISTS correlated to ``enrolment`` (a page of a list), ``counted_outside_enrolments`` as joins
(a province's enrolments meet their programs, households and snapshot rows by hash joins).
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import Boolean, Integer, and_, cast, func, literal, not_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from app.models.households import Enrolment, Household
from app.models.programs import Program
from app.models.snapshots import BDT, DESIL_MAX, HouseholdSnapshot, TargetingSnapshot
from app.security.scope import Scope, in_scope, villages_in
from gis.queries import COUNTED_STATUSES


def program_source(program=Program):
    """The program's source as SQL: its ``target_source``, 'BDT 2015' when it has none."""
    return func.coalesce(program.target_source, BDT)


def highest_desil(source: Optional[str]) -> int:
    """The highest desil of a source (None: BDT 2015)."""
    return DESIL_MAX.get(source or BDT, DESIL_MAX[BDT])


def latest_snapshots():
    """(source, snapshot_id): the latest snapshot of each source."""
    return (select(TargetingSnapshot.source, TargetingSnapshot.id.label("snapshot_id"))
            .distinct(TargetingSnapshot.source)
            .order_by(TargetingSnapshot.source, TargetingSnapshot.period_start.desc()).subquery("latest_snapshot"))


def household_desil_in_source(household, source):
    """SQL: the desil of ``household`` (a Household entity or alias in the enclosing query) read
    in ``source`` (an SQL text expression): its row in the latest snapshot of that source, else
    ``household.desil`` (one primary-key lookup of household_snapshot)."""
    hs, ts = aliased(HouseholdSnapshot), aliased(TargetingSnapshot)
    latest_id = (select(ts.id).where(ts.source == source).order_by(ts.period_start.desc()).limit(1)
                 .correlate_except(ts).scalar_subquery())
    in_latest = (select(hs.desil).where(hs.household_id == household.id, hs.snapshot_id == latest_id)
                 .correlate_except(hs).scalar_subquery())
    return func.coalesce(cast(in_latest, Integer), household.desil)


def _outside(program, desil):
    # range @> desil: the desil expression is evaluated once (NOT BETWEEN would repeat it).
    target = func.int4range(program.target_desil_min, program.target_desil, literal("[]"))
    return not_(target.op("@>", return_type=Boolean)(desil))


def outside_target_clause(enrolment=Enrolment):
    """SQL condition on ``enrolment`` (the entity or an alias in the enclosing query): its
    household's desil, read in its program's source, lies outside the program's target range."""
    p, h = aliased(Program), aliased(Household)
    return (select(p.id).join(h, h.id == enrolment.household_id)
            .where(p.id == enrolment.program_id, _outside(p, household_desil_in_source(h, program_source(p))))
            .correlate(enrolment).exists())


def target_rows(conn: Connection, enrolment_ids: list[int]) -> dict[int, dict]:
    """enrolment id -> {desil (the household's, in the program's source), source, min, max,
    outside} for the given enrolments (callers pass ids they already read through the scope)."""
    if not enrolment_ids:
        return {}
    p, h = aliased(Program), aliased(Household)
    source = program_source(p)
    desil = household_desil_in_source(h, source)
    query = (select(Enrolment.id, desil.label("desil"), source.label("source"),
                    p.target_desil_min.label("min"), p.target_desil.label("max"))
             .join(p, p.id == Enrolment.program_id).join(h, h.id == Enrolment.household_id)
             .where(Enrolment.id.in_(enrolment_ids)))
    return {r["id"]: {**r, "outside": not r["min"] <= r["desil"] <= r["max"]}
            for r in conn.execute(query).mappings()}


def counted_outside_enrolments(year: int, scope: Scope, regency_id: Optional[int] = None):
    """SELECT (id, program_id) of the counted enrolments of ``year`` the scope reads (the
    Enrolment rule of app/security/scope.py), in ``regency_id``'s villages when given, whose
    household lies outside the program's target desil.

    The same rule as ``outside_target_clause`` (``_outside``, ``household_desil_in_source``),
    written as joins so that a province's enrolments meet their programs, households and
    snapshot rows by hash joins instead of one EXISTS per enrolment."""
    p, h, hs = aliased(Program), aliased(Household), aliased(HouseholdSnapshot)
    latest = latest_snapshots()
    query = (select(Enrolment.id, Enrolment.program_id)
             .join(p, p.id == Enrolment.program_id).join(h, h.id == Enrolment.household_id)
             .outerjoin(latest, latest.c.source == program_source(p))
             .outerjoin(hs, and_(hs.household_id == h.id, hs.snapshot_id == latest.c.snapshot_id))
             .where(Enrolment.year == year, Enrolment.status.in_(COUNTED_STATUSES), in_scope(Enrolment, scope),
                    _outside(p, func.coalesce(cast(hs.desil, Integer), h.desil))))
    if regency_id is not None:
        query = query.where(h.village_id.in_(villages_in([regency_id])))
    return query


def outside_target_counts(conn: Connection, year: int, scope: Scope,
                          regency_id: Optional[int] = None) -> dict[int, int]:
    """program id -> its counted enrolments of ``year`` outside its target desil (scoped; in one
    regency when given). Programs with none are absent. The enrolment list filtered by the
    program, "status is not ditolak", "outside the target desil" (and the household's regency)
    lists exactly these rows (app/views/enrolment_filters.py ``enrolment_list_url``)."""
    rows = counted_outside_enrolments(year, scope, regency_id).subquery("o")
    query = select(rows.c.program_id, func.count()).group_by(rows.c.program_id)
    return dict(conn.execute(query).all())
