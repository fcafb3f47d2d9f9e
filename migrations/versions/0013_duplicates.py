"""Duplicates and double aid: trigram search on member names, the program exclusion rules,
the candidates a scan finds and the decisions reviewers take on them.

- ``pg_trgm`` and a GIN trigram index on ``household_member.name`` (rule b, "the same person
  under different NIKs", and any name look-up by similarity).
- ``program_exclusion_rule``: two synergy types (a-h, lainnya) whose programs a household must
  not receive in the same year (``a``+``a``: two housing programs, e.g. RTLH and bedah rumah).
- ``duplicate_candidate``: what the last scan found (app/services/duplicates.py), open pairs only.
- ``duplicate_review``: dismissed / confirmed pairs by their key (kind, the two ids ordered,
  reason key), so a scan never offers a decided pair again.

Revision ID: 0013
Revises: 0012
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

KINDS = "'nik_ganda', 'orang_sama', 'kk_dua_desa', 'bantuan_ganda'"
TYPES = "'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'lainnya'"


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX ix_household_member_name_trgm ON household_member USING gin (name gin_trgm_ops)")
    op.execute(f"""
CREATE TABLE program_exclusion_rule (
    id serial CONSTRAINT pk_program_exclusion_rule PRIMARY KEY,
    synergy_type_a varchar(10) NOT NULL,
    synergy_type_b varchar(10) NOT NULL,
    note text,
    created_by varchar(100),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_program_exclusion_rule_types_valid CHECK (
        synergy_type_a IN ({TYPES}) AND synergy_type_b IN ({TYPES})),
    CONSTRAINT ck_program_exclusion_rule_types_ordered CHECK (synergy_type_a <= synergy_type_b),
    CONSTRAINT uq_program_exclusion_rule_synergy_type_a UNIQUE (synergy_type_a, synergy_type_b)
)""")
    op.execute(f"""
CREATE TABLE duplicate_candidate (
    id bigserial CONSTRAINT pk_duplicate_candidate PRIMARY KEY,
    kind varchar(14) NOT NULL,
    id_a integer NOT NULL,
    id_b integer NOT NULL,
    reason_key varchar(100) NOT NULL,
    score numeric(4, 3) NOT NULL,
    household_a integer NOT NULL,
    household_b integer NOT NULL,
    village_id integer NOT NULL CONSTRAINT fk_duplicate_candidate_village_id_village REFERENCES village(id),
    other_village_id integer NOT NULL
        CONSTRAINT fk_duplicate_candidate_other_village_id_village REFERENCES village(id),
    regency_id integer CONSTRAINT fk_duplicate_candidate_regency_id_regency REFERENCES regency(id),
    detail jsonb NOT NULL DEFAULT '{{}}',
    found_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_duplicate_candidate_kind_valid CHECK (kind IN ({KINDS})),
    CONSTRAINT ck_duplicate_candidate_ids_ordered CHECK (id_a <= id_b),
    CONSTRAINT uq_duplicate_candidate_kind UNIQUE (kind, id_a, id_b, reason_key)
)""")
    op.execute("CREATE INDEX ix_duplicate_candidate_village_id ON duplicate_candidate (village_id)")
    op.execute("CREATE INDEX ix_duplicate_candidate_other_village_id ON duplicate_candidate (other_village_id)")
    op.execute("CREATE INDEX ix_duplicate_candidate_regency_id ON duplicate_candidate (regency_id)")
    op.execute("CREATE INDEX ix_duplicate_candidate_queue ON duplicate_candidate (score DESC, id)")
    op.execute(f"""
CREATE TABLE duplicate_review (
    id serial CONSTRAINT pk_duplicate_review PRIMARY KEY,
    kind varchar(14) NOT NULL,
    id_a integer NOT NULL,
    id_b integer NOT NULL,
    reason_key varchar(100) NOT NULL,
    decision varchar(10) NOT NULL,
    decided_by varchar(100),
    decided_by_id integer,
    decided_at timestamptz NOT NULL DEFAULT now(),
    note text,
    detail jsonb,
    update_request_id integer
        CONSTRAINT fk_duplicate_review_update_request_id_update_request REFERENCES update_request(id)
        ON DELETE SET NULL,
    CONSTRAINT ck_duplicate_review_kind_valid CHECK (kind IN ({KINDS})),
    CONSTRAINT ck_duplicate_review_decision_valid CHECK (decision IN ('dismissed', 'confirmed')),
    CONSTRAINT ck_duplicate_review_ids_ordered CHECK (id_a <= id_b),
    CONSTRAINT uq_duplicate_review_kind UNIQUE (kind, id_a, id_b, reason_key)
)""")


def downgrade():
    op.execute("DROP TABLE duplicate_review")
    op.execute("DROP TABLE duplicate_candidate")
    op.execute("DROP TABLE program_exclusion_rule")
    op.execute("DROP INDEX ix_household_member_name_trgm")
