"""ORM models, all on flask_appbuilder.Model.metadata (the metadata Alembic compares).

The naming convention is set before any model of ours is declared so that
constraint names are deterministic and migrations stay diffable.
"""
from flask_appbuilder import Model

Model.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

from app.models.areas import District, Province, Regency, Village  # noqa: E402
from app.models.tkpk import Agency, TkpkDocument, TkpkInstitution, TkpkMember  # noqa: E402
from app.models.programs import Program  # noqa: E402
from app.models.households import Enrolment, Household, HouseholdMember  # noqa: E402
from app.models.snapshots import HouseholdSnapshot, TargetingSnapshot  # noqa: E402
from app.models.zones import PovertyIndicator, PriorityZone  # noqa: E402
from app.models.users import SinergiUser  # noqa: E402
from app.models.audit import AuditLog  # noqa: E402
from app.models.jobs import ExportLog, ImportJob  # noqa: E402
from app.models.security_events import LoginFailure, LoginLock, RevokedToken  # noqa: E402
from app.models.duplicates import DuplicateCandidate, DuplicateReview, ProgramExclusionRule  # noqa: E402,F401
from app.models.measures import village_measure  # noqa: E402,F401  (kept measures, gis/measures.py)
from app.models.workflow import (Complaint, Lp2kdNote, UpdateEvidence, UpdateRequest,  # noqa: E402
                                 UpdateRequestStep)

__all__ = ["Model", "Province", "Regency", "District", "Village", "Agency", "TkpkInstitution", "TkpkMember",
           "TkpkDocument", "Program", "Household", "HouseholdMember", "Enrolment", "TargetingSnapshot", "HouseholdSnapshot", "PriorityZone",
           "PovertyIndicator", "SinergiUser", "AuditLog", "ImportJob", "ExportLog", "UpdateRequest",
           "UpdateRequestStep", "UpdateEvidence", "Complaint", "Lp2kdNote",
           "LoginFailure", "LoginLock", "RevokedToken"]
