"""What a list or show page prints for a column without a formatter of its own: nothing for
None, Ya/Tidak for a boolean, "5 Desember 2026" for a date, "5 Desember 2026 14.30 WIB" for a
time, "2.663" for a count. FAB prints the Python value (``None``, ``True``, ``2026-12-05``).
Every screen's view mixes this in before FAB's ModelView."""
from __future__ import annotations

import datetime as dt

from flask_babel import format_decimal

from app.views.cell_format import date_text, datetime_text, number_text, yes_no


def readable(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, dt.datetime):
        return datetime_text(value)
    if isinstance(value, dt.date):
        return date_text(value)
    if isinstance(value, int):
        return number_text(value)
    if isinstance(value, float):
        return format_decimal(value, format="#,##0.##")  # 12,35 (id)
    return value


class ReadableValuesMixin:
    # Columns that are numbers but no counts: printed as they are (a year has no thousands mark).
    plain_columns = ("year", "fiscal_year", "id", "rt", "rw", "desil", "entity_id", "user_id")

    def _init_properties(self):
        super()._init_properties()
        columns = set(self.list_columns) | set(self.show_columns)
        for fieldsets in ("show_fieldsets", "user_show_fieldsets"):
            for _title, spec in getattr(self, fieldsets, None) or []:
                columns |= set(spec.get("fields", []))
        defaults = {c: (_plain if c in self.plain_columns else readable) for c in columns}
        # a copy: the class attribute is shared with the view's subclasses
        self.formatters_columns = {**defaults, **(self.formatters_columns or {})}


def _plain(value):
    return "" if value is None else value
