"""Village geometries simplified for each low zoom, kept beside the villages.

The village tiles below zoom 12 simplified every village of the tile on every request (half a
screen pixel, ST_Simplify) and the z<12 household tiles computed each village's
ST_PointOnSurface: at z8 about 2,000 villages, most of a tile's time. ``village_tile_geom`` holds,
per village and zoom 0-11, the same simplification already in Web Mercator, and the label
point; a row trigger on village keeps it (areas loads write villages one by one), so a tile
reads small, ready geometries. Same tolerance as gis/tiles.py: 360 / 2^z / 512 degrees.

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

MAX_ZOOM = 11  # = gis.tiles.RAW_MIN_ZOOM - 1


def upgrade():
    op.execute("""
CREATE TABLE village_tile_geom (
    village_id integer NOT NULL CONSTRAINT fk_village_tile_geom_village_id_village
        REFERENCES village(id) ON DELETE CASCADE,
    zoom integer NOT NULL,
    geom geometry(GEOMETRY, 3857) NOT NULL,
    label_point geometry(POINT, 3857) NOT NULL,
    CONSTRAINT pk_village_tile_geom PRIMARY KEY (village_id, zoom)
)""")
    op.execute(f"""
CREATE FUNCTION village_tile_geom_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM village_tile_geom WHERE village_id = NEW.id;
    INSERT INTO village_tile_geom (village_id, zoom, geom, label_point)
    SELECT NEW.id, z, ST_Transform(ST_Simplify(NEW.geom, 360.0 / 2 ^ z / 512, true), 3857),
           ST_Transform(ST_PointOnSurface(NEW.geom), 3857)
      FROM generate_series(0, {MAX_ZOOM}) AS z;
    RETURN NULL;
END $$""")
    op.execute("CREATE TRIGGER village_tile_geom_fill AFTER INSERT OR UPDATE OF geom ON village "
               "FOR EACH ROW EXECUTE FUNCTION village_tile_geom_fill()")
    op.execute(f"""
INSERT INTO village_tile_geom (village_id, zoom, geom, label_point)
SELECT v.id, z, ST_Transform(ST_Simplify(v.geom, 360.0 / 2 ^ z / 512, true), 3857),
       ST_Transform(ST_PointOnSurface(v.geom), 3857)
  FROM village v CROSS JOIN generate_series(0, {MAX_ZOOM}) AS z""")


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS village_tile_geom_fill ON village")
    op.execute("DROP FUNCTION IF EXISTS village_tile_geom_fill()")
    op.execute("DROP TABLE IF EXISTS village_tile_geom")
