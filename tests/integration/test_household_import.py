"""The household import (app/services/household_import/) against a real PostGIS: every
malformed case reported at its row and column with nothing written, all-or-nothing commits
(a failure injected at row N, a killed process), files from Indonesian Excel, the
importer's regency, re-imports, geolocation, members and enrolments, and the web screens
(upload, background job, report, commit, scope, upload limit)."""
from __future__ import annotations

import csv
import itertools
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from app.security.scope import Scope
from app.services import household_import as hi
from app.services.household_import import ImportFailed, run_import
from tests.conftest import DEMO_PASSWORD, ROOT, flask_cli, needs_lampung, wait_until

HEADER = ["no_kk", "nik_kepala", "nama_kepala", "alamat", "rt", "rw", "kode_desa", "desil", "jumlah_anggota",
          "lintang", "bujur"]
_serial = itertools.count(1)
_DAY = random.Random().randrange(2, 29)  # per run; the browser test uses day 01


def new_kk(region: str = "180701") -> str:
    """A No KK no demo household has: issued in December 2000 (the seed issues 2005-2015)."""
    return f"{region}{_DAY:02d}1200{next(_serial):04d}"


def nik(region: str = "180701", day: int = 5, month: int = 1, year: int = 80, woman: bool = False) -> str:
    return f"{region}{day + (40 if woman else 0):02d}{month:02d}{year:02d}{next(_serial) % 10000:04d}"


pytestmark = pytest.mark.usefixtures("remove_import_uploads")


@pytest.fixture(scope="module")
def places(app):
    """Villages of Lampung Timur (18.07, op1807's) and Lampung Selatan (18.01), each with a point
    well inside, and a second Lampung Timur village for a point in another village."""
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT DISTINCT ON (r.code, v.code) r.code AS regency, v.id, v.code, ST_X(p) AS lon, ST_Y(p) AS lat
              FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id,
                   LATERAL (SELECT ST_PointOnSurface(ST_Buffer(v.geom, -0.002)) AS p) s
             WHERE r.code IN ('18.07', '18.01') AND NOT ST_IsEmpty(ST_Buffer(v.geom, -0.002))
             ORDER BY r.code, v.code""")).mappings().all()
        taken = conn.execute(text("SELECT count(*) FROM household WHERE substr(no_kk, 7, 6) = :p"),
                             {"p": f"{_DAY:02d}1200"}).scalar()
    assert taken == 0, "demo data uses the tests' No KK pattern"
    timur = [r for r in rows if r["regency"] == "18.07"]
    selatan = [r for r in rows if r["regency"] == "18.01"]
    return {"timur": timur[0], "timur2": timur[5], "selatan": selatan[0]}


def household_row(place=None, **over) -> dict:
    row = {"no_kk": new_kk(), "nik_kepala": nik(), "nama_kepala": "Suparman Uji", "alamat": "Dusun I", "rt": "1",
           "rw": "2", "kode_desa": place["code"] if place else "", "desil": "1", "jumlah_anggota": "4",
           "lintang": f"{place['lat']:.6f}" if place else "", "bujur": f"{place['lon']:.6f}" if place else ""}
    row.update(over)
    return row


def write_csv(path: Path, rows: list[dict], header=HEADER, sep=",", encoding="utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f, delimiter=sep)
        w.writerow(header)
        for row in rows:
            w.writerow([row.get(h, "") for h in header] if isinstance(row, dict) else row)
    return path


def state(engine) -> dict:
    """Row counts and a checksum of every household, member, enrolment and snapshot row, the
    snapshots, and the audit trail."""
    with engine.connect() as conn:
        return dict(conn.execute(text("""
            SELECT 'household', count(*)::text || ':' || coalesce(md5(string_agg(h::text, '|' ORDER BY h.id)), '')
              FROM household h
            UNION ALL SELECT 'member', count(*)::text || ':' || coalesce(md5(string_agg(m::text, '|' ORDER BY m.id)), '')
              FROM household_member m
            UNION ALL SELECT 'enrolment', count(*)::text || ':' || coalesce(md5(string_agg(e::text, '|' ORDER BY e.id)), '')
              FROM enrolment e
            UNION ALL SELECT 'household_snapshot', count(*)::text || ':' || coalesce(md5(string_agg(
                s::text, '|' ORDER BY s.snapshot_id, s.household_id)), '') FROM household_snapshot s
            UNION ALL SELECT 'targeting_snapshot', count(*)::text FROM targeting_snapshot
            UNION ALL SELECT 'audit', count(*)::text FROM audit_log
            UNION ALL SELECT 'trigger', tgenabled::text FROM pg_trigger WHERE tgname = 'household_locate'
        """)).all())


def run(app, path, **kw):
    from app.extensions import db

    with app.app_context():
        return run_import(db.engine, path, **kw)


def problems_of(result) -> set[tuple]:
    return {(p["baris"], p["kolom"]) for p in result.preview}


def households(engine, kks) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT h.no_kk, h.head_name, h.rt, h.rw, h.desil, h.location_status, v.code AS village,
                   lv.code AS located, ST_Y(h.location) AS lat, ST_X(h.location) AS lon, h.source
              FROM household h JOIN village v ON v.id = h.village_id LEFT JOIN village lv ON lv.id = h.located_village_id
             WHERE h.no_kk = ANY(:kks)"""), {"kks": list(kks)}).mappings().all()
    return {r["no_kk"]: dict(r) for r in rows}


# --- a clean file: dry run, commit, re-import -----------------------------------------------------

def test_dry_run_commit_and_reimport_through_the_cli(app, engine, places, tmp_path):
    rows = [household_row(places["timur"]),
            household_row(places["timur"], lintang="", bujur=""),  # no point
            household_row(places["timur"], lintang=f"{places['timur2']['lat']:.6f}",  # point in another village
                          bujur=f"{places['timur2']['lon']:.6f}"),
            household_row(places["selatan"], rt="007", rw="12")]
    path = write_csv(tmp_path / "bersih.csv", rows)
    before = state(engine)

    dry = flask_cli("households", "import", str(path), "--dry-run", "--report", str(tmp_path))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "akan ditambah 4, akan diubah 0, tetap 0, ditolak 0" in dry.stdout
    assert "uji coba (dry run): tidak ada yang ditulis" in dry.stdout
    assert state(engine) == before

    done = flask_cli("households", "import", str(path), "--report", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ditambah 4, diubah 0, tetap 0, ditolak 0" in done.stdout
    assert "TERSIMPAN" in done.stdout
    got = households(engine, [r["no_kk"] for r in rows])
    assert [got[r["no_kk"]]["location_status"] for r in rows] == ["cocok", "tanpa_titik", "beda_desa", "cocok"]
    assert got[rows[2]["no_kk"]]["located"] == places["timur2"]["code"]
    assert (got[rows[0]["no_kk"]]["rt"], got[rows[0]["no_kk"]]["rw"]) == ("001", "002")
    assert (got[rows[3]["no_kk"]]["rt"], got[rows[3]["no_kk"]]["rw"]) == ("007", "012")
    assert got[rows[0]["no_kk"]]["lat"] == pytest.approx(places["timur"]["lat"], abs=1e-6)
    assert got[rows[0]["no_kk"]]["source"] == "BDT"
    after = state(engine)
    assert int(after["audit"]) == int(before["audit"]) + 5  # a create per household, then the summary
    assert after["trigger"] == "O"  # the trigger is back on
    with engine.connect() as conn:
        audit = conn.execute(text("SELECT action, entity, entity_id, note FROM audit_log "
                                  "ORDER BY id DESC LIMIT 5")).all()
    assert audit[0].action == "import" and audit[0].entity == "household" and "ditambah 4" in audit[0].note
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM household WHERE no_kk = ANY(:k) ORDER BY id DESC"),
                           {"k": [r["no_kk"] for r in rows]}).scalars().all()
    assert [(a.action, a.entity, a.entity_id, a.note) for a in audit[1:]] == \
        [("create", "household", i, "impor bersih.csv") for i in ids]

    # The trigger computes the same located village and status (one rule).
    with engine.begin() as conn:
        conn.execute(text("UPDATE household SET location = location WHERE no_kk = ANY(:k)"),
                     {"k": [r["no_kk"] for r in rows]})
    assert households(engine, [r["no_kk"] for r in rows]) == got

    before = state(engine)
    again = flask_cli("households", "import", str(path), "--report", str(tmp_path))
    assert "ditambah 0, diubah 0, tetap 4, ditolak 0" in again.stdout, again.stdout + again.stderr
    assert int(state(engine)["audit"]) == int(before["audit"]) + 1  # nothing changed: the summary only
    assert state(engine)["household"] == after["household"]

    rows[1]["desil"] = "3"
    changed = flask_cli("households", "import", str(write_csv(tmp_path / "ubah.csv", rows)), "--report", str(tmp_path))
    assert "ditambah 0, diubah 1, tetap 3, ditolak 0" in changed.stdout, changed.stdout + changed.stderr
    assert households(engine, [rows[1]["no_kk"]])[rows[1]["no_kk"]]["desil"] == 3
    with engine.connect() as conn:
        audit = conn.execute(text("SELECT action, before, after, username FROM audit_log "
                                  "ORDER BY id DESC LIMIT 2")).all()
    assert [tuple(a) for a in audit] == [("import", None, audit[0].after, "sistem"),
                                         ("update", {"desil": 1}, {"desil": 3}, "sistem")]


# --- every malformed case: the right row and column, nothing written -----------------------------

def _cases(p):
    timur = p["timur"]
    return [
        ("No KK 15 digit", {"no_kk": "180701011200123"}, "no_kk", "harus 16 digit"),
        ("No KK dari Excel", {"no_kk": "1.80701E+15"}, "no_kk", "diubah menjadi angka oleh Excel"),
        ("No KK dari Excel Indonesia", {"no_kk": "1,80701E+15"}, "no_kk", "diubah menjadi angka oleh Excel"),
        ("No KK bulan 13", {"no_kk": "1807010113009999"}, "no_kk", "tanggal dalam No KK mustahil"),
        ("No KK kosong", {"no_kk": ""}, "no_kk", "wajib diisi"),
        ("NIK berhuruf", {"nik_kepala": "18070105018O0001"}, "nik_kepala", "harus 16 digit"),
        ("NIK 32 Januari", {"nik_kepala": "1807013201800001"}, "nik_kepala", "tanggal lahir dalam NIK mustahil"),
        ("NIK perempuan 30 Februari", {"nik_kepala": "1807017002800001"}, "nik_kepala",
         "tanggal lahir dalam NIK mustahil"),
        ("nama kosong", {"nama_kepala": " "}, "nama_kepala", "wajib diisi"),
        ("desil 5", {"desil": "5"}, "desil", "1 sampai 4"),
        ("desil huruf", {"desil": "satu"}, "desil", "1 sampai 4"),
        ("anggota 0", {"jumlah_anggota": "0"}, "jumlah_anggota", "bilangan bulat"),
        ("RT huruf", {"rt": "A1"}, "rt", "angka"),
        ("kode desa tak dikenal", {"kode_desa": "18.07.99.9999"}, "kode_desa", "kode desa tidak dikenal"),
        ("kode desa salah format", {"kode_desa": "Sukadana"}, "kode_desa", "format kode desa salah"),
        ("lintang bujur tertukar", {"lintang": f"{timur['lon']:.6f}", "bujur": f"{timur['lat']:.6f}"},
         "lintang/bujur", "tertukar"),
        ("titik di Jakarta", {"lintang": "-6.2000", "bujur": "106.8166"}, "lintang/bujur", "di luar Lampung"),
        ("lintang bukan angka", {"lintang": "5°25' LS"}, "lintang", "bukan angka"),
        ("bujur kosong", {"bujur": ""}, "bujur", "wajib diisi bila lintang diisi"),
    ]


CASE_IDS = [c[0] for c in _cases({"timur": {"lat": 0, "lon": 0}})]


@pytest.mark.parametrize("case", range(len(CASE_IDS)), ids=CASE_IDS)
def test_malformed_row_is_reported_at_its_row_and_column(app, engine, places, tmp_path, case):
    name, change, column, reason = _cases(places)[case]
    rows = [household_row(places["timur"]), household_row(places["timur"], **change), household_row(places["timur"])]
    path = write_csv(tmp_path / "salah.csv", rows)
    before = state(engine)
    result = run(app, path, dry_run=False, report_dir=tmp_path)
    assert not result.committed and result.rejected == 1
    hits = [p for p in result.preview if p["baris"] == 3 and p["kolom"] == column]
    assert hits and reason in hits[0]["alasan"], result.preview
    assert all(p["baris"] == 3 for p in result.preview), result.preview  # the good rows are not blamed
    assert state(engine) == before
    # The downloadable report holds the same line.
    with open(result.report_path, encoding="utf-8-sig", newline="") as f:
        lines = list(csv.reader(f, delimiter=","))
    assert lines[0] == ["baris", "kolom", "nilai", "alasan"]
    assert any(line[0] == "3" and line[1] == column and reason in line[3] for line in lines[1:]), lines


def test_duplicate_no_kk_and_column_count(app, engine, places, tmp_path):
    first = household_row(places["timur"])
    rows = [first, household_row(places["timur"]), household_row(places["timur"], no_kk=first["no_kk"])]
    path = write_csv(tmp_path / "ganda.csv", rows)
    with open(path, "a", newline="") as f:  # row 5: one field too many (an unquoted comma in the address)
        csv.writer(f).writerow([new_kk(), nik(), "Budi", "Jl. Mawar", "No. 3", "1", "2", places["timur"]["code"], "1",
                                "3", "", ""])
    before = state(engine)
    result = run(app, path, dry_run=False, report_dir=tmp_path)
    assert not result.committed and state(engine) == before
    dup = [p for p in result.preview if p["baris"] == 4 and p["kolom"] == "no_kk"]
    assert dup and "ganda" in dup[0]["alasan"] and "baris 2" in dup[0]["alasan"]
    assert (5, "(jumlah kolom)") in problems_of(result)
    assert result.rejected == 2


@pytest.mark.parametrize("header, column, reason, fatal", [
    ([h for h in HEADER if h != "kode_desa"], "kode_desa", "kolom wajib tidak ada", True),
    (HEADER + ["desa"], "desa", "kolom tidak dikenal", False),
    (HEADER + ["desil"], "desil", "kolom ganda", True),
], ids=["missing", "unknown", "twice"])
def test_header_problems_are_reported_on_row_1(app, engine, places, tmp_path, header, column, reason, fatal):
    rows = [[household_row(places["timur"]).get(h, "x") for h in header]]
    path = write_csv(tmp_path / "kepala.csv", rows, header=header)
    before = state(engine)
    result = run(app, path, dry_run=False, report_dir=tmp_path)
    assert not result.committed and result.fatal is fatal
    hits = [p for p in result.preview if p["baris"] == 1 and p["kolom"] == column]
    assert hits and reason in hits[0]["alasan"], result.preview
    assert state(engine) == before


def test_empty_and_broken_files(app, engine, tmp_path):
    before = state(engine)
    empty = tmp_path / "kosong.csv"
    empty.write_bytes(b"")
    result = run(app, empty, dry_run=False, report_dir=tmp_path)
    assert result.fatal and "kosong" in result.preview[0]["alasan"]
    header_only = write_csv(tmp_path / "kepala-saja.csv", [])
    result = run(app, header_only, dry_run=False, report_dir=tmp_path)
    assert result.fatal and "tidak berisi baris data" in result.preview[0]["alasan"]
    xls = tmp_path / "lama.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    result = run(app, xls, dry_run=False, report_dir=tmp_path)
    assert result.fatal and ".xls" in result.preview[0]["alasan"]
    assert state(engine) == before


def test_sql_id_rules_agree_with_the_validation_module(app, engine):
    """The set-based NIK / No KK check says the same as app.services.validation.check_id_number."""
    from app.services.validation import check_id_number

    values = ["1807014501800002", "1807017201800002", "1807013201800002", "1807010002800002", "1807012902000001",
              "1807013002000001", "1807016902000001", "1807017002000001", "1807010113000001", "1807010100000001",
              "180701450180000", "18070145018000021", "1.87101E+15", "1,87101E+15", "18070145O1800002", ""]
    with engine.connect() as conn:
        for is_nik in (True, False):
            sql = hi._id_reason("v", is_nik)
            got = dict(conn.execute(text(f"SELECT v, {sql} FROM unnest(CAST(:v AS text[])) AS t(v)"),
                                    {"v": [v or None for v in values]}).all())
            with app.test_request_context():
                for v in values:
                    expected = check_id_number(v, is_nik=is_nik)
                    assert (got[v or None] is None) == (expected is None), (v, is_nik, got[v or None], expected)


# --- all-or-nothing ---------------------------------------------------------------------------------

@pytest.fixture()
def mixed_file(app, engine, places, tmp_path):
    """40 new households and 10 updates of existing demo households of Lampung Timur (whose latest
    data is BDT 2015: a BDT file does not overwrite what a newer DTSEN quarter says)."""
    with engine.connect() as conn:
        existing = conn.execute(text("""
            SELECT h.no_kk, h.head_nik, v.code FROM household h JOIN village v ON v.id = h.village_id
              JOIN targeting_snapshot t ON t.id = h.snapshot_id
             WHERE v.code LIKE '18.07.%' AND t.source = 'BDT 2015' ORDER BY h.id LIMIT 10""")).all()
    rows = [household_row(places["timur"]) for _ in range(40)]
    rows += [household_row(None, no_kk=kk, nik_kepala=head, kode_desa=code, nama_kepala="Nama Diubah", desil="2")
             for kk, head, code in existing]
    path = write_csv(tmp_path / "campur.csv", rows)
    check = run(app, path, dry_run=True, report_dir=tmp_path)
    assert check.ok and (check.inserted, check.updated) == (40, 10), check.preview
    return path, rows


def test_failure_injected_at_row_n_of_a_commit_leaves_the_database_unchanged(app, engine, mixed_file, tmp_path):
    path, rows = mixed_file
    victim = rows[35]["no_kk"]  # row 37 of the file: the statement has written rows before it
    with engine.begin() as conn:
        conn.execute(text(f"""
            CREATE FUNCTION test_import_boom() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.no_kk = '{victim}' THEN RAISE EXCEPTION 'gagal buatan pada No KK %', NEW.no_kk; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_import_boom BEFORE INSERT OR UPDATE ON household
                FOR EACH ROW EXECUTE FUNCTION test_import_boom();"""))
    try:
        before = state(engine)
        with pytest.raises(ImportFailed, match="tidak ada yang ditulis"):
            run(app, path, dry_run=False, report_dir=tmp_path)
        assert state(engine) == before
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER test_import_boom ON household; DROP FUNCTION test_import_boom()"))


def test_failure_after_the_upsert_leaves_the_database_unchanged(app, engine, mixed_file, tmp_path, monkeypatch):
    path, _ = mixed_file

    def boom(*args, **kwargs):
        raise RuntimeError("audit tidak bisa ditulis")

    monkeypatch.setattr(hi, "_record_audit", boom)
    before = state(engine)
    with pytest.raises(ImportFailed):
        run(app, path, dry_run=False, report_dir=tmp_path)
    assert state(engine) == before


def test_killed_process_leaves_the_database_unchanged(app, engine, mixed_file, tmp_path):
    """SIGKILL after every row is written, just before COMMIT: PostgreSQL drops the transaction."""
    path, _ = mixed_file
    script = tmp_path / "bunuh.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from app import create_app
        from app.extensions import db
        from app.services import household_import as hi

        def die(conn, result, actor):
            conn.exec_driver_sql("SELECT 1")  # the upsert has run in this transaction
            print("menulis selesai, proses dibunuh", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        hi._record_audit = die
        app = create_app()
        with app.app_context():
            hi.run_import(db.engine, {str(path)!r}, dry_run=False, report_dir={str(tmp_path)!r})
    """))
    before = state(engine)
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=dict(os.environ), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -9, proc.stdout + proc.stderr
    assert "menulis selesai" in proc.stdout
    for _ in range(50):  # the server notices the dead client at once; give it a moment anyway
        if state(engine) == before:
            break
        time.sleep(0.1)
    assert state(engine) == before
    # Nothing is left locked: a write to household goes through.
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '5s'"))
        conn.execute(text("UPDATE household SET desil = desil WHERE id = (SELECT min(id) FROM household)"))


# --- Indonesian Excel -----------------------------------------------------------------------------------

def test_semicolon_windows_1252_file_with_decimal_commas(app, engine, places, tmp_path):
    timur = places["timur"]
    rows = [household_row(timur, nama_kepala="José Andrés", alamat="Dusun Suka Maju, Gang Ñ",
                          lintang=f"{timur['lat']:.6f}".replace(".", ","), bujur=f"{timur['lon']:.6f}".replace(".", ",")),
            household_row(timur, nama_kepala="Siti Fatimah", lintang="", bujur="")]
    path = write_csv(tmp_path / "excel-indonesia.csv", rows, sep=";", encoding="cp1252")
    dry = run(app, path, dry_run=True, report_dir=tmp_path)
    assert dry.ok, dry.preview
    assert (dry.separator, dry.encoding) == (";", "Windows-1252")
    assert any("Windows-1252" in note for note in dry.notes)
    with open(dry.report_path, encoding="utf-8-sig") as f:
        report = f.read()
    assert "Windows-1252" in report and report.startswith("baris;kolom;nilai;alasan")

    done = run(app, path, dry_run=False, report_dir=tmp_path)
    assert done.committed and done.inserted == 2
    got = households(engine, [r["no_kk"] for r in rows])
    first = got[rows[0]["no_kk"]]
    assert first["head_name"] == "José Andrés"
    assert first["lat"] == pytest.approx(timur["lat"], abs=1e-6) and first["lon"] == pytest.approx(timur["lon"], abs=1e-6)
    assert first["location_status"] == "cocok"


def test_utf8_bom_file(app, engine, places, tmp_path):
    rows = [household_row(places["timur"], nama_kepala="Ni Luh Putu Ayu")]
    path = write_csv(tmp_path / "bom.csv", rows, encoding="utf-8-sig")
    result = run(app, path, dry_run=True, report_dir=tmp_path)
    assert result.ok and result.encoding == "UTF-8 (BOM)" and result.notes == []


def test_xlsx_with_numbers_mangled_by_excel(app, engine, places, tmp_path):
    import openpyxl

    good, bad = household_row(places["timur"]), household_row(places["timur"])
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append([good[h] for h in HEADER])  # every cell text: fine
    sheet.append([float(bad["no_kk"])] + [bad[h] for h in HEADER[1:7]] + [1, 4, places["timur"]["lat"],
                                                                           places["timur"]["lon"]])
    path = tmp_path / "excel.xlsx"
    book.save(path)
    before = state(engine)
    result = run(app, path, dry_run=False, report_dir=tmp_path)
    assert result.format == "xlsx" and not result.committed
    assert problems_of(result) == {(3, "no_kk")}
    assert "diubah menjadi angka oleh Excel" in result.preview[0]["alasan"]
    assert "E+15" in result.preview[0]["nilai"]
    assert state(engine) == before
    # The XLSX report keeps the numbers as text.
    xlsx = hi.report_xlsx(result.report_path)
    sheet = openpyxl.load_workbook(xlsx, read_only=True).worksheets[0]
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0] == ("baris", "kolom", "nilai", "alasan") and cells[1][:2] == (3, "no_kk")

    book = openpyxl.Workbook()
    book.active.append(HEADER)
    row = household_row(places["timur"])
    book.active.append([row[h] for h in HEADER[:7]] + [2, 3, places["timur"]["lat"], places["timur"]["lon"]])
    book.save(path)
    result = run(app, path, dry_run=False, report_dir=tmp_path)
    assert result.committed and result.inserted == 1, result.preview
    assert households(engine, [row["no_kk"]])[row["no_kk"]]["location_status"] == "cocok"


# --- the importer's regency ------------------------------------------------------------------------

@needs_lampung
def test_operator_import_rejects_rows_of_other_regencies(app, engine, places, tmp_path):
    rows = [household_row(places["timur"]), household_row(places["selatan"], no_kk=new_kk("180104"))]
    path = write_csv(tmp_path / "dua-kabupaten.csv", rows)
    before = state(engine)
    result = flask_cli("households", "import", str(path), "--regency", "18.07", "--report", str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "baris 3, kolom kode_desa: desa di luar wilayah Kabupaten Lampung Timur" in result.stdout
    assert "TIDAK ADA YANG DITULIS" in result.stdout
    assert state(engine) == before


@needs_lampung
def test_operator_cannot_take_over_a_household_of_another_regency(app, engine, places, tmp_path):
    with engine.connect() as conn:
        kk = conn.execute(text("""SELECT h.no_kk FROM household h JOIN village v ON v.id = h.village_id
                                   WHERE v.code LIKE '18.01.%' LIMIT 1""")).scalar()
        timur_id = conn.execute(text("SELECT id FROM regency WHERE code = '18.07'")).scalar()
    path = write_csv(tmp_path / "pindah.csv", [household_row(places["timur"], no_kk=kk)])
    result = run(app, path, dry_run=False, scope=Scope("regency", regency_id=timur_id), report_dir=tmp_path)
    assert not result.committed
    assert result.preview[0]["kolom"] == "no_kk" and "di luar wilayah Kabupaten Lampung Timur" in result.preview[0]["alasan"]


# --- members and enrolments ---------------------------------------------------------------------------

def test_members_import(app, engine, places, tmp_path):
    head = household_row(places["timur"])
    assert run(app, write_csv(tmp_path / "kk.csv", [head]), dry_run=False, report_dir=tmp_path).committed
    header = ["no_kk", "nik", "nama", "jenis_kelamin", "tanggal_lahir", "hubungan"]
    members = [[head["no_kk"], head["nik_kepala"], "Suparman Uji", "L", "05-01-1980", "kepala"],
               [head["no_kk"], nik(woman=True, day=17, month=8, year=85), "Sri Uji", "Perempuan", "1985-08-17", "istri"],
               [head["no_kk"], nik(day=1, month=2, year=10), "Anak Uji", "X", "30/02/2010", "anak angkat"],
               [new_kk(), nik(), "Tanpa KK", "L", "", ""]]
    path = write_csv(tmp_path / "anggota.csv", members, header=header)
    before = state(engine)
    result = run(app, path, kind="members", dry_run=False, report_dir=tmp_path)
    assert not result.committed and state(engine) == before
    assert problems_of(result) == {(4, "jenis_kelamin"), (4, "tanggal_lahir"), (4, "hubungan"), (5, "no_kk")}
    fixed = write_csv(tmp_path / "anggota.csv", members[:2], header=header)
    result = run(app, fixed, kind="members", dry_run=False, report_dir=tmp_path)
    assert result.committed and (result.inserted, result.updated) == (2, 0)
    with engine.connect() as conn:
        got = conn.execute(text("""SELECT m.name, m.sex, m.birth_date::text, m.relationship_to_head FROM household_member m
                                    JOIN household h ON h.id = m.household_id WHERE h.no_kk = :kk"""),
                           {"kk": head["no_kk"]}).all()
    assert {tuple(r) for r in got} == {("Suparman Uji", "L", "1980-01-05", "kepala"),
                                       ("Sri Uji", "P", "1985-08-17", "istri/suami")}
    again = run(app, fixed, kind="members", dry_run=False, report_dir=tmp_path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


def test_enrolments_import_checks_the_program_year(app, engine, places, tmp_path):
    head = household_row(places["timur"])
    assert run(app, write_csv(tmp_path / "kk.csv", [head]), dry_run=False, report_dir=tmp_path).committed
    with engine.connect() as conn:
        code, year = conn.execute(text("SELECT code, fiscal_year FROM program ORDER BY code LIMIT 1")).one()
    header = ["no_kk", "kode_program", "tahun", "status", "nilai"]
    rows = [[head["no_kk"], code, str(year), "ditetapkan", "1.500.000"],
            [head["no_kk"], code, str(year - 1), "", ""],
            [head["no_kk"], "TIDAK-ADA", str(year), "usulan", "-5"]]
    path = write_csv(tmp_path / "peserta.csv", rows, header=header, sep=";")
    before = state(engine)
    result = run(app, path, kind="enrolments", dry_run=False, report_dir=tmp_path)
    assert not result.committed and state(engine) == before
    assert problems_of(result) == {(3, "tahun"), (4, "kode_program"), (4, "nilai")}
    mismatch = [p for p in result.preview if p["kolom"] == "tahun"][0]
    assert f"untuk tahun anggaran {year}, bukan {year - 1}" in mismatch["alasan"]
    result = run(app, write_csv(tmp_path / "peserta.csv", rows[:1], header=header, sep=";"), kind="enrolments",
                 dry_run=False, report_dir=tmp_path)
    assert result.committed and result.inserted == 1
    with engine.connect() as conn:
        value, status = conn.execute(text("""SELECT e.benefit_value, e.status FROM enrolment e JOIN household h
                                              ON h.id = e.household_id WHERE h.no_kk = :kk"""),
                                     {"kk": head["no_kk"]}).one()
    assert (str(value), status) == ("1500000.00", "ditetapkan")


# --- the web screens ---------------------------------------------------------------------------------

def _login(client, username):
    client.get("/logout/")
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD}, follow_redirects=False)
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), f"login {username} failed"


def _wait(client, job_id, timeout=120):
    """The job's status once the queue worker has finished it."""
    def finished():
        status = client.get(f"/imports/job/{job_id}/status").json
        return status if status["finished"] else None

    return wait_until(finished, timeout, f"job {job_id} to finish")


def _upload(client, path, kind="households"):
    with open(path, "rb") as f:
        r = client.post("/imports/upload", data={"kind": kind, "file": (f, path.name)},
                        content_type="multipart/form-data")
    assert r.status_code == 302, r.data[:500]
    return int(r.headers["Location"].rstrip("/").split("/")[-1])


@needs_lampung
def test_web_upload_check_report_and_commit(app, engine, places, jobs_worker, tmp_path):
    client = app.test_client()
    _login(client, "op1807")
    rows = [household_row(places["timur"], nama_kepala="Web Uji Satu"),
            household_row(places["selatan"], no_kk=new_kk("180104"), nama_kepala="Web Uji Dua")]
    path = write_csv(tmp_path / "unggah.csv", rows)
    job_id = _upload(client, path)
    assert _wait(client, job_id)["status"] == "done"
    page = client.get(f"/imports/job/{job_id}").get_data(as_text=True)
    assert "desa di luar wilayah Kabupaten Lampung Timur" in page and "import-problems" in page
    assert "import-commit" not in page  # a file with a rejected row cannot be committed
    assert client.post(f"/imports/job/{job_id}/commit").status_code == 302
    report = client.get(f"/imports/job/{job_id}/report.csv")
    assert report.status_code == 200 and "desa di luar wilayah Kabupaten Lampung Timur" in report.get_data(as_text=True)
    xlsx = client.get(f"/imports/job/{job_id}/report.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"

    # Another regency's operator does not see the job; Bappeda does; Pimpinan has no import screen.
    _login(client, "op1801")
    assert client.get(f"/imports/job/{job_id}").status_code == 404
    assert client.get(f"/imports/job/{job_id}/status").status_code == 404
    assert client.get(f"/imports/job/{job_id}/report.csv").status_code == 404
    assert f"/imports/job/{job_id}\"" not in client.get("/imports/").get_data(as_text=True)
    _login(client, "pimpinan")
    assert client.get("/imports/").status_code == 403
    _login(client, "bappeda")
    assert client.get(f"/imports/job/{job_id}").status_code == 200

    # Fixed file: check, then commit; the households are there.
    _login(client, "op1807")
    fixed = write_csv(tmp_path / "unggah.csv", rows[:1])
    job_id = _upload(client, fixed)
    assert _wait(client, job_id)["status"] == "done"
    page = client.get(f"/imports/job/{job_id}").get_data(as_text=True)
    assert "import-commit" in page
    before = state(engine)
    r = client.post(f"/imports/job/{job_id}/commit")
    commit_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
    assert commit_id != job_id and _wait(client, commit_id)["status"] == "done"
    assert "import-committed" in client.get(f"/imports/job/{commit_id}").get_data(as_text=True)
    assert int(state(engine)["audit"]) == int(before["audit"]) + 2  # the household's create, the summary
    got = households(engine, [rows[0]["no_kk"]])
    assert got[rows[0]["no_kk"]]["head_name"] == "Web Uji Satu"
    with engine.connect() as conn:
        job = conn.execute(text("SELECT username, regency_id, summary FROM import_job WHERE id = :id"),
                           {"id": commit_id}).one()
        audit = conn.execute(text("SELECT username FROM audit_log ORDER BY id DESC LIMIT 2")).scalars().all()
    assert job.username == "op1807" and job.summary["committed"] and audit == ["op1807", "op1807"]
    # A second commit of the same check goes to the first one.
    r = client.post(f"/imports/job/{job_id}/commit")
    assert r.headers["Location"].endswith(f"/imports/job/{commit_id}")


def test_web_upload_over_the_limit_gets_a_clear_message(app, tmp_path):
    client = app.test_client()
    big = tmp_path / "besar.csv"
    big.write_text(",".join(HEADER) + "\n" + ("x" * 100 + "\n") * 200)
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    responses = {}
    try:
        for user in ("op1807", "pimpinan"):
            _login(client, user)
            with open(big, "rb") as f:
                responses[user] = client.post("/imports/upload", data={"kind": "households", "file": (f, big.name)},
                                              content_type="multipart/form-data")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    r = responses["op1807"]
    assert r.status_code == 413
    body = r.get_data(as_text=True)
    assert "Berkas terlalu besar" in body and "import-form" in body
    # A user without the import screen never gets it through the error page.
    assert responses["pimpinan"].status_code in (403, 413)
    assert "import-form" not in responses["pimpinan"].get_data(as_text=True)


def test_web_refuses_other_file_types(app, tmp_path):
    client = app.test_client()
    _login(client, "op1807")
    pdf = tmp_path / "surat.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with open(pdf, "rb") as f:
        r = client.post("/imports/upload", data={"kind": "households", "file": (f, pdf.name)},
                        content_type="multipart/form-data")
    assert r.status_code == 400 and "bukan CSV atau XLSX" in r.get_data(as_text=True)
