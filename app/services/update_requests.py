"""Data update requests (pemutakhiran): an operator proposes a change to a household, a new
household or a removal; the regency TKPK verifies; Bappeda Provinsi approves or rejects.

The state machine is ``TRANSITIONS``: every (from, to) pair not in it is refused, and each
allowed pair names the roles that may take it. Every step is recorded (who, when, note) in
``UpdateRequestStep``. The proposed change touches the household only on approval, in the
caller's transaction (one commit), after ``validate_item`` accepted the result; the flush that
applies it is named "approve" in the audit trail, and the decision itself gets an audit row.

Scope: a request belongs to the regency of its household (or, for a new household, of its
village); a user acts only on requests inside their write scope (app/security/scope.py).

Separation of duties (four eyes): whoever proposed a request (created it) or submitted it
takes no decision on it — neither verify, return nor reject at the regency, nor approve or
reject at the province — and whoever verified it does not decide it at the province either.
Admin included: a role that may take every step still needs a second person. The buttons
are not offered (``allowed_targets``) and a crafted step is refused (``check_transition``).

Uploaded evidence (pdf/jpg/png) is checked by content (magic bytes) and size, and stored
under ``UPLOAD_FOLDER/evidence`` with a random name; the original name is kept for display.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import and_, exists, false, func, not_, or_, select
from sqlalchemy.exc import IntegrityError

from app.models.areas import District, Village
from app.models.households import Enrolment, Household, lon_lat_of, point_ewkt
from app.models.workflow import REMOVAL_REASONS, REQUEST_KINDS, REQUEST_STATES, UpdateEvidence, UpdateRequest, \
    UpdateRequestStep
from app.security import roles as R
from app.security import scope as scope_mod
from app.services import audit, images
from app.services.validation import InputError, validate_item


class WorkflowError(Exception):
    """A step that is not allowed; the message is shown to the user."""


# --- who may do what ---------------------------------------------------------------------------

PROPOSERS = frozenset({R.ADMIN, R.BAPPEDA, R.OPERATOR})  # create, edit drafts, submit, add evidence
VERIFIERS = frozenset({R.ADMIN, R.OPERATOR})  # the regency TKPK
APPROVERS = frozenset({R.ADMIN, R.BAPPEDA})  # Bappeda Provinsi


@dataclass(frozen=True)
class Transition:
    action: str  # submit | return | verify | reject | approve
    roles: frozenset
    note_required: bool
    label: Any  # button text (lazy, translated)


TRANSITIONS: dict[tuple[str, str], Transition] = {
    ("draft", "diajukan"): Transition("submit", PROPOSERS, False, lazy_gettext("Submit")),
    ("diajukan", "draft"): Transition("return", VERIFIERS, True, lazy_gettext("Return for correction")),
    ("diajukan", "diverifikasi"): Transition("verify", VERIFIERS, False, lazy_gettext("Verify")),
    ("diajukan", "ditolak"): Transition("reject", VERIFIERS, True, lazy_gettext("Reject")),
    ("diverifikasi", "disetujui"): Transition("approve", APPROVERS, False, lazy_gettext("Approve and apply")),
    ("diverifikasi", "ditolak"): Transition("reject", APPROVERS, True, lazy_gettext("Reject")),
}
OPEN_STATES = ("diajukan", "diverifikasi")  # submitted, waiting for verification or approval

STATE_LABELS = {"draft": lazy_gettext("Draft"), "diajukan": lazy_gettext("Submitted (diajukan)"),
                "diverifikasi": lazy_gettext("Verified (diverifikasi)"),
                "disetujui": lazy_gettext("Approved (disetujui)"), "ditolak": lazy_gettext("Rejected (ditolak)")}
KIND_LABELS = {"ubah": lazy_gettext("Change of data"), "baru": lazy_gettext("New household"),
               "hapus": lazy_gettext("Removal")}
REASON_LABELS = {"pindah": lazy_gettext("Moved away (pindah)"), "meninggal": lazy_gettext("Died (meninggal)"),
                 "tidak_miskin": lazy_gettext("No longer poor (tidak miskin)"),
                 "ganda": lazy_gettext("Duplicate (ganda)")}
assert set(STATE_LABELS) == set(REQUEST_STATES) and set(KIND_LABELS) == set(REQUEST_KINDS)
assert set(REASON_LABELS) == set(REMOVAL_REASONS)

# The household fields a request may propose, in display order.
FIELDS = ("no_kk", "head_nik", "head_name", "address", "rt", "rw", "village_id", "desil", "member_count",
          "location")
REQUIRED_FOR_NEW = ("no_kk", "head_nik", "head_name", "village_id", "desil", "member_count")


def role_names(user) -> set[str]:
    return {r.name for r in getattr(user, "roles", [])} if user is not None else set()


def may(user, roles: Iterable[str]) -> bool:
    return bool(role_names(user) & set(roles))


def awaiting_states(user) -> tuple[str, ...]:
    """The states in which requests wait for this user: operators finish drafts (also those
    returned to them) and verify submitted ones; Bappeda decides verified ones."""
    names = role_names(user)
    states: list[str] = []
    if R.OPERATOR in names:
        states.append("draft")
    if names & VERIFIERS:
        states.append("diajukan")
    if names & APPROVERS:
        states.append("diverifikasi")
    return tuple(states)


def count_awaiting(session, user) -> int:
    if not awaiting_states(user):
        return 0
    query = select(func.count(UpdateRequest.id)).where(awaiting_clause(user))
    return session.execute(scope_mod.apply(query, UpdateRequest, scope_mod.scope_for(user))).scalar_one()


# --- separation of duties -----------------------------------------------------------------------

DECISIONS = frozenset({"return", "verify", "reject", "approve"})  # every step but "submit"


def _user_ids_of_steps(request: UpdateRequest, to_state: str) -> set[int]:
    return {s.user_id for s in request.steps if s.to_state == to_state and s.user_id is not None}


def conflict_of_duties(request: UpdateRequest, from_state: str, action: str, user) -> Optional[str]:
    """Why this user may not take this decision on this request (their own proposal, their own
    submission, or — at the province — their own verification), or None."""
    if action not in DECISIONS:
        return None
    user_id = getattr(user, "id", None)
    if user_id is None:
        return None
    if user_id == request.created_by_id or user_id in _user_ids_of_steps(request, "diajukan"):
        return _("You proposed or submitted this request: another officer must decide on it "
                 "(separation of duties).")
    if from_state == "diverifikasi" and user_id in _user_ids_of_steps(request, "diverifikasi"):
        return _("You verified this request: another officer must decide on it at the province "
                 "(separation of duties).")
    return None


def duties_note(request: UpdateRequest, user) -> Optional[str]:
    """Why a user whose role may take a step now is offered none (for the request's page)."""
    for (frm, _to), t in TRANSITIONS.items():
        if frm == request.state and may(user, t.roles):
            conflict = conflict_of_duties(request, frm, t.action, user)
            if conflict:
                return conflict
    return None


def awaiting_clause(user):
    """SQL: the requests waiting for this user (``awaiting_states``), without those the user may
    not decide (proposed, submitted or verified by them)."""
    states = awaiting_states(user)
    if not states:
        return false()
    user_id = getattr(user, "id", None)
    if user_id is None:
        return UpdateRequest.state.in_(states)

    def stepped(to_state):
        return exists().where(UpdateRequestStep.request_id == UpdateRequest.id,
                              UpdateRequestStep.to_state == to_state, UpdateRequestStep.user_id == user_id)

    # IS NOT DISTINCT FROM: a request without a recorded proposer (NULL) is nobody's own; with
    # "=" the NULL made the whole condition NULL and hid the request from every decider.
    own = or_(UpdateRequest.created_by_id.is_not_distinct_from(user_id), stepped("diajukan"))
    conflict = or_(and_(UpdateRequest.state.in_(OPEN_STATES), own),
                   and_(UpdateRequest.state == "diverifikasi", stepped("diverifikasi")))
    return and_(UpdateRequest.state.in_(states), not_(conflict))


def allowed_targets(request: UpdateRequest, user) -> list[tuple[str, Transition]]:
    """The steps this user may take from the request's current state (for the buttons): their
    role's, minus the decisions separation of duties keeps from them."""
    return [(to, t) for (frm, to), t in TRANSITIONS.items()
            if frm == request.state and may(user, t.roles)
            and conflict_of_duties(request, frm, t.action, user) is None]


def check_transition(from_state: str, to_state: str, user, request: Optional[UpdateRequest] = None) -> Transition:
    """The transition, or WorkflowError saying why it is refused (with ``request``: also
    the separation of duties)."""
    transition = TRANSITIONS.get((from_state, to_state))
    if transition is None:
        raise WorkflowError(_("A request in state “%(from)s” cannot go to “%(to)s”.",
                              **{"from": STATE_LABELS.get(from_state, from_state),
                                 "to": STATE_LABELS.get(to_state, to_state)}))
    if not may(user, transition.roles):
        raise WorkflowError(_("Your role may not take this step (%(action)s): it is for %(roles)s.",
                              action=transition.label, roles=", ".join(sorted(transition.roles))))
    if request is not None:
        conflict = conflict_of_duties(request, from_state, transition.action, user)
        if conflict:
            raise WorkflowError(conflict)
    return transition


# --- helpers ---------------------------------------------------------------------------------

def _check_scope(session, request: UpdateRequest, user) -> None:
    if not scope_mod.is_in_scope(session, request, scope_mod.scope_for(user), write=True):
        raise WorkflowError(_("This request lies outside your area."))


def _step(session, request: UpdateRequest, from_state: Optional[str], to_state: str, user, note) -> None:
    session.add(UpdateRequestStep(request=request, from_state=from_state, to_state=to_state,
                                  user_id=getattr(user, "id", None), username=getattr(user, "username", None),
                                  note=(note or None)))


def regency_of_village(session, village_id: int) -> Optional[int]:
    return session.execute(select(District.regency_id).join(Village, Village.district_id == District.id)
                           .where(Village.id == village_id)).scalar()


def _village_writable(session, village_id: int, user) -> bool:
    pred = scope_mod.choosable_areas(Village, scope_mod.scope_for(user), write=True)
    query = select(Village.id).where(Village.id == village_id)
    if pred is not None:
        query = query.where(pred)
    return session.execute(query).first() is not None


def household_values(household: Optional[Household]) -> dict[str, Any]:
    """The current values of the proposable fields, in the form ``proposed`` stores them."""
    if household is None:
        return {}
    point = lon_lat_of(household.location)
    return {
        "no_kk": household.no_kk, "head_nik": household.head_nik, "head_name": household.head_name,
        "address": household.address, "rt": household.rt, "rw": household.rw, "village_id": household.village_id,
        "desil": household.desil, "member_count": household.member_count,
        "location": None if point is None else point_ewkt(*point),
    }


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    """Blank strings -> None, strings stripped; only the known fields."""
    clean = {}
    for key in FIELDS:
        if key not in values:
            continue
        value = values[key]
        if isinstance(value, str):
            value = value.strip() or None
        clean[key] = value
    return clean


def _transient(values: dict[str, Any], household_id: Optional[int]) -> Household:
    """A household that is never added to the session, for validate_item."""
    item = Household(**{k: v for k, v in values.items() if k in FIELDS})
    item.id = household_id
    return item


def check_proposal(session, request: UpdateRequest, proposed: Optional[dict] = None) -> None:
    """Raise InputError (field -> reasons) when the household the proposal would produce is
    invalid now: a bad number, a No KK registered meanwhile for another household, ..."""
    proposed = request.proposed if proposed is None else proposed
    if request.kind == "hapus":
        return
    if request.kind == "ubah":
        if request.household is None:
            raise InputError({"household": [_("the household no longer exists")]})
        values = {**household_values(request.household), **(proposed or {})}
        household_id = request.household.id
    else:
        values = dict(proposed or {})
        household_id = None
        missing = [f for f in REQUIRED_FOR_NEW if values.get(f) in (None, "")]
        if missing:
            raise InputError({f: [_("is required")] for f in missing})
    with session.no_autoflush:
        validate_item(session, _transient(values, household_id))


# --- creating and editing a draft -----------------------------------------------------------------

def create_request(session, user, kind: str, household: Optional[Household] = None,
                   village_id: Optional[int] = None, removal_reason: Optional[str] = None,
                   note: Optional[str] = None) -> UpdateRequest:
    """A new draft. ``household`` for a change or removal (in the user's write scope),
    ``village_id`` for a new household (a village the user may place households in)."""
    if not may(user, PROPOSERS):
        raise WorkflowError(_("Your role may not propose data updates."))
    if kind not in REQUEST_KINDS:
        raise InputError({"kind": [_("is not a known kind of request")]})
    errors: dict[str, list[str]] = {}
    scope = scope_mod.scope_for(user)
    proposed: Optional[dict] = None
    regency_id = None
    if kind in ("ubah", "hapus"):
        if household is None:
            errors["household"] = [_("is required for a change or a removal")]
        elif not scope_mod.is_in_scope(session, household, scope, write=True):
            errors["household"] = [_("lies outside your area")]
        else:
            regency_id = regency_of_village(session, household.village_id)
        if kind == "hapus" and removal_reason not in REMOVAL_REASONS:
            errors["removal_reason"] = [_("choose the reason of the removal")]
    else:
        if village_id is None:
            errors["village"] = [_("is required for a new household")]
        elif not _village_writable(session, village_id, user):
            errors["village"] = [_("is not one you may choose (outside your area): pick one from the list")]
        else:
            regency_id = regency_of_village(session, village_id)
            proposed = {"village_id": village_id}
    if errors:
        raise InputError(errors)
    request = UpdateRequest(kind=kind, state="draft", household=household if kind != "baru" else None,
                            regency_id=regency_id, proposed=proposed,
                            removal_reason=removal_reason if kind == "hapus" else None, note=note or None,
                            created_by_id=getattr(user, "id", None), created_by=getattr(user, "username", None))
    session.add(request)
    _step(session, request, None, "draft", user, note)
    session.flush()
    return request


def _require_draft(request: UpdateRequest) -> None:
    if request.state != "draft":
        raise WorkflowError(_("Only a draft can be changed; this request is “%(state)s”.",
                              state=STATE_LABELS.get(request.state, request.state)))


def set_proposal(session, request: UpdateRequest, user, values: dict[str, Any], note: Optional[str] = None,
                 removal_reason: Optional[str] = None) -> dict:
    """Store the proposed values of a draft (for a change: only the fields that differ from
    the household now). Raises InputError naming each bad field, WorkflowError when the
    request is not a draft or not the user's."""
    _require_draft(request)
    if not may(user, PROPOSERS):
        raise WorkflowError(_("Your role may not propose data updates."))
    _check_scope(session, request, user)
    if request.kind == "hapus":
        if removal_reason not in REMOVAL_REASONS:
            raise InputError({"removal_reason": [_("choose the reason of the removal")]})
        request.removal_reason = removal_reason
        request.note = note or None
        return {}
    clean = _normalise(values)
    village_id = clean.get("village_id")
    current = household_values(request.household) if request.kind == "ubah" else {}
    if village_id is not None and village_id != current.get("village_id") \
            and not _village_writable(session, village_id, user):
        raise InputError({"village": [_("is not one you may choose (outside your area): pick one from the list")]})
    if request.kind == "ubah":
        proposed = {k: v for k, v in clean.items() if v != current.get(k)}
        if not proposed:
            raise InputError({"": [_("Nothing was changed: the proposal equals the household's current data.")]})
    else:
        proposed = clean
    check_proposal(session, request, proposed)
    request.proposed = proposed
    request.note = note or None
    if request.kind == "baru" and village_id is not None:
        request.regency_id = regency_of_village(session, village_id)
    return proposed


# --- the state machine ---------------------------------------------------------------------------

def transition(session, request: UpdateRequest, to_state: str, user, note: Optional[str] = None) -> UpdateRequest:
    """Take one step. Locks the request row, so two people acting at once cannot both
    approve. Approval applies the proposal in the same transaction; the caller commits
    (or rolls back on WorkflowError / InputError)."""
    locked = session.execute(select(UpdateRequest).where(UpdateRequest.id == request.id).with_for_update()
                             .execution_options(populate_existing=True)).scalar_one()
    _check_scope(session, locked, user)
    step = check_transition(locked.state, to_state, user, locked)
    note = (note or "").strip() or None
    if step.note_required and not note:
        raise WorkflowError(_("Give a reason (note) to %(action)s.", action=str(step.label).lower()))
    if step.action == "submit":
        if locked.kind == "hapus" and locked.removal_reason not in REMOVAL_REASONS:
            raise WorkflowError(_("Choose the reason of the removal before submitting."))
        if locked.kind != "hapus" and not locked.proposed:
            raise WorkflowError(_("Enter the proposed data before submitting."))
        if not locked.evidence:
            raise WorkflowError(_("Attach at least one evidence file (e.g. the minutes of the village meeting) "
                                  "before submitting."))
    if step.action in ("submit", "verify"):
        _refuse_if_invalid(session, locked)
    from_state = locked.state
    if step.action == "approve":
        _apply(session, locked, user, note)
    locked.state = to_state
    _step(session, locked, from_state, to_state, user, note)
    session.flush()
    if step.action in ("approve", "reject"):
        audit.record(session.connection(), [{
            "action": step.action, "entity": "update_request", "entity_id": locked.id,
            "before": {"state": from_state}, "after": {"state": to_state, "kind": locked.kind,
                                                       "household_id": locked.household_id},
            "note": _audit_note(locked, note), "user_id": getattr(user, "id", None),
            "username": getattr(user, "username", None)}])
    return locked


def _refuse_if_invalid(session, request: UpdateRequest) -> None:
    try:
        check_proposal(session, request)
    except InputError as exc:
        raise WorkflowError(_("The proposal is no longer valid: %(reasons)s", reasons=describe_errors(exc))) from exc


def describe_errors(exc: InputError) -> str:
    from app.labels import LABELS

    labels = {**LABELS, "village_id": LABELS["village"]}
    return "; ".join(f"{labels.get(field, field)} {' '.join(messages)}".strip()
                     for field, messages in exc.errors.items())


def audit_label(request: UpdateRequest) -> str:
    """How the audit rows of a request's approval name it; their note is this, or this + ": " + the note."""
    return f"pemutakhiran #{request.id}"


def _audit_note(request: UpdateRequest, note: Optional[str]) -> str:
    text = audit_label(request)
    return (f"{text}: {note}" if note else text)[:500]


def _apply(session, request: UpdateRequest, user, note: Optional[str]) -> None:
    """Apply an approved proposal to the household table; raises WorkflowError (nothing
    written) when the result would be invalid."""
    label = _audit_note(request, note)
    if request.kind in ("ubah", "hapus"):
        if request.household_id is None:
            raise WorkflowError(_("The household of this request no longer exists."))
        household = session.execute(select(Household).where(Household.id == request.household_id)
                                    .with_for_update()).scalar_one()
    with session.no_autoflush:
        if request.kind == "ubah":
            for field, value in (request.proposed or {}).items():
                if field in FIELDS:
                    setattr(household, field, value)
            target = household
        elif request.kind == "baru":
            target = Household(**{k: v for k, v in (request.proposed or {}).items() if k in FIELDS})
            target.source = "pemutakhiran"
            session.add(target)
        else:
            target = None
        if target is not None:
            try:
                validate_item(session, target)
            except InputError as exc:
                raise WorkflowError(_("The proposal is no longer valid: %(reasons)s",
                                      reasons=describe_errors(exc))) from exc
        if request.kind == "hapus":
            # Keep what was removed readable on the request page, and remove the enrolments
            # through the ORM so each leaves its own audit row (the database would cascade silently).
            request.proposed = {"removed": household_values(household)}
            for enrolment in session.execute(select(Enrolment).where(Enrolment.household_id == household.id)).scalars():
                session.delete(enrolment)
            session.delete(household)
    audit.annotate(session, "approve", label)
    try:
        session.flush()
    except IntegrityError as exc:  # a rule only the database knows; the caller rolls back
        raise WorkflowError(_("The database refused the change: %(reason)s",
                              reason=str(getattr(exc, "orig", exc)).splitlines()[0])) from exc
    if request.kind == "baru":
        request.household = target


# --- evidence files ------------------------------------------------------------------------------

EVIDENCE_TYPES = ("pdf", "jpg", "png")
_MAGIC = {"pdf": (b"%PDF-",), "jpg": (b"\xff\xd8\xff",), "png": (b"\x89PNG\r\n\x1a\n",)}
_EXTENSIONS = {"pdf": ("pdf",), "jpg": ("jpg", "jpeg"), "png": ("png",)}
MIMETYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}


def sniff_type(data: bytes, allowed: Iterable[str]) -> Optional[str]:
    """'pdf' / 'jpg' / 'png' when the bytes are really that (by their signature; a PNG must
    also carry its IHDR header, a JPEG its end marker), None otherwise. With Pillow installed,
    images are also decoded."""
    for kind in allowed:
        if not data.startswith(_MAGIC[kind]):
            continue
        if kind == "png" and data[12:16] != b"IHDR":
            return None
        if kind == "jpg" and b"\xff\xd9" not in data[-1024:]:
            return None
        if kind in ("jpg", "png") and not _pillow_accepts(data, kind):
            return None
        return kind
    return None


def _pillow_accepts(data: bytes, kind: str) -> bool:
    try:
        from PIL import Image
    except ImportError:  # Pillow is optional: the signature check above stands alone
        return True
    import io

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            return image.format == {"jpg": "JPEG", "png": "PNG"}[kind]
    except Exception:
        return False


def check_upload(filename: str, data: bytes, allowed: Iterable[str], max_bytes: int) -> str:
    """The verified type of an upload; InputError-style message (ValueError) when refused."""
    allowed = tuple(allowed)
    if not data:
        raise ValueError(_("the file is empty"))
    if len(data) > max_bytes:
        raise ValueError(_("the file is too large (%(size)s MB; at most %(max)s MB)",
                           size=f"{len(data) / 1048576:.1f}", max=f"{max_bytes / 1048576:g}"))
    ext = Path(filename or "").suffix.lower().lstrip(".")
    names = ", ".join(e.upper() for kind in allowed for e in _EXTENSIONS[kind][:1])
    if not any(ext in _EXTENSIONS[kind] for kind in allowed):
        raise ValueError(_("only %(types)s files are accepted", types=names))
    kind = sniff_type(data, allowed)
    if kind is None or ext not in _EXTENSIONS[kind]:
        raise ValueError(_("the content is not a real %(types)s file", types=names))
    return kind


def upload_root() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def store_file(subfolder: str, kind: str, data: bytes) -> str:
    """Write the bytes under UPLOAD_FOLDER/<subfolder>/ with a random name; returns the
    relative path. A subfolder keeps the files out of FAB's generic /download/<filename>."""
    folder = upload_root() / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{kind}"
    tmp = folder / f".{name}.part"
    tmp.write_bytes(data)
    os.replace(tmp, folder / name)
    return f"{subfolder}/{name}"


def stored_path(relative: str) -> Optional[Path]:
    """The absolute path of a stored file, or None when the name would leave its folder."""
    root = upload_root().resolve()
    path = (root / relative).resolve()
    return path if root in path.parents and path.is_file() else None


def remove_file(relative: Optional[str]) -> None:
    if relative:
        path = stored_path(relative)
        if path is not None:
            path.unlink(missing_ok=True)


def evidence_max_bytes() -> int:
    return int(current_app.config.get("UPDATE_EVIDENCE_MAX_BYTES", 10 * 1024 * 1024))


def add_evidence(session, request: UpdateRequest, user, filename: str, data: bytes) -> UpdateEvidence:
    """Attach a file to a draft; ValueError (message for the user) when refused."""
    _require_draft(request)
    if not may(user, PROPOSERS):
        raise WorkflowError(_("Your role may not propose data updates."))
    _check_scope(session, request, user)
    kind = check_upload(filename, data, EVIDENCE_TYPES, evidence_max_bytes())
    if kind in images.FORMATS:  # a phone photo of the village meeting carries the phone's GPS position
        data = images.without_metadata(data, kind, images.max_pixels())
    original = Path(filename or "").name[-200:] or f"bukti.{kind}"
    relative = store_file("evidence", kind, data)
    evidence = UpdateEvidence(request=request, file=relative, original_name=original)
    session.add(evidence)
    session.flush()
    return evidence


def remove_evidence(session, evidence: UpdateEvidence, user) -> None:
    request = evidence.request
    _require_draft(request)
    if not may(user, PROPOSERS):
        raise WorkflowError(_("Your role may not propose data updates."))
    _check_scope(session, request, user)
    relative = evidence.file
    session.delete(evidence)
    session.flush()
    remove_file(relative)
