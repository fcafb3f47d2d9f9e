"""Zone geometries on the published 6-decimal grid, valid.

Every GeoJSON / OGC answer rounds coordinates to 6 decimals; some stored zones held slivers
(0.004 m²) that collapse at that precision, so GDAL read them as invalid ("Too few points in
geometry component"). New writes are cleaned by gis.zones.clean_zone_expr; this revision
cleans the rows already stored with the same SQL (ST_MakeValid, ST_ReducePrecision to 1e-6,
polygons only, MULTIPOLYGON). No schema change. A data migration is not audited.

Downgrade does nothing: the original coordinates are not kept (the difference is < 0.1 m).

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Same expression as gis.zones.CLEAN_ZONE_SQL, written out: a migration must not change
# when the application code does.
CLEAN = ("ST_ForcePolygonCCW(ST_Normalize(ST_Multi(ST_CollectionExtract(ST_MakeValid("
         "ST_ReducePrecision(ST_MakeValid(geom), 1e-6)), 3))))")


def upgrade():
    op.execute(f"UPDATE priority_zone SET geom = {CLEAN} "
               f"WHERE geom IS NOT NULL AND NOT ST_OrderingEquals(geom, {CLEAN})")


def downgrade():
    pass
