"""The audit trail: one row per change of a domain row or approval, chained by hashes so
that a row altered or removed directly in the database is detectable
(``flask --app run audit verify``). Rows are only ever appended (app/services/audit.py)."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import BigInteger, Column, DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB


class AuditLog(Model):
    __tablename__ = "audit_log"
    id = Column(BigInteger, primary_key=True)
    at = Column(DateTime(timezone=True), nullable=False, server_default=func.now(), index=True)
    user_id = Column(Integer, index=True)  # no FK: the trail outlives deleted users
    username = Column(String(100))
    action = Column(String(30), nullable=False)  # create | update | delete | accept_location | approve | ...
    entity = Column(String(50), nullable=False)  # table name; no index (migration 0017)
    entity_id = Column(BigInteger, index=True)
    before = Column(JSONB)
    after = Column(JSONB)
    note = Column(String(500))
    prev_hash = Column(String(64), nullable=False)
    hash = Column(String(64), nullable=False)  # not unique by constraint: verify checks the chain (0017)

    def __repr__(self) -> str:
        return f"{self.at} {self.username} {self.action} {self.entity}#{self.entity_id}"
