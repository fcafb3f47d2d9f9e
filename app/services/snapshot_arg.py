"""The "Sumber data" request argument, ``snapshot=<id>``: one parser for every page and endpoint
that can read a chosen targeting snapshot instead of each household's latest data (the LP2KD,
app/views/reports.py; the village map and its GeoJSON and tiles, app/views/maps.py and
gis/http.py). A service, so that the GIS layer can use it without importing a view.
"""
from __future__ import annotations

from typing import Optional

from flask_babel import gettext
from sqlalchemy import select

from app.models.snapshots import TargetingSnapshot

INT_MAX = 2 ** 31 - 1


class SnapshotArgError(ValueError):
    """A bad ``snapshot`` argument; the message (Indonesian in the default locale) says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_snapshot(source, executor=None) -> Optional[int]:
    """``source["snapshot"]``: None (empty or absent: the latest data) or the id of an existing
    targeting snapshot; SnapshotArgError otherwise. ``executor``: a Connection or Session
    (default: the app's session)."""
    raw = (source.get("snapshot") or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= INT_MAX:
        raise SnapshotArgError(gettext("%(name)s must be a whole number from %(low)d to %(high)d, not \"%(value)s\"",
                                       name="snapshot", low=1, high=INT_MAX, value=raw[:40]))
    snapshot = int(raw)
    if executor is None:
        from app.extensions import db

        executor = db.session
    if executor.execute(select(TargetingSnapshot.id).where(TargetingSnapshot.id == snapshot)).first() is None:
        raise SnapshotArgError(gettext("snapshot %(id)d: there is no such targeting data snapshot", id=snapshot))
    return snapshot
