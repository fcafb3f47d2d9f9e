"""Background import jobs (the web upload polls their status) and the export log."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import relationship

from app.models.tkpk import _in

IMPORT_KINDS = ("households", "members", "enrolments")
JOB_STATUSES = ("queued", "running", "done", "failed")


class ImportJob(Model):
    __tablename__ = "import_job"
    __table_args__ = (
        CheckConstraint(_in("kind", IMPORT_KINDS), name="kind_valid"),
        CheckConstraint(_in("status", JOB_STATUSES), name="status_valid"),
    )
    id = Column(Integer, primary_key=True)
    kind = Column(String(12), nullable=False)
    dry_run = Column(Boolean, nullable=False, default=True)
    status = Column(String(10), nullable=False, default="queued", index=True)
    user_id = Column(Integer, index=True)
    username = Column(String(100))
    regency_id = Column(Integer, ForeignKey("regency.id"), index=True)  # the importer's regency (operators)
    regency = relationship("Regency")
    filename = Column(String(255), nullable=False)  # as uploaded
    stored_path = Column(String(500))  # under UPLOAD_FOLDER
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now())
    progress = Column(Integer, nullable=False, default=0)  # rows processed
    total = Column(Integer)  # rows in the file, once known
    summary = Column(JSONB)  # inserted / updated / unchanged / rejected, encoding, separator ...
    report_path = Column(String(500))  # the validation report (CSV)
    error = Column(Text)
    # Households: the snapshot the file is loaded into (app/models/snapshots.py).
    snapshot_source = Column(String(10))
    snapshot_period = Column(String(7))
    confirm_older = Column(Boolean, nullable=False, default=False, server_default="false")

    def __repr__(self) -> str:
        return f"{self.kind} {self.filename} ({self.status})"


class ExportLog(Model):
    """Who exported what, with which filter, how many rows, when (visible to Admin / Bappeda)."""

    __tablename__ = "export_log"
    id = Column(BigInteger, primary_key=True)
    at = Column(DateTime(timezone=True), nullable=False, server_default=func.now(), index=True)
    user_id = Column(Integer, index=True)
    username = Column(String(100))
    what = Column(String(100), nullable=False)
    format = Column(String(10), nullable=False)
    filters = Column(JSONB)
    rows = Column(BigInteger)

    def __repr__(self) -> str:
        return f"{self.at} {self.username} {self.what} ({self.rows})"
