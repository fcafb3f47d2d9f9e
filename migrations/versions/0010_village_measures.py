"""Per-village measures kept in tables instead of recomputed on every map load.

``village_measure`` holds, per year, village and desil: households, how many receive 0 / 1 / 2 /
3+ counted programs, the sum of their program counts, gap households (inside a priority zone
of the year with no counted program; ``gaps_all`` for any zone, ``gaps_own`` for zones of the
village's own regency or province-wide ones, which is what an operator's scope sees) and the
location statuses. ``village_program_pair`` holds, per year and village, the households that
receive both programs of a pair (the overlap matrix), ``village_program`` per program the
households and the benefit value (Rp), ``zone_village_measure`` per zone, village and desil the
households inside the zone and the gap households among them (the zone rule of gis/queries.py). Both are filled and refreshed by
gis/measures.py; ``village_measure_year`` lists the years kept.

Writes never recompute anything: statement-level triggers on household, enrolment, village and
priority_zone append the villages they touch to ``village_measure_dirty`` (an append-only log,
so a refresh that runs while a writer's transaction is open never deletes the writer's mark);
every reader refreshes the dirty villages first (gis.measures.ensure_current), so no figure is
ever stale. No foreign keys: the rows are derived, replaced by every refresh (a deleted village
or program takes its households' or enrolments' rows with it, which marks the villages dirty),
and checking 400,000 pair rows against three tables tripled the time of a full refresh.

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COUNTS = ("households", "programs_0", "programs_1", "programs_2", "programs_3plus", "program_sum",
          "gaps_all", "gaps_own", "tanpa_titik", "beda_desa", "di_luar_wilayah", "cluster_1", "cluster_2",
          "cluster_3")

# What a write marks dirty. Households: the declared village before and after (a moved
# household changes both); enrolments: the declared village of the household; villages: the
# village itself (its geometry decides the zone share of households without a point).
TRIGGERS = {
    "household": ("village_id", "SELECT village_id FROM {rows}"),
    "enrolment": ("household_id", "SELECT h.village_id FROM {rows} r JOIN household h ON h.id = r.household_id"),
    "village": ("id", "SELECT id FROM {rows}"),
}


def upgrade():
    counts = ",\n".join(f"    {c} integer NOT NULL DEFAULT 0" for c in COUNTS)
    op.execute(f"""
CREATE TABLE village_measure (
    year integer NOT NULL,
    village_id integer NOT NULL,
    desil integer NOT NULL,
{counts},
    benefit_value numeric(18, 2) NOT NULL DEFAULT 0,
    CONSTRAINT pk_village_measure PRIMARY KEY (year, village_id, desil)
)""")
    op.execute("""
CREATE TABLE village_program (
    year integer NOT NULL,
    village_id integer NOT NULL,
    program_id integer NOT NULL,
    households integer NOT NULL,
    benefit_value numeric(18, 2) NOT NULL,
    CONSTRAINT pk_village_program PRIMARY KEY (year, village_id, program_id)
)""")
    op.execute("""
CREATE TABLE zone_village_measure (
    year integer NOT NULL,
    zone_id integer NOT NULL,
    village_id integer NOT NULL,
    desil integer NOT NULL,
    households integer NOT NULL,
    gaps integer NOT NULL,
    CONSTRAINT pk_zone_village_measure PRIMARY KEY (year, zone_id, village_id, desil)
)""")
    op.execute("CREATE INDEX ix_village_program_village_id ON village_program (village_id)")
    op.execute("CREATE INDEX ix_zone_village_measure_village_id ON zone_village_measure (village_id)")
    op.execute("""
CREATE TABLE village_program_pair (
    year integer NOT NULL,
    village_id integer NOT NULL,
    program_a integer NOT NULL,
    program_b integer NOT NULL,
    households integer NOT NULL,
    CONSTRAINT pk_village_program_pair PRIMARY KEY (year, village_id, program_a, program_b)
)""")
    op.execute("CREATE INDEX ix_village_program_pair_village_id ON village_program_pair (village_id)")
    op.execute("CREATE INDEX ix_village_measure_village_id ON village_measure (village_id)")
    op.execute("CREATE TABLE village_measure_year (year integer CONSTRAINT pk_village_measure_year PRIMARY KEY)")
    op.execute("CREATE TABLE village_measure_dirty (id bigserial CONSTRAINT pk_village_measure_dirty PRIMARY KEY, village_id integer NOT NULL)")

    for table, (_, select_rows) in TRIGGERS.items():
        op.execute(f"""
CREATE FUNCTION {table}_mark_measures() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO village_measure_dirty (village_id) SELECT DISTINCT v FROM ({select_rows.format(rows='old_rows')}) s(v)
         WHERE v IS NOT NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO village_measure_dirty (village_id) SELECT DISTINCT v FROM ({select_rows.format(rows='new_rows')}) s(v)
         WHERE v IS NOT NULL;
    END IF;
    RETURN NULL;
END $$""")
        # One trigger per event: a trigger with transition tables may name only one event.
        op.execute(f"CREATE TRIGGER {table}_measures_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_mark_measures()")
        op.execute(f"CREATE TRIGGER {table}_measures_upd AFTER UPDATE ON {table} "
                   f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_mark_measures()")
        op.execute(f"CREATE TRIGGER {table}_measures_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_mark_measures()")

    # A zone changes the gaps of the villages it covers (declared villages of the households
    # whose point lies inside it, and villages it overlaps, for households without a point).
    # Row-level: zones are written one at a time; a name-only edit marks nothing.
    op.execute("""
CREATE FUNCTION priority_zone_mark_measures() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    g geometry;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.geom IS NOT DISTINCT FROM OLD.geom AND NEW.year = OLD.year
       AND NEW.regency_id IS NOT DISTINCT FROM OLD.regency_id THEN
        RETURN NULL;
    END IF;
    FOREACH g IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.geom END,
                             CASE WHEN TG_OP <> 'DELETE' THEN NEW.geom END] LOOP
        CONTINUE WHEN g IS NULL;
        INSERT INTO village_measure_dirty (village_id)
        SELECT id FROM village WHERE ST_Intersects(geom, g)
        UNION SELECT village_id FROM household WHERE ST_Intersects(location, g);
    END LOOP;
    RETURN NULL;
END $$""")
    op.execute("CREATE TRIGGER priority_zone_measures AFTER INSERT OR UPDATE OR DELETE ON priority_zone "
               "FOR EACH ROW EXECUTE FUNCTION priority_zone_mark_measures()")


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS priority_zone_measures ON priority_zone")
    op.execute("DROP FUNCTION IF EXISTS priority_zone_mark_measures()")
    for table in TRIGGERS:
        for event in ("ins", "upd", "del"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_measures_{event} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_mark_measures()")
    for table in ("village_measure_dirty", "village_measure_year", "village_program_pair", "village_measure",
                  "village_program", "zone_village_measure"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
