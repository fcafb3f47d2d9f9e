"""Poverty programs, owned by an agency, and the regencies they cover."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (CheckConstraint, Column, ForeignKey, Integer, Numeric, String, Table, UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.tkpk import LEVELS, _in

CLUSTERS = (1, 2, 3)  # 1 basic services, 2 community empowerment, 3 micro-enterprise
# The 8 synergy programs agreed in 2016 (domain.md) + other.
SYNERGY_TYPES = ("a", "b", "c", "d", "e", "f", "g", "h", "lainnya")
PROGRAM_STATUSES = ("perencanaan", "berjalan", "selesai", "dibatalkan")
MONEY = Numeric(18, 2)  # Rupiah, exact: never a float

program_regency = Table(
    "program_regency", Model.metadata,
    Column("program_id", Integer, ForeignKey("program.id", ondelete="CASCADE"), primary_key=True),
    Column("regency_id", Integer, ForeignKey("regency.id"), primary_key=True, index=True),
)


def desil_range_text(desil_min, desil_max, source) -> str:
    """'1–4 (DTSEN)', '2 (BDT 2015)': a target range and its source; no source reads BDT 2015."""
    if desil_max is None:
        return ""
    low = desil_min or 1
    span = str(low) if low == desil_max else f"{low}\u2013{desil_max}"
    return f"{span} ({source or 'BDT 2015'})"


class Program(Model):
    __tablename__ = "program"
    __table_args__ = (
        CheckConstraint("cluster IN (1, 2, 3)", name="cluster_valid"),
        CheckConstraint(_in("synergy_type", SYNERGY_TYPES), name="synergy_type_valid"),
        CheckConstraint(_in("level", LEVELS), name="level_valid"),
        CheckConstraint(_in("status", PROGRAM_STATUSES), name="status_valid"),
        CheckConstraint("budget >= 0 AND realised_budget >= 0", name="money_not_negative"),
        # The desil range a program targets, read in its source's desils (PKH: DTSEN 1-4,
        # Sembako and PBI-JK: DTSEN 1-5); no source = BDT 2015 (1-4), the seed's programs.
        CheckConstraint("target_desil_min BETWEEN 1 AND target_desil AND target_desil <= "
                        "CASE WHEN target_source = 'DTSEN' THEN 10 ELSE 4 END", name="target_desil_valid"),
        CheckConstraint("target_source IS NULL OR target_source IN ('BDT 2015', 'DTSEN')",
                        name="target_source_valid"),
        CheckConstraint("fiscal_year BETWEEN 2000 AND 2100", name="fiscal_year_valid"),
        # Lets enrolment reference (program, year) so the database refuses another year.
        UniqueConstraint("id", "fiscal_year", name="uq_program_id_fiscal_year"),
    )
    id = Column(Integer, primary_key=True)
    code = Column(String(30), nullable=False, unique=True)
    name = Column(String(250), nullable=False)
    cluster = Column(Integer, nullable=False)
    synergy_type = Column(String(10), nullable=False, default="lainnya")
    agency_id = Column(Integer, ForeignKey("agency.id"), nullable=False, index=True)
    agency = relationship("Agency")
    level = Column(String(10), nullable=False)
    fiscal_year = Column(Integer, nullable=False, index=True)
    budget = Column(MONEY, nullable=False, default=0)
    realised_budget = Column(MONEY, nullable=False, default=0)
    target_households = Column(Integer)
    target_desil = Column(Integer, nullable=False, default=1)  # the highest desil targeted
    target_desil_min = Column(Integer, nullable=False, default=1, server_default="1")
    target_source = Column(String(10))
    status = Column(String(12), nullable=False, default="perencanaan")
    regencies = relationship("Regency", secondary=program_regency)

    @property
    def target_desil_range(self) -> str:
        """The target range as people read it: '1–4 (DTSEN)'."""
        return desil_range_text(self.target_desil_min, self.target_desil, self.target_source)

    def __repr__(self) -> str:
        return f"{self.code} {self.name} ({self.fiscal_year})"
