"""Mapbox vector tiles (ST_AsMVT) of households and villages, scoped.

Tiles are in Web Mercator (``ST_TileEnvelope``), extent 4096, buffer 64. Rows are found
through the GiST indexes on the EPSG:4326 columns (idx_household_location or, for a chosen
snapshot, idx_household_snapshot_location; idx_village_geom) with the tile envelope transformed
to 4326; the user's scope predicate (app.security.scope) is part of the SQL.

Layers
- ``households`` (of the snapshot read, ``queries.household_points``: the latest points by
  default, a chosen snapshot's points, desil and villages with ``snapshot=``): from z >=
  ``RAW_MIN_ZOOM`` (12) one point per household with ``desil`` and ``programs`` (distinct
  programmes of the year the scope may see, counted statuses);
  the feature id is the household id. Below z12 one point per village (its
  ``ST_PointOnSurface``) with ``count`` (scoped households declared in the village, with
  or without a point) and ``desil1``, plus the village ``code`` (names are in the villages
  layer; leaving them out keeps a z8 tile of 1,900 villages near 60 KB); the feature id
  is the village id. A tile then holds at most a few thousand small features whatever
  the density. Never NIK or No KK.
- ``villages``: polygons simplified for the zoom (``ST_Simplify`` to half a screen pixel, kept per
  zoom below 12 in ``village_tile_geom``, migration 0011;
  ``ST_SimplifyPreserveTopology`` cost 10x more per tile and ST_AsMVTGeom repairs
  validity anyway), with ``code``, ``name``, ``kind`` and the measures of
  ``gis.queries.village_measures`` (households, desil1, reached, coverage,
  multi_program, gaps) for the scope.

Measured with 1,002,071 households (gis/http.py docstring has the figures).

Every function returns the tile as bytes (b"" for an empty tile).
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import Float, Integer, and_, cast, distinct, func, literal_column, select, text, true
from sqlalchemy.engine import Connection

from app.models.areas import Village
from app.models.households import Enrolment
from app.models.measures import village_measure as VM, village_tile_geom as VTG
from app.models.programs import Program
from app.security.scope import POSITION_SLACK, Scope, household_villages, position
from gis import measures, queries

EXTENT = 4096
BUFFER = 64
RAW_MIN_ZOOM = 12
MAX_ZOOM = 22
LAYERS = ("households", "villages")
WORLD = 20037508.342789244


class TileError(ValueError):
    """Tile coordinates outside the tile matrix."""


def check_tile(z: int, x: int, y: int) -> None:
    if not (0 <= z <= MAX_ZOOM):
        raise TileError(f"zoom harus di antara 0 dan {MAX_ZOOM}")
    n = 2 ** z
    if not (0 <= x < n and 0 <= y < n):
        raise TileError(f"x dan y harus di antara 0 dan {n - 1} pada zoom {z}")


def _envelope(z: int, x: int, y: int):
    return func.ST_TileEnvelope(z, x, y)


def _search_envelope(z: int, x: int, y: int, margin: float = BUFFER / EXTENT):
    """The tile (plus ``margin`` of its size) in EPSG:4326, for the && / GiST lookup."""
    bounds = func.ST_MakeEnvelope(-WORLD, -WORLD, WORLD, WORLD, 3857)
    return func.ST_Transform(func.ST_TileEnvelope(z, x, y, bounds, margin), 4326)


def _mvt(conn: Connection, rows, layer: str, id_column: Optional[str]) -> bytes:
    mvt = rows.subquery("mvt")
    args = [literal_column("mvt"), literal_column(f"'{layer}'"), literal_column(str(EXTENT)),
            literal_column("'geom'")]
    if id_column:
        args.append(literal_column(f"'{id_column}'"))
    data = conn.execute(select(func.ST_AsMVT(*args)).select_from(mvt).where(mvt.c.geom.is_not(None))).scalar()
    return bytes(data) if data else b""


def household_tile(conn: Connection, scope: Scope, z: int, x: int, y: int, year: int) -> bytes:
    """The ``households`` layer of one tile (raw points from z12, per-village counts below), of
    the snapshot read (``queries.reading_snapshot``; the latest data by default)."""
    check_tile(z, x, y)
    if z >= RAW_MIN_ZOOM:
        return _household_points(conn, scope, z, x, y, year)
    return _household_villages(conn, scope, z, x, y, year)


def _household_points(conn, scope, z, x, y, year) -> bytes:
    env = _envelope(z, x, y)
    search = _search_envelope(z, x, y)
    if not scope.can_unmask:  # a point snapped into this tile may lie up to half a grid step outside it
        search = func.ST_Expand(search, POSITION_SLACK)
    pts = queries.household_points(scope).subquery("pts")  # of the snapshot read (reading_snapshot)
    h = select(pts.c.id, pts.c.desil, pts.c.location).where(pts.c.location.op("&&")(search)).cte("h")
    # The households are scoped already, so their enrolments need only the program part of the
    # scope (an OPD's own programs); the regency rule per enrolment would hash every household
    # of the regency on every tile, even an empty one.
    e = (select(Enrolment.household_id, Enrolment.program_id)
         .where(Enrolment.household_id.in_(select(h.c.id)), Enrolment.year == year,
                Enrolment.status.in_(queries.COUNTED_STATUSES))).subquery("e")
    if scope.kind == "agency":
        e = select(e).where(e.c.program_id.in_(select(Program.id).where(Program.agency_id == scope.agency_id))).subquery("ea")
    p = (select(e.c.household_id, func.count(distinct(e.c.program_id)).label("programs"))
         .group_by(e.c.household_id).subquery("p"))
    point = func.ST_Transform(position(h.c.location, scope), 3857)
    rows = (select(func.ST_AsMVTGeom(point, env, EXTENT, BUFFER, True).label("geom"),
                   h.c.id, h.c.desil, cast(func.coalesce(p.c.programs, 0), Integer).label("programs"))
            .select_from(h.outerjoin(p, p.c.household_id == h.c.id)))
    return _mvt(conn, rows, "households", "id")


def _tile_box_3857(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    size = 2 * WORLD / 2 ** z
    return -WORLD + x * size, WORLD - (y + 1) * size, -WORLD + (x + 1) * size, WORLD - y * size


def _household_villages(conn, scope, z, x, y, year) -> bytes:
    """Per-village counts: one point per village (its ST_PointOnSurface) with its code, the number of
    scoped households declared in it and those of desil 1. A village belongs to the one
    tile holding its point (half-open bounds), so counts add up across tiles. Reads only
    village_id and desil of the households (no geometry per household), via
    ix_household_village_id and the village GiST index."""
    xmin, ymin, xmax, ymax = _tile_box_3857(z, x, y)
    near = (select(Village.id, Village.code, VTG.c.label_point.label("p"))  # kept ST_PointOnSurface (0011)
            .join(VTG, and_(VTG.c.village_id == Village.id, VTG.c.zoom == z))
            .where(Village.geom.op("&&")(_search_envelope(z, x, y, 0.0)))).cte("near")
    px, py = func.ST_X(near.c.p), func.ST_Y(near.c.p)
    own = (select(near).where(px >= xmin, px < xmax, py > ymin, py <= ymax)).cte("own")
    geom = func.ST_AsMVTGeom(own.c.p, _envelope(z, x, y), EXTENT, BUFFER, True).label("geom")
    if queries.kept_scope(scope):  # the kept per-village counts (gis/measures.py): no household row read
        measures.ensure_current(conn, year)
        # Per village of the tile, a lookup into the kept rows' primary key (LATERAL): with a
        # join the planner, misled by the PostGIS filters' estimates, looped the other way round
        # (1-15 s at z8).
        k = (select(func.sum(VM.c.households).label("count"),
                    func.coalesce(func.sum(VM.c.households).filter(VM.c.desil == 1), 0).label("desil1"))
             .where(VM.c.year == year, VM.c.village_id == own.c.id).lateral("k"))
        rows = (select(geom, own.c.id, own.c.code, cast(k.c.count, Integer).label("count"),
                       cast(k.c.desil1, Integer).label("desil1"))
                .select_from(own.join(k, true())).where(k.c.count.is_not(None)))
        scoped = household_villages(scope)  # the Household rule of app.security.scope
        if scoped is not None:
            rows = rows.where(own.c.id.in_(scoped))
    else:  # an OPD's scope, or a chosen snapshot (its village and desil per household)
        pts = queries.household_points(scope).subquery("pts")
        # Counted for the villages touching the tile (``near``), joined to those whose point it holds
        # (``own``) below: the planner takes ``own``'s label-point ranges for 1 row and then looked up
        # every row of the tile's villages before the scope (op1807, BDT 2015, z8: 4.7 s; 0.9 s so).
        counts = (select(pts.c.village_id, func.count().label("count"),
                         func.count().filter(pts.c.desil == 1).label("desil1"))
                  .where(pts.c.village_id.in_(select(near.c.id)))
                  .group_by(pts.c.village_id)).subquery("c")
        rows = (select(geom, own.c.id, own.c.code, cast(counts.c.count, Integer).label("count"),
                       cast(counts.c.desil1, Integer).label("desil1"))
                .select_from(own.join(counts, counts.c.village_id == own.c.id)))
    return _mvt(conn, rows, "households", "id")


def village_tile(conn: Connection, z: int, x: int, y: int, measures: Optional[dict[int, dict]] = None, *,
                 scope: Optional[Scope] = None, year: Optional[int] = None, max_desil: int = 1) -> bytes:
    """The ``villages`` layer of one tile with each village's measures: for a kept scope
    (``queries.kept_scope``) read in the same SQL from the kept rows of the tile's villages only;
    otherwise ``measures`` maps village id -> measure dict (``gis.features.measures_cache``),
    absent = 0."""
    check_tile(z, x, y)
    env = _envelope(z, x, y)
    tolerance = 360.0 / 2 ** z / 512  # half a screen pixel (ST_AsMVTGeom makes the result valid)
    names = ("households", "desil1", "reached", "coverage", "multi_program", "gaps", "programs_3plus")
    in_tile = Village.geom.op("&&")(_search_envelope(z, x, y))
    if measures is None:
        m = queries.kept_village_measures(conn, year, scope, max_desil,
                                          village_ids=select(Village.id).where(in_tile)).subquery("m")
    else:
        ids = list(measures)
        m = text("""SELECT * FROM unnest(CAST(:ids AS int[]), CAST(:households AS int[]), CAST(:desil1 AS int[]),
                                        CAST(:reached AS int[]), CAST(:coverage AS float8[]),
                                        CAST(:multi AS int[]), CAST(:gaps AS int[]), CAST(:plus3 AS int[]))
                    AS m(village_id, households, desil1, reached, coverage, multi_program, gaps,
                         programs_3plus)""").bindparams(
            ids=ids, households=[measures[i]["households"] for i in ids], desil1=[measures[i]["desil1"] for i in ids],
            reached=[measures[i]["reached"] for i in ids], coverage=[float(measures[i]["coverage"]) for i in ids],
            multi=[measures[i]["multi_program"] for i in ids], gaps=[measures[i]["gaps"] for i in ids],
            plus3=[measures[i]["programs_3plus"] for i in ids],
        ).columns(village_id=Integer, households=Integer, desil1=Integer, reached=Integer, coverage=Float,
                  multi_program=Integer, gaps=Integer, programs_3plus=Integer).subquery("m")
    villages = Village.__table__
    if z < RAW_MIN_ZOOM:  # the simplification kept for this zoom (migration 0011), already in 3857
        shape = VTG.c.geom
        villages = villages.join(VTG, and_(VTG.c.village_id == Village.id, VTG.c.zoom == z))
    else:
        shape = func.ST_Transform(func.ST_Simplify(Village.geom, tolerance, True), 3857)
    geom = func.ST_AsMVTGeom(shape, env, EXTENT, BUFFER, True)
    rows = (select(geom.label("geom"), Village.id, Village.code, Village.name, Village.kind,
                   *(func.coalesce(cast(getattr(m.c, c), Float if c == "coverage" else Integer), 0).label(c)
                     for c in names))
            .select_from(villages.outerjoin(m, m.c.village_id == Village.id))
            .where(in_tile))
    return _mvt(conn, rows, "villages", "id")
