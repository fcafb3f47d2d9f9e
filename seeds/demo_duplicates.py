"""The demo's duplicates and double aid, planted so the review queue (app/services/duplicates.py)
has every kind to show: a person listed in two families (same NIK), the same person in another
family of the village under another NIK with a typo in the name, and the rule "two housing
programs (synergy a) in one year" that the demo's A01 / A02 enrolments break.

Deterministic (``hashtext`` of the No KK) and idempotent (the member rows conflict on
(household_id, nik); the rule is written once)."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

# About 1 household in 1,000 gets each kind: ~20 pairs each in the 20,000-household demo.
_PICK = "abs(hashtext(h.no_kk || :salt)) % 1000 = 0"


def seed_duplicates(conn: Connection) -> dict[str, int]:
    """Write the missing planted rows; returns what was written."""
    written = {}
    # The chosen household's first member, listed again in the next household of its village.
    copy = f"""
        WITH chosen AS (
            SELECT h.id, h.village_id, m.nik, m.name, m.sex, m.birth_date
              FROM household h
              JOIN LATERAL (SELECT * FROM household_member m WHERE m.household_id = h.id
                             ORDER BY m.nik LIMIT 1) m ON true
             WHERE {_PICK}
        ), target AS (
            SELECT c.*, (SELECT o.id FROM household o WHERE o.village_id = c.village_id AND o.id > c.id
                          ORDER BY o.id LIMIT 1) AS other
              FROM chosen c)
        INSERT INTO household_member (household_id, nik, name, sex, birth_date, relationship_to_head)
        SELECT other, {{nik}}, {{name}}, sex, birth_date, 'famili lain' FROM target WHERE other IS NOT NULL
        ON CONFLICT DO NOTHING"""
    written["NIK sama di dua keluarga"] = conn.execute(
        text(copy.format(nik="nik", name="name")), {"salt": "nik-twice"}).rowcount
    # Another NIK (its last four digits turned around) and one letter of the name doubled.
    written["orang sama, NIK lain"] = conn.execute(text(copy.format(
        nik="left(nik, 12) || reverse(right(nik, 4)) || ''",
        name="left(name, 3) || substr(name, 3, 1) || substr(name, 4)")), {"salt": "same-person"}).rowcount
    written["aturan bantuan ganda"] = conn.execute(text("""
        INSERT INTO program_exclusion_rule (synergy_type_a, synergy_type_b, note, created_by)
        SELECT 'a', 'a', 'Dua program perumahan (bedah rumah / RTLH) untuk satu rumah tangga dalam satu tahun',
               'demo'
         WHERE NOT EXISTS (SELECT 1 FROM program_exclusion_rule WHERE synergy_type_a = 'a' AND synergy_type_b = 'a')
        """)).rowcount
    return written
