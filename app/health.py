"""``GET /health``: is the process up, does the database answer, is its schema at the
migrations' head? 200 when all is fine, 503 otherwise. No login, nothing sensitive (no
versions, no host names, no error texts): docker-compose's healthcheck and monitors call it."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

blueprint = Blueprint("health", __name__)


def _migration_heads() -> set[str]:
    """The head revision(s) of migrations/, read once per process (the files do not change)."""
    heads = current_app.extensions.get("sinergi_migration_heads")
    if heads is None:
        from alembic.script import ScriptDirectory

        directory = current_app.extensions["migrate"].directory
        heads = set(ScriptDirectory(directory).get_heads())
        current_app.extensions["sinergi_migration_heads"] = heads
    return heads


@blueprint.route("/health")
def health():
    from app.extensions import db

    database, migrations = False, False
    try:
        with db.engine.connect() as conn:
            current = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
        database = True
        migrations = current == _migration_heads()
    except Exception:  # noqa: BLE001 — down, or no alembic_version yet: both simply "not fine"
        pass
    body = {"process": "up", "database": "reachable" if database else "unreachable",
            "migrations": "head" if migrations else ("behind" if database else "unknown")}
    return jsonify(body), 200 if database and migrations else 503
