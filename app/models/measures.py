"""Per-village measures kept by gis/measures.py (schema: migrations 0010).

Core tables, not ORM classes: nothing edits them row by row; gis/measures.py writes them set-based
and the analysis, maps and tiles read them in SQL. Derived rows, so no foreign keys (the
migration says why).
"""
from __future__ import annotations

from flask_appbuilder import Model
from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Column, ForeignKey, Integer, Table

from app.models.programs import MONEY

MEASURE_COUNTS = ("households", "programs_0", "programs_1", "programs_2", "programs_3plus", "program_sum",
                  "gaps_all", "gaps_own", "tanpa_titik", "beda_desa", "di_luar_wilayah", "cluster_1", "cluster_2",
                  "cluster_3")

village_measure = Table(
    "village_measure", Model.metadata,
    Column("year", Integer, primary_key=True),
    Column("village_id", Integer, primary_key=True, index=True),
    Column("desil", Integer, primary_key=True),
    *(Column(c, Integer, nullable=False, server_default="0") for c in MEASURE_COUNTS),
    Column("benefit_value", MONEY, nullable=False, server_default="0"),
)

village_program = Table(
    "village_program", Model.metadata,
    Column("year", Integer, primary_key=True),
    Column("village_id", Integer, primary_key=True, index=True),
    Column("program_id", Integer, primary_key=True),
    Column("households", Integer, nullable=False),
    Column("benefit_value", MONEY, nullable=False),
)

zone_village_measure = Table(
    "zone_village_measure", Model.metadata,
    Column("year", Integer, primary_key=True),
    Column("zone_id", Integer, primary_key=True),
    Column("village_id", Integer, primary_key=True, index=True),
    Column("desil", Integer, primary_key=True),
    Column("households", Integer, nullable=False),
    Column("gaps", Integer, nullable=False),
)

village_program_pair = Table(
    "village_program_pair", Model.metadata,
    Column("year", Integer, primary_key=True),
    Column("village_id", Integer, primary_key=True, index=True),
    Column("program_a", Integer, primary_key=True),
    Column("program_b", Integer, primary_key=True),
    Column("households", Integer, nullable=False),
)

village_measure_year = Table("village_measure_year", Model.metadata, Column("year", Integer, primary_key=True))

village_measure_dirty = Table(
    "village_measure_dirty", Model.metadata,
    Column("id", BigInteger, primary_key=True),
    Column("village_id", Integer, nullable=False),
)

# Village geometries simplified per low zoom (0-11) in Web Mercator and their label points,
# kept by a row trigger on village (migration 0011); gis/tiles.py reads them below zoom 12.
village_tile_geom = Table(
    "village_tile_geom", Model.metadata,
    Column("village_id", Integer, ForeignKey("village.id", ondelete="CASCADE"), primary_key=True),
    Column("zoom", Integer, primary_key=True),
    Column("geom", Geometry("GEOMETRY", srid=3857, spatial_index=False), nullable=False),
    Column("label_point", Geometry("POINT", srid=3857, spatial_index=False), nullable=False),
)
