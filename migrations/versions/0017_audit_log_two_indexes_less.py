"""audit_log loses two indexes that cost every write and serve no read:

- ``uq_audit_log_hash``: nothing looks a row up by its hash (``audit verify`` walks the rows
  by id and recomputes each hash and its link to the row before, which is what makes a
  changed, removed or inserted row visible). Its keys are SHA-256 values, so every insert
  lands on a random page of a large index: it was the costliest of the six indexes.
- ``ix_audit_log_entity``: a handful of values ("household" in nearly every row); a filter
  on the entity alone reads most of the table anyway, and a row's history is found through
  ``ix_audit_log_entity_id``.

An import writes one audit row per household: inserting 200,000 rows went from 2.5-3.2 s to
1.3-1.7 s (bench/README.md).

Revision ID: 0017
Revises: 0016
"""
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_constraint("uq_audit_log_hash", "audit_log", type_="unique")
    op.drop_index("ix_audit_log_entity", table_name="audit_log")


def downgrade():
    op.create_index("ix_audit_log_entity", "audit_log", ["entity"])
    op.create_unique_constraint("uq_audit_log_hash", "audit_log", ["hash"])
