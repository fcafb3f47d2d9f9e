"""Targeting data snapshots: which source (BDT 2015, DTSEN) and which period a household's
desil, village, address and point came from.

A household keeps one identity (its No KK, members by NIK); each load of targeting data adds a
``targeting_snapshot`` and one ``household_snapshot`` row per household it lists, never
overwriting an earlier snapshot. The ``household`` row carries the values of the latest
snapshot that lists it (``snapshot_id``), so every screen and analysis reads "the latest" by
default; a chosen snapshot is read from ``household_snapshot``.

The desil range depends on the source (BDT: 1-4, the poorest 40 %; DTSEN: 1-10). The
database enforces it: ``household_snapshot`` repeats its snapshot's ``desil_max`` under a
composite foreign key, so a row cannot claim another range than its snapshot's.
"""
from __future__ import annotations

from flask_appbuilder import Model
from geoalchemy2 import Geometry
from sqlalchemy import (CheckConstraint, Column, Date, DateTime, ForeignKey, ForeignKeyConstraint, Index, Integer,
                        SmallInteger, String, Text, UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import relationship

BDT = "BDT 2015"
DTSEN = "DTSEN"
SOURCES = (BDT, DTSEN)
DESIL_MAX = {BDT: 4, DTSEN: 10}
# A DTSEN period is a quarter ("2025-Q4"); BDT 2015 has the one period "2015".
PERIOD_PATTERN = {BDT: r"^2015$", DTSEN: r"^20[0-9]{2}-Q[1-4]$"}


class TargetingSnapshot(Model):
    __tablename__ = "targeting_snapshot"
    __table_args__ = (
        CheckConstraint("source IN ('BDT 2015', 'DTSEN')", name="source_valid"),
        CheckConstraint("(source = 'BDT 2015' AND period = '2015' AND desil_max = 4) OR "
                        "(source = 'DTSEN' AND period ~ '^20[0-9]{2}-Q[1-4]$' AND desil_max = 10)",
                        name="period_and_range_valid"),
        UniqueConstraint("source", "period", name="uq_targeting_snapshot_source_period"),
        # The target of household_snapshot's composite key (snapshot, its desil range).
        UniqueConstraint("id", "desil_max", name="uq_targeting_snapshot_id_desil_max"),
    )
    id = Column(Integer, primary_key=True)
    source = Column(String(10), nullable=False)
    period = Column(String(7), nullable=False)
    period_start = Column(Date, nullable=False)  # first day of the period: orders the snapshots
    desil_max = Column(SmallInteger, nullable=False)
    loaded_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    loaded_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    note = Column(Text)

    @property
    def label(self) -> str:
        return self.source if self.source == BDT else f"{self.source} {self.period}"

    def __repr__(self) -> str:
        return self.label


class HouseholdSnapshot(Model):
    """A household as one snapshot lists it."""

    __tablename__ = "household_snapshot"
    __table_args__ = (
        ForeignKeyConstraint(["snapshot_id", "desil_max"], ["targeting_snapshot.id", "targeting_snapshot.desil_max"],
                             name="fk_household_snapshot_snapshot_range", ondelete="CASCADE"),
        CheckConstraint("desil BETWEEN 1 AND desil_max", name="desil_in_source_range"),
        CheckConstraint("member_count >= 1", name="member_count_valid"),
        # (village, snapshot): one snapshot's rows of a regency's villages (migration 0015)
        Index("ix_household_snapshot_village_id", "village_id", "snapshot_id"),
    )
    # Held to its snapshot by fk_household_snapshot_snapshot_range alone (migration 0016).
    snapshot_id = Column(Integer, primary_key=True)
    snapshot = relationship(TargetingSnapshot, primaryjoin="HouseholdSnapshot.snapshot_id == TargetingSnapshot.id",
                            foreign_keys=[snapshot_id])
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), primary_key=True, index=True)
    desil_max = Column(SmallInteger, nullable=False)
    desil = Column(SmallInteger, nullable=False)
    village_id = Column(Integer, ForeignKey("village.id"), nullable=False)
    address = Column(Text)
    rt = Column(String(3))
    rw = Column(String(3))
    # GiST index idx_household_snapshot_location (migration 0018): the household map of a chosen snapshot
    location = Column(Geometry("POINT", srid=4326))
    member_count = Column(Integer, nullable=False)
    member_niks = Column(ARRAY(String(16)), nullable=False, server_default="{}")  # diff: members added/removed
    source_row = Column(JSONB)  # the row as the file had it (column -> text)
