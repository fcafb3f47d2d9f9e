"""The job queue of the background imports: procrastinate's schema (tables, types, functions,
triggers), in a PostgreSQL schema of its own, ``procrastinate``.

Its own schema keeps the queue's objects apart from the models' (autogenerate compares only
the default schema, so tests/integration/test_schema.py is unaffected) and lets the downgrade
drop everything at once. The SQL is the one procrastinate ships for the pinned version
(``SchemaManager.get_schema()``), run with ``search_path`` set to the new schema for this
transaction only, then set back; app/services/import_jobs.py gives the queue's connections
``search_path=procrastinate``. Upgrading procrastinate later means applying its migration
files (procrastinate/sql/migrations) in a new Alembic revision, the same way.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "procrastinate"


def upgrade():
    from procrastinate.schema import SchemaManager

    bind = op.get_bind()
    previous = bind.exec_driver_sql("SELECT current_setting('search_path')").scalar()
    bind.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
    bind.exec_driver_sql(f"SELECT set_config('search_path', '{SCHEMA}', true)")
    # Straight to psycopg, without parameters (same connection and transaction): the file is many
    # statements, with ':' and '%' that SQLAlchemy's or psycopg's placeholders would misread.
    with bind.connection.driver_connection.cursor() as cursor:
        cursor.execute(SchemaManager.get_schema())
    bind.exec_driver_sql("SELECT set_config('search_path', %s, true)", (previous,))


def downgrade():
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
