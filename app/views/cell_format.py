"""How a value of a table cell reads on a page, in the user's language (thousands and decimal
marks, dates as "5 Desember 2026", times in WIB). The kinds are those of ``app.exports.Column``;
analysis tables, LP2KD reports, the screens' formatters and the templates (the ``tanggal``,
``waktu`` and ``angka`` filters) share it."""
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
    if kind == "datetime" and isinstance(value, dt.datetime):
        return datetime_text(value)
    if kind in ("date", "datetime") and isinstance(value, dt.date):
        return date_text(value)
    if isinstance(value, bool):
        return yes_no(value)
    return str(value)


def date_text(value) -> str:
    """'5 Desember 2026' (the user's language); a datetime is first taken to WIB."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone(WIB).date()
    return format_date(value, "d MMMM yyyy")


def datetime_text(value, seconds: bool = False) -> str:
    """'5 Desember 2026 14.30 WIB' (or 14.30.05). Lampung reads times in WIB; a naive value
    (FAB's last_login, written with datetime.now()) is the server's local time."""
    if value is None:
        return ""
    if not isinstance(value, dt.datetime):
        return date_text(value)
    local = value.astimezone(WIB)
    clock = f"{local:%H.%M.%S}" if seconds else f"{local:%H.%M}"
    return f"{format_date(local.date(), 'd MMMM yyyy')} {clock} WIB"


def number_text(value) -> str:
    """2663 -> '2.663' (id) / '2,663' (en)."""
    return "" if value is None else format_decimal(value, format="#,##0")


def yes_no(value) -> str:
    from flask_babel import gettext

    return "" if value is None else (gettext("Yes") if value else gettext("No"))


def register_filters(app) -> None:
    """Jinja filters for the templates: {{ d|tanggal }}, {{ t|waktu }}, {{ n|angka }}."""
    app.jinja_env.filters.update(tanggal=date_text, waktu=datetime_text, angka=number_text, ya_tidak=yes_no)
