"""Targeting data as snapshots (app/models/snapshots.py) through the import: a DTSEN extract
with SIKS-NG's column names becomes a new snapshot without overwriting the previous ones; the
household rows carry the latest; an older period loads only when confirmed, as history; a
desil outside the source's range, a row of another source or period, a period in the future
are refused with row-level messages and nothing written."""
from __future__ import annotations

import itertools
import random

import pytest
from sqlalchemy import text

from app.services.household_import import SnapshotTarget, run_import, snapshot_target
from tests.conftest import needs_lampung, session_client
from tests.integration.test_household_import import nik, write_csv

_serial = itertools.count(1)
_DAY = random.Random().randrange(2, 29)  # per run, as test_household_import's numbers


def new_kk() -> str:
    """A No KK no demo household has (issued in November 2000; test_household_import uses December)."""
    return f"180701{_DAY:02d}1100{next(_serial):04d}"


def household_row(place=None, **over) -> dict:
    row = {"no_kk": new_kk(), "nik_kepala": nik(), "nama_kepala": "Suparman Uji", "alamat": "Dusun I", "rt": "1",
           "rw": "2", "kode_desa": place["code"] if place else "", "desil": "1", "jumlah_anggota": "4",
           "lintang": f"{place['lat']:.6f}" if place else "", "bujur": f"{place['lon']:.6f}" if place else ""}
    row.update(over)
    return row


@pytest.fixture(scope="module")
def places(app):
    """A Lampung Timur village with a point well inside it."""
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT v.id, v.code, ST_X(p) AS lon, ST_Y(p) AS lat
              FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id,
                   LATERAL (SELECT ST_PointOnSurface(ST_Buffer(v.geom, -0.002)) AS p) s
             WHERE r.code = '18.07' AND NOT ST_IsEmpty(ST_Buffer(v.geom, -0.002)) ORDER BY v.code LIMIT 1""")).mappings().one()
    return {"timur": dict(row)}

DTSEN_HEADER = ["NOKK", "NIK_KEPALA_KELUARGA", "NAMA_KEPALA_KELUARGA", "KODE_WILAYAH", "DESIL_NASIONAL", "JUMLAH_ART",
                "ALAMAT", "SUMBER_DATA", "PERIODE"]
PERIODS = ("2026-Q1", "2025-Q2", "2026-Q2")  # the snapshots these tests make (removed afterwards)


def dtsen_row(kk: str, head_nik: str, village_code: str, desil, period="2026-Q1", **over) -> dict:
    row = {"NOKK": kk, "NIK_KEPALA_KELUARGA": head_nik, "NAMA_KEPALA_KELUARGA": "Keluarga Dtsen",
           "KODE_WILAYAH": village_code.replace(".", ""), "DESIL_NASIONAL": str(desil), "JUMLAH_ART": "3",
           "ALAMAT": "Dusun III", "SUMBER_DATA": "DTSEN", "PERIODE": period}
    row.update(over)
    return row


@pytest.fixture(scope="module")
def created(app):
    """No KKs the tests create; they and the test snapshots are removed at the end, so the
    demo's latest snapshot is DTSEN 2025-Q4 again for the other modules."""
    from app.extensions import db

    kks: list[str] = []
    yield kks
    with app.app_context():
        engine = db.engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM household WHERE no_kk = ANY(:k)"), {"k": kks})
        conn.execute(text("DELETE FROM targeting_snapshot WHERE source = 'DTSEN' AND period = ANY(:p)"),
                     {"p": list(PERIODS)})


def _rows(engine, kk: str):
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT t.source, t.period, s.desil, s.village_id, s.location IS NOT NULL AS has_point,
                   s.source_row->>'desil' AS file_desil, s.member_count
              FROM household_snapshot s JOIN targeting_snapshot t ON t.id = s.snapshot_id
              JOIN household h ON h.id = s.household_id
             WHERE h.no_kk = :k ORDER BY t.period_start"""), {"k": kk}).mappings().all()


def _household(engine, kk: str):
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT h.desil, h.source, t.source AS snap_source, t.period, h.location IS NOT NULL AS has_point,
                   h.member_count
              FROM household h JOIN targeting_snapshot t ON t.id = h.snapshot_id WHERE h.no_kk = :k"""),
            {"k": kk}).mappings().one()


def _count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


@needs_lampung
def test_a_dtsen_extract_becomes_a_new_snapshot_and_the_households_carry_it(engine, places, created, tmp_path):
    place = places["timur"]
    first, second = new_kk(), new_kk()
    created += [first, second]
    heads = {first: nik(), second: nik()}
    bdt = run_import(engine, write_csv(tmp_path / "bdt.csv", [
        household_row(place, no_kk=first, nik_kepala=heads[first], desil="1"),
        household_row(place, no_kk=second, nik_kepala=heads[second], desil="2")]), dry_run=False,
        report_dir=tmp_path)
    assert bdt.committed and bdt.snapshot == "BDT 2015"

    extract = write_csv(tmp_path / "dtsen.csv", [dtsen_row(first, heads[first], place["code"], 7),
                                                  dtsen_row(second, heads[second], place["code"], 3)],
                        header=DTSEN_HEADER, sep=";")
    result = run_import(engine, extract, dry_run=False, report_dir=tmp_path,
                        target=snapshot_target("DTSEN", "2026-Q1"))
    assert result.committed, result.preview
    assert (result.inserted, result.updated) == (0, 2)
    assert result.snapshot == "DTSEN 2026-Q1"

    rows = _rows(engine, first)
    assert [(r["source"], r["period"], r["desil"]) for r in rows] == [("BDT 2015", "2015", 1),
                                                                     ("DTSEN", "2026-Q1", 7)]
    assert rows[1]["file_desil"] == "7"  # the row as the file had it
    # The extract has no coordinates: the point known from BDT is kept, in both.
    assert rows[0]["has_point"] and rows[1]["has_point"]
    household = _household(engine, first)
    assert (household["desil"], household["source"], household["period"], household["has_point"]) == \
        (7, "DTSEN", "2026-Q1", True)
    assert _household(engine, second)["desil"] == 3

    # A BDT re-load afterwards writes the BDT snapshot only: the household keeps the newer DTSEN values.
    again = run_import(engine, write_csv(tmp_path / "bdt2.csv", [
        household_row(place, no_kk=first, nik_kepala=heads[first], desil="4")]), dry_run=False, report_dir=tmp_path)
    assert again.committed
    assert [(r["period"], r["desil"]) for r in _rows(engine, first)] == [("2015", 4), ("2026-Q1", 7)]
    assert _household(engine, first)["desil"] == 7


@needs_lampung
def test_an_older_period_loads_only_when_confirmed_and_then_as_history(engine, places, created, tmp_path):
    place = places["timur"]
    kk, head = new_kk(), nik()
    created.append(kk)
    assert run_import(engine, write_csv(tmp_path / "q1.csv", [dtsen_row(kk, head, place["code"], 5)],
                                        header=DTSEN_HEADER, sep=";"),
                      dry_run=False, report_dir=tmp_path, target=snapshot_target("DTSEN", "2026-Q1")).committed
    snapshots = _count(engine, "SELECT count(*) FROM targeting_snapshot")
    older = write_csv(tmp_path / "q2-2025.csv", [dtsen_row(kk, head, place["code"], 2, period="2025-Q2")],
                      header=DTSEN_HEADER, sep=";")

    refused = run_import(engine, older, dry_run=False, report_dir=tmp_path, target=snapshot_target("DTSEN", "2025-Q2"))
    assert not refused.committed and refused.fatal
    assert "lebih lama dari periode DTSEN terakhir" in refused.preview[0]["alasan"]
    assert refused.preview[0]["kolom"] == "(periode)"
    assert _count(engine, "SELECT count(*) FROM targeting_snapshot") == snapshots  # nothing written

    confirmed = run_import(engine, older, dry_run=False, report_dir=tmp_path,
                           target=snapshot_target("DTSEN", "2025-Q2", confirm_older=True))
    assert confirmed.committed
    assert [(r["period"], r["desil"]) for r in _rows(engine, kk)] == [("2025-Q2", 2), ("2026-Q1", 5)]
    assert _household(engine, kk)["desil"] == 5  # history never reorders the present


@needs_lampung
def test_bad_rows_are_named_and_nothing_is_written(engine, places, created, tmp_path):
    place = places["timur"]
    kks = [new_kk() for _ in range(4)]
    created.extend(kks)
    before = _count(engine, "SELECT count(*) FROM household_snapshot")
    bad = write_csv(tmp_path / "bad.csv", [
        dtsen_row(kks[0], nik(), place["code"], 11),
        dtsen_row(kks[1], nik(), place["code"], 2, SUMBER_DATA="BDT 2015"),
        dtsen_row(kks[2], nik(), place["code"], 2, period="2026-Q2"),
        dtsen_row(kks[3], nik(), place["code"], 4)], header=DTSEN_HEADER, sep=";")
    result = run_import(engine, bad, dry_run=False, report_dir=tmp_path, target=snapshot_target("DTSEN", "2026-Q1"))
    assert not result.committed
    found = {(p["baris"], p["kolom"]): p["alasan"] for p in result.preview}
    assert found[(2, "desil")].startswith("harus bilangan bulat 1 sampai 10 untuk DTSEN")
    assert "sumber data lain dari yang dipilih (DTSEN)" in found[(3, "sumber")]
    assert "periode lain dari yang dipilih (2026-Q1)" in found[(4, "periode")]
    assert not [key for key in found if key[0] == 5]  # the good row has no problem ...
    assert _count(engine, "SELECT count(*) FROM household_snapshot") == before  # ... and is not written either
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM household WHERE no_kk = ANY(:k)"), {"k": kks}).scalar() == 0

    # BDT keeps its own range: desil 5 is a DTSEN desil.
    bdt = run_import(engine, write_csv(tmp_path / "bdt5.csv", [household_row(place, desil="5")]), dry_run=True,
                     report_dir=tmp_path)
    assert bdt.preview[0]["alasan"].startswith("harus bilangan bulat 1 sampai 4 untuk BDT 2015")


def test_the_target_is_checked_before_anything_is_read():
    import datetime as dt

    today = dt.date(2026, 12, 5)
    assert snapshot_target("DTSEN", "2026-q4", today=today) == SnapshotTarget("DTSEN", "2026-Q4")
    assert snapshot_target(None, None) == SnapshotTarget()  # the BDT format as it always was
    for source, period, reason in [("DTSEN", "2027-Q1", "belum dimulai"), ("DTSEN", "2026-12", "tahun dan triwulan"),
                                   ("DTSEN", "", "tahun dan triwulan"), ("BDT 2015", "2016", "hanya '2015'"),
                                   ("DTKS", "2026-Q1", "tidak dikenal")]:
        with pytest.raises(ValueError, match=reason):
            snapshot_target(source, period, today=today)


def test_the_upload_form_names_a_bad_period(app, tmp_path):
    client = session_client(app, "bappeda")
    page = client.get("/imports/")
    assert b'name="snapshot_source"' in page.data and b"NOKK" in page.data  # the SIKS-NG names are documented
    path = write_csv(tmp_path / "x.csv", [household_row(None)])
    for period, reason in [("", "tahun dan triwulan"), ("2099-Q1", "masa depan")]:
        with open(path, "rb") as f:
            r = client.post("/imports/upload", data={"kind": "households", "snapshot_source": "DTSEN",
                                                     "snapshot_period": period, "file": (f, "x.csv")},
                            content_type="multipart/form-data")
        assert r.status_code == 400
        assert reason in r.get_data(as_text=True)


@needs_lampung
def test_a_reload_rewrites_only_the_rows_that_changed(engine, places, created, tmp_path):
    """A re-load of the same period writes a snapshot row only where the file's row, the values
    read or the members' NIKs differ from what the snapshot holds, and touches no unchanged
    household (no new version, no row lock): the rows after are the same either way."""
    place = places["timur"]
    first, second = new_kk(), new_kk()
    created += [first, second]
    rows = [household_row(place, no_kk=first, rt="7"), household_row(place, no_kk=second, rt="7")]
    assert run_import(engine, write_csv(tmp_path / "a.csv", rows), dry_run=False, report_dir=tmp_path).committed

    def versions():
        with engine.connect() as conn:
            return {r.no_kk: (r.h, r.s) for r in conn.execute(text("""
                SELECT h.no_kk, h.xmin::text || '/' || h.xmax::text AS h, s.xmin::text AS s
                  FROM household h JOIN household_snapshot s ON s.household_id = h.id
                  JOIN targeting_snapshot t ON t.id = s.snapshot_id AND t.source = 'BDT 2015'
                 WHERE h.no_kk = ANY(:k)"""), {"k": [first, second]})}

    def snapshot_row(kk):
        with engine.connect() as conn:
            return conn.execute(text("""
                SELECT s.source_row, s.member_niks FROM household_snapshot s JOIN household h ON h.id = s.household_id
                  JOIN targeting_snapshot t ON t.id = s.snapshot_id AND t.source = 'BDT 2015' WHERE h.no_kk = :k"""),
                {"k": kk}).one()

    loaded = versions()
    again = run_import(engine, write_csv(tmp_path / "b.csv", rows), dry_run=False, report_dir=tmp_path)
    assert again.committed and (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert versions() == loaded

    # "007" is the RT "7" was read as: the household is unchanged, the file's row is not.
    with engine.begin() as conn:  # a member added since: the snapshot lists the NIKs as they stand
        member = nik()
        conn.execute(text("""INSERT INTO household_member (household_id, nik, name, sex, relationship_to_head)
                             SELECT id, :n, 'Anggota Uji', 'P', 'anak' FROM household WHERE no_kk = :k"""),
                     {"n": member, "k": second})
    loaded = versions()  # (the member's foreign key locked its household)
    rows[0]["rt"] = "007"
    third = run_import(engine, write_csv(tmp_path / "c.csv", rows), dry_run=False, report_dir=tmp_path)
    assert third.committed and (third.inserted, third.updated) == (0, 0)
    after = versions()
    assert after[first][0] == loaded[first][0] and after[second][0] == loaded[second][0]
    assert after[first][1] != loaded[first][1] and after[second][1] != loaded[second][1]
    assert snapshot_row(first).source_row["rt"] == "007"
    assert snapshot_row(second).member_niks == [member]
    assert snapshot_row(second).source_row["rt"] == "7"
