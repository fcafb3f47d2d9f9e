"""What awaits the current user ("Menunggu saya"): the data update requests they are to finish,
verify or approve, and the public complaints they are to handle; for the top-bar badge and the
/inbox/ page (app/views/inbox.py).

- Requests: ``update_requests.awaiting_states`` decides the states by role (operators finish
  drafts and verify submitted ones, Bappeda decides verified ones), scoped as everywhere
  (``count_awaiting`` is the same count the "Requests awaiting me" menu shows).
- Complaints: a new one (baru) awaits the handlers of its regency — the users
  ``complaints.eligible_handlers`` would offer (a handling role and the complaint's regency);
  one being handled (diproses) awaits its handler. Both within the user's write scope.
  Overdue: still open past its deadline (``complaints.overdue_clause``, WIB). Requests have no
  deadline.

The counts are two COUNT queries, each on an indexed column (state, regency, handler).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Optional

from flask_babel import lazy_gettext
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.elements import ColumnElement

from app.models.workflow import Complaint, UpdateRequest
from app.security import scope as scope_mod
from app.services import complaints as complaints_service
from app.services import update_requests as requests_service

# What the user is to do next, by state.
REQUEST_TODO = {"draft": lazy_gettext("Complete and submit"), "diajukan": lazy_gettext("Verify"),
                "diverifikasi": lazy_gettext("Approve or reject")}
COMPLAINT_TODO = {"baru": lazy_gettext("Start handling"), "diproses": lazy_gettext("Resolve")}


@dataclass(frozen=True)
class Counts:
    requests: int = 0
    complaints: int = 0
    overdue: int = 0  # complaints among ``complaints`` past their deadline

    @property
    def total(self) -> int:
        return self.requests + self.complaints


@dataclass(frozen=True)
class Item:
    kind: str  # "request" | "complaint"
    id: int
    label: str  # "#12" or the ticket
    what: Any  # kind of request / category of complaint
    area: str
    state: Any
    todo: Any
    deadline: Optional[dt.date]
    overdue: bool
    since: Optional[dt.datetime]


def complaint_clause(user) -> Optional[ColumnElement]:
    """The complaints awaiting ``user`` (before the scope); None when the user handles none."""
    if not complaints_service.may_handle(user):
        return None
    mine = and_(Complaint.state == "diproses", Complaint.handler_id == getattr(user, "id", None))
    regency_id = getattr(user, "regency_id", None)
    if regency_id is None:
        return mine
    return or_(and_(Complaint.state == "baru", Complaint.regency_id == regency_id), mine)


def _scoped_complaints(query, user):
    return scope_mod.apply(query, Complaint, scope_mod.scope_for(user), write=True)


def counts(session, user, on: Optional[dt.date] = None) -> Counts:
    requests = requests_service.count_awaiting(session, user)
    clause = complaint_clause(user)
    if clause is None:
        return Counts(requests=requests)
    overdue = complaints_service.overdue_clause(on)
    query = select(func.count(Complaint.id), func.count(Complaint.id).filter(overdue)).where(clause)
    complaints, late = session.execute(_scoped_complaints(query, user)).one()
    return Counts(requests=requests, complaints=complaints, overdue=late)


def items(session, user, limit: int = 200, on: Optional[dt.date] = None) -> list[Item]:
    """Up to ``limit`` complaints (overdue first, then by deadline) and ``limit`` requests
    (oldest first) awaiting the user."""
    on = on or complaints_service.today()
    found: list[Item] = []
    clause = complaint_clause(user)
    if clause is not None:
        query = (select(Complaint).where(clause).options(joinedload(Complaint.village), joinedload(Complaint.regency))
                 .order_by(Complaint.deadline, Complaint.id).limit(limit))
        for c in session.execute(_scoped_complaints(query, user)).scalars():
            category = complaints_service.CATEGORY_LABELS.get(c.category, c.category)
            found.append(Item("complaint", c.id, c.ticket, category,
                              _area(c.village.name if c.village else None, c.regency),
                              complaints_service.STATE_LABELS.get(c.state, c.state), COMPLAINT_TODO.get(c.state, ""),
                              c.deadline, complaints_service.is_overdue(c, on), c.created_at))
    states = requests_service.awaiting_states(user)
    if states:
        query = (select(UpdateRequest).where(requests_service.awaiting_clause(user))
                 .options(joinedload(UpdateRequest.regency)).order_by(UpdateRequest.created_at, UpdateRequest.id)
                 .limit(limit))
        query = scope_mod.apply(query, UpdateRequest, scope_mod.scope_for(user))
        for r in session.execute(query).scalars():
            found.append(Item("request", r.id, f"#{r.id}", requests_service.KIND_LABELS.get(r.kind, r.kind),
                              _area(None, r.regency), requests_service.STATE_LABELS.get(r.state, r.state),
                              REQUEST_TODO.get(r.state, ""), None, False, r.created_at))
    return found


def _area(village: Optional[str], regency) -> str:
    return ", ".join(part for part in (village, regency.name if regency is not None else None) if part)
