"""create_app(): extensions, security, views, APIs, CLI — nothing else."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from app import compression, security_headers
from app.extensions import appbuilder, csrf, db, migrate

log = logging.getLogger(__name__)
APP_DIR = Path(__file__).resolve().parent


def create_app(config_object: str | object = "config", **overrides) -> Flask:
    app = Flask(__name__, instance_path=str(APP_DIR.parent / "instance"))
    app.config.from_object(config_object)
    app.config.update(overrides)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(APP_DIR / "translations"))
    _refuse_unsafe_production(app)
    _trust_proxies(app)
    compression.install(app)  # brotli/gzip; first, so its hook runs after every other one (app/compression.py)
    security_headers.install(app)  # CSP, frame-ancestors, nosniff, Referrer-Policy, HSTS (production)

    import app.models as _models  # noqa: F401  (registers every model on Model.metadata before Alembic looks)

    db.init_app(app)
    from app.services import audit

    audit.install(db.session)
    csrf.init_app(app)
    migrate.init_app(app, db, directory=str(APP_DIR.parent / "migrations"))
    with app.app_context():
        from app.views.home import SinergiIndexView

        appbuilder.indexview = SinergiIndexView
        appbuilder.init_app(app, db.session)
        from app.views import register_apis, register_views

        register_views(appbuilder)
        register_apis(appbuilder)
        appbuilder.post_init()
    from app.cli import register_cli
    from app.views.cell_format import register_filters

    register_cli(app)
    register_filters(app)
    from app.errors import install as install_error_handling  # 400 on bad input, 503 when the DB is down, /health

    install_error_handling(app)

    from gis import queries

    # A request reads each household's latest targeting data unless it chooses a snapshot
    # (analysis_answers.parse_filters); a thread's next request must not inherit the choice.
    app.before_request(lambda: queries.read_snapshot(None))
    return app


def _refuse_unsafe_production(app: Flask) -> None:
    from config import DEFAULT_SECRET_KEY

    if app.config.get("SINERGI_ENV") == "production":
        _refuse_open_key_file(app.config.get("SINERGI_SECRET_KEY_FILE") or "")
        key = app.config.get("SECRET_KEY") or ""
        if key == DEFAULT_SECRET_KEY or len(key) < 32:
            raise RuntimeError(
                "SINERGI_ENV=production needs SECRET_KEY (or SINERGI_SECRET_KEY_FILE) set to a random value of 32+ characters "
                "(for example: python -c 'import secrets; print(secrets.token_hex(32))')"
            )


def _refuse_open_key_file(path: str) -> None:
    """The key file (SINERGI_SECRET_KEY_FILE) signs every session and token: only its owner may
    read it. Checked when the key comes from the file, i.e. SECRET_KEY is not set."""
    import os
    import stat

    if not path or os.environ.get("SECRET_KEY"):
        return
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise RuntimeError(f"SINERGI_SECRET_KEY_FILE {path} is readable by others (mode {mode:o}): "
                           f"chmod 600 {path}")


def _trust_proxies(app: Flask) -> None:
    """Behind SINERGI_PROXY_HOPS reverse proxies, take the client's address, scheme and host
    from the X-Forwarded-* headers they append — only that many hops, so a client cannot put
    a fake address in front. Without proxies (0) the headers are ignored: the per-IP limits
    must see the TCP peer, not whatever a client writes in a header."""
    hops = int(app.config.get("SINERGI_PROXY_HOPS") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
