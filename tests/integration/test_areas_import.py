"""The boundary importer against a real PostGIS: real Lampung files, BIG's Shapefile schema,
reprojection, and bad input that must write nothing."""
from __future__ import annotations

import csv
import json

import numpy as np
import pyogrio
import pytest
import shapely
from shapely.geometry import Polygon, box, mapping
from sqlalchemy import text

from gis.boundaries import BoundaryError, import_file, normalise_code
from tests.conftest import HAVE_LAMPUNG, NO_LAMPUNG_REASON, SHARED_AREAS, flask_cli


def area_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("province", "regency", "district", "village")}


@pytest.mark.skipif(not HAVE_LAMPUNG, reason=NO_LAMPUNG_REASON)
class TestRealLampung:
    def test_counts_are_exactly_the_files(self, engine):
        with engine.connect() as conn:
            counts = dict(conn.execute(text("""
                SELECT 'regency', count(*) FROM regency WHERE code LIKE '18.%' UNION ALL
                SELECT 'district', count(*) FROM district WHERE code LIKE '18.%' UNION ALL
                SELECT 'village', count(*) FROM village WHERE code LIKE '18.%'""")).all())
            kinds = dict(conn.execute(text("SELECT kind, count(*) FROM village GROUP BY kind")).all())
            kota = conn.execute(text("SELECT array_agg(code ORDER BY code) FROM regency WHERE kind = 'kota'")).scalar()
            invalid = conn.execute(text("SELECT count(*) FROM village WHERE NOT ST_IsValid(geom)")).scalar()
            srid_types = conn.execute(text(
                "SELECT DISTINCT ST_SRID(geom), GeometryType(geom) FROM district")).all()
        assert counts == {"regency": 15, "district": 229, "village": 2640}
        # The 11 villages missing upstream are not invented.
        assert kinds == {"desa": 2435, "kelurahan": 205}
        assert kota == ["18.71", "18.72"]
        assert invalid == 0
        assert srid_types == [(4326, "MULTIPOLYGON")]

    def test_second_import_changes_nothing(self, engine):
        before = area_counts(engine)
        result = flask_cli("areas", "load-demo", check=True)
        assert "2640 dibaca; 0 baru; 0 diubah; 2640 tetap" in result.stdout
        assert "229 dibaca; 0 baru; 0 diubah; 229 tetap" in result.stdout
        assert "15 dibaca; 0 baru; 0 diubah; 15 tetap" in result.stdout
        assert area_counts(engine) == before

    def test_every_desa_point_lies_in_its_own_village(self, engine):
        with open(SHARED_AREAS / "desa_points.csv", newline="") as f:
            points = [(r["code"], float(r["lon"]), float(r["lat"])) for r in csv.DictReader(f)]
        assert len(points) == 2640
        with engine.connect() as conn:
            conn.execute(text("CREATE TEMP TABLE pts (code text, lon float8, lat float8)"))
            conn.execute(text("INSERT INTO pts VALUES (:c, :x, :y)"),
                         [{"c": c, "x": x, "y": y} for c, x, y in points])
            rows = conn.execute(text("""
                SELECT p.code, array_agg(v.code) AS hits
                FROM pts p LEFT JOIN village v ON ST_Contains(v.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
                GROUP BY p.code""")).all()
        own = sum(1 for code, hits in rows if hits == [code])
        assert own == 2640, [r for r in rows if r.hits != [r.code]][:5]


def _write_big_shapefile(path, features, crs="EPSG:4326"):
    """Write a Shapefile with BIG's field names using pyogrio's raw writer."""
    fields = list(features[0][0].keys())
    geoms = np.array([shapely.to_wkb(g) for _, g in features], dtype=object)
    data = [np.array([props[f] for props, _ in features], dtype=object) for f in fields]
    pyogrio.raw.write(str(path), geoms, data, fields, driver="ESRI Shapefile", geometry_type="Polygon", crs=crs)


class TestOtherFormats:
    def test_big_shapefile_imports_with_codes_and_parents(self, engine, tmp_path):
        # A made-up piece of Banten (36) in BIG's "Batas Administrasi" schema, codes without dots.
        regencies = [({"KDPPUM": "36", "KDPKAB": "36.01", "WADMKK": "Kabupaten Uji", "WADMPR": "Banten"},
                      box(106.0, -6.6, 106.2, -6.4))]
        districts = [({"KDPKAB": "36.01", "KDCPUM": "36.01.01", "WADMKC": "Kecamatan Uji Satu"},
                      box(106.0, -6.6, 106.1, -6.4)),
                     ({"KDPKAB": "36.01", "KDCPUM": "3601.02", "WADMKC": "Kecamatan Uji Dua"},
                      box(106.1, -6.6, 106.2, -6.4))]
        villages = [({"KDCPUM": "36.01.01", "KDEPUM": "3601011001", "WADMKD": "Kelurahan Uji"},
                     box(106.0, -6.6, 106.1, -6.5)),
                    ({"KDCPUM": "36.01.02", "KDEPUM": "36.01.02.2001", "WADMKD": "Desa Uji"},
                     box(106.1, -6.6, 106.2, -6.5))]
        for name, feats in (("kab", regencies), ("kec", districts), ("desa", villages)):
            _write_big_shapefile(tmp_path / f"{name}.shp", feats)
        with engine.connect() as conn, conn.begin() as trans:
            r1 = import_file(conn, tmp_path / "kab.shp", "regency")
            r2 = import_file(conn, tmp_path / "kec.shp", "district")
            r3 = import_file(conn, tmp_path / "desa.shp", "village")
            rows = conn.execute(text("""
                SELECT v.code, v.name, v.kind, d.code, r.code, r.kind, p.code, p.name
                FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
                JOIN province p ON p.id = r.province_id WHERE p.code = '36' ORDER BY v.code""")).all()
            trans.rollback()
        assert (r1.inserted, r2.inserted, r3.inserted) == (1, 2, 2)
        assert [tuple(r) for r in rows] == [
            ("36.01.01.1001", "Kelurahan Uji", "kelurahan", "36.01.01", "36.01", "kabupaten", "36", "Banten"),
            ("36.01.02.2001", "Desa Uji", "desa", "36.01.02", "36.01", "kabupaten", "36", "Banten"),
        ]

    def test_geojson_in_web_mercator_is_reprojected(self, engine, tmp_path):
        from pyproj import Transformer

        to_3857 = Transformer.from_crs(4326, 3857, always_xy=True)
        lon0, lat0, lon1, lat1 = 106.0, -6.6, 106.2, -6.4
        (x0, x1), (y0, y1) = to_3857.transform([lon0, lon1], [lat0, lat1])
        fc = {"type": "FeatureCollection",
              "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
              "features": [{"type": "Feature", "geometry": mapping(box(x0, y0, x1, y1)),
                            "properties": {"code": "36.09", "name": "Kabupaten Mercator", "parent_code": "36"}}]}
        path = tmp_path / "mercator.geojson"
        path.write_text(json.dumps(fc))
        with engine.connect() as conn, conn.begin() as trans:
            result = import_file(conn, path, "regency")
            bounds = conn.execute(text("SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom), "
                                       "ST_SRID(geom) FROM regency WHERE code = '36.09'")).one()
            trans.rollback()
        assert result.reprojected_from and "3857" in result.reprojected_from
        assert bounds[:4] == pytest.approx((lon0, lat0, lon1, lat1), abs=1e-6)
        assert bounds[4] == 4326

    def test_unknown_parent_is_reported_not_invented(self, engine, tmp_path):
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": mapping(box(105, -5, 105.1, -4.9)),
             "properties": {"code": "18.99.01", "name": "Kecamatan Yatim", "parent_code": "18.99"}}]}
        path = tmp_path / "orphan.geojson"
        path.write_text(json.dumps(fc))
        with engine.connect() as conn, conn.begin() as trans:
            result = import_file(conn, path, "district")
            written = conn.execute(text("SELECT count(*) FROM district WHERE code = '18.99.01'")).scalar()
            trans.rollback()
        assert result.orphans == ["18.99.01"]
        assert written == 0
        assert "induk tidak dikenal: 18.99.01" in result.summary()


class TestRepair:
    def test_invalid_geometry_is_repaired_and_counted(self, engine, tmp_path):
        with engine.connect() as conn:
            district = conn.execute(text("SELECT min(code) FROM district WHERE code LIKE '18.01.%'")).scalar_one()
        # The "nested shells" fault of the raw upstream data: an islet polygon inside the
        # main shell. make_valid(method="structure") unions it instead of punching a hole.
        outer = box(105.0, -5.0, 105.1, -4.9)
        islet = box(105.04, -4.96, 105.05, -4.95)
        nested = {"type": "MultiPolygon", "coordinates": [mapping(outer)["coordinates"], mapping(islet)["coordinates"]]}
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": nested,
             "properties": {"code": f"{district}.2997", "name": "Desa Pulau", "parent_code": district}}]}
        path = tmp_path / "nested.geojson"
        path.write_text(json.dumps(fc))
        with engine.connect() as conn, conn.begin() as trans:
            result = import_file(conn, path, "village")
            area, valid, holes = conn.execute(text(
                "SELECT ST_Area(geom), ST_IsValid(geom), ST_NumInteriorRings(ST_GeometryN(geom, 1)) "
                "FROM village WHERE code = :c"), {"c": f"{district}.2997"}).one()
            trans.rollback()
        assert (result.repaired, result.inserted) == (1, 1)
        assert valid and holes == 0
        assert area == pytest.approx(outer.area)


class TestBadInput:
    """Each case: a clear one-line reason, a non-zero exit, zero rows written."""

    def _assert_refused(self, engine, path, level, *reason_words, extra=()):
        before = area_counts(engine)
        result = flask_cli("areas", "import", str(path), "--level", level, *extra)
        assert result.returncode != 0
        message = result.stderr.strip().splitlines()[-1]
        assert message.startswith("Error: ") and "tidak ada yang ditulis" in message
        for word in reason_words:
            assert word in message, message
        assert "Traceback" not in result.stderr
        assert area_counts(engine) == before

    def test_non_geographic_file(self, engine, tmp_path):
        path = tmp_path / "catatan.txt"
        path.write_text("ini bukan peta\n")
        self._assert_refused(engine, path, "village", "tidak dapat dibaca sebagai data geografis")

    def test_table_without_geometry(self, engine, tmp_path):
        path = tmp_path / "tabel.csv"
        path.write_text("code,name,parent_code\n18.01.04.2001,Hajimena,18.01.04\n")
        self._assert_refused(engine, path, "village", "tidak berisi geometri")

    def test_missing_code_field(self, engine, tmp_path):
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": mapping(box(105, -5, 105.1, -4.9)),
             "properties": {"kode": "18.01.04.2001", "name": "Hajimena", "parent_code": "18.01.04"}}]}
        path = tmp_path / "tanpa_kode.geojson"
        path.write_text(json.dumps(fc))
        self._assert_refused(engine, path, "village", "kolom code tidak ada", "kode")

    def test_override_field_that_does_not_exist(self, engine, tmp_path):
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": mapping(box(105, -5, 105.1, -4.9)),
             "properties": {"code": "18.01.04.2001", "name": "Hajimena", "parent_code": "18.01.04"}}]}
        path = tmp_path / "desa.geojson"
        path.write_text(json.dumps(fc))
        self._assert_refused(engine, path, "village", "KODE_DESA", extra=("--code-field", "KODE_DESA"))

    def test_geometry_that_cannot_be_repaired(self, engine, tmp_path):
        # A valid village first, so the test proves the bad one makes the whole file fail.
        good = box(105.0, -5.0, 105.1, -4.9)
        flat = Polygon([(105.2, -5.0), (105.3, -5.0), (105.4, -5.0), (105.2, -5.0)])  # collapses to a line
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": mapping(good),
             "properties": {"code": "18.01.04.2998", "name": "Desa Baik", "parent_code": "18.01.04"}},
            {"type": "Feature", "geometry": mapping(flat),
             "properties": {"code": "18.01.04.2999", "name": "Desa Pipih", "parent_code": "18.01.04"}}]}
        path = tmp_path / "rusak.geojson"
        path.write_text(json.dumps(fc))
        self._assert_refused(engine, path, "village", "fitur ke-2", "18.01.04.2999", "tidak dapat diperbaiki")

    def test_bad_code_names_the_feature(self, engine, tmp_path):
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": mapping(box(105, -5, 105.1, -4.9)),
             "properties": {"code": "1.87101E+15", "name": "Rusak Excel", "parent_code": "18.01.04"}}]}
        path = tmp_path / "excel.geojson"
        path.write_text(json.dumps(fc))
        self._assert_refused(engine, path, "village", "fitur ke-1", "bukan kode Kemendagri")


@pytest.mark.parametrize("raw, level, expected", [
    ("18.71.01.1003", "village", "18.71.01.1003"),
    ("1871011003", "village", "18.71.01.1003"),
    (1871, "regency", "18.71"),
    ("1871.0", "regency", "18.71"),
    ("18.7", "regency", None),
    ("18.71.01", "village", None),
    (None, "district", None),
])
def test_normalise_code(raw, level, expected):
    assert normalise_code(raw, level) == expected


def test_unknown_level_is_refused(tmp_path):
    with pytest.raises(BoundaryError, match="level"):
        import_file(None, tmp_path / "x.geojson", "province")


def test_synthetic_geography_is_complete_and_named_as_such(engine, tmp_path):
    from seeds.synthetic_areas import write_synthetic_areas

    paths = write_synthetic_areas(tmp_path)
    with engine.connect() as conn, conn.begin() as trans:
        # Empty the areas and everything that refers to them; rolled back below.
        conn.execute(text("TRUNCATE province CASCADE"))
        results = [import_file(conn, paths[name], level) for name, level in
                   (("kabupaten", "regency"), ("kecamatan", "district"), ("desa", "village"))]
        names = conn.execute(text("SELECT count(*) FROM village WHERE name LIKE '%Sintetis%'")).scalar()
        inside = conn.execute(text("""SELECT count(*) FROM village v JOIN district d ON d.id = v.district_id
                                      WHERE ST_Within(ST_PointOnSurface(v.geom), d.geom)""")).scalar()
        trans.rollback()
    assert [r.inserted for r in results] == [15, 30, 90]
    assert names == 90 and inside == 90
