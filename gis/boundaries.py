"""Boundary importer: GeoJSON, GeoPackage and Shapefile (read by pyogrio) into the area tables.

The whole file is read and checked before the database is touched; then every
feature goes into a temporary staging table and one INSERT ... ON CONFLICT
upserts it, all in the caller's transaction. A file that cannot be read, a
missing field or a geometry that cannot be repaired raises ``BoundaryError``
before anything is written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pyogrio
import shapely
from pyogrio.errors import DataSourceError, DataLayerError
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.models.areas import CODE_PATTERNS

LEVELS = ("regency", "district", "village")
PARENT_LEVEL = {"regency": "province", "district": "regency", "village": "district"}
PARENT_FK = {"regency": "province_id", "district": "regency_id", "village": "district_id"}
CODE_DIGITS = {"province": 2, "regency": 4, "district": 6, "village": 10}

# BIG's "Batas Administrasi" layers (RBI): names WADM*, codes KD*.
BIG_FIELDS = {
    "regency": ("KDPKAB", "WADMKK", "KDPPUM"),
    "district": ("KDCPUM", "WADMKC", "KDPKAB"),
    "village": ("KDEPUM", "WADMKD", "KDCPUM"),
}
DEFAULT_FIELDS = ("code", "name", "parent_code")

# Kemendagri province codes; a regency import creates its province when missing.
PROVINCES = {
    "11": "Aceh", "12": "Sumatera Utara", "13": "Sumatera Barat", "14": "Riau", "15": "Jambi",
    "16": "Sumatera Selatan", "17": "Bengkulu", "18": "Lampung", "19": "Kepulauan Bangka Belitung",
    "21": "Kepulauan Riau", "31": "DKI Jakarta", "32": "Jawa Barat", "33": "Jawa Tengah",
    "34": "DI Yogyakarta", "35": "Jawa Timur", "36": "Banten", "51": "Bali", "52": "Nusa Tenggara Barat",
    "53": "Nusa Tenggara Timur", "61": "Kalimantan Barat", "62": "Kalimantan Tengah",
    "63": "Kalimantan Selatan", "64": "Kalimantan Timur", "65": "Kalimantan Utara", "71": "Sulawesi Utara",
    "72": "Sulawesi Tengah", "73": "Sulawesi Selatan", "74": "Sulawesi Tenggara", "75": "Gorontalo",
    "76": "Sulawesi Barat", "81": "Maluku", "82": "Maluku Utara", "91": "Papua Barat", "92": "Papua Barat Daya",
    "94": "Papua", "95": "Papua Selatan", "96": "Papua Tengah", "97": "Papua Pegunungan",
}


class BoundaryError(Exception):
    """A problem with the input file; the message is one line for the user."""


@dataclass
class ImportResult:
    level: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: int = 0
    reprojected_from: str | None = None
    orphans: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return self.inserted + self.updated

    def summary(self) -> str:
        parts = [
            f"{self.level}: {self.read} dibaca",
            f"{self.inserted} baru",
            f"{self.updated} diubah",
            f"{self.unchanged} tetap",
            f"{self.repaired} geometri diperbaiki",
        ]
        if self.reprojected_from:
            parts.append(f"diproyeksikan ulang dari {self.reprojected_from}")
        if self.orphans:
            shown = ", ".join(self.orphans[:10]) + (" ..." if len(self.orphans) > 10 else "")
            parts.append(f"{len(self.orphans)} dilewati karena induk tidak dikenal: {shown}")
        return "; ".join(parts)


@dataclass
class Feature:
    code: str
    name: str
    parent_code: str
    wkb: bytes


def normalise_code(raw, level: str) -> str | None:
    """'1871011003', '18.71.01.1003' or 1871 -> dotted Kemendagri form, or None if it is not one."""
    if raw is None:
        return None
    s = str(raw).strip()
    if re.fullmatch(r"\d+\.0", s):  # a numeric field read as float
        s = s[:-2]
    digits = s.replace(".", "")
    if not digits.isdigit() or len(digits) != CODE_DIGITS[level]:
        return None
    parts = [digits[0:2], digits[2:4], digits[4:6], digits[6:10]]
    dotted = ".".join(p for p in parts if p)
    return dotted if re.fullmatch(CODE_PATTERNS[level], dotted) else None


def _pick_fields(columns: Iterable[str], level: str, code_field, name_field, parent_field) -> tuple[str, str, str]:
    by_lower = {c.lower(): c for c in columns}
    if code_field or name_field or parent_field:
        wanted = (code_field or DEFAULT_FIELDS[0], name_field or DEFAULT_FIELDS[1], parent_field or DEFAULT_FIELDS[2])
    elif all(f.lower() in by_lower for f in BIG_FIELDS[level][:2]):
        wanted = BIG_FIELDS[level]
    else:
        wanted = DEFAULT_FIELDS
    missing = [w for w in wanted if w.lower() not in by_lower]
    if missing:
        raise BoundaryError(
            f"kolom {', '.join(missing)} tidak ada; kolom yang ada: {', '.join(columns) or '(tidak ada)'}"
        )
    return tuple(by_lower[w.lower()] for w in wanted)  # type: ignore[return-value]


def _to_multipolygon(geom) -> MultiPolygon | None:
    """Keep only the polygonal parts; None when nothing polygonal is left."""
    if geom is None or geom.is_empty:
        return None
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, (Polygon, MultiPolygon))]
    flat = [p for g in polys for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
    return MultiPolygon(flat) if flat else None


def read_features(path: str | Path, level: str, code_field=None, name_field=None, parent_field=None,
                  progress: Callable[[Iterable], Iterable] | None = None) -> tuple[list[Feature], ImportResult]:
    """Read and check a boundary file. Raises BoundaryError with a one-line reason."""
    if level not in LEVELS:
        raise BoundaryError(f"level harus salah satu dari {', '.join(LEVELS)}, bukan {level!r}")
    path = Path(path)
    if not path.exists():
        raise BoundaryError(f"berkas {path} tidak ada")
    try:
        meta, _fids, geometry, field_data = pyogrio.raw.read(path)
    except (DataSourceError, DataLayerError) as exc:
        raise BoundaryError(f"berkas {path.name} tidak dapat dibaca sebagai data geografis: "
                            f"{str(exc).splitlines()[0]}") from None
    if geometry is None or not len(geometry):
        raise BoundaryError(f"berkas {path.name} tidak berisi geometri")
    columns = list(meta["fields"])
    code_f, name_f, parent_f = _pick_fields(columns, level, code_field, name_field, parent_field)
    values = {c: field_data[i] for i, c in enumerate(columns)}

    result = ImportResult(level=level, read=len(geometry))
    geoms = shapely.from_wkb(geometry)
    if any(g is None for g in geoms):
        missing = [i + 1 for i, g in enumerate(geoms) if g is None]
        raise BoundaryError(f"fitur ke-{missing[0]} tidak mempunyai geometri ({len(missing)} fitur)")

    crs = meta.get("crs")
    if crs and not _is_wgs84(crs):
        from pyproj import CRS, Transformer

        transformer = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)
        geoms = shapely.transform(geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
        result.reprojected_from = crs
    elif not crs:
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
            raise BoundaryError(f"berkas {path.name} tidak menyebut sistem koordinatnya dan koordinatnya "
                                f"bukan derajat; sertakan berkas .prj")

    features: list[Feature] = []
    seen: dict[str, int] = {}
    iterator = range(len(geoms))
    for i in (progress(iterator) if progress else iterator):
        row = i + 1
        raw_code = values[code_f][i]
        code = normalise_code(raw_code, level)
        if code is None:
            raise BoundaryError(f"fitur ke-{row}: kolom {code_f} = {raw_code!r} bukan kode Kemendagri "
                                f"tingkat {level}")
        if code in seen:
            raise BoundaryError(f"fitur ke-{row}: kode {code} sudah muncul di fitur ke-{seen[code]}")
        seen[code] = row
        parent_level = PARENT_LEVEL[level]
        parent = normalise_code(values[parent_f][i], parent_level)
        if parent is None and level == "regency":
            parent = code[:2]  # BIG files often leave the province code empty
        if parent is None or not code.startswith(parent + "."):
            raise BoundaryError(f"fitur ke-{row} ({code}): kolom {parent_f} = {values[parent_f][i]!r} "
                                f"bukan kode induknya")
        name = str(values[name_f][i] or "").strip()
        if not name:
            raise BoundaryError(f"fitur ke-{row} ({code}): kolom {name_f} kosong")
        geom = geoms[i]
        if not geom.is_valid:
            geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
            result.repaired += 1
        multi = _to_multipolygon(geom)
        if multi is None or multi.is_empty or not multi.is_valid or multi.area == 0:
            raise BoundaryError(f"fitur ke-{row} ({code}): geometri {geoms[i].geom_type} tidak dapat "
                                f"diperbaiki menjadi poligon (luasnya nol atau runtuh menjadi garis/titik)")
        features.append(Feature(code, name, parent, shapely.to_wkb(multi)))
    return features, result


def _is_wgs84(crs: str) -> bool:
    return crs.upper() in ("EPSG:4326", "OGC:CRS84", "CRS84", "OGC:CRS84H")


def regency_kind(code: str, name: str) -> str:
    # Kota have 7x codes (18.71 Bandar Lampung, 18.72 Metro); the name says it too.
    return "kota" if code.split(".")[1].startswith("7") or name.lower().startswith("kota ") else "kabupaten"


def village_kind(code: str) -> str:
    # Fourth segment starting with 1 = kelurahan, 2 = desa (Kemendagri).
    return "kelurahan" if code.split(".")[3].startswith("1") else "desa"


def write_features(conn: Connection, features: list[Feature], result: ImportResult) -> ImportResult:
    """Upsert the features by code in the caller's transaction. Rows whose values did not
    change are not touched, so a second run of the same file reports 0 changes."""
    level = result.level
    parent_table = PARENT_LEVEL[level]
    if level == "regency":
        for pcode in sorted({f.parent_code for f in features}):
            conn.execute(text("INSERT INTO province (code, name) VALUES (:c, :n) ON CONFLICT (code) DO NOTHING"),
                         {"c": pcode, "n": PROVINCES.get(pcode, f"Provinsi {pcode}")})
    conn.execute(text("CREATE TEMP TABLE boundary_stage (code text, name text, kind text, parent_code text, "
                      "wkb bytea) ON COMMIT DROP"))
    rows = [
        {"code": f.code, "name": f.name, "parent_code": f.parent_code, "wkb": f.wkb,
         "kind": regency_kind(f.code, f.name) if level == "regency"
         else village_kind(f.code) if level == "village" else None}
        for f in features
    ]
    if rows:
        conn.execute(text("INSERT INTO boundary_stage VALUES (:code, :name, :kind, :parent_code, :wkb)"), rows)
    result.orphans = list(conn.execute(text(
        f"SELECT s.code FROM boundary_stage s LEFT JOIN {parent_table} p ON p.code = s.parent_code "
        f"WHERE p.id IS NULL ORDER BY s.code")).scalars())
    fk = PARENT_FK[level]
    kind_col = ", kind" if level in ("regency", "village") else ""
    kind_val = ", s.kind" if kind_col else ""
    kind_set = ", kind = EXCLUDED.kind" if kind_col else ""
    kind_cmp = f", {level}.kind" if kind_col else ""
    kind_new = ", EXCLUDED.kind" if kind_col else ""
    upsert = text(f"""
        INSERT INTO {level} (code, name{kind_col}, {fk}, geom, area_km2)
        SELECT s.code, s.name{kind_val}, p.id, g.geom,
               round((ST_Area(g.geom::geography) / 1e6)::numeric, 3)
        FROM boundary_stage s
        JOIN {parent_table} p ON p.code = s.parent_code
        CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_GeomFromWKB(s.wkb), 4326) AS geom) g
        ON CONFLICT (code) DO UPDATE
           SET name = EXCLUDED.name{kind_set}, {fk} = EXCLUDED.{fk}, geom = EXCLUDED.geom,
               area_km2 = EXCLUDED.area_km2
         WHERE ({level}.name{kind_cmp}, {level}.{fk}, ST_AsBinary({level}.geom))
               IS DISTINCT FROM (EXCLUDED.name{kind_new}, EXCLUDED.{fk}, ST_AsBinary(EXCLUDED.geom))
        RETURNING (xmax = 0) AS inserted
    """)
    flags = list(conn.execute(upsert).scalars())
    result.inserted = sum(1 for f in flags if f)
    result.updated = len(flags) - result.inserted
    result.unchanged = len(features) - len(result.orphans) - len(flags)
    if level == "regency" and result.changes:
        conn.execute(text("""
            UPDATE province p SET geom = u.geom, area_km2 = round((ST_Area(u.geom::geography) / 1e6)::numeric, 3)
            FROM (SELECT province_id, ST_Multi(ST_CollectionExtract(ST_Union(geom), 3)) AS geom
                  FROM regency GROUP BY province_id) u
            WHERE u.province_id = p.id"""))
    conn.execute(text("DROP TABLE boundary_stage"))
    return result


def import_file(conn: Connection, path, level: str, progress=None, **fields) -> ImportResult:
    features, result = read_features(path, level, progress=progress, **fields)
    return write_features(conn, features, result)
