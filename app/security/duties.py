"""Separation of duties on household data.

The fields that decide who gets help — the desil, where the family lives (village and
point) and its members — change only through a data update request
(app/services/update_requests.py): proposed by one officer, verified by the regency TKPK,
approved by Bappeda Provinsi, each step by someone else. A household enters or leaves the data
the same way (a "new household" or "removal" request; no role but Admin adds or deletes one
directly, app/security/roles.py), or with an official BDT/DTSEN extract through the import.
No role but Admin edits them directly; Admin's direct edit is a correction of last resort and leaves the usual audit row
(before/after, app/services/audit.py) under its own action name, ``direct_edit``.

Screens drop these fields from the form (app/views/direct_edit.py); the REST API refuses
them (app/api/households.py); member rows are read-only for every role but Admin
(app/security/roles.py): a request carries the number of members, the rows themselves come
from the BDT import. A crafted request that names them anyway is refused with a 400 /
403 and this module's message, nothing written.
"""
from __future__ import annotations

from typing import Iterable

from flask_babel import gettext

from app.security import roles as R

# Household form fields -> the names a browser posts for them (the point is two inputs).
REQUEST_ONLY_FORM_FIELDS = {"village": ("village",), "location": ("latitude", "longitude", "location"),
                            "desil": ("desil",), "member_count": ("member_count",)}
# The same fields as the REST API names them.
REQUEST_ONLY_API_FIELDS = ("village", "village_id", "location", "desil", "member_count")
DIRECT_EDIT_ACTION = "direct_edit"  # the audit action of Admin's direct change of these fields
DIRECT_EDIT_NOTE = "ubah langsung oleh Admin, tanpa usulan pemutakhiran"  # its note (data, kept in Indonesian)


def may_edit_directly(user) -> bool:
    """Only Admin changes the desil, village, point or members without a request."""
    return user is not None and any(r.name == R.ADMIN for r in getattr(user, "roles", []))


def posted_request_only(names: Iterable[str], form_names: bool = True) -> list[str]:
    """The request-only fields among the posted names (form fields, or API keys)."""
    names = set(names)
    if form_names:
        return [field for field, posted in REQUEST_ONLY_FORM_FIELDS.items() if names & set(posted)]
    return [field for field in REQUEST_ONLY_API_FIELDS if field in names]


def refusal_message(fields: Iterable[str]) -> str:
    from app.labels import LABELS

    names = ", ".join(str(LABELS.get(f, f)) for f in fields)
    return gettext("%(fields)s can only be changed through a data update request (Propose a change on the "
                   "household's page), verified and approved by other officers.", fields=names)


def request_only_changed(item) -> list[str]:
    """The request-only fields an edit of ``item`` (a Household, before the flush) changes."""
    from sqlalchemy import inspect

    from app.services.audit import same_value

    state = inspect(item)
    changed = []
    for key in ("village", "location", "desil", "member_count"):
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if key == "village":
            old, new = getattr(old, "id", old), getattr(new, "id", new)
        if not same_value(old, new):
            changed.append(key)
    return changed


def annotate_direct_edit(session, item) -> None:
    """Name Admin's direct change of a request-only field in the audit trail (``direct_edit``)."""
    from app.services import audit

    fields = request_only_changed(item)
    if fields:
        audit.annotate(session, DIRECT_EDIT_ACTION, DIRECT_EDIT_NOTE)
