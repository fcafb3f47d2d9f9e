"""Alembic environment: the schema is owned here, compared against FAB's Model.metadata
(where every Sinergi model and FAB's ab_* tables live), with GeoAlchemy2's helpers so
spatial columns and their GiST indexes are rendered once and PostGIS tables ignored."""
import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from flask_appbuilder import Model
from geoalchemy2 import alembic_helpers

config = context.config
fileConfig(config.config_file_name)
logger = logging.getLogger("alembic.env")

engine = current_app.extensions["migrate"].db.engine
config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
target_metadata = Model.metadata


def include_object(obj, name, obj_type, reflected, compare_to):
    # PostGIS' own schemas (tiger, topology) are not ours either.
    if obj_type == "table" and getattr(obj, "schema", None) in ("tiger", "tiger_data", "topology"):
        return False
    return alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to)


def process_revision_directives(context_, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")
        return
    alembic_helpers.writer.process_revision_directives(context_, revision, directives)


def configure_args() -> dict:
    return dict(
        target_metadata=target_metadata,
        include_object=include_object,
        render_item=alembic_helpers.render_item,
        process_revision_directives=process_revision_directives,
        compare_type=True,
    )


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **configure_args())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    with engine.connect() as connection:
        context.configure(connection=connection, **configure_args())
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
