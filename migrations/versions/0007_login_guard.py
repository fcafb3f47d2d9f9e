"""Login guard: failed logins, account locks, revoked API tokens.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_failure",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    op.create_index(op.f("ix_login_failure_at"), "login_failure", ["at"], unique=False)
    op.create_index("ix_login_failure_username_at", "login_failure", ["username", "at"], unique=False)
    op.create_index("ix_login_failure_ip_at", "login_failure", ["ip", "at"], unique=False)
    op.create_table(
        "login_lock",
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_login_lock")),
    )
    op.create_table(
        "jwt_revoked",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("token_type", sa.String(length=10), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_jwt_revoked")),
    )
    op.create_index(op.f("ix_jwt_revoked_expires_at"), "jwt_revoked", ["expires_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_jwt_revoked_expires_at"), table_name="jwt_revoked")
    op.drop_table("jwt_revoked")
    op.drop_table("login_lock")
    op.drop_index("ix_login_failure_ip_at", table_name="login_failure")
    op.drop_index("ix_login_failure_username_at", table_name="login_failure")
    op.drop_index(op.f("ix_login_failure_at"), table_name="login_failure")
    op.drop_table("login_failure")
