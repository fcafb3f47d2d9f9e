"""Input rules for domain rows, shared by the screens (WTForms validators), the REST API
and the importers, so a rule is written once. Every message names the field and the
reason, in the user's language (Bahasa Indonesia by default)."""
from __future__ import annotations

import calendar
import re
from decimal import Decimal, InvalidOperation
from typing import Optional

from flask_babel import gettext as _
from sqlalchemy import func, select

SIXTEEN_DIGITS = re.compile(r"^[0-9]{16}$")


class InputError(Exception):
    """Bad input: ``errors`` maps a field name to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))


def check_id_number(value: Optional[str], is_nik: bool) -> Optional[str]:
    """NIK or No KK: 16 digits; digits 7-12 a real date DDMMYY (for a NIK, women's day + 40).

    Returns the reason it is wrong, or None."""
    if value is None or value == "":
        return _("is required")
    value = str(value).strip()
    if re.fullmatch(r"[0-9.,]+[eE][+-]?[0-9]+", value):
        return _("was turned into a number by Excel (%(value)s); format the column as text", value=value)
    if not SIXTEEN_DIGITS.match(value):
        return _("must be exactly 16 digits (got %(n)d characters)", n=len(value))
    day, month = int(value[6:8]), int(value[8:10])
    if is_nik and day > 40:
        day -= 40
    # The year has two digits only; 2000 is a leap year so 29 February is allowed.
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(2000, month)[1]:
        return _("holds an impossible date (%(date)s)", date=f"{value[6:8]}-{value[8:10]}-{value[10:12]}")
    return None


def check_desil(value, highest: int = 4, source: Optional[str] = None) -> Optional[str]:
    """A desil: a whole number from 1 to ``highest`` (4 for BDT 2015, 10 for DTSEN); ``source``
    names the range in the message. Returns the reason it is wrong, or None."""
    try:
        exact = None if value is None or isinstance(value, bool) else Decimal(str(value).strip())
    except InvalidOperation:
        exact = None
    if value is None:
        return _("is required")
    if exact is None or not exact.is_finite() or exact != exact.to_integral_value():
        return _("must be a whole number from 1 to %(highest)d", highest=highest)
    if 1 <= exact <= highest:
        return None
    if source:
        return _("must be between 1 and %(highest)d for %(source)s (got %(value)s)", highest=highest,
                 source=source, value=value)
    return _("must be between 1 and %(highest)d (got %(value)s)", highest=highest, value=value)


def check_program_target(desil_min, desil_max, source) -> dict[str, Optional[str]]:
    """The desil range a program targets: field -> reason (None when right). The source is empty
    (= BDT 2015), 'BDT 2015' (desil 1-4) or 'DTSEN' (1-10); the lowest desil is at most the highest."""
    from app.models.snapshots import BDT, DESIL_MAX, SOURCES

    problems: dict[str, Optional[str]] = {}
    if source not in (None, "") and source not in SOURCES:
        problems["target_source"] = _("must be empty (BDT 2015), BDT 2015 or DTSEN (got %(value)s)",
                                      value=str(source)[:20])
        source = None
    label = source or BDT
    highest = DESIL_MAX[label]
    problems["target_desil_min"] = check_desil(desil_min, highest, label)
    problems["target_desil"] = check_desil(desil_max, highest, label)
    if not problems["target_desil_min"] and not problems["target_desil"] and int(desil_min) > int(desil_max):
        problems["target_desil_min"] = _("must not be above the highest target desil (%(low)s > %(high)s)",
                                         low=desil_min, high=desil_max)
    return problems


def household_desil_range(session, household) -> tuple[int, str]:
    """(highest desil, source) a household may hold: its snapshot's range (DTSEN 10, BDT 2015 4);
    BDT 2015's when it has no snapshot."""
    from app.models.snapshots import BDT, DESIL_MAX, TargetingSnapshot

    snapshot = household.snapshot
    if snapshot is None and household.snapshot_id is not None:
        snapshot = session.get(TargetingSnapshot, household.snapshot_id)
    if snapshot is None:
        return DESIL_MAX[BDT], BDT
    return snapshot.desil_max, snapshot.source


def check_money(value) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, float):
        return _("must be an exact amount, not a floating-point number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return _("is not an amount of money")
    if amount < 0:
        return _("must not be negative")
    if amount != amount.quantize(Decimal("0.01")):
        return _("has more than 2 decimals")
    return None


def check_point_in_province(session, lon: float, lat: float, province_code: str = "18") -> Optional[str]:
    """The point must lie inside the province (Lampung); says so when latitude and longitude
    look swapped (a latitude of 105 is out of range, so that reading is tried first)."""
    from app.models.areas import Province

    def inside(x: float, y: float) -> bool:
        if not (-90 <= y <= 90 and -180 <= x <= 180):
            return False
        return bool(session.execute(
            select(func.ST_Covers(Province.geom, func.ST_SetSRID(func.ST_MakePoint(x, y), 4326)))
            .where(Province.code == province_code)).scalar())

    if inside(lon, lat):
        return None
    if inside(lat, lon):
        return _("lies outside Lampung: latitude and longitude look swapped")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return _("is not a valid coordinate (latitude %(lat)s, longitude %(lon)s)", lat=lat, lon=lon)
    return _("lies outside Lampung (latitude %(lat)s, longitude %(lon)s)", lat=lat, lon=lon)


def raise_if(errors: dict[str, list[str]]) -> None:
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise InputError(errors)


def point_lon_lat(location) -> Optional[tuple[float, float]]:
    """(lon, lat) of a location given as WKT/EWKT text, a GeoAlchemy element or None."""
    if location is None:
        return None
    from geoalchemy2.elements import WKBElement, WKTElement
    from geoalchemy2.shape import to_shape
    from shapely import wkt

    if isinstance(location, (WKBElement, WKTElement)):
        geom = to_shape(location)
    else:
        text = str(location)
        geom = wkt.loads(text.split(";", 1)[1] if text.upper().startswith("SRID=") else text)
    return geom.x, geom.y


def _duplicate(session, model, column, value, own_id) -> bool:
    query = select(model.id).where(column == value)
    if own_id is not None:
        query = query.where(model.id != own_id)
    return session.execute(query.limit(1)).first() is not None


def validate_item(session, item) -> None:
    """Check a domain row before it is written; raises InputError naming each bad field."""
    from app.models.households import Enrolment, Household, HouseholdMember
    from app.models.programs import Program
    from app.models.zones import PovertyIndicator

    errors: dict[str, list[str]] = {}

    def add(field, message):
        if message:
            errors.setdefault(field, []).append(message)

    if isinstance(item, Household):
        add("no_kk", check_id_number(item.no_kk, is_nik=False))
        add("head_nik", check_id_number(item.head_nik, is_nik=True))
        add("desil", check_desil(item.desil, *household_desil_range(session, item)))
        if item.member_count is not None and item.member_count < 1:
            add("member_count", _("must be at least 1"))
        if not errors.get("no_kk") and _duplicate(session, Household, Household.no_kk, item.no_kk, item.id):
            add("no_kk", _("is already registered for another household"))
        if item.village_id is None and item.village is None:
            add("village", _("is required"))
        point = point_lon_lat(item.location)
        if point is not None:
            add("location", check_point_in_province(session, *point))
    elif isinstance(item, HouseholdMember):
        add("nik", check_id_number(item.nik, is_nik=True))
        if item.sex not in ("L", "P"):
            add("sex", _("must be L or P"))
    elif isinstance(item, Program):
        add("budget", check_money(item.budget))
        add("realised_budget", check_money(item.realised_budget))
        if item.target_source == "":
            item.target_source = None  # the form's blank choice: no source (BDT 2015)
        if item.target_desil_min is None:
            item.target_desil_min = 1  # the column's default, for a client that does not send it
        for name, problem in check_program_target(item.target_desil_min, item.target_desil,
                                                  item.target_source).items():
            add(name, problem)
        if item.cluster not in (1, 2, 3):
            add("cluster", _("must be 1, 2 or 3"))
        if item.target_households is not None and item.target_households < 0:
            add("target_households", _("must not be negative"))
        if item.code and _duplicate(session, Program, Program.code, item.code, item.id):
            add("code", _("is already used by another program"))
    elif isinstance(item, Enrolment):
        add("benefit_value", check_money(item.benefit_value))
        program = item.program or (session.get(Program, item.program_id) if item.program_id else None)
        if program is None:
            add("program", _("is required"))
        elif item.year != program.fiscal_year:
            add("year", _("program %(code)s is for fiscal year %(program_year)s, not %(year)s",
                          code=program.code, program_year=program.fiscal_year, year=item.year))
        household_id = item.household.id if item.household is not None else item.household_id
        if program is not None and household_id is not None:
            query = select(Enrolment.id).where(Enrolment.household_id == household_id,
                                               Enrolment.program_id == program.id, Enrolment.year == item.year)
            if item.id is not None:
                query = query.where(Enrolment.id != item.id)
            if session.execute(query.limit(1)).first():
                add("household", _("is already enrolled in this program for %(year)s", year=item.year))
    elif isinstance(item, PovertyIndicator):
        for field in ("poverty_rate", "target_rate"):
            value = getattr(item, field)
            if value is not None and not 0 <= Decimal(str(value)) <= 100:
                add(field, _("must be a percentage between 0 and 100"))
        if (item.province_id or item.province) and (item.regency_id or item.regency):
            add("regency", _("choose either the province or a regency, not both"))
    raise_if(errors)
