"""Data update requests (pemutakhiran), public complaints (pengaduan masyarakat) and the
free-text part of LP2KD reports."""
from __future__ import annotations

from flask_appbuilder import Model
from geoalchemy2 import Geometry
from sqlalchemy import (CheckConstraint, Column, Date, DateTime, ForeignKey, Integer, String, Text,
                        UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import relationship

from app.models.tkpk import _in

REQUEST_KINDS = ("ubah", "baru", "hapus")  # change fields / new household / removal
REMOVAL_REASONS = ("pindah", "meninggal", "tidak_miskin", "ganda")
REQUEST_STATES = ("draft", "diajukan", "diverifikasi", "disetujui", "ditolak")
COMPLAINT_CATEGORIES = ("tidak_terdata", "terdata_tidak_miskin", "bantuan_tidak_diterima", "lainnya")
COMPLAINT_STATES = ("baru", "diproses", "selesai", "ditolak")
REPORT_PERIODS = ("s1", "s2", "tahunan")


class UpdateRequest(Model):
    __tablename__ = "update_request"
    __table_args__ = (
        CheckConstraint(_in("kind", REQUEST_KINDS), name="kind_valid"),
        CheckConstraint(_in("state", REQUEST_STATES), name="state_valid"),
        CheckConstraint(f"removal_reason IS NULL OR {_in('removal_reason', REMOVAL_REASONS)}",
                        name="removal_reason_valid"),
    )
    id = Column(Integer, primary_key=True)
    kind = Column(String(8), nullable=False)
    state = Column(String(14), nullable=False, default="draft", index=True)
    # Needed for ubah/hapus (checked by app/services/update_requests.py); becomes NULL once an
    # approved removal deletes the household, so the database cannot insist on it.
    household_id = Column(Integer, ForeignKey("household.id", ondelete="SET NULL"), index=True)
    household = relationship("Household")
    regency_id = Column(Integer, ForeignKey("regency.id"), nullable=False, index=True)
    regency = relationship("Regency")
    proposed = Column(JSONB)  # field -> new value (ubah), or the whole new household (baru)
    removal_reason = Column(String(14))
    note = Column(Text)
    created_by_id = Column(Integer)
    created_by = Column(String(100))
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    steps = relationship("UpdateRequestStep", back_populates="request", cascade="all, delete-orphan",
                         order_by="UpdateRequestStep.id")
    evidence = relationship("UpdateEvidence", back_populates="request", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"#{self.id} {self.kind} ({self.state})"


class UpdateRequestStep(Model):
    __tablename__ = "update_request_step"
    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("update_request.id", ondelete="CASCADE"), nullable=False, index=True)
    request = relationship(UpdateRequest, back_populates="steps")
    from_state = Column(String(14))
    to_state = Column(String(14), nullable=False)
    user_id = Column(Integer)
    username = Column(String(100))
    at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    note = Column(Text)


class UpdateEvidence(Model):
    __tablename__ = "update_evidence"
    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("update_request.id", ondelete="CASCADE"), nullable=False, index=True)
    request = relationship(UpdateRequest, back_populates="evidence")
    file = Column(String(255), nullable=False)
    original_name = Column(String(255))


class Complaint(Model):
    __tablename__ = "complaint"
    __table_args__ = (
        CheckConstraint(_in("category", COMPLAINT_CATEGORIES), name="category_valid"),
        CheckConstraint(_in("state", COMPLAINT_STATES), name="state_valid"),
    )
    id = Column(Integer, primary_key=True)
    ticket = Column(String(20), nullable=False, unique=True)
    category = Column(String(24), nullable=False)
    village_id = Column(Integer, ForeignKey("village.id"), nullable=False, index=True)
    village = relationship("Village")
    regency_id = Column(Integer, ForeignKey("regency.id"), nullable=False, index=True)  # routed by village
    regency = relationship("Regency")
    description = Column(Text, nullable=False)
    contact = Column(String(150))
    location = Column(Geometry("POINT", srid=4326))
    photo = Column(String(255))
    state = Column(String(10), nullable=False, default="baru", index=True)
    handler_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    handler = relationship("SinergiUser")
    deadline = Column(Date, nullable=False, index=True)
    resolution = Column(Text)
    update_request_id = Column(Integer, ForeignKey("update_request.id", ondelete="SET NULL"))
    update_request = relationship(UpdateRequest)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now(), index=True)
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now())

    def __repr__(self) -> str:
        return self.ticket


class Lp2kdNote(Model):
    """The operator's free-text section of an LP2KD report: problems and follow-up."""

    __tablename__ = "lp2kd_note"
    __table_args__ = (
        CheckConstraint(_in("period", REPORT_PERIODS), name="period_valid"),
        UniqueConstraint("regency_id", "year", "period", name="uq_lp2kd_note_regency_year_period"),
    )
    id = Column(Integer, primary_key=True)
    regency_id = Column(Integer, ForeignKey("regency.id"), index=True)  # NULL = province report
    regency = relationship("Regency")
    year = Column(Integer, nullable=False)
    period = Column(String(8), nullable=False)
    problems = Column(Text)
    follow_up = Column(Text)
    updated_by = Column(String(100))
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now())
