"""Step 3, write (a commit without a rejected row): one upsert of ``import_row`` into the
kind's table and the audit rows of what it changed (app/services/audit.py), in the
transaction of the checks."""
from __future__ import annotations

from sqlalchemy.engine import Connection

from app.models.households import Household
from app.services.household_import.base import KINDS, ImportResult, Run

HOUSEHOLD_COLUMNS = (  # (household column, import_row expression)
    ("head_nik", "nik_kepala"), ("head_name", "nama_kepala"), ("address", "alamat"), ("rt", "rt3"),
    ("rw", "rw3"), ("village_id", "village_id"), ("desil", "desil_n::int"), ("member_count", "anggota_n::int"),
    ("location", "pt"), ("source", "source_final"), ("located_village_id", "located_village_id"),
    ("location_status", "location_status"), ("snapshot_id", "target_snapshot_id"))

# A household listed by a newer snapshot keeps that snapshot's values when an older period is
# loaded (as history, confirmed by the user): only its row in household_snapshot is written.
def not_newer(run: Run) -> str:
    return (f"(t.snapshot_id IS NULL OR (SELECT ts.period_start FROM targeting_snapshot ts WHERE ts.id = t.snapshot_id)"
            f" <= DATE '{run.target.period_start.isoformat()}')")

MEMBER_COLUMNS = (("name", "nama"), ("sex", "sex"), ("birth_date", "birth_date"),
                  ("relationship_to_head", "relationship"))

ENROLMENT_COLUMNS = (("status", "status_final"), ("benefit_value", "value_n"))

COLUMNS = {"households": HOUSEHOLD_COLUMNS, "members": MEMBER_COLUMNS, "enrolments": ENROLMENT_COLUMNS}


def predicted(run: Run, table: str, columns) -> tuple[int, int, int]:
    """(insert, update, unchanged) the upsert would do, from the same column list."""
    target = ", ".join(f"t.{c}" for c, _ in columns)
    source = ", ".join(f"r.{e}" for _, e in columns)
    changes = f"({target}) IS DISTINCT FROM ({source})"
    if table == "household":
        changes += f" AND {not_newer(run)}"
    row = run.sql(f"""
        SELECT count(*) FILTER (WHERE r.existing_id IS NULL),
               count(*) FILTER (WHERE r.existing_id IS NOT NULL AND {changes}),
               count(*) FILTER (WHERE r.existing_id IS NOT NULL AND NOT ({changes}))
          FROM import_row r LEFT JOIN {table} t ON t.id = r.existing_id
         WHERE NOT EXISTS (SELECT 1 FROM import_problem p WHERE p.rn = r.rn)""").one()
    return tuple(int(x) for x in row)


def ensure_snapshot(run: Run, user_id) -> int:
    """The id of the run's snapshot, created when it is new (a dry run rolls it back)."""
    t = run.target
    run.sql("INSERT INTO targeting_snapshot (source, period, period_start, desil_max, loaded_by_id) "
            "VALUES (:s, :p, :d, :m, :u) ON CONFLICT ON CONSTRAINT uq_targeting_snapshot_source_period DO NOTHING",
            {"s": t.source, "p": t.period, "d": t.period_start, "m": t.desil_max, "u": user_id})
    return run.sql("SELECT id FROM targeting_snapshot WHERE source = :s AND period = :p",
                   {"s": t.source, "p": t.period}).scalar_one()


def write_households(run: Run) -> tuple[int, int]:
    run.sql("ALTER TABLE household DISABLE TRIGGER household_locate")
    counts = _upsert(run, "household", "no_kk", "no_kk", HOUSEHOLD_COLUMNS, "ON CONFLICT (no_kk)",
                     guard=not_newer(run))
    run.sql("ALTER TABLE household ENABLE TRIGGER household_locate")
    write_snapshot_rows(run)
    return counts


def write_snapshot_rows(run: Run) -> int:
    """Each row as the snapshot lists it (a re-load of the same period corrects its rows): the
    values read, the members' NIKs as they stand, and the row as the file had it."""
    t = run.target
    # loaded_at: when the snapshot's rows were last written. A re-load changes an existing
    # snapshot's rows, and the village map's cached per-village changes are keyed on it
    # (gis/targeting.py): it must not serve the figures of the rows before.
    run.sql("UPDATE targeting_snapshot SET loaded_at = clock_timestamp() WHERE source = :s AND period = :p",
            {"s": t.source, "p": t.period})
    # The file's row as read: the staging columns by name (to_jsonb(st) - 'rn' - 'n_fields',
    # the same object, builds it three times: 21 us a row against 12). A stored row is the same when it has these keys and
    # no other, each holding the cell's text (source_row is only written here, from text
    # columns): compared key by key, a re-load builds no object for an unchanged row (at
    # 200,000 rows 0.5 s against 3.0 s for building it to compare).
    columns = run.kind.columns
    keys = "ARRAY[" + ", ".join(f"'{c}'" for c in columns) + "]"
    source_row = "jsonb_build_object(" + ", ".join(f"'{c}', st.{c}" for c in columns) + ")"
    same_source = (f"o.source_row ?& {keys} AND o.source_row - {keys} = '{{}}'::jsonb AND ("
                   + ", ".join(f"o.source_row ->> '{c}'" for c in columns) + ") IS NOT DISTINCT FROM ("
                   + ", ".join(f"st.{c}" for c in columns) + ")")
    values = ("r.desil_n::int, r.village_id, r.alamat, r.rt3, r.rw3, r.pt, r.anggota_n::int, "
              "COALESCE(m.niks, '{}')")
    # The members' NIKs by one grouping joined once (instead of a look-up per household), and
    # only the rows new to the snapshot or different from what it holds: a re-load of an
    # unchanged period writes (and locks) no row, and the snapshot holds the same rows after.
    # The snapshot's id as a literal: its rows are read by the primary key's first column
    # (none for a new snapshot), not by scanning every snapshot's rows.
    return run.sql(f"""
        INSERT INTO household_snapshot AS s (snapshot_id, household_id, desil_max, desil, village_id, address, rt,
                                             rw, location, member_count, member_niks, source_row)
        SELECT r.target_snapshot_id, h.id, {t.desil_max}, {values}, {source_row}
          FROM import_row r JOIN household h ON h.no_kk = r.no_kk JOIN import_staging st ON st.rn = r.rn
          LEFT JOIN (SELECT m.household_id, array_agg(m.nik ORDER BY m.nik) AS niks FROM household_member m
                      WHERE m.household_id IN (SELECT existing_id FROM import_row) GROUP BY 1) m
                 ON m.household_id = h.id
          LEFT JOIN household_snapshot o ON o.snapshot_id = {int(run.snapshot_id)} AND o.household_id = h.id
         WHERE o.household_id IS NULL
            OR (o.desil, o.village_id, o.address, o.rt, o.rw, o.location, o.member_count, o.member_niks)
               IS DISTINCT FROM ({values})
            OR NOT COALESCE({same_source}, false)
        ON CONFLICT (snapshot_id, household_id) DO UPDATE
           SET desil = EXCLUDED.desil, village_id = EXCLUDED.village_id, address = EXCLUDED.address,
               rt = EXCLUDED.rt, rw = EXCLUDED.rw, location = EXCLUDED.location,
               member_count = EXCLUDED.member_count, member_niks = EXCLUDED.member_niks,
               source_row = EXCLUDED.source_row""").rowcount


def write_members(run: Run) -> tuple[int, int]:
    return _upsert(run, "household_member", "household_id, nik", "household_id, nik", MEMBER_COLUMNS,
                   "ON CONFLICT ON CONSTRAINT uq_household_member_household_nik")


def write_enrolments(run: Run) -> tuple[int, int]:
    return _upsert(run, "enrolment", "household_id, program_id, year", "household_id, program_id, year_n",
                   ENROLMENT_COLUMNS, "ON CONFLICT ON CONSTRAINT uq_enrolment_household_program_year")


WRITERS = {"households": write_households, "members": write_members, "enrolments": write_enrolments}


def _upsert(run: Run, table: str, key_cols: str, key_exprs: str, columns, conflict: str,
            guard: str = "true") -> tuple[int, int]:
    """One INSERT ... ON CONFLICT DO UPDATE, only where something differs; (inserted, updated).

    It also fills ``import_audit`` with what the audit trail records per changed row, as the
    ORM event would (app/services/audit.py): a create with the whole new row, an update with
    the changed columns before and after. The before-images are copied first (only of the
    rows that will change: the table is locked since the checks, so they cannot go stale);
    the after-images come from RETURNING. ``_record_audit`` chains them into audit_log.
    ``guard``: a further condition on the existing row ``t`` for an update to happen.

    Only the new rows and those in ``import_before`` are offered to the upsert: ON CONFLICT
    DO UPDATE locks the existing row before its WHERE finds it unchanged, so a re-import of
    unchanged rows wrote a lock into every one of them (2.1 s per 200,000)."""
    from app.services import audit

    target = Household.metadata.tables[table]
    names = ", ".join(c for c, _ in columns)
    exprs = ", ".join(e for _, e in columns)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c, _ in columns)
    old = ", ".join(f"t.{c}" for c, _ in columns)
    new = ", ".join(f"EXCLUDED.{c}" for c, _ in columns)
    source = ", ".join(f"r.{e}" for _, e in columns)
    # No update predicted (a first import, a re-import): skip the join over the table.
    changes = "true" if run.result.updated else "false"
    run.sql(f"""
        CREATE TEMP TABLE import_before ON COMMIT DROP AS
        SELECT t.id, {old} FROM import_row r JOIN {table} t ON t.id = r.existing_id
         WHERE {changes} AND ({old}) IS DISTINCT FROM ({source}) AND {guard}""")
    run.sql("ANALYZE import_before")
    run.sql("CREATE TEMP TABLE import_audit (entity_id bigint, action text, before text, after text) "
             "ON COMMIT DROP")
    run.sql(audit.POINT_TEXT_SQL)
    before, after = audit.diff_sql(target, [c for c, _ in columns], "b", "up")
    run.sql(f"""
        WITH up AS (
            INSERT INTO {table} AS t ({key_cols}, {names})
            SELECT {key_exprs}, {exprs} FROM import_row r
             WHERE r.existing_id IS NULL OR r.existing_id IN (SELECT b.id FROM import_before b)
            {conflict} DO UPDATE SET {sets}
             WHERE ({old}) IS DISTINCT FROM ({new}) AND {guard}
            RETURNING t.*, (xmax = 0) AS inserted)
        INSERT INTO import_audit (entity_id, action, before, after)
        SELECT up.id, CASE WHEN up.inserted THEN 'create' ELSE 'update' END,
               CASE WHEN b.id IS NOT NULL THEN {before} END,
               CASE WHEN up.inserted THEN {audit.image_sql(target, 'up')} ELSE {after} END
          FROM up LEFT JOIN import_before b ON b.id = up.id""")
    row = run.sql("SELECT count(*) FILTER (WHERE action = 'create'), count(*) FILTER (WHERE action = 'update'), "
                   "count(*) FILTER (WHERE action = 'update' AND before IS NULL) FROM import_audit").one()
    if row[2]:  # cannot happen under the lock; an update recorded without its before-image must not be
        raise RuntimeError(f"{row[2]} baris diubah tanpa citra sebelumnya untuk jejak audit")
    return int(row[0]), int(row[1])


def _record_audit(conn: Connection, result: ImportResult, actor) -> None:
    """The audit rows of the committed import (bulk SQL bypasses the ORM event): one per
    inserted or updated row (from ``import_audit``, chained in SQL by audit.record_select, in
    the order of the rows' ids), then ONE summary row naming the file and the counts."""
    from app.services import audit

    spec = KINDS[result.kind]
    audit.record_select(conn, "SELECT entity_id AS seq, action, :entity AS entity, entity_id, before, after, "
                              ":note AS note FROM import_audit",
                        {"entity": spec.entity, "note": f"impor {result.filename}"[:500]}, actor=actor)
    note = (f"impor {spec.label} dari {result.filename}: {result.rows} baris; ditambah {result.inserted}, "
            f"diubah {result.updated}, tetap {result.unchanged}, ditolak {result.rejected}")[:500]
    entry = {"action": "import", "entity": spec.entity, "entity_id": None, "note": note,
             "after": {"file": result.filename, "format": result.format, "rows": result.rows,
                       "inserted": result.inserted, "updated": result.updated, "unchanged": result.unchanged,
                       "rejected": result.rejected, "locations": result.locations}}
    user_id, username = actor
    if username:
        entry.update(user_id=user_id, username=username)
    audit.record(conn, [entry])


