"""The demo's targeting snapshots: the BDT 2015 data the households were seeded from, then two
DTSEN quarters (2025-Q3, 2025-Q4) with the changes a real update cycle brings.

Deterministic: every choice comes from ``hashtext`` of the No KK and a salt, so the same
households give the same snapshots. Idempotent: a snapshot that exists is left as it is.

What changes (share of the households, roughly):
- 2025-Q3 lists 94 % of the BDT households; DTSEN ranks families 1-10, and the BDT poorest
  40 % mostly stay in desil 1-4 (10 % one desil up, 10 % one down).
- 2025-Q4 from 2025-Q3: 3 % left, 3 % entered (BDT households Q3 missed), 8 % one desil up
  or down, 1.5 % three desil up (e.g. a PKH household now desil 5-7), 0.5 % moved to another
  village of their kecamatan (a new point inside it), 1 % with a newborn member.
The household rows then carry their latest snapshot's values (app/models/snapshots.py).
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

Q3, Q4 = ("2025-Q3", "2025-07-01"), ("2025-Q4", "2025-10-01")


def _snapshot(conn: Connection, source: str, period: str, start: str, desil_max: int, note: str) -> tuple[int, bool]:
    row = conn.execute(text("SELECT id FROM targeting_snapshot WHERE source = :s AND period = :p"),
                       {"s": source, "p": period}).first()
    if row:
        return row[0], False
    return conn.execute(text(
        "INSERT INTO targeting_snapshot (source, period, period_start, desil_max, note) "
        "VALUES (:s, :p, CAST(:d AS date), :m, :n) RETURNING id"),
        {"s": source, "p": period, "d": start, "m": desil_max, "n": note}).scalar_one(), True


_MEMBERS = "COALESCE((SELECT array_agg(m.nik ORDER BY m.nik) FROM household_member m WHERE m.household_id = h.id), '{}')"


def seed_snapshots(conn: Connection) -> dict[str, int]:
    """Write the missing demo snapshots; returns the household_snapshot rows written per snapshot."""
    written: dict[str, int] = {}
    bdt, _ = _snapshot(conn, "BDT 2015", "2015", "2015-01-01", 4, "Data Terpadu 2015 (TNP2K), desil 1-4")
    # Households seeded (or imported) without a snapshot are BDT 2015 households.
    written["BDT 2015"] = conn.execute(text(f"""
        WITH ins AS (
            INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id, address, rt, rw,
                                            location, member_count, member_niks)
            SELECT :bdt, h.id, 4, h.desil, h.village_id, h.address, h.rt, h.rw, h.location, h.member_count, {_MEMBERS}
              FROM household h WHERE h.snapshot_id IS NULL AND h.desil <= 4
            ON CONFLICT DO NOTHING RETURNING household_id)
        UPDATE household h SET snapshot_id = :bdt FROM ins WHERE ins.household_id = h.id"""), {"bdt": bdt}).rowcount

    q3, new_q3 = _snapshot(conn, "DTSEN", *Q3, 10, "Contoh DTSEN triwulan III 2025")
    if new_q3:
        written["DTSEN 2025-Q3"] = conn.execute(text("""
            INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id, address, rt, rw,
                                            location, member_count, member_niks)
            SELECT :q3, h.id, 10, LEAST(10, GREATEST(1, s.desil + CASE r % 10 WHEN 0 THEN 1 WHEN 1 THEN -1 ELSE 0 END)),
                   s.village_id, s.address, s.rt, s.rw, s.location, s.member_count, s.member_niks
              FROM household h JOIN household_snapshot s ON s.household_id = h.id AND s.snapshot_id = :bdt,
                   LATERAL (SELECT abs(hashtext(h.no_kk || 'q3')) % 1000 AS r) x
             WHERE r >= 60"""), {"q3": q3, "bdt": bdt}).rowcount

    q4, new_q4 = _snapshot(conn, "DTSEN", *Q4, 10, "Contoh DTSEN triwulan IV 2025")
    if new_q4:
        # A newborn in 1 % of the Q3 households that stay: a real member row, listed by Q4.
        conn.execute(text("""
            INSERT INTO household_member (household_id, nik, name, sex, birth_date, relationship_to_head)
            SELECT h.id, substr(h.no_kk, 1, 6) || '0' || (1 + abs(hashtext(h.no_kk)) % 9)::text || '0825'
                         || lpad((abs(hashtext(h.no_kk || 'nik')) % 10000)::text, 4, '0'),
                   'Bayi ' || split_part(h.head_name, ' ', 1), 'L',
                   DATE '2025-08-01' + (abs(hashtext(h.no_kk)) % 9), 'anak'
              FROM household h JOIN household_snapshot s ON s.household_id = h.id AND s.snapshot_id = :q3,
                   LATERAL (SELECT abs(hashtext(h.no_kk || 'q4')) % 1000 AS r) x
             WHERE r BETWEEN 130 AND 139
            ON CONFLICT DO NOTHING"""), {"q3": q3})
        written["DTSEN 2025-Q4"] = conn.execute(text(f"""
            INSERT INTO household_snapshot (snapshot_id, household_id, desil_max, desil, village_id, address, rt, rw,
                                            location, member_count, member_niks)
            SELECT :q4, h.id, 10,
                   LEAST(10, GREATEST(1, s.desil + CASE WHEN r BETWEEN 30 AND 69 THEN 1
                                                        WHEN r BETWEEN 70 AND 109 THEN -1
                                                        WHEN r BETWEEN 110 AND 124 THEN 3 ELSE 0 END)),
                   COALESCE(mv.village_id, s.village_id), s.address, s.rt, s.rw,
                   CASE WHEN mv.village_id IS NULL THEN s.location ELSE mv.point END,
                   s.member_count + (CASE WHEN r BETWEEN 130 AND 139 THEN 1 ELSE 0 END),
                   CASE WHEN r BETWEEN 130 AND 139 THEN {_MEMBERS} ELSE s.member_niks END
              FROM household h JOIN household_snapshot s ON s.household_id = h.id AND s.snapshot_id = :q3
                   CROSS JOIN LATERAL (SELECT abs(hashtext(h.no_kk || 'q4')) % 1000 AS r) x
                   LEFT JOIN LATERAL (  -- moved: the next village of the same kecamatan, a point inside it
                       SELECT v2.id AS village_id,
                              ST_SetSRID((ST_Dump(ST_GeneratePoints(v2.geom, 1, abs(hashtext(h.no_kk)) % 100000 + 1))).geom,
                                         4326) AS point
                         FROM village v JOIN village v2 ON v2.district_id = v.district_id AND v2.code > v.code
                        WHERE v.id = s.village_id AND r BETWEEN 125 AND 129
                        ORDER BY v2.code LIMIT 1) mv ON true
             WHERE r >= 30
            UNION ALL  -- entered: BDT households Q3 did not list, half of them
            SELECT :q4, h.id, 10, s.desil, s.village_id, s.address, s.rt, s.rw, s.location, s.member_count,
                   s.member_niks
              FROM household h JOIN household_snapshot s ON s.household_id = h.id AND s.snapshot_id = :bdt
             WHERE abs(hashtext(h.no_kk || 'q3')) % 1000 < 60 AND abs(hashtext(h.no_kk || 'q4')) % 2 = 0"""),
            {"q4": q4, "q3": q3, "bdt": bdt}).rowcount
    if new_q3 or new_q4:
        carry_latest(conn)
    return written


def carry_latest(conn: Connection) -> int:
    """Give each household the values of the latest snapshot that lists it; returns the
    households changed."""
    return conn.execute(text("""
        WITH latest AS (
            SELECT DISTINCT ON (s.household_id) s.*, t.source, t.period_start
              FROM household_snapshot s JOIN targeting_snapshot t ON t.id = s.snapshot_id
             ORDER BY s.household_id, t.period_start DESC)
        UPDATE household h
           SET snapshot_id = l.snapshot_id, desil = l.desil, village_id = l.village_id, location = l.location,
               member_count = l.member_count, source = l.source, source_date = l.period_start
          FROM latest l
         WHERE l.household_id = h.id
           AND (h.snapshot_id, h.desil, h.village_id, h.member_count) IS DISTINCT FROM
               (l.snapshot_id, l.desil, l.village_id, l.member_count)""")).rowcount
