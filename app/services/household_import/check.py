"""Step 2, check: set-based SQL over the staging table builds ``import_row`` (the values
parsed, the village, the existing row, the located village for households) and adds a report
row to ``import_problem`` for every value that breaks a rule — row, column, value and the
reason in Indonesian. One ``check_<kind>`` per kind of file (``CHECKS``)."""
from __future__ import annotations

from sqlalchemy import select

from app.models.areas import Regency, Village
from app.models.households import ENROLMENT_STATUSES, RELATIONSHIPS, Household
from app.models.programs import Program
from app.models.snapshots import BDT
from app.security.scope import Scope, choosable_areas, predicate
from app.services.household_import.base import NUMBER, PROVINCE_CODE, Run, _q, _sql

def _in_scope_sql(id_sql: str, model, scope: Scope) -> str:
    """SQL: whether the existing row ``id_sql`` of ``model`` lies in the scope's write area."""
    pred = predicate(model, scope, write=True)
    if pred is None:
        return "true"
    return f"({id_sql} IN ({_sql(select(model.id).where(pred))}))"


def _id_reason(col: str, is_nik: bool) -> str:
    """SQL: why a NIK / No KK is wrong, or NULL — the rules of validation.check_id_number."""
    day = f"substr({col}, 7, 2)::int"
    if is_nik:  # women: day + 40
        day = f"({day} - CASE WHEN {day} > 40 THEN 40 ELSE 0 END)"
    month = f"substr({col}, 9, 2)::int"
    what = "tanggal lahir dalam NIK mustahil" if is_nik else "tanggal dalam No KK mustahil"
    return f"""CASE
        WHEN {col} ~ '^[0-9]{{16}}$' THEN CASE
            WHEN {month} NOT BETWEEN 1 AND 12
              OR {day} NOT BETWEEN 1 AND (ARRAY[31,29,31,30,31,30,31,31,30,31,30,31])[{month}]
            THEN '{what} (' || substr({col}, 7, 2) || '-' || substr({col}, 9, 2) || '-' || substr({col}, 11, 2) || ')'
            END
        WHEN {col} IS NULL THEN 'wajib diisi'
        WHEN {col} ~ '^[0-9.,]+[eE][+-]?[0-9]+$' THEN 'diubah menjadi angka oleh Excel (' || {col}
             || '); format kolom sebagai Teks lalu ketik ulang nomornya'
        ELSE 'harus 16 digit (berisi ' || length({col}) || ' karakter'
             || CASE WHEN {col} ~ '[^0-9]' THEN ', ada yang bukan angka' ELSE '' END || ')'
    END"""


def _clean(col: str) -> str:
    return f"NULLIF(btrim({col}), '')"


def _clean_id(col: str) -> str:
    # Excel's text prefix (') and spaces around are not part of the number.
    return f"NULLIF(btrim(ltrim(btrim({col}), '''')), '')"


WHOLE = r"'^[0-9]{1,9}([.,]0+)?$'"


def _whole(col: str) -> str:
    return f"CASE WHEN {col} ~ {WHOLE} THEN split_part(replace({col}, ',', '.'), '.', 1)::bigint END"


def _too_long(col: str, n: int) -> str:
    return f"CASE WHEN length({col}) > {n} THEN 'terlalu panjang (paling banyak {n} karakter)' END"



# --- the rules, per kind ----------------------------------------------------------------------------

def problems(run: Run, checks: list[tuple[int, str, str, str]]) -> None:
    """Add a report row for every (order, column, value SQL, reason SQL) whose reason is not
    NULL, over import_row ``r``. The reasons are computed once per row (arrays unnested by a
    function scan; a LATERAL VALUES list would rebuild its expressions for every row)."""
    ords = ", ".join(str(o) for o, _, _, _ in checks)
    cols = ", ".join(_q(c) for _, c, _, _ in checks)
    values = ", ".join(f"({v})::text" for _, _, v, _ in checks)
    reasons = ", ".join(f"({r})::text" for _, _, _, r in checks)
    run.sql(f"""
        INSERT INTO import_problem (rn, ord, col, value, reason)
        SELECT x.rn, c.ord, c.col, c.value, c.reason
          FROM (SELECT rn, ARRAY[{values}] AS vals, ARRAY[{reasons}] AS reasons
                  FROM import_row r OFFSET 0) x
         CROSS JOIN LATERAL unnest(ARRAY[{ords}], ARRAY[{cols}]::text[], x.vals, x.reasons)
               AS c(ord, col, value, reason)
         WHERE cardinality(array_remove(x.reasons, NULL)) > 0 AND c.reason IS NOT NULL""")

def areas(run: Run) -> None:
    """import_village: every village with its regency, whether it lies in Lampung, and whether
    the importer may place households there (app.security.scope.choosable_areas)."""
    pred = choosable_areas(Village, run.scope, write=True)
    allowed = "true" if pred is None else f"v.id IN ({_sql(select(Village.id).where(pred))})"
    run.sql(f"""
        CREATE TEMP TABLE import_village ON COMMIT DROP AS
        SELECT v.id, v.code, d.regency_id, r.code AS regency_code, r.name AS regency_name,
               (p.code = {_q(PROVINCE_CODE)}) AS in_province, {allowed} AS allowed
          FROM village v JOIN district d ON d.id = v.district_id JOIN regency r ON r.id = d.regency_id
          JOIN province p ON p.id = r.province_id""")
    run.sql("CREATE UNIQUE INDEX ON import_village (code)")
    run.sql("CREATE UNIQUE INDEX ON import_village (id)")
    run.sql("ANALYZE import_village")

def scope_name(run: Run) -> str:
    if run.scope.kind == "regency":
        name = run.conn.execute(select(Regency.name).where(Regency.id == run.scope.regency_id)).scalar()
        return name or "Anda"
    return "Anda"

def period_problems(run: Run) -> list[tuple]:
    """A period older than the latest of its source, unless the user confirmed it: the file
    is then history, and history is never reordered silently. Fatal (nothing is read)."""
    t = run.target
    latest = run.sql("SELECT max(period_start), (array_agg(period ORDER BY period_start DESC))[1] "
                     "FROM targeting_snapshot WHERE source = :s", {"s": t.source}).one()
    if latest[0] is None or t.period_start >= latest[0] or t.confirm_older:
        return []
    run.result.fatal = True
    return [(0, 0, "(periode)", t.period,
             f"periode {t.period} lebih lama dari periode {t.source} terakhir yang sudah dimuat ({latest[1]}); "
             "centang 'muat sebagai riwayat' bila memang data lama — rumah tangga yang ada di periode lebih baru "
             "tetap memakai data terbaru")]


def _named_source(column: str) -> str:
    """The source a ``sumber`` cell names (BDT 2015 / DTSEN), NULL for any other text."""
    squeezed = f"upper(regexp_replace({column}, '[^A-Za-z0-9]', '', 'g'))"
    return (f"CASE WHEN {squeezed} LIKE 'DTSEN%' THEN 'DTSEN' "
            f"WHEN {squeezed} LIKE 'BDT%' THEN 'BDT 2015' END")


def check_households(run: Run) -> None:
    areas(run)
    region = scope_name(run)
    writable = _in_scope_sql("h.id", Household, run.scope)
    # s: trimmed text; p: parsed, with the declared village, the existing household and the
    # first row of a No KK met twice; q: the point, rows ordered by village; l: the located
    # village — the declared one when it holds the point (that rule wins anyway, and a run of
    # points against one polygon is what PostGIS caches), else the lowest id whose polygon
    # holds it (idx_village_geom). Same rule as the trigger household_locate.
    t = run.target
    # A file without coordinate columns (a DTSEN extract often has none) keeps the points
    # already known; a file with them sets them, an empty cell clearing the point.
    point = ("CASE WHEN p.lat BETWEEN -90 AND 90 AND p.lon BETWEEN -180 AND 180 "
             "THEN ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326) END"
             if {"lintang", "bujur"} & set(run.present) else "p.existing_location")
    source_final = ("COALESCE(s.sumber, h.source, 'BDT')" if t.source == BDT else _q(t.source))
    run.sql(f"""
        CREATE TEMP TABLE import_row ON COMMIT DROP AS
        WITH s AS MATERIALIZED (
            SELECT rn, {_clean_id('no_kk')} AS no_kk, {_clean_id('nik_kepala')} AS nik_kepala,
                   {_clean('nama_kepala')} AS nama_kepala, {_clean('alamat')} AS alamat,
                   NULLIF({_clean('rt')}, '-') AS rt, NULLIF({_clean('rw')}, '-') AS rw,
                   {_clean('kode_desa')} AS kode_desa, {_clean('desil')} AS desil,
                   {_clean('jumlah_anggota')} AS jumlah_anggota, {_clean('lintang')} AS lintang,
                   {_clean('bujur')} AS bujur, {_clean('sumber')} AS sumber, {_clean('periode')} AS periode
              FROM import_staging),
        dup AS MATERIALIZED (
            SELECT no_kk, min(rn) AS first_rn FROM s WHERE no_kk IS NOT NULL GROUP BY no_kk HAVING count(*) > 1),
        p AS MATERIALIZED (
            SELECT s.*,
                   CASE WHEN s.lintang ~ {NUMBER} THEN replace(s.lintang, ',', '.')::float8 END AS lat,
                   CASE WHEN s.bujur ~ {NUMBER} THEN replace(s.bujur, ',', '.')::float8 END AS lon,
                   {_whole('s.desil')} AS desil_n, {_whole('s.jumlah_anggota')} AS anggota_n,
                   CASE WHEN s.rt ~ '^[0-9]{{1,3}}$' THEN lpad(s.rt, 3, '0') ELSE s.rt END AS rt3,
                   CASE WHEN s.rw ~ '^[0-9]{{1,3}}$' THEN lpad(s.rw, 3, '0') ELSE s.rw END AS rw3,
                   v.id AS village_id, v.allowed AS village_allowed,
                   h.id AS existing_id, CASE WHEN h.id IS NOT NULL THEN {writable} END AS existing_writable,
                   {source_final} AS source_final,
                   COALESCE(dup.first_rn, s.rn) AS kk_first, h.location AS existing_location
              FROM s
              LEFT JOIN import_village v
                     ON v.code = regexp_replace(s.kode_desa, '^([0-9]{{2}})([0-9]{{2}})([0-9]{{2}})([0-9]{{4}})$',
                                                '\\1.\\2.\\3.\\4')
              LEFT JOIN household h ON h.no_kk = s.no_kk
              LEFT JOIN dup ON dup.no_kk = s.no_kk),
        q AS MATERIALIZED (
            SELECT p.*, {point} AS pt
              FROM p ORDER BY p.village_id),
        l AS MATERIALIZED (
            SELECT q.*, CASE WHEN q.pt IS NULL THEN NULL
                             WHEN ST_Intersects(dv.geom, q.pt) THEN dv.id
                             ELSE (SELECT v.id FROM village v WHERE ST_Intersects(v.geom, q.pt)
                                    ORDER BY v.id LIMIT 1) END AS located_village_id
              FROM q LEFT JOIN village dv ON dv.id = q.village_id)
        SELECT l.*, COALESCE(iv.in_province, false) AS located_in_province,
               CASE WHEN l.pt IS NULL THEN 'tanpa_titik' WHEN l.located_village_id IS NULL THEN 'di_luar_wilayah'
                    WHEN l.located_village_id = l.village_id THEN 'cocok' ELSE 'beda_desa' END AS location_status,
               {int(run.snapshot_id or 0) or 'NULL::int'} AS target_snapshot_id
          FROM l LEFT JOIN import_village iv ON iv.id = l.located_village_id""")
    province = f"(SELECT geom FROM province WHERE code = {_q(PROVINCE_CODE)})"
    where = "'(lintang ' || lintang || ', bujur ' || bujur || ')'"
    outside = _q(f"desa di luar wilayah {region}")
    problems(run, [
        (1, "no_kk", "r.no_kk", f"""COALESCE({_id_reason('r.no_kk', False)},
            CASE WHEN r.kk_first < r.rn THEN 'No KK ganda di dalam berkas (juga di baris ' || r.kk_first || ')'
                 WHEN NOT r.existing_writable
                 THEN {_q('No KK sudah terdaftar pada rumah tangga di luar wilayah ' + region)} END)"""),
        (2, "nik_kepala", "r.nik_kepala", _id_reason("r.nik_kepala", True)),
        (3, "nama_kepala", "r.nama_kepala", f"""CASE WHEN r.nama_kepala IS NULL THEN 'wajib diisi'
            ELSE {_too_long('r.nama_kepala', 150)} END"""),
        (5, "rt", "r.rt", "CASE WHEN r.rt !~ '^[0-9]{1,3}$' THEN 'harus angka 1 sampai 3 digit' END"),
        (6, "rw", "r.rw", "CASE WHEN r.rw !~ '^[0-9]{1,3}$' THEN 'harus angka 1 sampai 3 digit' END"),
        (7, "kode_desa", "r.kode_desa", f"""CASE
            WHEN r.village_id IS NOT NULL THEN CASE WHEN NOT r.village_allowed THEN {outside} END
            WHEN r.kode_desa IS NULL THEN 'wajib diisi'
            WHEN r.kode_desa !~ '^([0-9]{{2}}\\.[0-9]{{2}}\\.[0-9]{{2}}\\.[0-9]{{4}}|[0-9]{{10}})$'
                 THEN 'format kode desa salah (contoh 18.07.01.2001)'
            ELSE 'kode desa tidak dikenal' END"""),
        (8, "desil", "r.desil", f"""CASE WHEN r.desil IS NULL THEN 'wajib diisi'
            WHEN r.desil_n IS NULL OR r.desil_n NOT BETWEEN 1 AND {t.desil_max}
            THEN {_q(f'harus bilangan bulat 1 sampai {t.desil_max} untuk {t.source} (tertulis ')} || r.desil || ')' END"""),
        (9, "jumlah_anggota", "r.jumlah_anggota", """CASE WHEN r.jumlah_anggota IS NULL THEN 'wajib diisi'
            WHEN r.anggota_n IS NULL OR r.anggota_n NOT BETWEEN 1 AND 99
            THEN 'harus bilangan bulat 1 sampai 99' END"""),
        (10, "lintang", "r.lintang", """CASE WHEN r.lintang IS NULL AND r.bujur IS NOT NULL
            THEN 'wajib diisi bila bujur diisi' WHEN r.lintang IS NOT NULL AND r.lat IS NULL
            THEN 'bukan angka desimal (contoh -5,4291 atau -5.4291)' END"""),
        (11, "bujur", "r.bujur", """CASE WHEN r.bujur IS NULL AND r.lintang IS NOT NULL
            THEN 'wajib diisi bila lintang diisi' WHEN r.bujur IS NOT NULL AND r.lon IS NULL
            THEN 'bukan angka desimal (contoh 105,2618 atau 105.2618)' END"""),
        (12, "lintang/bujur", "r.lintang || ' ; ' || r.bujur", f"""CASE
            WHEN r.lat IS NULL OR r.lon IS NULL OR r.located_in_province THEN NULL
            WHEN r.pt IS NOT NULL AND ST_Covers({province}, r.pt) THEN NULL
            WHEN r.lon BETWEEN -90 AND 90 AND r.lat BETWEEN -180 AND 180
                 AND ST_Covers({province}, ST_SetSRID(ST_MakePoint(r.lat, r.lon), 4326))
                 THEN 'lintang dan bujur tertukar: titik di luar Lampung, di dalam Lampung bila ditukar ' || {where}
            WHEN r.pt IS NULL THEN 'bukan koordinat yang sah ' || {where}
            ELSE 'titik di luar Lampung ' || {where} END"""),
        (13, "sumber", "r.sumber", f"""CASE WHEN {_named_source('r.sumber')} <> {_q(t.source)}
            THEN {_q(f'sumber data lain dari yang dipilih ({t.source}); satu berkas memuat satu sumber dan satu periode')}
            ELSE {_too_long("r.sumber", 50)} END"""),
        (14, "periode", "r.periode", f"""CASE WHEN upper(r.periode) <> {_q(t.period)}
            THEN {_q(f'periode lain dari yang dipilih ({t.period}); satu berkas memuat satu periode')} END"""),
    ])



def check_members(run: Run) -> None:
    from app.models.households import HouseholdMember

    writable = _in_scope_sql("h.id", Household, run.scope)
    member_writable = _in_scope_sql("m.id", HouseholdMember, run.scope)
    aliases = {"l": "L", "lk": "L", "laki-laki": "L", "laki laki": "L", "laki": "L", "pria": "L", "1": "L",
               "p": "P", "pr": "P", "perempuan": "P", "wanita": "P", "2": "P"}
    sex_case = "CASE lower(s.jenis_kelamin) " + " ".join(f"WHEN {_q(k)} THEN {_q(v)}" for k, v in aliases.items()) \
        + " END"
    relation_aliases = {**{r: r for r in RELATIONSHIPS}, "suami": "istri/suami", "istri": "istri/suami",
                        "suami/istri": "istri/suami", "kepala keluarga": "kepala", "kepala rumah tangga": "kepala",
                        "orangtua": "orang tua", "famili": "famili lain", "lain-lain": "lainnya",
                        "lain": "lainnya"}
    rel_case = "CASE lower(s.hubungan) " + " ".join(
        f"WHEN {_q(k)} THEN {_q(v)}" for k, v in relation_aliases.items()) + " END"
    run.sql(f"""
        CREATE TEMP TABLE import_row ON COMMIT DROP AS
        WITH s AS MATERIALIZED (
            SELECT rn, {_clean_id('no_kk')} AS no_kk, {_clean_id('nik')} AS nik, {_clean('nama')} AS nama,
                   {_clean('jenis_kelamin')} AS jenis_kelamin, {_clean('tanggal_lahir')} AS tanggal_lahir,
                   {_clean('hubungan')} AS hubungan
              FROM import_staging),
        d AS MATERIALIZED (
            SELECT s.*, {sex_case} AS sex, COALESCE({rel_case}, CASE WHEN s.hubungan IS NULL THEN 'lainnya' END)
                   AS relationship,
                   CASE WHEN s.tanggal_lahir ~ '^[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}$'
                        THEN regexp_match(s.tanggal_lahir, '^([0-9]{{4}})-([0-9]{{1,2}})-([0-9]{{1,2}})$')
                        WHEN s.tanggal_lahir ~ '^[0-9]{{1,2}}[-/.][0-9]{{1,2}}[-/.][0-9]{{4}}$'
                        THEN (SELECT ARRAY[m[3], m[2], m[1]] FROM regexp_match(s.tanggal_lahir,
                              '^([0-9]{{1,2}})[-/.]([0-9]{{1,2}})[-/.]([0-9]{{4}})$') AS m) END AS ymd,
                   h.id AS household_id, CASE WHEN h.id IS NOT NULL THEN {writable} END AS household_writable,
                   CASE WHEN s.no_kk IS NULL OR s.nik IS NULL THEN s.rn
                        ELSE min(s.rn) OVER (PARTITION BY s.no_kk, s.nik) END AS first_rn
              FROM s LEFT JOIN household h ON h.no_kk = s.no_kk),
        e AS (
            SELECT d.*, d.ymd[1]::int AS y, d.ymd[2]::int AS mo, d.ymd[3]::int AS dd FROM d)
        SELECT e.*, m.id AS existing_id,
               CASE WHEN m.id IS NOT NULL THEN {member_writable} END AS existing_writable,
               CASE WHEN e.y >= 1 AND e.mo BETWEEN 1 AND 12 AND e.dd BETWEEN 1 AND
                         CASE WHEN e.mo = 2 AND (e.y % 4 = 0 AND (e.y % 100 <> 0 OR e.y % 400 = 0)) THEN 29
                              ELSE (ARRAY[31,28,31,30,31,30,31,31,30,31,30,31])[e.mo] END
                    THEN make_date(e.y, e.mo, e.dd) END AS birth_date
          FROM e LEFT JOIN household_member m ON m.household_id = e.household_id AND m.nik = e.nik""")
    problems(run, [
        (1, "no_kk", "r.no_kk", f"""COALESCE({_id_reason('r.no_kk', False)}, CASE
            WHEN r.household_id IS NULL THEN 'No KK tidak terdaftar (impor rumah tangganya dulu)'
            WHEN NOT r.household_writable OR NOT r.existing_writable
                 THEN {_q('rumah tangga di luar wilayah ' + scope_name(run))} END)"""),
        (2, "nik", "r.nik", f"""COALESCE({_id_reason('r.nik', True)}, CASE WHEN r.first_rn < r.rn
            THEN 'NIK ganda untuk No KK yang sama di dalam berkas (juga di baris ' || r.first_rn || ')' END)"""),
        (3, "nama", "r.nama", f"CASE WHEN r.nama IS NULL THEN 'wajib diisi' ELSE {_too_long('r.nama', 150)} END"),
        (4, "jenis_kelamin", "r.jenis_kelamin", """CASE WHEN r.jenis_kelamin IS NULL THEN 'wajib diisi'
            WHEN r.sex IS NULL THEN 'harus L (laki-laki) atau P (perempuan)' END"""),
        (5, "tanggal_lahir", "r.tanggal_lahir", """CASE WHEN r.tanggal_lahir IS NULL THEN NULL
            WHEN r.ymd IS NULL THEN 'bukan tanggal (tulis 2001-08-17 atau 17-08-2001)'
            WHEN r.birth_date IS NULL THEN 'tanggal mustahil'
            WHEN r.birth_date > current_date THEN 'tanggal di masa depan'
            WHEN r.y < 1900 THEN 'tahun sebelum 1900' END"""),
        (6, "hubungan", "r.hubungan", f"""CASE WHEN r.relationship IS NULL
            THEN {_q('hubungan tidak dikenal; pilihan: ' + ', '.join(RELATIONSHIPS))} END"""),
    ])


def check_enrolments(run: Run) -> None:
    from app.models.households import Enrolment

    if run.scope.kind == "agency":  # an agency enrols into its own programs only
        program_ok = _in_scope_sql("pr.id", Program, run.scope)
        household_ok = "true"
    else:
        program_ok = "true"
        household_ok = _in_scope_sql("h.id", Household, run.scope)
    enrolment_writable = _in_scope_sql("en.id", Enrolment, run.scope)
    money = "regexp_replace(s.nilai, '^[Rr][Pp]\\.?\\s*', '')"
    run.sql(f"""
        CREATE TEMP TABLE import_row ON COMMIT DROP AS
        WITH s AS MATERIALIZED (
            SELECT rn, {_clean_id('no_kk')} AS no_kk, upper({_clean('kode_program')}) AS kode_program,
                   {_clean('tahun')} AS tahun, lower({_clean('status')}) AS status, {_clean('nilai')} AS nilai
              FROM import_staging),
        m AS MATERIALIZED (
            SELECT s.*, {money} AS money FROM s),
        d AS MATERIALIZED (
            SELECT m.*, {_whole('m.tahun')} AS year_n,
                   CASE WHEN m.money ~ '^[0-9]+([.,][0-9]{{1,2}})?$' THEN replace(m.money, ',', '.')::numeric
                        WHEN m.money ~ '^[0-9]{{1,3}}(\\.[0-9]{{3}})+(,[0-9]{{1,2}})?$'
                             THEN replace(replace(m.money, '.', ''), ',', '.')::numeric
                        WHEN m.money ~ '^[0-9]{{1,3}}(,[0-9]{{3}})+(\\.[0-9]{{1,2}})?$'
                             THEN replace(m.money, ',', '')::numeric END AS value_n,
                   h.id AS household_id, CASE WHEN h.id IS NOT NULL THEN {household_ok} END AS household_writable,
                   pr.id AS program_id, pr.fiscal_year, CASE WHEN pr.id IS NOT NULL THEN {program_ok} END
                   AS program_writable
              FROM m LEFT JOIN household h ON h.no_kk = m.no_kk
                     LEFT JOIN program pr ON upper(pr.code) = m.kode_program)
        SELECT d.*, COALESCE(d.status, 'usulan') AS status_final, en.id AS existing_id,
               CASE WHEN en.id IS NOT NULL THEN {enrolment_writable} END AS existing_writable,
               CASE WHEN d.no_kk IS NULL OR d.kode_program IS NULL OR d.tahun IS NULL THEN d.rn
                    ELSE min(d.rn) OVER (PARTITION BY d.no_kk, d.kode_program, d.tahun) END AS first_rn
          FROM d LEFT JOIN enrolment en ON en.household_id = d.household_id AND en.program_id = d.program_id
                                       AND en.year = d.year_n""")
    problems(run, [
        (1, "no_kk", "r.no_kk", f"""COALESCE({_id_reason('r.no_kk', False)}, CASE
            WHEN r.household_id IS NULL THEN 'No KK tidak terdaftar (impor rumah tangganya dulu)'
            WHEN NOT r.household_writable OR NOT r.existing_writable
                 THEN {_q('rumah tangga di luar wilayah ' + scope_name(run))}
            WHEN r.first_rn < r.rn THEN 'kepesertaan ganda di dalam berkas (juga di baris ' || r.first_rn || ')'
            END)"""),
        (2, "kode_program", "r.kode_program", """CASE WHEN r.kode_program IS NULL THEN 'wajib diisi'
            WHEN r.program_id IS NULL THEN 'kode program tidak dikenal'
            WHEN NOT r.program_writable THEN 'program bukan milik OPD Anda' END"""),
        (3, "tahun", "r.tahun", """CASE WHEN r.tahun IS NULL THEN 'wajib diisi'
            WHEN r.year_n IS NULL THEN 'harus tahun (4 digit)'
            WHEN r.fiscal_year IS NOT NULL AND r.year_n <> r.fiscal_year
            THEN 'program ' || r.kode_program || ' untuk tahun anggaran ' || r.fiscal_year || ', bukan '
                 || r.year_n END"""),
        (4, "status", "r.status", f"""CASE WHEN r.status IS NOT NULL
            AND r.status NOT IN ({", ".join(_q(s) for s in ENROLMENT_STATUSES)})
            THEN {_q('status tidak dikenal; pilihan: ' + ', '.join(ENROLMENT_STATUSES))} END"""),
        (5, "nilai", "r.nilai", """CASE WHEN r.nilai IS NULL THEN NULL
            WHEN r.money ~ '^-' THEN 'tidak boleh negatif'
            WHEN r.value_n IS NULL THEN 'bukan jumlah rupiah (contoh 1500000 atau 1.500.000,00)'
            WHEN r.value_n >= 1e16 THEN 'terlalu besar' END"""),
    ])


CHECKS = {"households": check_households, "members": check_members, "enrolments": check_enrolments}
