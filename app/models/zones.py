"""Regional priority zones (zona prioritas) and poverty indicators."""
from __future__ import annotations

from flask_appbuilder import Model
from geoalchemy2 import Geometry
from sqlalchemy import (CheckConstraint, Column, ForeignKey, Integer, Numeric, String, Table, Text,
                        UniqueConstraint)
from sqlalchemy import and_, exists
from sqlalchemy.orm import aliased, column_property, relationship

from app.models.tkpk import _in

ZONE_BASES = ("kewilayahan", "desil", "lainnya")
PRIORITY_LEVELS = (1, 2, 3)  # 1 highest
PERIODS = ("maret", "september", "tahunan")

zone_source_village = Table(
    "zone_source_village", Model.metadata,
    Column("zone_id", Integer, ForeignKey("priority_zone.id", ondelete="CASCADE"), primary_key=True),
    Column("village_id", Integer, ForeignKey("village.id"), primary_key=True, index=True),
)


class PriorityZone(Model):
    """A zone drawn as a polygon or made as the union of a set of villages (kept in
    source_villages so the zone can be rebuilt when boundaries change)."""

    __tablename__ = "priority_zone"
    __table_args__ = (
        CheckConstraint(_in("basis", ZONE_BASES), name="basis_valid"),
        CheckConstraint("priority_level IN (1, 2, 3)", name="priority_level_valid"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_valid"),
    )
    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False)
    year = Column(Integer, nullable=False, index=True)
    priority_level = Column(Integer, nullable=False, default=1)
    basis = Column(String(12), nullable=False, default="kewilayahan")
    description = Column(Text)
    regency_id = Column(Integer, ForeignKey("regency.id"), index=True)  # NULL = province-wide
    regency = relationship("Regency")
    geom = Column(Geometry("MULTIPOLYGON", srid=4326), nullable=False)
    source_villages = relationship("Village", secondary=zone_source_village)

    def __repr__(self) -> str:
        return f"{self.name} ({self.year})"


class PovertyIndicator(Model):
    """Poverty rate of the province or a regency for a period (BPS March/September or annual)."""

    __tablename__ = "poverty_indicator"
    __table_args__ = (
        CheckConstraint(_in("period", PERIODS), name="period_valid"),
        CheckConstraint("(province_id IS NULL) <> (regency_id IS NULL)", name="one_area"),
        CheckConstraint("poverty_rate BETWEEN 0 AND 100", name="rate_valid"),
        CheckConstraint("target_rate IS NULL OR target_rate BETWEEN 0 AND 100", name="target_valid"),
        CheckConstraint("poor_people IS NULL OR poor_people >= 0", name="poor_people_valid"),
        UniqueConstraint("province_id", "regency_id", "year", "period", name="uq_poverty_indicator_area_period"),
    )
    id = Column(Integer, primary_key=True)
    province_id = Column(Integer, ForeignKey("province.id"))
    province = relationship("Province")
    regency_id = Column(Integer, ForeignKey("regency.id"), index=True)
    regency = relationship("Regency")
    year = Column(Integer, nullable=False)
    period = Column(String(10), nullable=False)
    poverty_rate = Column(Numeric(5, 2), nullable=False)
    poor_people = Column(Integer)
    target_rate = Column(Numeric(5, 2))
    source = Column(String(150))

    @property
    def area_name(self) -> str:
        return self.regency.name if self.regency else (self.province.name if self.province else "-")

    def __repr__(self) -> str:
        return f"{self.area_name} {self.period} {self.year}"


# A regency whose rate is above the province's rate of the same period is flagged. Computed
# by the database in the same query as the row (a correlated EXISTS), never per row in Python.
_province_rate = aliased(PovertyIndicator)
PovertyIndicator.above_province = column_property(
    and_(
        PovertyIndicator.regency_id.is_not(None),
        exists().where(_province_rate.province_id.is_not(None), _province_rate.year == PovertyIndicator.year,
                       _province_rate.period == PovertyIndicator.period,
                       _province_rate.poverty_rate < PovertyIndicator.poverty_rate),
    ),
    deferred=False,
)
