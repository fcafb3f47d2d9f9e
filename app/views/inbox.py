""""Menunggu saya": the top-bar badge (app/templates/sinergi_base.html) and the /inbox/ page
listing what awaits the user (app/services/inbox.py decides what).

The badge is drawn on every page, so its two COUNT queries are kept per user for
``INBOX_BADGE_SECONDS`` (config; 10 by default, 0 = no keeping) in this process: a step the
user takes shows in the badge within that time, and a user clicking through lists does not
count again on every page. Users without the page (Pimpinan, OPD) and users with nothing
waiting see no badge.
"""
from __future__ import annotations

import threading
import time

from flask import current_app
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _

from app.extensions import db
from app.services import complaints as complaints_service
from app.services import inbox as inbox_service
from app.views.cell_format import number_text

_kept: dict[int, tuple[float, inbox_service.Counts | None]] = {}
_lock = threading.Lock()
_KEPT_MAX = 5000  # users; beyond that the expired entries are dropped


def _user():
    return current_app.appbuilder.sm.current_user


def _may_see_inbox() -> bool:
    return current_app.appbuilder.sm.has_access("can_index", InboxView.__name__)


def badge_counts() -> inbox_service.Counts | None:
    """The counts for the badge, or None when there is no badge to draw."""
    user = _user()
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "id", None) is None:
        return None
    seconds = float(current_app.config.get("INBOX_BADGE_SECONDS", 10))
    now = time.monotonic()
    with _lock:
        kept = _kept.get(user.id)
    if kept is not None and kept[0] > now:
        return kept[1]
    counts = inbox_service.counts(db.session, user) if _may_see_inbox() else None
    if counts is not None and not counts.total:
        counts = None
    if seconds > 0:
        with _lock:
            if len(_kept) >= _KEPT_MAX:
                for key in [k for k, (until, _c) in _kept.items() if until <= now]:
                    del _kept[key]
            _kept[user.id] = (now + seconds, counts)
    return counts


def forget_badges() -> None:
    """Drop every kept count (tests, or after a bulk change)."""
    with _lock:
        _kept.clear()


class InboxView(BaseView):
    route_base = "/inbox"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        user = _user()
        limit = 200
        found = inbox_service.items(db.session, user, limit=limit)
        counts = inbox_service.counts(db.session, user)
        return self.render_template(
            "inbox/index.html", title=_("Awaiting me"), items=found, counts=counts, limit=limit,
            number=number_text, today=complaints_service.today())


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(InboxView())
    # Every page's layout may ask for the badge; it is computed only when the navbar draws it.
    current_app.context_processor(lambda: {"inbox_badge": badge_counts, "inbox_number": number_text})
