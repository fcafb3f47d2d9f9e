"""Duplicates and double aid: find candidate pairs, each with its reason and a score, keep them
in ``duplicate_candidate`` for the review queue, and remember the reviewers' decisions.

The four rules (one set-based INSERT ... SELECT each, ``scan``):

a) ``nik_ganda``: one NIK in two families (``household_member.nik`` equal, households differ).
   Score 1. Pair: the two households.
b) ``orang_sama``: one person under two NIKs: member names with trigram similarity >= the
   threshold (``DUPLICATE_NAME_SIMILARITY``, default 0.6), the same birth date and the same
   village (``household.village_id``). Score = the similarity. Pair: the two members.
c) ``kk_dua_desa``: one No KK in two villages. No KK is unique in ``household``, and a snapshot
   lists a household once, so "two villages" can only be seen across sources: for each source
   (BDT 2015, DTSEN) take the household's row of that source's latest snapshot listing it; when
   these rows name different villages the family is registered in two villages (e.g. BDT 2015
   says desa X, DTSEN 2025-Q4 says desa Y and nobody moved the household). Successive periods
   of ONE source are not compared: a family moving between quarters is a change, not a
   duplicate. Score 1. Pair: the household with itself, the reason key names the villages.
d) ``bantuan_ganda``: a household with counted enrolments (``gis.queries.COUNTED_STATUSES``) in
   two different programs of one year whose synergy types form a ``program_exclusion_rule``
   (``a`` + ``a``: two housing programs such as RTLH and bedah rumah). Score 1. Pair: the two
   enrolments; reason key: the rule.

A scan replaces the open candidates in one transaction (readers keep seeing the previous ones
until it commits) and leaves out every pair already decided (``duplicate_review``): a
dismissed pair never comes back. Deciding a pair removes it from the queue.

Scope: a candidate carries the regency of both sides (NULL when they lie in two regencies);
app/security/scope.py turns that into who sees it: operators and regency leaders only pairs
inside their regency, province-wide roles all.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

from flask import current_app, has_app_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import delete, func, or_, select, text

from app.models.duplicates import KINDS, DuplicateCandidate, DuplicateReview
from app.models.households import Household
from app.models.workflow import UpdateRequest
from app.security import scope as scope_mod
from app.services import audit
from app.services import update_requests as requests_service
from gis.queries import COUNTED_STATUSES

DEFAULT_SIMILARITY = 0.6
KIND_LABELS = {
    "nik_ganda": lazy_gettext("Same NIK in two families"),
    "orang_sama": lazy_gettext("One person under two NIKs"),
    "kk_dua_desa": lazy_gettext("One No KK in two villages"),
    "bantuan_ganda": lazy_gettext("Programs that must not be combined"),
}
assert set(KIND_LABELS) == set(KINDS)
HOUSEHOLD_KINDS = ("nik_ganda", "orang_sama")  # pairs that can be two households of one family


class DecisionError(Exception):
    """A decision that cannot be taken; the message is shown to the user."""


def similarity_threshold() -> float:
    value = current_app.config.get("DUPLICATE_NAME_SIMILARITY", DEFAULT_SIMILARITY) if has_app_context() \
        else DEFAULT_SIMILARITY
    value = float(value)
    if not 0 < value <= 1:
        raise ValueError("DUPLICATE_NAME_SIMILARITY must lie in (0, 1]")
    return value


# --- the scan ---------------------------------------------------------------------------------

# Columns every rule fills, in this order.
_COLUMNS = "kind, id_a, id_b, reason_key, score, household_a, household_b, village_id, other_village_id, " \
           "regency_id, detail"
# regency of a village: joined as  village va JOIN district da ON da.id = va.district_id
_NOT_DECIDED = """NOT EXISTS (SELECT 1 FROM duplicate_review r WHERE r.kind = c.kind AND r.id_a = c.id_a
                                AND r.id_b = c.id_b AND r.reason_key = c.reason_key)"""


def _insert(select_sql: str) -> str:
    """INSERT the rows of ``select_sql`` (columns _COLUMNS, aliased as c) that nobody decided yet."""
    return f"""INSERT INTO duplicate_candidate ({_COLUMNS})
SELECT {_COLUMNS} FROM ({select_sql}) c WHERE {_NOT_DECIDED}
ON CONFLICT DO NOTHING"""


_REGENCY_PAIR = """CASE WHEN da.regency_id = db.regency_id THEN da.regency_id END"""

RULES_SQL: dict[str, str] = {
    # a) The NIKs listed twice (a household lists a NIK once: uq_household_member_household_nik,
    # so twice = in two households), found by one pass over the NIK index.
    "nik_ganda": _insert(f"""
WITH shared AS (
    SELECT nik FROM household_member GROUP BY nik HAVING count(*) > 1
), pairs AS (
    SELECT a.nik, a.household_id AS ha, b.household_id AS hb, a.name AS name_a, b.name AS name_b
      FROM shared s
      JOIN household_member a ON a.nik = s.nik
      JOIN household_member b ON b.nik = s.nik AND b.household_id > a.household_id
)
SELECT 'nik_ganda'::varchar AS kind, p.ha AS id_a, p.hb AS id_b, p.nik::varchar AS reason_key, 1.0 AS score,
       p.ha AS household_a, p.hb AS household_b, h1.village_id, h2.village_id AS other_village_id,
       {_REGENCY_PAIR} AS regency_id,
       jsonb_build_object('nik', p.nik, 'name_a', p.name_a, 'name_b', p.name_b) AS detail
  FROM pairs p
  JOIN household h1 ON h1.id = p.ha JOIN household h2 ON h2.id = p.hb
  JOIN village va ON va.id = h1.village_id JOIN district da ON da.id = va.district_id
  JOIN village vb ON vb.id = h2.village_id JOIN district db ON db.id = vb.district_id"""),
    # b) Similar names (pg_trgm's % operator, threshold set per transaction), same birth date,
    # same village, different NIKs (one NIK twice is rule a). The members are blocked by
    # (village, birth date) first, a hash join: a village holds ~1,000 members, so the trigram
    # test runs on a few tens of pairs per village. Driving the join through the GIN index
    # instead probes it once per member (2.7 M probes): measured far slower (bench/README.md);
    # the index serves look-ups of one name (``similar_names``).
    "orang_sama": _insert(f"""
WITH m AS MATERIALIZED (
    SELECT x.id, x.household_id, x.nik, x.name, x.birth_date, h.village_id
      FROM household_member x JOIN household h ON h.id = x.household_id
     WHERE x.birth_date IS NOT NULL
)
SELECT 'orang_sama'::varchar AS kind, a.id AS id_a, b.id AS id_b, ''::varchar AS reason_key,
       round(similarity(a.name, b.name)::numeric, 3) AS score,
       a.household_id AS household_a, b.household_id AS household_b, a.village_id,
       b.village_id AS other_village_id, da.regency_id AS regency_id,
       jsonb_build_object('nik_a', a.nik, 'nik_b', b.nik, 'name_a', a.name, 'name_b', b.name,
                          'birth_date', a.birth_date) AS detail
  FROM m a
  JOIN m b ON b.village_id = a.village_id AND b.birth_date = a.birth_date AND b.id > a.id
          AND b.nik <> a.nik AND b.name % a.name
  JOIN village va ON va.id = a.village_id JOIN district da ON da.id = va.district_id"""),
    # c) The latest row of each source per household; two distinct villages among them. Only
    # households with some snapshot row in another village than ``household.village_id`` can
    # qualify (two distinct villages cannot both equal it): one hash join finds those few first.
    "kk_dua_desa": _insert(f"""
WITH suspects AS MATERIALIZED (
    SELECT DISTINCT hs.household_id FROM household_snapshot hs JOIN household h ON h.id = hs.household_id
     WHERE hs.village_id <> h.village_id
), latest AS (
    SELECT DISTINCT ON (hs.household_id, s.source) hs.household_id, s.source, s.period, hs.village_id
      FROM suspects x JOIN household_snapshot hs ON hs.household_id = x.household_id
      JOIN targeting_snapshot s ON s.id = hs.snapshot_id
     ORDER BY hs.household_id, s.source, s.period_start DESC
), two AS (
    SELECT household_id, array_agg(DISTINCT village_id ORDER BY village_id) AS villages,
           jsonb_agg(jsonb_build_object('source', source, 'period', period, 'village_id', village_id)
                     ORDER BY source) AS listed
      FROM latest GROUP BY household_id HAVING min(village_id) <> max(village_id)
)
SELECT 'kk_dua_desa'::varchar AS kind, t.household_id AS id_a, t.household_id AS id_b,
       array_to_string(t.villages, '|')::varchar AS reason_key, 1.0 AS score,
       t.household_id AS household_a, t.household_id AS household_b, h.village_id,
       CASE WHEN t.villages[1] = h.village_id THEN t.villages[2] ELSE t.villages[1] END AS other_village_id,
       {_REGENCY_PAIR} AS regency_id, jsonb_build_object('listed', t.listed) AS detail
  FROM two t JOIN household h ON h.id = t.household_id
  JOIN village va ON va.id = h.village_id JOIN district da ON da.id = va.district_id
  JOIN village vb ON vb.id = (CASE WHEN t.villages[1] = h.village_id THEN t.villages[2] ELSE t.villages[1] END)
  JOIN district db ON db.id = vb.district_id"""),
    # d) Only the enrolments of programs whose type some rule names take part in the self-join.
    "bantuan_ganda": _insert(f"""
WITH ruled AS (
    SELECT e.id, e.household_id, e.year, e.program_id, p.synergy_type, p.code, p.name
      FROM enrolment e JOIN program p ON p.id = e.program_id
     WHERE e.status IN ({", ".join(f"'{s}'" for s in COUNTED_STATUSES)})
       AND p.synergy_type IN (SELECT synergy_type_a FROM program_exclusion_rule
                              UNION SELECT synergy_type_b FROM program_exclusion_rule)
)
SELECT 'bantuan_ganda'::varchar AS kind, e1.id AS id_a, e2.id AS id_b, r.id::varchar AS reason_key, 1.0 AS score,
       e1.household_id AS household_a, e1.household_id AS household_b, h.village_id,
       h.village_id AS other_village_id, da.regency_id AS regency_id,
       jsonb_build_object('year', e1.year, 'rule', r.synergy_type_a || ' + ' || r.synergy_type_b,
                          'program_a', e1.code || ' ' || e1.name, 'program_b', e2.code || ' ' || e2.name) AS detail
  FROM ruled e1
  JOIN ruled e2 ON e2.household_id = e1.household_id AND e2.year = e1.year AND e2.id > e1.id
               AND e2.program_id <> e1.program_id
  JOIN program_exclusion_rule r
    ON (r.synergy_type_a = e1.synergy_type AND r.synergy_type_b = e2.synergy_type)
    OR (r.synergy_type_a = e2.synergy_type AND r.synergy_type_b = e1.synergy_type)
  JOIN household h ON h.id = e1.household_id
  JOIN village va ON va.id = h.village_id JOIN district da ON da.id = va.district_id"""),
}
assert set(RULES_SQL) == set(KINDS)


@dataclass
class ScanResult:
    found: dict  # kind -> open candidates inserted
    seconds: dict  # kind -> seconds its statement took

    @property
    def total(self) -> int:
        return sum(self.found.values())


def scan(session, threshold: Optional[float] = None) -> ScanResult:
    """Recompute every open candidate, in the caller's transaction (the caller commits)."""
    threshold = similarity_threshold() if threshold is None else float(threshold)
    # One scan at a time (CLI and button alike): a second waits, then redoes the work on fresh data.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinergi duplicates scan'))"))
    # set_config, not SET: psycopg 3 binds parameters server-side and SET takes none.
    session.execute(text("SELECT set_config('pg_trgm.similarity_threshold', :t, true), "
                         "set_config('work_mem', '256MB', true)"), {"t": str(threshold)})
    session.execute(delete(DuplicateCandidate))
    found, seconds = {}, {}
    for kind, statement in RULES_SQL.items():
        start = time.perf_counter()
        found[kind] = session.execute(text(statement)).rowcount
        seconds[kind] = round(time.perf_counter() - start, 2)
    return ScanResult(found, seconds)


def similar_names(session, name: str, scope, limit: int = 20):
    """Members named like ``name`` (trigram similarity >= the threshold), most similar first,
    in the scope: (member id, household id, name, similarity). Uses the GIN trigram index."""
    from app.models.households import HouseholdMember

    session.execute(text("SELECT set_config('pg_trgm.similarity_threshold', :t, true)"),
                    {"t": str(similarity_threshold())})
    similarity = func.similarity(HouseholdMember.name, name)
    query = (select(HouseholdMember.id, HouseholdMember.household_id, HouseholdMember.name, similarity)
             .where(HouseholdMember.name.op("%")(name)).order_by(similarity.desc()).limit(limit))
    return session.execute(scope_mod.apply(query, HouseholdMember, scope)).all()


# --- reading the queue ------------------------------------------------------------------------

def _scoped(query, scope):
    return scope_mod.apply(query, DuplicateCandidate, scope)


def _filters(query, kind: Optional[str] = None, village_id: Optional[int] = None):
    if kind:
        query = query.where(DuplicateCandidate.kind == kind)
    if village_id:
        query = query.where(or_(DuplicateCandidate.village_id == village_id,
                                DuplicateCandidate.other_village_id == village_id))
    return query


def queue(session, scope, kind: Optional[str] = None, village_id: Optional[int] = None, limit: int = 50,
          offset: int = 0) -> tuple[int, list[DuplicateCandidate]]:
    """(number of open candidates, one page of them, best score first) in the scope."""
    count = session.execute(_filters(_scoped(select(func.count(DuplicateCandidate.id)), scope),
                                     kind, village_id)).scalar_one()
    rows = session.execute(_filters(_scoped(select(DuplicateCandidate), scope), kind, village_id)
                           .order_by(DuplicateCandidate.score.desc(), DuplicateCandidate.id)
                           .limit(limit).offset(offset)).scalars().all()
    return count, rows


def duplicate_counts_by_village(session, scope, kind: Optional[str] = None) -> dict[int, int]:
    """Open candidates per village in the scope (for the map): a pair spanning two villages
    counts in each. Reads ``duplicate_candidate`` only (indexes on both village columns)."""
    base = _filters(_scoped(select(DuplicateCandidate.id, DuplicateCandidate.village_id,
                                   DuplicateCandidate.other_village_id), scope), kind).subquery()
    sides = select(base.c.village_id.label("v")).union_all(
        select(base.c.other_village_id).where(base.c.other_village_id != base.c.village_id)).subquery()
    rows = session.execute(select(sides.c.v, func.count()).group_by(sides.c.v)).all()
    return {village_id: count for village_id, count in rows}


def has_open_pairs(village_id, scope, kind: Optional[str] = None):
    """Predicate: an open candidate in the scope has a side in ``village_id`` (a column of the
    outer query, e.g. ``Village.id``): the queue's village choices. Two EXISTS, one per side,
    which PostgreSQL runs as two hashed subplans over ``duplicate_candidate`` (a few thousand
    rows); one EXISTS with an OR inside, or an IN over a UNION, planned a nested loop three
    times slower at 1 M households (bench/README.md)."""
    def side(column):
        return _filters(_scoped(select(DuplicateCandidate.id), scope), kind).where(column == village_id).exists()

    return or_(side(DuplicateCandidate.village_id), side(DuplicateCandidate.other_village_id))


def pairs_in_village(village_id, scope, kind: Optional[str] = None):
    """Scalar subquery: the open candidates in the scope with a side in ``village_id`` (a column
    of the outer query, e.g. ``Village.id``, or a value); indexes on both village columns."""
    return _filters(_scoped(select(func.count(DuplicateCandidate.id)), scope), kind).where(
        or_(DuplicateCandidate.village_id == village_id,
            DuplicateCandidate.other_village_id == village_id)).scalar_subquery()


def candidate_in_scope(session, candidate_id: int, scope) -> Optional[DuplicateCandidate]:
    return session.execute(_scoped(select(DuplicateCandidate).where(DuplicateCandidate.id == candidate_id),
                                   scope)).scalar_one_or_none()


def households_of(session, candidates) -> dict[int, Household]:
    ids = {c.household_a for c in candidates} | {c.household_b for c in candidates}
    if not ids:
        return {}
    return {h.id: h for h in session.execute(select(Household).where(Household.id.in_(ids))).scalars()}


# --- decisions --------------------------------------------------------------------------------

def is_household_pair(candidate: DuplicateCandidate) -> bool:
    """Two households that may be one family: confirming removes one through a request."""
    return candidate.kind in HOUSEHOLD_KINDS and candidate.household_a != candidate.household_b


def _remember(session, candidate: DuplicateCandidate, user, decision: str, note: Optional[str],
              request: Optional[UpdateRequest] = None) -> DuplicateReview:
    review = DuplicateReview(kind=candidate.kind, id_a=candidate.id_a, id_b=candidate.id_b,
                             reason_key=candidate.reason_key, decision=decision,
                             decided_by=getattr(user, "username", None), decided_by_id=getattr(user, "id", None),
                             note=note or None, detail={**(candidate.detail or {}), "score": str(candidate.score),
                                                        "household_a": candidate.household_a,
                                                        "household_b": candidate.household_b},
                             update_request_id=request.id if request is not None else None)
    session.add(review)
    session.delete(candidate)
    session.flush()
    audit.record(session.connection(), [{
        "action": f"duplicate_{decision}", "entity": "duplicate_review", "entity_id": review.id,
        "after": {"kind": review.kind, "id_a": review.id_a, "id_b": review.id_b, "reason_key": review.reason_key,
                  "update_request_id": review.update_request_id},
        "note": (note or None), "user_id": getattr(user, "id", None), "username": getattr(user, "username", None)}])
    return review


def _decidable(session, candidate_id: int, user) -> DuplicateCandidate:
    if not requests_service.may(user, requests_service.PROPOSERS):
        raise DecisionError(_("Your role may not decide on duplicates."))
    candidate = candidate_in_scope(session, candidate_id, scope_mod.scope_for(user))
    if candidate is None:
        raise DecisionError(_("This pair is no longer open (decided already, or outside your area)."))
    return candidate


def dismiss(session, candidate_id: int, user, note: Optional[str] = None) -> DuplicateReview:
    """Not a duplicate: remembered, so no later scan offers the pair again."""
    candidate = _decidable(session, candidate_id, user)
    return _remember(session, candidate, user, "dismissed", note)


def confirm(session, candidate_id: int, user, keep: Optional[str] = None,
            note: Optional[str] = None) -> tuple[DuplicateReview, Optional[UpdateRequest]]:
    """A real duplicate. For two households (``is_household_pair``) a draft removal request
    ("hapus", reason "ganda") for the one not kept (``keep`` = 'a' or 'b'), its note naming the
    household kept: it goes through evidence, verification and approval like every removal.
    Other kinds are recorded as confirmed (the fix — ending an enrolment, correcting a village —
    is the program's or the household's own screen)."""
    candidate = _decidable(session, candidate_id, user)
    request = None
    if is_household_pair(candidate):
        if keep not in ("a", "b"):
            raise DecisionError(_("Choose the household to keep."))
        kept_id, removed_id = ((candidate.household_a, candidate.household_b) if keep == "a"
                               else (candidate.household_b, candidate.household_a))
        kept = session.get(Household, kept_id)
        removed = session.get(Household, removed_id)
        if kept is None or removed is None:
            raise DecisionError(_("One of the two households no longer exists: scan again."))
        text_note = _("Duplicate of No KK %(no_kk)s (%(name)s), which is kept. Finding: %(reason)s.",
                      no_kk=kept.no_kk, name=kept.head_name, reason=KIND_LABELS[candidate.kind])
        if note:
            text_note = f"{text_note} {note}"
        request = requests_service.create_request(session, user, "hapus", household=removed,
                                                  removal_reason="ganda", note=text_note)
    review = _remember(session, candidate, user, "confirmed", note, request)
    return review, request
