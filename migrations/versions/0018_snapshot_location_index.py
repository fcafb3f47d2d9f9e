"""household_snapshot gets a GiST index on its point, so the household map, its tiles and
the household GeoJSON can show the points of a chosen targeting snapshot ("Sumber data")
with the same bbox / tile-envelope look-up as the latest points (idx_household_location).
Without it a tile of a chosen snapshot read every row of that snapshot (a sequential scan of
1 M rows per tile at Lampung scale).

The price is paid by the import, which writes one snapshot row per household: about
1.4 s more per 200,000 rows (bench/README.md, "Household points of a chosen snapshot").

Revision ID: 0018
Revises: 0017
"""
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE INDEX idx_household_snapshot_location ON household_snapshot USING gist (location)")


def downgrade():
    op.execute("DROP INDEX idx_household_snapshot_location")
