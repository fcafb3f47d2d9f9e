"""THE one place that turns "the current user" into a SQL predicate on domain rows.

Every path that reads or writes domain rows asks here: FAB list/show/edit/delete (through
``ScopeFilter`` in ``base_filters``), every ``@action`` (FAB does not filter actions),
the REST API, and later exports, maps, tiles, analysis and reports.

Who sees what (domain.md):
- Admin, Bappeda Provinsi: everything.
- Operator TKPK (one kabupaten/kota R): households, members and enrolments in R; the
  programs that cover R; R's TKPK, zones and indicators (province-wide ones read-only).
- Petugas OPD (one agency A): A's programs and their enrolments; households in the
  regencies A's programs cover (read-only).
- Pimpinan: read-only; everything, or one kabupaten/kota when the user has one.
- anyone else: nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from flask import g, has_request_context
from flask_appbuilder.models.filters import BaseFilter
from sqlalchemy import false, func, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from app.models.areas import District, Province, Regency, Village
from app.models.households import Enrolment, Household, HouseholdMember
from app.models.programs import Program, program_regency
from app.models.tkpk import Agency, TkpkDocument, TkpkInstitution, TkpkMember
from app.models.audit import AuditLog
from app.models.duplicates import DuplicateCandidate, ProgramExclusionRule
from app.models.jobs import ExportLog, ImportJob
from app.models.workflow import Complaint, Lp2kdNote, UpdateEvidence, UpdateRequest, UpdateRequestStep
from app.models.zones import PovertyIndicator, PriorityZone
from app.security import roles as R

UNMASK_PERMISSION = ("can_see", "PersonalData")  # (permission, view menu) to read full NIK / No KK


class ScopeError(Exception):
    """A write outside the user's scope. The message is shown to the user."""


@dataclass(frozen=True)
class Scope:
    kind: str  # "all" | "regency" | "agency" | "none"
    regency_id: Optional[int] = None
    agency_id: Optional[int] = None
    can_unmask: bool = False

    @property
    def everything(self) -> bool:
        return self.kind == "all"


NOTHING = Scope("none")


def scope_for(user) -> Scope:
    """The scope of a user object (FAB user or anonymous)."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return NOTHING
    roles = {r.name for r in user.roles}
    unmask = _has_unmask(user)
    if roles & {R.ADMIN, R.BAPPEDA}:
        return Scope("all", can_unmask=unmask)
    if R.OPERATOR in roles:
        return Scope("regency", regency_id=user.regency_id, can_unmask=unmask) if user.regency_id else NOTHING
    if R.OPD in roles:
        return Scope("agency", agency_id=user.agency_id, can_unmask=unmask) if user.agency_id else NOTHING
    if R.PIMPINAN in roles:
        if user.regency_id:
            return Scope("regency", regency_id=user.regency_id, can_unmask=unmask)
        return Scope("all", can_unmask=unmask)
    return NOTHING


def _has_unmask(user) -> bool:
    perm, view = UNMASK_PERMISSION
    if has_request_context():
        # FAB's own check, answered from the request's one read of the roles' permissions
        # (SinergiSecurityManager.exist_permission_on_roles) instead of loading every role's
        # permission objects again each time a scope is computed.
        from flask import current_app

        return current_app.appbuilder.sm._has_view_access(user, perm, view)
    return any(pv.permission.name == perm and pv.view_menu.name == view
               for role in user.roles for pv in role.permissions)


def current_scope() -> Scope:
    """The scope of the request's user: session login, JWT or API key (FAB's sm.current_user).

    Cached per request and user, so a lookup made before the JWT was verified does not stick.
    """
    if not has_request_context():
        return NOTHING
    from flask import current_app

    user = current_app.appbuilder.sm.current_user
    key = getattr(user, "id", None)
    cached = g.get("sinergi_scope")
    if cached is None or cached[0] != key:
        cached = (key, scope_for(user))
        g.sinergi_scope = cached
    return cached[1]


# --- building blocks -------------------------------------------------------------------

def villages_in(regency_ids) -> select:
    """SELECT of the ids of the villages of the given regencies."""
    return select(Village.id).join(District, District.id == Village.district_id).where(
        District.regency_id.in_(regency_ids))


def _regencies_of_agency(agency_id: int):
    """Regencies covered by the programs of an agency, plus the agency's own regency."""
    covered = select(program_regency.c.regency_id).join(Program, Program.id == program_regency.c.program_id) \
        .where(Program.agency_id == agency_id)
    own = select(Agency.regency_id).where(Agency.id == agency_id, Agency.regency_id.is_not(None))
    return covered.union(own)


def _households_in_regency(rid: int) -> ColumnElement:
    return Household.village_id.in_(villages_in([rid]))


def _households_of_agency(aid: int) -> ColumnElement:
    return Household.village_id.in_(villages_in(_regencies_of_agency(aid)))


def _household_ids(pred: ColumnElement):
    return select(Household.id).where(pred)


def _programs_covering(rid: int) -> ColumnElement:
    covering = select(program_regency.c.program_id).where(program_regency.c.regency_id == rid)
    own = select(Program.id).join(Agency, Agency.id == Program.agency_id).where(Agency.regency_id == rid)
    return Program.id.in_(covering.union(own))


def _own_regency_programs(rid: int) -> ColumnElement:
    return Program.agency_id.in_(select(Agency.id).where(Agency.regency_id == rid))


def _institutions(pred: ColumnElement):
    return select(TkpkInstitution.id).where(pred)


ALL = None  # "no restriction"

# model -> (regency read, regency write, agency read, agency write); each a function of the id.
Rule = Callable[[int], Optional[ColumnElement]]
RULES: dict[type, tuple[Rule, Rule, Rule, Rule]] = {
    Province: (lambda r: ALL, lambda r: false(), lambda a: ALL, lambda a: false()),
    Regency: (lambda r: ALL, lambda r: false(), lambda a: ALL, lambda a: false()),
    District: (lambda r: ALL, lambda r: false(), lambda a: ALL, lambda a: false()),
    Village: (lambda r: ALL, lambda r: false(), lambda a: ALL, lambda a: false()),
    Household: (
        _households_in_regency, _households_in_regency,
        _households_of_agency, lambda a: false(),
    ),
    HouseholdMember: (
        lambda r: HouseholdMember.household_id.in_(_household_ids(_households_in_regency(r))),
        lambda r: HouseholdMember.household_id.in_(_household_ids(_households_in_regency(r))),
        lambda a: HouseholdMember.household_id.in_(_household_ids(_households_of_agency(a))),
        lambda a: false(),
    ),
    Enrolment: (
        lambda r: Enrolment.household_id.in_(_household_ids(_households_in_regency(r))),
        lambda r: Enrolment.household_id.in_(_household_ids(_households_in_regency(r))),
        lambda a: Enrolment.program_id.in_(select(Program.id).where(Program.agency_id == a)),
        lambda a: Enrolment.program_id.in_(select(Program.id).where(Program.agency_id == a)),
    ),
    Program: (
        _programs_covering, _own_regency_programs,
        lambda a: Program.agency_id == a, lambda a: Program.agency_id == a,
    ),
    Agency: (
        lambda r: ALL, lambda r: Agency.regency_id == r,
        lambda a: ALL, lambda a: Agency.id == a,
    ),
    TkpkInstitution: (
        lambda r: or_(TkpkInstitution.regency_id == r, TkpkInstitution.regency_id.is_(None)),
        lambda r: TkpkInstitution.regency_id == r,
        lambda a: ALL, lambda a: false(),
    ),
    TkpkMember: (
        lambda r: TkpkMember.institution_id.in_(_institutions(
            or_(TkpkInstitution.regency_id == r, TkpkInstitution.regency_id.is_(None)))),
        lambda r: TkpkMember.institution_id.in_(_institutions(TkpkInstitution.regency_id == r)),
        lambda a: ALL, lambda a: false(),
    ),
    TkpkDocument: (
        lambda r: TkpkDocument.institution_id.in_(_institutions(
            or_(TkpkInstitution.regency_id == r, TkpkInstitution.regency_id.is_(None)))),
        lambda r: TkpkDocument.institution_id.in_(_institutions(TkpkInstitution.regency_id == r)),
        lambda a: ALL, lambda a: false(),
    ),
    PriorityZone: (
        lambda r: or_(PriorityZone.regency_id == r, PriorityZone.regency_id.is_(None)),
        lambda r: PriorityZone.regency_id == r,
        lambda a: ALL, lambda a: false(),
    ),
    PovertyIndicator: (
        lambda r: ALL, lambda r: PovertyIndicator.regency_id == r,
        lambda a: ALL, lambda a: false(),
    ),
    # Workflows belong to the regency they concern; agencies take no part in them.
    UpdateRequest: (
        lambda r: UpdateRequest.regency_id == r, lambda r: UpdateRequest.regency_id == r,
        lambda a: false(), lambda a: false(),
    ),
    UpdateRequestStep: (
        lambda r: UpdateRequestStep.request_id.in_(select(UpdateRequest.id).where(UpdateRequest.regency_id == r)),
        lambda r: UpdateRequestStep.request_id.in_(select(UpdateRequest.id).where(UpdateRequest.regency_id == r)),
        lambda a: false(), lambda a: false(),
    ),
    UpdateEvidence: (
        lambda r: UpdateEvidence.request_id.in_(select(UpdateRequest.id).where(UpdateRequest.regency_id == r)),
        lambda r: UpdateEvidence.request_id.in_(select(UpdateRequest.id).where(UpdateRequest.regency_id == r)),
        lambda a: false(), lambda a: false(),
    ),
    Complaint: (
        lambda r: Complaint.regency_id == r, lambda r: Complaint.regency_id == r,
        lambda a: false(), lambda a: false(),
    ),
    Lp2kdNote: (
        lambda r: Lp2kdNote.regency_id == r, lambda r: Lp2kdNote.regency_id == r,
        lambda a: false(), lambda a: false(),
    ),
    ImportJob: (
        lambda r: ImportJob.regency_id == r, lambda r: ImportJob.regency_id == r,
        lambda a: false(), lambda a: false(),
    ),
    # Duplicate pairs: a regency sees those with both sides inside it (regency_id NULL = two regencies).
    DuplicateCandidate: (lambda r: DuplicateCandidate.regency_id == r, lambda r: DuplicateCandidate.regency_id == r,
                         lambda a: false(), lambda a: false()),
    ProgramExclusionRule: (lambda r: false(), lambda r: false(), lambda a: false(), lambda a: false()),
    # The logs are for Admin and Bappeda only.
    ExportLog: (lambda r: false(), lambda r: false(), lambda a: false(), lambda a: false()),
    AuditLog: (lambda r: false(), lambda r: false(), lambda a: false(), lambda a: false()),
}


def predicate(model: type, scope: Scope | None = None, write: bool = False) -> Optional[ColumnElement]:
    """SQL predicate limiting ``model`` rows to the scope; None means no restriction.

    A model without a rule is refused for scoped users (fail closed), so a new domain
    model cannot leak by being forgotten here.
    """
    scope = scope or current_scope()
    if scope.everything:
        return ALL
    if scope.kind == "none":
        return false()
    rules = RULES.get(model)
    if rules is None:
        return false()
    regency_read, regency_write, agency_read, agency_write = rules
    if scope.kind == "regency":
        return (regency_write if write else regency_read)(scope.regency_id)
    return (agency_write if write else agency_read)(scope.agency_id)


def choosable_areas(model: type, scope: Scope | None = None, write: bool = True) -> Optional[ColumnElement]:
    """Predicate on Regency or Village: the areas a user may pick in a form — to place a
    household or a zone there (``write``) or to filter a list by (read). Areas themselves
    are public; what a user may put in them is scoped. None means every area."""
    scope = scope or current_scope()
    if scope.everything or (scope.kind == "agency" and not write):
        return ALL
    if scope.kind == "regency":
        if model is Regency:
            return Regency.id == scope.regency_id
        return Village.district_id.in_(select(District.id).where(District.regency_id == scope.regency_id))
    return false()


def household_villages(scope: Scope) -> Optional[select]:
    """The villages whose households a province-wide or regency scope reads (the Household
    rule's own village set), for figures kept per village (gis/measures.py); None: every
    village. Not for an OPD's scope, whose figures count only its own programs."""
    if scope.kind == "all":
        return None
    if scope.kind == "regency":
        return villages_in([scope.regency_id])
    raise ValueError(f"per-village figures are not kept for a {scope.kind!r} scope")


def in_scope(model: type, scope: Scope | None = None, write: bool = False) -> ColumnElement:
    """``predicate`` as a condition always usable in ``.where()``: ``true()`` when unrestricted."""
    pred = predicate(model, scope, write)
    return true() if pred is None else pred


def apply(query, model: type, scope: Scope | None = None, write: bool = False):
    """Add the scope predicate to a SQLAlchemy select/query."""
    pred = predicate(model, scope, write)
    return query if pred is None else query.filter(pred)


def is_in_scope(session, item, scope: Scope | None = None, write: bool = False) -> bool:
    """Whether a persisted (or just flushed) row lies in the scope. Checked by the database
    with the same predicate the lists use, so there is one definition of scope."""
    model = type(item)
    pred = predicate(model, scope, write)
    if pred is None:
        return True
    if item.id is None:
        session.flush()
    return session.execute(select(model.id).where(model.id == item.id, pred)).first() is not None


def mask_number(value: Optional[str], scope: Scope | None = None) -> Optional[str]:
    """'1871012345670003' -> '1871********0003' unless the scope may see personal data."""
    scope = scope or current_scope()
    if value is None or scope.can_unmask:
        return value
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


# A NIK or No KK inside free text: 16 digits, also written in groups of four ("1871 0123 4567 0003",
# dots or dashes), and not part of a longer number.
_ID_NUMBER_IN_TEXT = re.compile(r"(?<!\d)\d{4}([ .-]?)\d{4}\1\d{4}\1\d{4}(?!\d)")


def mask_text(value: Optional[str], scope: Scope | None = None) -> Optional[str]:
    """Free text (complaint description, notes, reasons) with every NIK / No KK in it masked as
    ``mask_number`` does, for users who may not see personal data. People type these numbers
    into free text; the masking of the number columns would be worthless if the text kept them."""
    scope = scope or current_scope()
    if not value or scope.can_unmask:
        return value
    return _ID_NUMBER_IN_TEXT.sub(lambda m: mask_number(re.sub(r"\D", "", m.group(0)), scope), value)


def masked_column(column: str, scope: Scope | None = None) -> bool:
    """True when ``column`` (a name or a dotted path like ``household.no_kk``) holds numbers the
    scope sees masked: sorting or filtering on it would be an oracle for the hidden digits."""
    scope = scope or current_scope()
    return not scope.can_unmask and column.rsplit(".", 1)[-1] in MASKED_COLUMNS


MASKED_COLUMNS = frozenset({"no_kk", "head_nik", "nik"})


POSITION_DECIMALS_MASKED = 2  # ~1 km: the village, not the house
POSITION_SLACK = 0.5 * 10 ** -POSITION_DECIMALS_MASKED  # how far snapping may move a point, per axis


def position(point, scope: Scope | None = None):
    """A household's point (SQL) as the user may see it: exact for users who may see personal
    data, otherwise snapped to a 0.01° grid. Leaders and OPD see where the poor live, not
    which house; the spatial joins (geolocation, zones, tiles' search) keep using the exact point."""
    scope = scope or current_scope()
    return point if scope.can_unmask else func.ST_SnapToGrid(point, 10 ** -POSITION_DECIMALS_MASKED)


def round_coordinate(value: Optional[float], scope: Scope | None = None) -> Optional[float]:
    """A longitude or latitude already read, rounded as ``position`` does for masked users."""
    scope = scope or current_scope()
    if value is None or scope.can_unmask:
        return value
    return round(value, POSITION_DECIMALS_MASKED)


# SQL twins of mask_number and round_coordinate, for exports that format their rows in the
# database (app/list_exports.py, COPY). Each gives exactly what its Python twin gives.

def mask_number_sql(expr: str) -> str:
    """SQL: ``mask_number`` of the text ``expr`` for a user who may not see the numbers."""
    n = f"length({expr})"
    return f"(CASE WHEN {n} <= 8 THEN repeat('*', {n}) ELSE left({expr}, 4) || repeat('*', {n} - 8) || right({expr}, 4) END)"


def round_coordinate_sql(expr: str) -> str:
    """SQL: ``round_coordinate`` of the float8 ``expr`` for a masked user, as float8 — Python's
    ``round(x, 2)``: the exact binary value rounded half to even. Rounding the shortest decimal
    text of x (float8's text with ``extra_float_digits = 1``, as repr) gives the same except
    when that text is itself a tie (ends in the third decimal with 5): then the exact value,
    from the float's bits, decides which way; exactly on the tie, the even neighbour. -0.0 as
    Python keeps it."""
    if POSITION_DECIMALS_MASKED != 2:  # pragma: no cover - the SQL below is written for 2 decimals
        raise NotImplementedError
    t = f"({expr})::float8::text"
    m = f"abs(({t})::numeric)"
    n = f"({m} * 1000)::bigint"  # the tie in thousandths: ...5
    bits = f"('x' || encode(float8send(abs(({expr})::float8)), 'hex'))::bit(64)::bigint"
    # |x| = (2^52 + fraction) * 2^(e - 1075); compared with n / 1000 in integers
    exact = f"((({bits} & 4503599627370495) + 4503599627370496)::numeric * 1000)"
    tie = f"({n}::numeric * (1::bigint << (1075 - ({bits} >> 52)::int))::numeric)"
    rounded = f"""(CASE WHEN {t} !~ '^-?[0-9]+[.][0-9][0-9]5$' THEN round(({t})::numeric, 2)
        ELSE ({n} - 5 + CASE WHEN {exact} > {tie} THEN 10 WHEN {exact} < {tie} THEN 0
                             WHEN mod(({n} - 5) / 10, 2) = 0 THEN 0 ELSE 10 END)::numeric / 1000 END)"""
    return f"""(CASE WHEN left({t}, 1) = '-' THEN -(abs({rounded})::float8) ELSE {rounded}::float8 END)"""


class ScopeFilter(BaseFilter):
    """FAB filter that adds the current user's scope predicate; put it in ``base_filters``
    of every ModelView and ModelRestApi over a domain model (SCOPE_FILTERS)."""

    name = "scope"
    arg_name = None

    def apply(self, query, value):
        return apply(query, self.model)


SCOPE_FILTERS = [["id", ScopeFilter, lambda: None]]
