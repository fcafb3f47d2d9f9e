"""household_snapshot's village index gains the snapshot: a regency's rows of ONE snapshot
(the diff of two snapshots as an operator reads it, app/services/snapshot_diff.py) are read
without the other snapshots' rows of the same villages (two of three rows at three snapshots).
Village-only look-ups use its first column as before.

Revision ID: 0015
Revises: 0014
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DROP INDEX ix_household_snapshot_village_id")
    op.execute("CREATE INDEX ix_household_snapshot_village_id ON household_snapshot (village_id, snapshot_id)")


def downgrade():
    op.execute("DROP INDEX ix_household_snapshot_village_id")
    op.execute("CREATE INDEX ix_household_snapshot_village_id ON household_snapshot (village_id)")
