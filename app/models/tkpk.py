"""TKPK institutions (one for the province, one per kabupaten/kota), their members and
documents, and the agencies (OPD) that own programs."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (CheckConstraint, Column, Date, ForeignKey, Integer, String, Text, UniqueConstraint)
from sqlalchemy.orm import relationship

LEVELS = ("provinsi", "kabupaten")  # province level, or kabupaten/kota level
DOCUMENT_KINDS = ("spkd", "pedoman")  # poverty strategy (SPKD), program guideline document
DOCUMENT_STATUSES = ("belum", "penyusunan", "selesai")  # none / drafting / done


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Agency(Model):
    """A regional government agency (OPD) at province or kabupaten/kota level."""

    __tablename__ = "agency"
    __table_args__ = (
        CheckConstraint(_in("level", LEVELS), name="level_valid"),
        # A kabupaten/kota agency belongs to one regency; a provincial one to none.
        CheckConstraint("(level = 'provinsi') = (regency_id IS NULL)", name="regency_matches_level"),
        UniqueConstraint("name", "regency_id", name="uq_agency_name_regency"),
    )
    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False)
    sector = Column(String(100))
    level = Column(String(10), nullable=False)
    regency_id = Column(Integer, ForeignKey("regency.id"), index=True)
    regency = relationship("Regency")

    def __repr__(self) -> str:
        return self.name if self.regency is None else f"{self.name} ({self.regency.name})"


class TkpkInstitution(Model):
    __tablename__ = "tkpk_institution"
    __table_args__ = (
        CheckConstraint(_in("level", LEVELS), name="level_valid"),
        CheckConstraint("(level = 'provinsi') = (regency_id IS NULL)", name="regency_matches_level"),
        UniqueConstraint("regency_id", name="uq_tkpk_institution_regency_id"),
    )
    id = Column(Integer, primary_key=True)
    level = Column(String(10), nullable=False)
    regency_id = Column(Integer, ForeignKey("regency.id"))
    regency = relationship("Regency")
    decree_number = Column(String(100))
    decree_date = Column(Date)
    chair = Column(String(150))
    secretariat_address = Column(Text)
    facilities_available = Column(Text)
    facilities_lacking = Column(Text)
    members = relationship("TkpkMember", back_populates="institution", cascade="all, delete-orphan")
    documents = relationship("TkpkDocument", back_populates="institution", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return "TKPK Provinsi Lampung" if self.regency is None else f"TKPK {self.regency.name}"


class TkpkMember(Model):
    __tablename__ = "tkpk_member"
    id = Column(Integer, primary_key=True)
    institution_id = Column(Integer, ForeignKey("tkpk_institution.id", ondelete="CASCADE"), nullable=False,
                            index=True)
    institution = relationship(TkpkInstitution, back_populates="members")
    name = Column(String(150), nullable=False)
    position = Column(String(150))
    agency_id = Column(Integer, ForeignKey("agency.id"), index=True)
    agency = relationship(Agency)

    def __repr__(self) -> str:
        return self.name


class TkpkDocument(Model):
    __tablename__ = "tkpk_document"
    __table_args__ = (
        CheckConstraint(_in("kind", DOCUMENT_KINDS), name="kind_valid"),
        CheckConstraint(_in("status", DOCUMENT_STATUSES), name="status_valid"),
        UniqueConstraint("institution_id", "kind", name="uq_tkpk_document_institution_kind"),
    )
    id = Column(Integer, primary_key=True)
    institution_id = Column(Integer, ForeignKey("tkpk_institution.id", ondelete="CASCADE"), nullable=False,
                            index=True)
    institution = relationship(TkpkInstitution, back_populates="documents")
    kind = Column(String(10), nullable=False)
    status = Column(String(12), nullable=False, default="belum")
    status_date = Column(Date)
    file = Column(String(255))  # stored name under UPLOAD_FOLDER

    def download(self):
        """Link to the uploaded file for lists and show pages (HTML-escaped name)."""
        from flask import url_for
        from markupsafe import Markup, escape

        if not self.file:
            return ""
        url = url_for("TkpkDocumentView.download", filename=self.file)
        return Markup(f'<a href="{escape(url)}">{escape(self.file.split("_sep_", 1)[-1])}</a>')

    def __repr__(self) -> str:
        return f"{self.kind} ({self.status})"
