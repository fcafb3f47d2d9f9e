"""Alembic owns the schema: the migrated database must equal the models exactly."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model
from geoalchemy2 import alembic_helpers
from sqlalchemy import inspect, text


def test_migrated_schema_equals_models(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "include_object": alembic_helpers.include_object,
            "compare_type": True,
        })
        diff = compare_metadata(ctx, Model.metadata)
    assert diff == [], diff


def test_area_geometries_have_gist_indexes_and_code_checks(engine):
    insp = inspect(engine)
    for table in ("province", "regency", "district", "village"):
        indexes = {ix["name"]: ix for ix in insp.get_indexes(table)}
        assert f"idx_{table}_geom" in indexes
        checks = [c["name"] for c in insp.get_check_constraints(table)]
        assert f"ck_{table}_code_format" in checks
    with engine.connect() as conn:
        method = conn.execute(text(
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'idx_village_geom'"
        )).scalar_one()
    assert method == "gist"


def test_code_format_is_enforced_by_the_database(engine):
    import pytest
    from sqlalchemy.exc import IntegrityError

    with engine.connect() as conn, conn.begin() as trans:
        with pytest.raises(IntegrityError, match="ck_province_code_format"):
            conn.execute(text("INSERT INTO province (code, name) VALUES ('1x', 'Salah')"))
        trans.rollback()


def test_the_apps_connections_run_without_jit(app):
    # config.SQLALCHEMY_ENGINE_OPTIONS: a list page's count at 1 M households was compiled for 0.35 s.
    from app.extensions import db

    with app.app_context():
        assert db.session.execute(text("SHOW jit")).scalar() == "off"
        db.session.rollback()
