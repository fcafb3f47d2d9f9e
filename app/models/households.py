"""Households of the unified targeting data (BDT 2015, DTSEN), their members, and program enrolments.

No KK and NIK are text (leading zeros, no Excel rounding), checked for 16 digits by the
database; the NIK's date part is checked by app/services/validation.py.
"""
from __future__ import annotations

from typing import Optional

from flask_appbuilder import Model
from geoalchemy2 import Geometry
from sqlalchemy import (CheckConstraint, Column, Date, ForeignKey, ForeignKeyConstraint, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.programs import MONEY
from app.models.tkpk import _in

SEXES = ("L", "P")
RELATIONSHIPS = ("kepala", "istri/suami", "anak", "menantu", "cucu", "orang tua", "mertua", "famili lain",
                 "lainnya")
ENROLMENT_STATUSES = ("usulan", "ditetapkan", "disalurkan", "ditolak")
# Where the point lies against the declared village (set by the database trigger
# household_locate, and in bulk by gis.queries.locate_households).
LOCATION_STATUSES = ("cocok", "beda_desa", "di_luar_wilayah", "tanpa_titik")


def point_ewkt(lon: float, lat: float) -> str:
    """EWKT of a point in EPSG:4326, the form ``Household.location`` is written in."""
    return f"SRID=4326;POINT({float(lon)!r} {float(lat)!r})"


def lon_lat_of(location) -> Optional[tuple[float, float]]:
    """(lon, lat) of a point given as a GeoAlchemy element or WKT/EWKT text; None for None."""
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


class Household(Model):
    __tablename__ = "household"
    __table_args__ = (
        CheckConstraint("no_kk ~ '^[0-9]{16}$'", name="no_kk_format"),
        CheckConstraint("head_nik ~ '^[0-9]{16}$'", name="head_nik_format"),
        # 1-10 for any source; the snapshot row holds the source's own range (app/models/snapshots.py).
        CheckConstraint("desil BETWEEN 1 AND 10", name="desil_valid"),
        CheckConstraint("member_count >= 1", name="member_count_valid"),
        CheckConstraint(_in("location_status", LOCATION_STATUSES), name="location_status_valid"),
    )
    id = Column(Integer, primary_key=True)
    no_kk = Column(String(16), nullable=False, unique=True)
    head_nik = Column(String(16), nullable=False, index=True)
    head_name = Column(String(150), nullable=False)
    address = Column(Text)
    rt = Column(String(3))
    rw = Column(String(3))
    village_id = Column(Integer, ForeignKey("village.id"), nullable=False, index=True)
    village = relationship("Village", foreign_keys=[village_id])
    desil = Column(Integer, nullable=False)
    member_count = Column(Integer, nullable=False, default=1)
    location = Column(Geometry("POINT", srid=4326))
    located_village_id = Column(Integer, ForeignKey("village.id"), index=True)  # point-in-polygon result
    located_village = relationship("Village", foreign_keys=[located_village_id])
    location_status = Column(String(16), nullable=False, default="tanpa_titik", server_default="tanpa_titik",
                             index=True)
    source = Column(String(50), default="BDT")
    source_date = Column(Date)
    # The latest snapshot listing the household: its desil, village and point are the ones above.
    snapshot_id = Column(Integer, ForeignKey("targeting_snapshot.id"), index=True)
    snapshot = relationship("TargetingSnapshot", foreign_keys=[snapshot_id])
    members = relationship("HouseholdMember", back_populates="household", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"{self.head_name} ({self.village.name if self.village else '-'})"

    # --- the point as numbers (read-only; the screens write ``location`` as EWKT) -------------
    @property
    def lon_lat(self) -> Optional[tuple[float, float]]:
        """(longitude, latitude) of ``location``, or None without a point."""
        return lon_lat_of(self.location)

    @property
    def latitude(self) -> Optional[float]:
        point = self.lon_lat
        return None if point is None else round(point[1], 7)

    @property
    def longitude(self) -> Optional[float]:
        point = self.lon_lat
        return None if point is None else round(point[0], 7)


class HouseholdMember(Model):
    __tablename__ = "household_member"
    __table_args__ = (
        CheckConstraint("nik ~ '^[0-9]{16}$'", name="nik_format"),
        CheckConstraint(_in("sex", SEXES), name="sex_valid"),
        UniqueConstraint("household_id", "nik", name="uq_household_member_household_nik"),
    )
    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    household = relationship(Household, back_populates="members")
    nik = Column(String(16), nullable=False, index=True)
    name = Column(String(150), nullable=False)
    sex = Column(String(1), nullable=False)
    birth_date = Column(Date)
    relationship_to_head = Column(String(20), nullable=False, default="lainnya")

    def __repr__(self) -> str:
        return self.name


class Enrolment(Model):
    """A household in a program for a year; the year must be the program's fiscal year
    (enforced by the composite foreign key on (program_id, year))."""

    __tablename__ = "enrolment"
    __table_args__ = (
        UniqueConstraint("household_id", "program_id", "year", name="uq_enrolment_household_program_year"),
        ForeignKeyConstraint(["program_id", "year"], ["program.id", "program.fiscal_year"],
                             name="fk_enrolment_program_year", ondelete="CASCADE"),
        CheckConstraint(_in("status", ENROLMENT_STATUSES), name="status_valid"),
        CheckConstraint("benefit_value IS NULL OR benefit_value >= 0", name="benefit_not_negative"),
    )
    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    household = relationship(Household)
    program_id = Column(Integer, ForeignKey("program.id"), nullable=False, index=True)
    program = relationship("Program", foreign_keys=[program_id])
    year = Column(Integer, nullable=False, index=True)
    status = Column(String(12), nullable=False, default="usulan")
    benefit_value = Column(MONEY)
    date = Column(Date)

    def __repr__(self) -> str:
        return f"{self.program.code if self.program else '?'} / {self.year}"
