"""The duplicates and double-aid review queue (menu Rumah Tangga → Duplikat & bantuan ganda),
and the program exclusion rules (menu Program, Admin and Bappeda).

The pairs come from the last scan (app/services/duplicates.py), scoped by app/security/scope.py;
NIK / No KK are masked for users who may not see them (Pimpinan). Dismiss remembers the pair;
confirm of two households opens a draft removal request (the data update workflow), other
kinds are recorded as confirmed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import format_decimal, gettext
from flask_babel import lazy_gettext as _
from sqlalchemy import and_, select

from app.extensions import db
from app.models.areas import Village
from app.models.duplicates import KINDS, ProgramExclusionRule
from app.models.snapshots import BDT
from app.security import scope as scope_mod
from app.services import duplicate_scans
from app.services import duplicates as service
from app.services.import_jobs import worker_alive
from app.services.update_requests import WorkflowError
from app.services.validation import InputError
from app.views.base import ScopedModelView
from app.views.cell_format import date_text, datetime_text, number_text
from app.views.choices import SYNERGY_CHOICES, choice_label, select_field
from app.views.remote_filters import VILLAGES, RemoteFilterMixin, remote_select

PAGE_SIZE = 50
CATEGORY = "Households"


def _user():
    return current_app.appbuilder.sm.current_user


def _int_arg(name: str, minimum: int = 0):
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < minimum or int(raw) > 2_147_483_647:
        abort(400, description=gettext("The parameter “%(name)s” must be a whole number.", name=name))
    return int(raw)


def _number(value, scope) -> str:
    return scope_mod.mask_number(value, scope) or ""


def _snapshot_label(item: dict) -> str:
    """'BDT 2015' or 'DTSEN 2025-Q4', as TargetingSnapshot.label writes it."""
    return item.get("source") if item.get("source") == BDT else f"{item.get('source')} {item.get('period')}"


def _kind_arg():
    """The finding chosen on the page (the village choices are asked with it): None for all."""
    kind = request.args.get("kind", "").strip()
    return kind if kind in KINDS else None


def _with_pairs(village_label: str, pairs: int) -> str:
    return gettext("%(village)s, %(n)s pairs", village=village_label, n=number_text(pairs))


def _villages_with_pairs():
    # The pairs are scoped like the queue; the villages besides like every village filter.
    with_pairs = service.has_open_pairs(Village.id, scope_mod.current_scope(), _kind_arg())
    areas = VILLAGES.scope()
    return with_pairs if areas is None else and_(areas, with_pairs)


# The village filter's choices, loaded as the user types (/duplicates/filter_choices/village):
# the villages of the user's area with open pairs (of the chosen finding), with their number.
# Rendering all of them made bappeda's page 2,500 options and 230 KB (bench/README.md).
QUEUE_VILLAGES = dataclasses.replace(
    VILLAGES, name="duplicate village",
    columns=lambda: (*VILLAGES.columns(), service.pairs_in_village(Village.id, scope_mod.current_scope(),
                                                                   _kind_arg())),
    label=lambda row: _with_pairs(VILLAGES.label(row), row[4]), scope=_villages_with_pairs)


def describe(candidate, households, villages, scope) -> dict:
    """What the queue shows of a pair: the reason in words, and both sides."""
    d = candidate.detail or {}

    def household_side(hid, name=None, nik=None):
        h = households.get(hid)
        return {"household_id": hid, "no_kk": _number(h.no_kk, scope) if h else "",
                "head": h.head_name if h else gettext("(removed)"), "person": name or "",
                "nik": _number(nik, scope) if nik else "",
                "village": villages.get(h.village_id, "") if h else ""}

    if candidate.kind == "nik_ganda":
        reason = gettext("NIK %(nik)s is listed in two families.", nik=_number(d.get("nik"), scope))
        sides = [household_side(candidate.household_a, d.get("name_a"), d.get("nik")),
                 household_side(candidate.household_b, d.get("name_b"), d.get("nik"))]
    elif candidate.kind == "orang_sama":
        born = d.get("birth_date")
        reason = gettext("Similar names, the same birth date (%(date)s) and the same village, but two NIKs.",
                         date=date_text(dt.date.fromisoformat(born)) if born else "")
        sides = [household_side(candidate.household_a, d.get("name_a"), d.get("nik_a")),
                 household_side(candidate.household_b, d.get("name_b"), d.get("nik_b"))]
    elif candidate.kind == "kk_dua_desa":
        listed = "; ".join(gettext("%(snapshot)s: %(village)s", snapshot=_snapshot_label(item),
                                   village=villages.get(item.get("village_id"), ""))
                           for item in d.get("listed", []))
        reason = gettext("The same No KK is listed in two villages (%(listed)s).", listed=listed)
        sides = [household_side(candidate.household_a)]
    else:
        reason = gettext("In %(year)s the household receives %(a)s and %(b)s, which must not be combined "
                         "(synergy types %(rule)s).", year=d.get("year"), a=d.get("program_a"),
                         b=d.get("program_b"), rule=d.get("rule"))
        sides = [household_side(candidate.household_a)]
    return {"id": candidate.id, "kind": candidate.kind, "kind_label": service.KIND_LABELS[candidate.kind],
            "reason": reason, "score": format_decimal(candidate.score, format="0.000"),
            "sides": sides, "household_pair": service.is_household_pair(candidate),
            "village": villages.get(candidate.village_id, "")}


class DuplicateView(RemoteFilterMixin, BaseView):
    route_base = "/duplicates"
    default_view = "index"
    # filter_choices (RemoteFilterMixin) is asked with can_list, like the page itself.
    method_permission_name = {"index": "list", "dismiss": "decide", "confirm": "decide", "scan": "scan"}
    remote_filters = {"village": QUEUE_VILLAGES}

    @expose("/")
    @has_access
    def index(self):
        scope = scope_mod.current_scope()
        kind = request.args.get("kind", "").strip() or None
        if kind is not None and kind not in KINDS:
            abort(400, description=gettext("Unknown kind of finding: choose one from the list."))
        village_id = _int_arg("village", 1)
        page = _int_arg("page") or 0
        session = db.session
        pending_scan, last_scan = duplicate_scans.pending(session), duplicate_scans.last_finished(session)
        worker_down = pending_scan is not None and not worker_alive(session)
        # pending() fails the scans of a dead worker. Committed before the pairs are read: a
        # commit expires every loaded object (one query per row afterwards).
        session.commit()
        total, rows = service.queue(session, scope, kind, village_id, PAGE_SIZE, page * PAGE_SIZE)
        village_ids = {c.village_id for c in rows} | {c.other_village_id for c in rows} | {
            item.get("village_id") for c in rows for item in (c.detail or {}).get("listed", [])}
        villages = dict(session.execute(select(Village.id, Village.name).where(Village.id.in_(village_ids))).all()) \
            if village_ids else {}
        households = service.households_of(session, rows)
        # The chosen village comes back with its label (within the scope); the others load on demand.
        chosen = [(vid, _with_pairs(label, total)) for vid, label in VILLAGES.labels([village_id] if village_id else [])]
        village_select = remote_select("village", "village",
                                       url_for(".filter_choices", column="village", kind=kind),
                                       gettext("All villages"), chosen, allow_clear=True)
        sm = self.appbuilder.sm
        return self.render_template(
            "duplicates/queue.html", title=gettext("Duplicates & double aid"),
            items=[describe(c, households, villages, scope) for c in rows], total=total, page=page,
            pages=(total + PAGE_SIZE - 1) // PAGE_SIZE, kind=kind, village_id=village_id,
            kinds=[(k, service.KIND_LABELS[k]) for k in KINDS], village_select=village_select,
            number=number_text, can_decide=sm.has_access("can_decide", self.class_permission_name),
            can_scan=sm.has_access("can_scan", self.class_permission_name),
            pending_scan=pending_scan, last_scan=last_scan, worker_down=worker_down, when=datetime_text,
            decimal=lambda x: format_decimal(x, format="#,##0.0"))

    def _back(self):
        return redirect(url_for(".index", kind=request.form.get("kind") or None,
                                village=request.form.get("village") or None))

    @expose("/dismiss/<int:pk>", methods=["POST"])
    @has_access
    def dismiss(self, pk):
        try:
            service.dismiss(db.session, pk, _user(), (request.form.get("note") or "").strip()[:500])
            db.session.commit()
        except service.DecisionError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return self._back()
        flash(gettext("Marked as not a duplicate: this pair will not be shown again."), "success")
        return self._back()

    @expose("/confirm/<int:pk>", methods=["POST"])
    @has_access
    def confirm(self, pk):
        try:
            _review, created = service.confirm(db.session, pk, _user(), request.form.get("keep") or None,
                                               (request.form.get("note") or "").strip()[:500])
            db.session.commit()
        except (service.DecisionError, WorkflowError) as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return self._back()
        except InputError as exc:
            db.session.rollback()
            flash("; ".join(" ".join(m) for m in exc.errors.values()), "danger")
            return self._back()
        if created is None:
            flash(gettext("Confirmed as a finding."), "success")
            return self._back()
        flash(gettext("Draft removal request #%(id)s created for the duplicate household: attach the evidence "
                      "and submit it for verification.", id=created.id), "success")
        return redirect(url_for("UpdateRequestView.show", pk=created.id))

    @expose("/scan", methods=["POST"])
    @has_access
    def scan(self):
        # At a million households a scan takes tens of seconds: the queue worker runs it.
        scan, created = duplicate_scans.request_scan(current_app, db.session, g.user)
        if scan.status == "failed":
            flash(gettext("The scan could not be queued: %(error)s", error=scan.error), "danger")
        elif created:
            flash(gettext("Scan queued: the pairs are replaced when it finishes (reload this page)."), "success")
        else:
            flash(gettext("A scan asked for at %(when)s is still waiting or running.",
                          when=datetime_text(scan.requested_at)), "info")
        return redirect(url_for(".index"))


class ProgramExclusionRuleView(ScopedModelView):
    """Pairs of synergy types one household must not receive in the same year (Admin, Bappeda)."""

    datamodel = SQLAInterface(ProgramExclusionRule)
    list_title = show_title = add_title = edit_title = _("Programs that must not be combined")
    label_columns = {"synergy_type_a": _("Synergy type"), "synergy_type_b": _("Together with synergy type"),
                     "note": _("Note"), "created_by": _("Created by"), "created_at": _("Created at")}
    list_columns = ["synergy_type_a", "synergy_type_b", "note", "created_by", "created_at"]
    show_columns = list_columns
    add_columns = edit_columns = ["synergy_type_a", "synergy_type_b", "note"]
    search_columns = ["synergy_type_a", "synergy_type_b"]
    formatters_columns = {"synergy_type_a": choice_label(SYNERGY_CHOICES),
                          "synergy_type_b": choice_label(SYNERGY_CHOICES)}
    add_form_extra_fields = edit_form_extra_fields = {
        "synergy_type_a": select_field(_("Synergy type"), SYNERGY_CHOICES),
        "synergy_type_b": select_field(_("Together with synergy type"), SYNERGY_CHOICES)}

    def _order(self, item):
        # One rule per unordered pair: the database keeps them ordered (a <= b).
        if item.synergy_type_a and item.synergy_type_b and item.synergy_type_a > item.synergy_type_b:
            item.synergy_type_a, item.synergy_type_b = item.synergy_type_b, item.synergy_type_a

    def pre_add(self, item):
        self._order(item)
        item.created_by = getattr(_user(), "username", None)
        super().pre_add(item)

    def pre_update(self, item):
        self._order(item)
        super().pre_update(item)


def register(appbuilder) -> None:
    appbuilder.add_view(DuplicateView, "Duplicates", label=_("Duplicates & double aid"), icon="fa-clone",
                        category=CATEGORY)
    appbuilder.add_view(ProgramExclusionRuleView, "Program exclusion rules",
                        label=_("Programs that must not be combined"), icon="fa-ban", category="Programs")
