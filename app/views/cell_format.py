"""How a value of a table cell reads on a page, in the user's language (thousands and decimal
marks). The kinds are those of ``app.exports.Column``; analysis tables and LP2KD reports share it."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_babel import format_date, format_decimal

from app.services.complaints import WIB


def format_value(value, kind: str = "text") -> str:
    if value is None or value == "":
        return ""
    if kind == "int":
        return format_decimal(value, format="#,##0")
    if kind == "year":
        return str(value)
    if kind == "decimal":
        return format_decimal(value, format="#,##0.0")
    if kind == "number":
        return format_decimal(value, format="#,##0.00")
    if kind == "money":
        amount = Decimal(value)
        return "Rp " + format_decimal(amount, format="#,##0" if amount == amount.to_integral() else "#,##0.00")
    if kind == "date" and isinstance(value, dt.date):
        return value.isoformat()
    if kind == "datetime" and isinstance(value, dt.datetime):
        return value.astimezone(WIB).strftime("%Y-%m-%d %H:%M") + " WIB"
    return str(value)


def long_date(value) -> str:
    """A day as people read it, in the user's language: ``5 Desember 2026``."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone(WIB).date()
    return format_date(value, "d MMMM y")
