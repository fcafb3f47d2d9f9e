"""household_snapshot keeps one foreign key to its snapshot: the composite (snapshot_id,
desil_max) -> targeting_snapshot (id, desil_max) already holds every row to an existing
snapshot (both columns are NOT NULL, same ON DELETE CASCADE), so the single-column key
checked the same thing a second time. A foreign key costs a trigger call per inserted row:
the import writes a million snapshot rows, and this one cost 1.1 s per 200,000 of them.

Revision ID: 0016
Revises: 0015
"""
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE household_snapshot DROP CONSTRAINT fk_household_snapshot_snapshot_id_targeting_snapshot")


def downgrade():
    op.execute("ALTER TABLE household_snapshot ADD CONSTRAINT fk_household_snapshot_snapshot_id_targeting_snapshot "
               "FOREIGN KEY (snapshot_id) REFERENCES targeting_snapshot(id) ON DELETE CASCADE")
