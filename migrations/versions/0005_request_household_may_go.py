"""An approved removal deletes the household; its request keeps household_id NULL.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_constraint(op.f("ck_update_request_household_needed"), "update_request", type_="check")


def downgrade():
    op.create_check_constraint(op.f("ck_update_request_household_needed"), "update_request",
                               "kind = 'baru' OR household_id IS NOT NULL")
