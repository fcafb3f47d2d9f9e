"""Duplicate scans as background jobs: one row per scan asked for (the button, the CLI, the
demo seed), so the review queue can say when its pairs were found, by whom, how many and how
long it took — and a scan of a million households no longer holds a web request.

Revision ID: 0014
Revises: 0013
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
CREATE TABLE duplicate_scan (
    id serial CONSTRAINT pk_duplicate_scan PRIMARY KEY,
    status varchar(10) NOT NULL DEFAULT 'queued',
    requested_at timestamptz NOT NULL DEFAULT now(),
    requested_by_id integer CONSTRAINT fk_duplicate_scan_requested_by_id_ab_user
        REFERENCES ab_user(id) ON DELETE SET NULL,
    requested_by varchar(100),
    started_at timestamptz,
    finished_at timestamptz,
    found jsonb,
    seconds jsonb,
    error text,
    CONSTRAINT ck_duplicate_scan_status_valid CHECK (status IN ('queued', 'running', 'done', 'failed'))
)""")
    op.execute("CREATE INDEX ix_duplicate_scan_requested_at ON duplicate_scan (requested_at)")


def downgrade():
    op.execute("DROP TABLE duplicate_scan")
