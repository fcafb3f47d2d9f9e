"""A small deterministic SYNTHETIC geography, used only when the real Lampung boundary
files are absent, so the app still runs. Names say "Sintetis" everywhere.

15 regencies with Lampung's codes (so op1801 ... op1872 still match) laid out as a
5 x 3 grid over Lampung's bounding box, each with 2 districts of 3 villages.
Written as GeoJSON files and loaded through the normal importer.
"""
from __future__ import annotations

import json
from pathlib import Path

REGENCY_CODES = [f"18.{i:02d}" for i in range(1, 14)] + ["18.71", "18.72"]
WEST, SOUTH, EAST, NORTH = 103.6, -6.1, 106.2, -3.8


def _box(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def write_synthetic_areas(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    kab, kec, desa = [], [], []
    cols, rows = 5, 3
    w, h = (EAST - WEST) / cols, (NORTH - SOUTH) / rows
    for i, rcode in enumerate(REGENCY_CODES):
        x0, y0 = WEST + (i % cols) * w, SOUTH + (i // cols) * h
        kind = "Kota" if rcode.split(".")[1].startswith("7") else "Kabupaten"
        kab.append((rcode, f"{kind} Sintetis {rcode}", "18", _box(x0, y0, x0 + w, y0 + h)))
        for d in range(2):
            dcode = f"{rcode}.{d + 1:02d}"
            dx0 = x0 + d * w / 2
            kec.append((dcode, f"Kecamatan Sintetis {dcode}", rcode, _box(dx0, y0, dx0 + w / 2, y0 + h)))
            for v in range(3):
                prefix = "1" if kind == "Kota" else "2"
                vcode = f"{dcode}.{prefix}{v + 1:03d}"
                vy0 = y0 + v * h / 3
                desa.append((vcode, f"Desa Sintetis {vcode}", dcode, _box(dx0, vy0, dx0 + w / 2, vy0 + h / 3)))
    paths = {}
    for name, feats in (("kabupaten", kab), ("kecamatan", kec), ("desa", desa)):
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"code": c, "name": n, "parent_code": p}, "geometry": g}
            for c, n, p, g in feats]}
        paths[name] = folder / f"{name}.geojson"
        paths[name].write_text(json.dumps(fc))
    return paths
