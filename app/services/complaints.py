"""Public complaints (pengaduan masyarakat): filed by anyone without a login, routed to the
regency of the village, handled by the regency's TKPK operators.

- A ticket code is ``PGD-`` + 10 characters drawn from a CSPRNG (Crockford base32: 50 bits),
  never a sequence, so one ticket tells nothing about another; looking up an unknown and a
  malformed code behave the same (``find_by_ticket`` returns None for both).
- The deadline is the filing date (WIB) + ``COMPLAINT_DEADLINE_DAYS[category]`` (config.py;
  ``COMPLAINT_DEADLINE_DEFAULT_DAYS``, 14, when a category is missing).
- States: baru -> diproses -> selesai / ditolak, and baru -> ditolak (``TRANSITIONS``); every
  other pair is refused. Each step and each change of handler leaves an audit row.
- A photo is JPEG or PNG only, verified by its content, at most ``COMPLAINT_PHOTO_MAX_BYTES`` and
  ``COMPLAINT_PHOTO_MAX_PIXELS``; what is stored is the photo re-encoded from its pixels
  (app/services/images.py), upright and without EXIF/GPS, XMP, comments or text chunks: the
  complainant's position and phone must not reach the officers (or a leak) through the file.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any, Optional

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import func, select

from app.models.households import Household, point_ewkt
from app.models.users import SinergiUser
from app.models.workflow import COMPLAINT_CATEGORIES, COMPLAINT_STATES, Complaint
from app.security import roles as R
from app.security import scope as scope_mod
from app.services import audit, images
from app.services import update_requests as requests_service
from app.services.update_requests import WorkflowError, check_upload, remove_file, store_file
from app.services.validation import InputError, check_point_in_province

TICKET_PREFIX = "PGD-"
TICKET_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
TICKET_LENGTH = 10
TICKET_RE = re.compile(rf"^{TICKET_PREFIX}[{TICKET_ALPHABET}]{{{TICKET_LENGTH}}}$")
WIB = dt.timezone(dt.timedelta(hours=7))  # Lampung's time zone; no daylight saving

DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 5000
CONTACT_MAX = 150
PHOTO_TYPES = ("jpg", "png")
OPEN_STATES = ("baru", "diproses")

CATEGORY_LABELS = {
    "tidak_terdata": lazy_gettext("Poor but not listed (tidak terdata)"),
    "terdata_tidak_miskin": lazy_gettext("Listed but not poor (terdata tidak miskin)"),
    "bantuan_tidak_diterima": lazy_gettext("Aid not received (bantuan tidak diterima)"),
    "lainnya": lazy_gettext("Other (lainnya)"),
}
STATE_LABELS = {"baru": lazy_gettext("New (baru)"), "diproses": lazy_gettext("Being handled (diproses)"),
                "selesai": lazy_gettext("Resolved (selesai)"), "ditolak": lazy_gettext("Rejected (ditolak)")}
assert set(CATEGORY_LABELS) == set(COMPLAINT_CATEGORIES) and set(STATE_LABELS) == set(COMPLAINT_STATES)

HANDLERS = frozenset({R.ADMIN, R.BAPPEDA, R.OPERATOR})


@dataclass(frozen=True)
class Transition:
    action: str
    resolution_required: bool
    label: Any


TRANSITIONS: dict[tuple[str, str], Transition] = {
    ("baru", "diproses"): Transition("handle", False, lazy_gettext("Start handling")),
    ("baru", "ditolak"): Transition("reject", True, lazy_gettext("Reject")),
    ("diproses", "selesai"): Transition("resolve", True, lazy_gettext("Resolve")),
    ("diproses", "ditolak"): Transition("reject", True, lazy_gettext("Reject")),
}


def today() -> dt.date:
    return dt.datetime.now(WIB).date()


# --- tickets --------------------------------------------------------------------------------------

def new_ticket() -> str:
    return TICKET_PREFIX + "".join(secrets.choice(TICKET_ALPHABET) for _ in range(TICKET_LENGTH))


def normalise_ticket(code: Optional[str]) -> Optional[str]:
    """'pgd-abcd…' -> 'PGD-ABCD…'; None when it cannot be a ticket code."""
    if not code or len(code) > 40:
        return None
    text = code.strip().upper()
    return text if TICKET_RE.match(text) else None


def find_by_ticket(session, code: Optional[str]) -> Optional[Complaint]:
    """The complaint with this ticket, or None (unknown and malformed codes alike)."""
    ticket = normalise_ticket(code)
    if ticket is None:
        return None
    return session.execute(select(Complaint).where(Complaint.ticket == ticket)).scalar()


def deadline_days(category: str) -> int:
    config = current_app.config
    return int(config.get("COMPLAINT_DEADLINE_DAYS", {}).get(category,
                                                             config.get("COMPLAINT_DEADLINE_DEFAULT_DAYS", 14)))


def deadline_for(category: str, filed_on: Optional[dt.date] = None) -> dt.date:
    return (filed_on or today()) + dt.timedelta(days=deadline_days(category))


def photo_max_bytes() -> int:
    return int(current_app.config.get("COMPLAINT_PHOTO_MAX_BYTES", 5 * 1024 * 1024))


# --- filing ---------------------------------------------------------------------------------------

def validate_photo(filename: str, data: bytes) -> tuple[str, bytes]:
    """('jpg' / 'png', the bytes to store: re-encoded without metadata), or ValueError with
    the reason."""
    try:
        kind = check_upload(filename, data, PHOTO_TYPES, photo_max_bytes())
    except ValueError:
        # The content check refuses a decompression bomb too, as "not a real file"; when the
        # header says why, tell the sender that instead.
        for candidate in PHOTO_TYPES:
            images.refuse_if_too_large(data, candidate, images.max_pixels())
        raise
    return kind, images.without_metadata(data, kind, images.max_pixels())


def file_complaint(session, *, category: str, village_id: Optional[int], description: Optional[str],
                   contact: Optional[str] = None, lon: Optional[float] = None, lat: Optional[float] = None,
                   photo: Optional[tuple[str, bytes]] = None) -> Complaint:
    """Record a complaint (the caller commits). Raises InputError naming each bad field;
    nothing is stored then."""
    errors: dict[str, list[str]] = {}
    if category not in COMPLAINT_CATEGORIES:
        errors["category"] = [_("choose one of the categories")]
    regency_id = None
    if village_id is None:
        errors["village"] = [_("choose the village (desa/kelurahan)")]
    else:
        regency_id = requests_service.regency_of_village(session, village_id)
        if regency_id is None:
            errors["village"] = [_("choose the village (desa/kelurahan)")]
    text = (description or "").strip()
    if len(text) < DESCRIPTION_MIN:
        errors["description"] = [_("describe the problem (at least %(n)d characters)", n=DESCRIPTION_MIN)]
    elif len(text) > DESCRIPTION_MAX:
        errors["description"] = [_("is too long (at most %(n)d characters)", n=DESCRIPTION_MAX)]
    contact = (contact or "").strip() or None
    if contact and len(contact) > CONTACT_MAX:
        errors["contact"] = [_("is too long (at most %(n)d characters)", n=CONTACT_MAX)]
    location = None
    if (lon is None) != (lat is None):
        errors["location"] = [_("give both latitude and longitude, or neither")]
    elif lon is not None:
        problem = check_point_in_province(session, lon, lat)
        if problem:
            errors["location"] = [_("The point %(reason)s", reason=problem)]
        else:
            location = point_ewkt(lon, lat)
    kind = photo_bytes = None
    if photo is not None:
        try:
            kind, photo_bytes = validate_photo(*photo)
        except ValueError as exc:
            errors["photo"] = [str(exc)]
    if errors:
        raise InputError(errors)
    stored = store_file("complaints", kind, photo_bytes) if kind else None
    try:
        complaint = Complaint(category=category, village_id=village_id, regency_id=regency_id, description=text,
                              contact=contact, location=location, photo=stored, state="baru",
                              deadline=deadline_for(category))
        for _attempt in range(5):  # a collision of 50 random bits is next to impossible; retry anyway
            complaint.ticket = new_ticket()
            if session.execute(select(Complaint.id).where(Complaint.ticket == complaint.ticket)).first() is None:
                break
        session.add(complaint)
        session.flush()
    except Exception:
        remove_file(stored)
        raise
    return complaint


# --- staff side -----------------------------------------------------------------------------------

def may_handle(user) -> bool:
    return requests_service.may(user, HANDLERS)


def _check(session, complaint: Complaint, user) -> None:
    if not may_handle(user):
        raise WorkflowError(_("Your role may not handle complaints."))
    if not scope_mod.is_in_scope(session, complaint, scope_mod.scope_for(user), write=True):
        raise WorkflowError(_("This complaint lies outside your area."))


def eligible_handlers(session, complaint: Complaint) -> list[SinergiUser]:
    """Active users of the complaint's regency whose role may handle complaints (its TKPK
    operators; not a regency's Pimpinan, who only reads)."""
    from flask_appbuilder.security.sqla.models import Role

    return list(session.execute(select(SinergiUser).where(SinergiUser.regency_id == complaint.regency_id,
                                                          SinergiUser.active.is_(True),
                                                          SinergiUser.roles.any(Role.name.in_(HANDLERS)))
                                .order_by(SinergiUser.username)).scalars())


def allowed_targets(complaint: Complaint, user) -> list[tuple[str, Transition]]:
    if not may_handle(user):
        return []
    return [(to, t) for (frm, to), t in TRANSITIONS.items() if frm == complaint.state]


def check_transition(from_state: str, to_state: str) -> Transition:
    transition = TRANSITIONS.get((from_state, to_state))
    if transition is None:
        raise WorkflowError(_("A complaint in state “%(from)s” cannot go to “%(to)s”.",
                              **{"from": STATE_LABELS.get(from_state, from_state),
                                 "to": STATE_LABELS.get(to_state, to_state)}))
    return transition


def _record(session, complaint: Complaint, user, action: str, before: dict, after: dict, note=None) -> None:
    audit.record(session.connection(), [{
        "action": action, "entity": "complaint", "entity_id": complaint.id, "before": before, "after": after,
        "note": (note or None) and note[:500], "user_id": getattr(user, "id", None),
        "username": getattr(user, "username", None)}])


def _locked(session, complaint: Complaint) -> Complaint:
    return session.execute(select(Complaint).where(Complaint.id == complaint.id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()


def assign(session, complaint: Complaint, handler_id: Optional[int], user) -> Complaint:
    """Set (or clear) the handler: an active user of the complaint's regency."""
    complaint = _locked(session, complaint)
    _check(session, complaint, user)
    if complaint.state not in OPEN_STATES:
        raise WorkflowError(_("A closed complaint keeps its handler."))
    if handler_id is not None and handler_id not in {u.id for u in eligible_handlers(session, complaint)}:
        raise WorkflowError(_("The handler must be an active user of the complaint's regency."))
    before = {"handler_id": complaint.handler_id}
    complaint.handler_id = handler_id
    session.flush()
    _record(session, complaint, user, "assign", before, {"handler_id": handler_id})
    return complaint


def transition(session, complaint: Complaint, to_state: str, user, resolution: Optional[str] = None,
               handler_id: Optional[int] = None) -> Complaint:
    """Take one step (the caller commits). Starting to handle needs a handler: the one given,
    the current one, or the acting user when they belong to the regency."""
    complaint = _locked(session, complaint)
    _check(session, complaint, user)
    step = check_transition(complaint.state, to_state)
    resolution = (resolution or "").strip() or None
    if step.resolution_required and not resolution:
        raise WorkflowError(_("Write the resolution (it is shown to the public on the ticket page)."))
    if resolution and len(resolution) > DESCRIPTION_MAX:
        raise WorkflowError(_("The resolution is too long (at most %(n)d characters).", n=DESCRIPTION_MAX))
    before = {"state": complaint.state, "handler_id": complaint.handler_id}
    if step.action == "handle":
        eligible = {u.id for u in eligible_handlers(session, complaint)}
        chosen = handler_id or complaint.handler_id or (getattr(user, "id", None)
                                                         if getattr(user, "id", None) in eligible else None)
        if chosen is None:
            raise WorkflowError(_("Choose the handler: a user of the complaint's regency."))
        if chosen not in eligible:
            raise WorkflowError(_("The handler must be an active user of the complaint's regency."))
        complaint.handler_id = chosen
    complaint.state = to_state
    if resolution is not None:
        complaint.resolution = resolution
    session.flush()
    _record(session, complaint, user, step.action, before,
            {"state": to_state, "handler_id": complaint.handler_id}, resolution)
    return complaint


def create_update_request(session, complaint: Complaint, user, kind: str, household: Optional[Household] = None,
                          removal_reason: Optional[str] = None):
    """A draft data update request caused by the complaint, linked to it. A household that
    is not listed (tidak terdata) becomes a proposal for a new household in the complaint's
    village; a change or removal names the household."""
    complaint = _locked(session, complaint)
    _check(session, complaint, user)
    if complaint.state not in OPEN_STATES:
        raise WorkflowError(_("The complaint is closed."))
    if complaint.update_request_id is not None:
        raise WorkflowError(_("This complaint already has a data update request."))
    note = _("From complaint %(ticket)s", ticket=complaint.ticket)
    request = requests_service.create_request(
        session, user, kind, household=household, village_id=complaint.village_id if kind == "baru" else None,
        removal_reason=removal_reason, note=note)
    complaint.update_request = request
    session.flush()
    return request


# --- lists ----------------------------------------------------------------------------------------

def overdue_clause(on: Optional[dt.date] = None):
    return (Complaint.state.in_(OPEN_STATES)) & (Complaint.deadline < (on or today()))


def count(session, user, clause) -> int:
    query = select(func.count(Complaint.id)).where(clause)
    return session.execute(scope_mod.apply(query, Complaint, scope_mod.scope_for(user))).scalar_one()


def is_overdue(complaint: Complaint, on: Optional[dt.date] = None) -> bool:
    return complaint.state in OPEN_STATES and complaint.deadline < (on or today())
