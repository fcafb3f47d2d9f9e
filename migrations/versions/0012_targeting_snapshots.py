"""Targeting data as snapshots: source (BDT 2015, DTSEN) and period, desil range by source.

Today's households all came from BDT 2015: they become the one snapshot "BDT 2015 / 2015",
copied row for row (desil, village, address, point, members' NIKs), and each household points
at it. Nothing in ``household`` changes, so every figure stays as it was (tests/integration/
test_snapshot_migration.py). ``household.desil`` may now hold 1-10 (a DTSEN desil); the
snapshot row keeps its source's range (BDT 1-4) by a composite foreign key.

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
CREATE TABLE targeting_snapshot (
    id serial CONSTRAINT pk_targeting_snapshot PRIMARY KEY,
    source varchar(10) NOT NULL,
    period varchar(7) NOT NULL,
    period_start date NOT NULL,
    desil_max smallint NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    loaded_by_id integer CONSTRAINT fk_targeting_snapshot_loaded_by_id_ab_user
        REFERENCES ab_user(id) ON DELETE SET NULL,
    note text,
    CONSTRAINT ck_targeting_snapshot_source_valid CHECK (source IN ('BDT 2015', 'DTSEN')),
    CONSTRAINT ck_targeting_snapshot_period_and_range_valid CHECK (
        (source = 'BDT 2015' AND period = '2015' AND desil_max = 4) OR
        (source = 'DTSEN' AND period ~ '^20[0-9]{2}-Q[1-4]$' AND desil_max = 10)),
    CONSTRAINT uq_targeting_snapshot_source_period UNIQUE (source, period),
    CONSTRAINT uq_targeting_snapshot_id_desil_max UNIQUE (id, desil_max)
)""")
    op.execute("""
CREATE TABLE household_snapshot (
    snapshot_id integer NOT NULL CONSTRAINT fk_household_snapshot_snapshot_id_targeting_snapshot
        REFERENCES targeting_snapshot(id) ON DELETE CASCADE,
    household_id integer NOT NULL CONSTRAINT fk_household_snapshot_household_id_household
        REFERENCES household(id) ON DELETE CASCADE,
    desil_max smallint NOT NULL,
    desil smallint NOT NULL,
    village_id integer NOT NULL CONSTRAINT fk_household_snapshot_village_id_village REFERENCES village(id),
    address text,
    rt varchar(3),
    rw varchar(3),
    location geometry(POINT, 4326),
    member_count integer NOT NULL,
    member_niks varchar(16)[] NOT NULL DEFAULT '{}',
    source_row jsonb,
    CONSTRAINT pk_household_snapshot PRIMARY KEY (snapshot_id, household_id),
    CONSTRAINT fk_household_snapshot_snapshot_range FOREIGN KEY (snapshot_id, desil_max)
        REFERENCES targeting_snapshot(id, desil_max) ON DELETE CASCADE,
    CONSTRAINT ck_household_snapshot_desil_in_source_range CHECK (desil BETWEEN 1 AND desil_max),
    CONSTRAINT ck_household_snapshot_member_count_valid CHECK (member_count >= 1)
)""")
    op.execute("CREATE INDEX ix_household_snapshot_household_id ON household_snapshot (household_id)")
    op.execute("CREATE INDEX ix_household_snapshot_village_id ON household_snapshot (village_id)")
    op.execute("ALTER TABLE household ADD COLUMN snapshot_id integer "
               "CONSTRAINT fk_household_snapshot_id_targeting_snapshot REFERENCES targeting_snapshot(id)")
    op.execute("CREATE INDEX ix_household_snapshot_id ON household (snapshot_id)")
    op.execute("ALTER TABLE household DROP CONSTRAINT ck_household_desil_valid")
    op.execute("ALTER TABLE household ADD CONSTRAINT ck_household_desil_valid CHECK (desil BETWEEN 1 AND 10)")
    # A program's target range is read in a source's desils; no source = BDT 2015 (1-4) as before.
    op.execute("ALTER TABLE program ADD COLUMN target_desil_min integer NOT NULL DEFAULT 1")
    op.execute("ALTER TABLE program ADD COLUMN target_source varchar(10)")
    op.execute("ALTER TABLE program DROP CONSTRAINT ck_program_target_desil_valid")
    op.execute("ALTER TABLE program ADD CONSTRAINT ck_program_target_desil_valid CHECK ("
               "target_desil_min BETWEEN 1 AND target_desil AND target_desil <= "
               "CASE WHEN target_source = 'DTSEN' THEN 10 ELSE 4 END)")
    op.execute("ALTER TABLE program ADD CONSTRAINT ck_program_target_source_valid CHECK ("
               "target_source IS NULL OR target_source IN ('BDT 2015', 'DTSEN'))")
    op.execute("ALTER TABLE import_job ADD COLUMN snapshot_source varchar(10), ADD COLUMN snapshot_period varchar(7), "
               "ADD COLUMN confirm_older boolean NOT NULL DEFAULT false")
    # Today's data is BDT 2015: one snapshot holding every household as it is.
    op.execute("""
WITH bdt AS (
    INSERT INTO targeting_snapshot (source, period, period_start, desil_max, note)
    SELECT 'BDT 2015', '2015', DATE '2015-01-01', 4, 'Data yang ada sebelum DTSEN'
     WHERE EXISTS (SELECT 1 FROM household)
    RETURNING id
), copied AS (
    INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id, address, rt, rw,
                                    location, member_count, member_niks)
    SELECT bdt.id, h.id, 4, h.desil, h.village_id, h.address, h.rt, h.rw, h.location, h.member_count,
           COALESCE((SELECT array_agg(m.nik ORDER BY m.nik) FROM household_member m WHERE m.household_id = h.id),
                    '{}')
      FROM household h CROSS JOIN bdt
    RETURNING household_id
)
UPDATE household h SET snapshot_id = bdt.id FROM bdt, copied WHERE copied.household_id = h.id""")


def downgrade():
    op.execute("ALTER TABLE import_job DROP COLUMN snapshot_source, DROP COLUMN snapshot_period, "
               "DROP COLUMN confirm_older")
    op.execute("ALTER TABLE program DROP CONSTRAINT ck_program_target_source_valid")
    op.execute("ALTER TABLE program DROP CONSTRAINT ck_program_target_desil_valid")
    op.execute("ALTER TABLE program DROP COLUMN target_source")
    op.execute("ALTER TABLE program DROP COLUMN target_desil_min")
    op.execute("ALTER TABLE program ADD CONSTRAINT ck_program_target_desil_valid CHECK (target_desil BETWEEN 1 AND 4)")
    op.execute("ALTER TABLE household DROP CONSTRAINT ck_household_desil_valid")
    op.execute("ALTER TABLE household ADD CONSTRAINT ck_household_desil_valid CHECK (desil BETWEEN 1 AND 4)")
    op.execute("ALTER TABLE household DROP COLUMN snapshot_id")
    op.execute("DROP TABLE household_snapshot")
    op.execute("DROP TABLE targeting_snapshot")
