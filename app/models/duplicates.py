"""Duplicates and double aid (app/services/duplicates.py): the rules, the candidates a scan
finds, and the decisions taken on them.

A candidate is a pair with a reason. Its key is (kind, id_a, id_b, reason_key), ids ordered
(id_a <= id_b); what the ids are depends on the kind:

- ``nik_ganda``     same NIK in two families: the two household ids; reason_key = the NIK.
- ``orang_sama``    one person under two NIKs (similar name, same birth date, same village):
                    the two member ids; reason_key = ''.
- ``kk_dua_desa``   one No KK listed in two villages (the latest row of each source differs):
                    the household id twice; reason_key = the village ids, sorted, joined by '|'.
- ``bantuan_ganda`` a household receiving two programs of an excluded pair in one year:
                    the two enrolment ids; reason_key = the rule's id.

``duplicate_review`` remembers a decision by that key, so a dismissed pair never comes back.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (BigInteger, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, Numeric, String,
                        Text, UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import relationship

from app.models.households import HouseholdMember
from app.models.programs import SYNERGY_TYPES
from app.models.tkpk import _in

KINDS = ("nik_ganda", "orang_sama", "kk_dua_desa", "bantuan_ganda")
DECISIONS = ("dismissed", "confirmed")

# Rule b looks names up by trigram similarity (pg_trgm, migration 0013).
Index("ix_household_member_name_trgm", HouseholdMember.__table__.c.name, postgresql_using="gin",
      postgresql_ops={"name": "gin_trgm_ops"})


class ProgramExclusionRule(Model):
    """Programs of these two synergy types must not reach one household in the same year
    (``a`` + ``a``: two housing programs). By synergy type, not by program, because programs
    are per fiscal year: a rule holds every year without being entered again."""

    __tablename__ = "program_exclusion_rule"
    __table_args__ = (
        CheckConstraint(f"{_in('synergy_type_a', SYNERGY_TYPES)} AND {_in('synergy_type_b', SYNERGY_TYPES)}",
                        name="types_valid"),
        CheckConstraint("synergy_type_a <= synergy_type_b", name="types_ordered"),
        UniqueConstraint("synergy_type_a", "synergy_type_b", name="uq_program_exclusion_rule_synergy_type_a"),
    )
    id = Column(Integer, primary_key=True)
    synergy_type_a = Column(String(10), nullable=False)
    synergy_type_b = Column(String(10), nullable=False)
    note = Column(Text)
    created_by = Column(String(100))
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())

    def __repr__(self) -> str:
        return f"{self.synergy_type_a} + {self.synergy_type_b}"


class DuplicateCandidate(Model):
    """An open pair found by the last scan (decided pairs are not kept here)."""

    __tablename__ = "duplicate_candidate"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind_valid"),
        CheckConstraint("id_a <= id_b", name="ids_ordered"),
        UniqueConstraint("kind", "id_a", "id_b", "reason_key", name="uq_duplicate_candidate_kind"),
    )
    id = Column(BigInteger, primary_key=True)
    kind = Column(String(14), nullable=False)
    id_a = Column(Integer, nullable=False)
    id_b = Column(Integer, nullable=False)
    reason_key = Column(String(100), nullable=False)
    score = Column(Numeric(4, 3), nullable=False)
    household_a = Column(Integer, nullable=False)
    household_b = Column(Integer, nullable=False)
    village_id = Column(Integer, ForeignKey("village.id"), nullable=False, index=True)  # household_a's
    other_village_id = Column(Integer, ForeignKey("village.id"), nullable=False, index=True)  # household_b's (or 2nd village)
    # Both sides' regency, NULL when they lie in two regencies (then only province-wide roles see it).
    regency_id = Column(Integer, ForeignKey("regency.id"), index=True)
    detail = Column(JSONB, nullable=False, server_default="{}")  # what the page shows: names, NIKs, programs
    found_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    village = relationship("Village", foreign_keys=[village_id])


Index("ix_duplicate_candidate_queue", DuplicateCandidate.score.desc(), DuplicateCandidate.id)


class DuplicateReview(Model):
    __tablename__ = "duplicate_review"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind_valid"),
        CheckConstraint(_in("decision", DECISIONS), name="decision_valid"),
        CheckConstraint("id_a <= id_b", name="ids_ordered"),
        UniqueConstraint("kind", "id_a", "id_b", "reason_key", name="uq_duplicate_review_kind"),
    )
    id = Column(Integer, primary_key=True)
    kind = Column(String(14), nullable=False)
    id_a = Column(Integer, nullable=False)
    id_b = Column(Integer, nullable=False)
    reason_key = Column(String(100), nullable=False)
    decision = Column(String(10), nullable=False)
    decided_by = Column(String(100))
    decided_by_id = Column(Integer)
    decided_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    note = Column(Text)
    detail = Column(JSONB)  # the candidate as it was shown when decided
    update_request_id = Column(Integer, ForeignKey("update_request.id", ondelete="SET NULL"))


SCAN_STATUSES = ("queued", "running", "done", "failed")


class DuplicateScan(Model):
    """One scan asked for (app/services/duplicate_scans.py): queued by the button, run by the
    queue worker; the CLI and the demo seed record theirs too. ``found`` / ``seconds``: per
    kind, what ``duplicates.scan`` returned."""

    __tablename__ = "duplicate_scan"
    __table_args__ = (CheckConstraint(_in("status", SCAN_STATUSES), name="status_valid"),)
    id = Column(Integer, primary_key=True)
    status = Column(String(10), nullable=False, server_default="queued")
    requested_at = Column(DateTime(timezone=True), nullable=False, server_default=func.now(), index=True)
    requested_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    requested_by = Column(String(100))
    started_at = Column(DateTime(timezone=True))
    finished_at = Column(DateTime(timezone=True))
    found = Column(JSONB)
    seconds = Column(JSONB)
    error = Column(Text)
