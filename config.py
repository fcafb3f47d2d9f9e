"""All settings of Sinergi, read from the environment.

Safe defaults for the demo; ``SINERGI_ENV=production`` refuses the unsafe ones
(a default secret key) and never creates demo users.
"""
import datetime as dt
import json
import os
from pathlib import Path

from flask_appbuilder.security.manager import AUTH_DB

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("SINERGI_INSTANCE_DIR", BASE_DIR / "instance"))

DEFAULT_SECRET_KEY = "sinergi-demo-secret-key-change-me"

SINERGI_ENV = os.environ.get("SINERGI_ENV", "demo")
if SINERGI_ENV not in ("demo", "production"):
    raise RuntimeError(f"SINERGI_ENV must be 'demo' or 'production', not {SINERGI_ENV!r}")

# The secret that signs sessions and JWTs: SECRET_KEY, or else the first line of the file named by
# SINERGI_SECRET_KEY_FILE (the Docker entrypoint writes a random one into its volume on first
# start, mode 600, and reuses it), or else the public demo key, which production refuses.
SINERGI_SECRET_KEY_FILE = os.environ.get("SINERGI_SECRET_KEY_FILE", "")


def _secret_key() -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    if SINERGI_SECRET_KEY_FILE:
        try:
            return Path(SINERGI_SECRET_KEY_FILE).read_text().strip()
        except OSError as exc:
            raise RuntimeError(f"SINERGI_SECRET_KEY_FILE={SINERGI_SECRET_KEY_FILE} cannot be read: {exc}") from exc
    return DEFAULT_SECRET_KEY


SECRET_KEY = _secret_key()
# Demo mode serves the public demo key and demo passwords: gunicorn.conf.py and run.py refuse to
# listen on anything but loopback in demo mode unless this is 1.
SINERGI_ALLOW_PUBLIC_DEMO = os.environ.get("SINERGI_ALLOW_PUBLIC_DEMO", "0") == "1"

# The embedded PostgreSQL cluster (scripts/pgcluster.py) listens here when no
# DATABASE_URL is given. docker-compose.yml sets DATABASE_URL to its own server.
DB_PORT = int(os.environ.get("SINERGI_DB_PORT", "5433"))
DB_NAME = os.environ.get("SINERGI_DB_NAME", "sinergi")
SQLALCHEMY_DATABASE_URI = os.environ.get(
    "DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{DB_PORT}/{DB_NAME}"
)
if SQLALCHEMY_DATABASE_URI.startswith("postgresql://"):
    # psycopg 3 is the only driver installed; accept the common URL spelling.
    SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://" + SQLALCHEMY_DATABASE_URI[len("postgresql://"):]
SQLALCHEMY_TRACK_MODIFICATIONS = False
# JIT off on every connection of the app: its queries are a web request's, and at 1 M households
# PostgreSQL compiled the household list's count and page (cost above jit_above_cost) for
# 0.35 s each, a tenth of the page; the long analysis queries had already turned it off.
SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "connect_args": {"options": "-c jit=off"}}

# Alembic (Flask-Migrate) owns the schema; FAB must not create tables itself.
FAB_CREATE_DB = False

# Where the demo takes its areas from: the real Lampung boundaries when present,
# otherwise a small synthetic geography (seeds/synthetic_areas.py).
# Every analysis, report, map and tile query is cancelled after this many milliseconds
# (app/query_guard.py): the user gets an Indonesian 503 instead of a request that runs for minutes.
STATEMENT_TIMEOUT_MS = int(os.environ.get("SINERGI_STATEMENT_TIMEOUT_MS", "30000"))
# The refresh of the kept per-village measures a reader may have to do first (gis/measures.py)
# runs on its own committed connection with this longer timeout; the import worker, `flask seed
# demo` and `flask gis measures` normally leave nothing for readers to do.
MEASURES_REFRESH_TIMEOUT_MS = int(os.environ.get("SINERGI_MEASURES_REFRESH_TIMEOUT_MS", "300000"))
SINERGI_AREAS_DIR = os.environ.get("SINERGI_AREAS_DIR", str(BASE_DIR.parent / "shared" / "data" / "lampung"))
SINERGI_PORT = int(os.environ.get("SINERGI_PORT", "8080"))  # HTTP port of `make run` / run.py
SINERGI_DEMO_PASSWORD = os.environ.get("SINERGI_DEMO_PASSWORD", "sinergi-demo")

# No base layer by default: the app must work without internet (offices are often offline,
# and a browser fetching tiles from outside also tells that server what the user looks at).
# The maps stay useful because boundaries come from our own data. Set a tile URL template,
# e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png or an office tile server, to add one.
SINERGI_BASEMAP_URL = os.environ.get("SINERGI_BASEMAP_URL", "")

APP_NAME = "Sinergi"
APP_THEME = ""
AUTH_TYPE = AUTH_DB
AUTH_ROLE_ADMIN = "Admin"
AUTH_ROLE_PUBLIC = "Public"
FAB_ADD_SECURITY_API = True
FAB_API_SWAGGER_UI = True
FAB_SECURITY_MANAGER_CLASS = "app.security.manager.SinergiSecurityManager"
FAB_ROLES = {}  # filled by app.security.roles at start-up
FAB_UPDATE_PERMS = True

# Login brute-force protection.
RATELIMIT_ENABLED = os.environ.get("RATELIMIT_ENABLED", "1") == "1"
AUTH_RATE_LIMITED = RATELIMIT_ENABLED
AUTH_RATE_LIMIT = "10 per 20 second"
# Where Flask-Limiter counts requests (login, public complaints). memory:// counts inside ONE
# process: each gunicorn worker would keep its own counter and multiply every limit by the
# number of workers. So gunicorn.conf.py runs a single process (with threads) while this is
# memory://, and warns when told otherwise. To run several workers or hosts, point this at a
# store they share, e.g. redis://host:6379 (pip install redis) or memcached://host:11211
# (pip install pymemcache). PostgreSQL is not a storage Flask-Limiter supports.
RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
# Lockout (app/security/login_guard.py), on every way to log in (the /login/ form, the API's
# /api/v1/security/login and /refresh), counted in PostgreSQL so every worker and host shares
# the counters, independent of RATELIMIT_ENABLED. An account name (existing or not: no
# enumeration) gets locked for SINERGI_LOGIN_LOCK_MINUTES after SINERGI_LOGIN_MAX_FAILURES
# failures within SINERGI_LOGIN_WINDOW_MINUTES; an IP address after SINERGI_LOGIN_IP_MAX_FAILURES
# failures (any names) within the window, until its oldest counted failure leaves the window.
LOGIN_GUARD_ENABLED = os.environ.get("SINERGI_LOGIN_GUARD", "1") == "1"
LOGIN_MAX_FAILURES = int(os.environ.get("SINERGI_LOGIN_MAX_FAILURES", "5"))
LOGIN_IP_MAX_FAILURES = int(os.environ.get("SINERGI_LOGIN_IP_MAX_FAILURES", "50"))
LOGIN_WINDOW_SECONDS = int(float(os.environ.get("SINERGI_LOGIN_WINDOW_MINUTES", "15")) * 60)
LOGIN_LOCK_SECONDS = int(float(os.environ.get("SINERGI_LOGIN_LOCK_MINUTES", "15")) * 60)
# API tokens (flask-jwt-extended): short access tokens, refresh tokens for a working day, both
# revocable (POST /api/v1/security/logout puts them on the jwt_revoked denylist).
JWT_ACCESS_TOKEN_EXPIRES = dt.timedelta(minutes=float(os.environ.get("SINERGI_JWT_ACCESS_MINUTES", "15")))
JWT_REFRESH_TOKEN_EXPIRES = dt.timedelta(hours=float(os.environ.get("SINERGI_JWT_REFRESH_HOURS", "24")))
# gunicorn (gunicorn.conf.py): processes and threads per process. Default: 1 process while
# the limiter storage is memory://, 2 with a shared storage.
SINERGI_WORKERS = int(os.environ.get("SINERGI_WORKERS", "0")) or (1 if RATELIMIT_STORAGE_URI.startswith("memory:")
                                                                    else 2)
SINERGI_THREADS = int(os.environ.get("SINERGI_THREADS", "8"))
# Reverse proxies in front of the app that append to X-Forwarded-For (and set -Proto/-Host).
# 0: the client's address is the TCP peer and forwarding headers are ignored — anyone could
# forge them to dodge the per-IP limits. Set it to the exact number of proxies you run
# (1 for one nginx): the app then trusts that many hops and no more (werkzeug ProxyFix).
SINERGI_PROXY_HOPS = int(os.environ.get("SINERGI_PROXY_HOPS", "0"))

# Public complaints (pengaduan masyarakat): days to handle a complaint, by category;
# a category missing here gets COMPLAINT_DEADLINE_DEFAULT_DAYS. Override as JSON, e.g.
# SINERGI_COMPLAINT_DEADLINE_DAYS='{"bantuan_tidak_diterima": 7}'. Calendar days (WIB).
COMPLAINT_DEADLINE_DEFAULT_DAYS = int(os.environ.get("SINERGI_COMPLAINT_DEADLINE_DEFAULT_DAYS", "14"))
COMPLAINT_DEADLINE_DAYS = {
    "tidak_terdata": COMPLAINT_DEADLINE_DEFAULT_DAYS,
    "terdata_tidak_miskin": COMPLAINT_DEADLINE_DEFAULT_DAYS,
    "bantuan_tidak_diterima": COMPLAINT_DEADLINE_DEFAULT_DAYS,
    "lainnya": COMPLAINT_DEADLINE_DEFAULT_DAYS,
    **json.loads(os.environ.get("SINERGI_COMPLAINT_DEADLINE_DAYS", "{}")),
}
# The "Menunggu saya" badge in the top bar (app/views/inbox.py): its counts are kept per user
# for this many seconds in each worker process (0 = counted on every page).
INBOX_BADGE_SECONDS = float(os.environ.get("SINERGI_INBOX_BADGE_SECONDS", "10"))
# Per-IP limits of the public complaint pages (Flask-Limiter syntax; FAB's limiter, on when
# RATELIMIT_ENABLED). Behind a reverse proxy set SINERGI_PROXY_HOPS, and see
# RATELIMIT_STORAGE_URI above for several workers.
COMPLAINT_RATE_LIMIT = os.environ.get("SINERGI_COMPLAINT_RATE_LIMIT", "5 per 10 minutes; 20 per day")
COMPLAINT_LOOKUP_RATE_LIMIT = os.environ.get("SINERGI_COMPLAINT_LOOKUP_RATE_LIMIT", "60 per minute")
COMPLAINT_PHOTO_MAX_BYTES = int(os.environ.get("SINERGI_COMPLAINT_PHOTO_MAX_MB", "5")) * 1024 * 1024
# Decoded size limit of a photo (decompression bombs): 40 megapixels is well above what phones
# save by default (12-16 MP; their 50 MP+ JPEGs exceed the 5 MB anyway) and about 120 MB of
# memory while it is re-encoded.
COMPLAINT_PHOTO_MAX_PIXELS = int(float(os.environ.get("SINERGI_COMPLAINT_PHOTO_MAX_MPX", "40")) * 1_000_000)

WTF_CSRF_ENABLED = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# In production the site is served over HTTPS: cookies never travel over plain HTTP.
SESSION_COOKIE_SECURE = REMEMBER_COOKIE_SECURE = SINERGI_ENV == "production"

BABEL_DEFAULT_LOCALE = "id"
BABEL_DEFAULT_FOLDER = "translations"
LANGUAGES = {
    "id": {"flag": "id", "name": "Bahasa Indonesia"},
    "en": {"flag": "gb", "name": "English"},
}

UPLOAD_FOLDER = str(INSTANCE_DIR / "uploads")
FILE_ALLOWED_EXTENSIONS = ("pdf", "doc", "docx", "odt")
# Largest request body (uploads); bigger requests get 413 with a clear message.
MAX_CONTENT_LENGTH = int(os.environ.get("SINERGI_MAX_UPLOAD_MB", "20")) * 1024 * 1024
