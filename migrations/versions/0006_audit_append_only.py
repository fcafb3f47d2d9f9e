"""The audit trail is append-only, and bulk paths chain their rows in SQL.

- Trigger ``audit_log_append_only``: UPDATE, DELETE and TRUNCATE of ``audit_log`` fail with a
  clear message, whoever runs them. The app never changes or removes an audit row; a mistake
  or a script cannot either. An owner who disables the trigger is still caught by
  ``flask --app run audit verify`` (hash chain), and removed last rows by ``verify --head``.
- Aggregate ``audit_chain(prefix, suffix, start)``: the running SHA-256 chain of
  app/services/audit.py (hash = sha256(prefix || previous hash || suffix), the first
  previous hash being ``start``), used as a window aggregate by ``audit.record_select`` so an
  import of a million rows writes its audit rows in one statement.

Neither is visible to autogenerate (functions and triggers are not in the models).

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % refused (jejak audit hanya boleh ditambah, '
                            'tidak boleh diubah atau dihapus)', TG_OP
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Corrections are new rows; the hash chain (flask --app run audit verify) '
                             'exposes any row changed or removed behind this trigger''s back.';
        END $$""")
    # FOR EACH STATEMENT: refused even when no row matches, and TRUNCATE only has statement triggers.
    op.execute("""
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""")
    # Not STRICT: the state starts NULL (then ``start`` is the previous hash). PL/pgSQL rather
    # than SQL: its simple-expression path costs ~1.5 us a row less than an SQL function here.
    op.execute("""
        CREATE FUNCTION audit_chain_step(state text, prefix text, suffix text, start text) RETURNS text
        LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN
            RETURN encode(sha256(convert_to(prefix || COALESCE(state, start) || suffix, 'UTF8')), 'hex');
        END $$""")
    op.execute("CREATE AGGREGATE audit_chain(text, text, text) (SFUNC = audit_chain_step, STYPE = text)")


def downgrade():
    op.execute("DROP AGGREGATE IF EXISTS audit_chain(text, text, text)")
    op.execute("DROP FUNCTION IF EXISTS audit_chain_step(text, text, text, text)")
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
