"""App-wide error answers: bad input is a 400, not a 500; a database outage is a 503.

One place decides what every error looks like, whatever view or API raised it:
- browsers get a page in the app's layout (``errors/error.html``), in Indonesian, with a
  way back; ``/api/``, ``/ogc/`` and ``/gis/`` get JSON ``{"message": ...}`` in Indonesian;
- values the database cannot take (a text where a number goes, a number beyond int4 /
  bigint, a NUL byte) are the client's mistake: 400, the session rolled back;
- a NUL byte anywhere in the query string or form is refused before any view runs
  (PostgreSQL cannot store it, and a CSV export would stop part-way through);
- FAB's list parameters (``page_<view>``, ``psize_<view>``, ``_oc_<view>``, ``_od_<view>``)
  are checked before FAB's ``int()`` / ``order_by`` turn them into 500s;
- while PostgreSQL cannot be reached every request gets a 503 page that needs no database
  (FAB's layout loads the user and the menu's permissions from it), and the log holds ONE
  line when the outage starts and one when it ends, not a traceback per request.
  Recovery needs no restart: the next request tries the database again (pool_pre_ping).

FAB's ``@safe`` turns every exception inside an API method into a bare 500; ``install``
makes its ``response_500`` hand the exception back to Flask so the handlers here answer.
"""
from __future__ import annotations

import logging
import re
import sys
import threading

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, InternalServerError, NotFound

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/ogc/", "/gis/")

TITLES = {
    400: "Permintaan tidak valid",
    401: "Perlu masuk (login)",
    403: "Akses ditolak",
    404: "Halaman atau data tidak ditemukan",
    405: "Metode tidak diizinkan",
    413: "Data yang dikirim terlalu besar",
    422: "Data tidak valid",
    429: "Terlalu banyak permintaan",
    500: "Terjadi kesalahan pada server",
    503: "Basis data sedang tidak dapat dihubungi",
}
MESSAGES = {
    400: "Permintaan tidak valid: periksa kembali isian atau parameter alamat (URL).",
    401: "Anda perlu masuk (login) terlebih dahulu, atau token akses tidak valid.",
    403: "Anda tidak memiliki hak akses untuk halaman atau data ini.",
    404: "Halaman atau data yang dicari tidak ditemukan, atau berada di luar wilayah/instansi Anda.",
    405: "Metode permintaan ini tidak diizinkan untuk alamat tersebut.",
    413: "Data atau berkas yang dikirim terlalu besar.",
    422: "Data yang dikirim tidak valid.",
    429: "Terlalu banyak permintaan dari alamat Anda dalam waktu singkat. Silakan coba lagi beberapa saat lagi.",
    500: "Terjadi kesalahan pada server. Kesalahan ini telah dicatat; silakan coba lagi nanti.",
    503: "Basis data sedang tidak dapat dihubungi. Silakan coba lagi beberapa saat lagi.",
}
# A query cancelled by the statement timeout (503, app/query_guard.py): not an outage.
TIMEOUT_TITLE = "Permintaan terlalu lama"
TIMEOUT_MESSAGE = ("Permintaan ini dihentikan karena melebihi batas waktu {seconds} detik. Persempit pilihan "
                   "(misalnya satu kabupaten/kota atau satu tahun) lalu coba lagi.")
# FAB's own English messages on API errors, said in Indonesian (the original stays in "detail").
FAB_DEFAULTS = {
    "Not found": MESSAGES[404],
    "Arguments are not correct": MESSAGES[400],
    "Not a valid rison argument": "Parameter q bukan rison yang valid.",
    "Not a valid rison schema": "Parameter q tidak sesuai skema rison.",
    "Forbidden": MESSAGES[403],
    "Not authorized": MESSAGES[401],
    "Request is not JSON": "Permintaan harus berformat JSON.",
    "Fatal error": MESSAGES[500],
    "Internal error": MESSAGES[500],
}

# FAB's messages that name a column, said in Indonesian with the same column.
FAB_PATTERNS = [
    (re.compile(r"Filter column: (\S+) not allowed to filter"), "Kolom '{}' tidak dapat dipakai untuk filter."),
    (re.compile(r"Invalid order by column: (\S+)"), "Kolom '{}' tidak dapat dipakai untuk pengurutan."),
    (re.compile(r"Cannot use both select and sel columns"), "Parameter columns dan select_columns tidak boleh dipakai bersama."),
]


def _say_fab_message(original: str) -> str | None:
    if original in FAB_DEFAULTS:
        return FAB_DEFAULTS[original]
    for pattern, template in FAB_PATTERNS:
        match = pattern.fullmatch(original)
        if match:
            return f"{TITLES[400]}: " + template.format(*(escape(g) for g in match.groups()))
    return None


_outage = threading.Event()  # set while the database is unreachable (one per process)

# The same patterns FAB's urltools use to find list parameters (re.findall on every arg name).
_PAGE_ARG = re.compile("(?:page|psize)_(.*)")
_ORDER_ARG = re.compile("_oc_(.*)")
_MAX_PAGE_NUMBER = 10_000_000


class BadInput(BadRequest):
    """A 400 whose description (Indonesian, safe to show) names what was wrong."""


class Refused(Forbidden):
    """A 403 whose description (Indonesian, safe to show) says why: e.g. the row is readable
    but lies outside the user's write scope (app/views/base.py)."""


_OGC_CODES = {400: "InvalidParameterValue", 401: "NotAuthorized", 403: "Forbidden", 404: "NotFound",
              405: "MethodNotAllowed", 429: "TooManyRequests", 503: "ServiceUnavailable"}


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) or (
        request.accept_mimetypes.best == "application/json")


# --- the answers ------------------------------------------------------------------------------
def error_response(code: int, detail: str | None = None, title: str | None = None):
    """The error answer; with ``title`` (instead of the code's standard one) the message is
    ``detail`` alone."""
    message = MESSAGES.get(code, MESSAGES[500])
    if detail:
        message = detail if title else f"{message} {detail}"
    if wants_json():
        body = {"message": message}
        if request.path.startswith("/ogc/"):
            # OGC API clients (GDAL) read the exception's "code" and "description".
            body.update(code=_OGC_CODES.get(code, "ServerError"), description=message)
        response = jsonify(body)
        response.status_code = code
        return response
    return _html(code, message, title), code


def _html(code: int, message: str, title: str | None = None) -> str:
    """The page in the app's layout; the bare page when the layout cannot be drawn (it reads
    the user and the menu's permissions from the database) or the database is down."""
    if (code != 503 or title) and not _outage.is_set():
        try:
            from flask import g
            from flask_login import current_user

            from app.extensions import appbuilder

            if not hasattr(g, "user"):  # our checks run before FAB's hook that sets it
                g.user = current_user
            return render_template("errors/error.html", code=code, title=title or TITLES.get(code, TITLES[500]),
                                   message=message, base_template=appbuilder.base_template,
                                   appbuilder=appbuilder)
        except Exception:  # noqa: BLE001 — the error page must not fail; the bare one needs nothing
            _rollback()
            log.warning("error page %s drawn without the layout", code, exc_info=True)
    # Straight from the Jinja environment: render_template runs the context processors, and
    # those (current_user, the locale) would read the database.
    return current_app.jinja_env.get_template("errors/standalone.html").render(
        code=code, title=title or TITLES.get(code, TITLES[500]), message=message)


def _rollback() -> None:
    try:
        from app.extensions import db

        db.session.rollback()
    except Exception:  # noqa: BLE001 — during an outage the rollback itself may fail
        pass


def _is_connection_failure(exc: BaseException) -> bool:
    """A lost or refused connection (SQLSTATE class 08, 57P0x shutdowns, or none at all at
    connect time), as opposed to e.g. a statement timeout, which is also an OperationalError."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None)
    return state is None or state.startswith("08") or state.startswith("57P")


def handle_http(exc: HTTPException):
    code = exc.code or 500
    if code == 500:
        return handle_500(exc)
    detail = exc.description if isinstance(exc, (BadInput, Refused)) else None
    if isinstance(exc, CSRFError):
        detail = ("Token keamanan formulir (CSRF) tidak ada atau sudah kedaluwarsa: muat ulang halaman, "
                  "lalu kirim formulir sekali lagi.")
    response = current_app.make_response(error_response(code, detail))
    valid_methods = getattr(exc, "valid_methods", None)
    if code == 405 and valid_methods:  # keep the Allow header werkzeug's own answer carries
        response.headers["Allow"] = ", ".join(valid_methods)
    return response


def handle_500(exc: InternalServerError):
    # Flask has already logged the traceback of the original exception (log_exception).
    _rollback()
    return error_response(500)


def handle_data_error(exc: sa_exc.DataError):
    """A value the database refused: text where a number goes, a number out of range,
    a NUL byte, an invalid date. The client's input, not the server's fault."""
    _rollback()
    log.info("400 on %s %s: %s", request.method, request.path, type(getattr(exc, "orig", exc)).__name__)
    return error_response(400, "Nilai yang dikirim tidak dapat diterima (jenis atau rentang nilai tidak sesuai).")


def _is_statement_timeout(exc: BaseException) -> bool:
    """PostgreSQL cancelled the statement (SQLSTATE 57014: statement_timeout, app/query_guard.py)."""
    return getattr(getattr(exc, "orig", None) or exc, "sqlstate", None) == "57014"


def handle_operational_error(exc: Exception):
    _rollback()
    if _is_statement_timeout(exc):
        log.warning("statement timeout on %s %s", request.method, request.path)
        from app.query_guard import timeout_seconds

        return error_response(503, TIMEOUT_MESSAGE.format(seconds=f"{timeout_seconds():g}".replace(".", ",")), title=TIMEOUT_TITLE)
    if _is_connection_failure(exc):
        _start_outage(exc)
    else:  # another database refusal: no outage, but still no traceback page
        log.warning("database error on %s %s: %s", request.method, request.path,
                    type(getattr(exc, "orig", exc)).__name__)
    return error_response(503)


def _start_outage(exc: Exception) -> None:
    if not _outage.is_set():
        _outage.set()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200] if str(exc) else type(exc).__name__
        log.error("database unreachable: answering 503 until it is back (%s)", reason)


def _database_answers() -> bool:
    from sqlalchemy import text

    from app.extensions import db

    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 — any failure means: still down
        return False


# --- checks before any view runs -----------------------------------------------------------------
def _check_outage():
    """While an outage lasts, try the database once per request: back -> log it and go on;
    still down -> the 503 page straight away, without the view's own traceback."""
    if not _outage.is_set() or request.endpoint in ("static", "appbuilder.static", "health.health"):
        return None
    if _database_answers():
        _outage.clear()
        log.warning("database reachable again: outage over")
        return None
    return error_response(503)


def _check_input():
    """NUL bytes and FAB's list parameters, before any view parses them."""
    if _is_fab_file_download():
        raise NotFound()
    if "\x00" in request.path:
        raise BadInput("Alamat (URL) tidak boleh berisi karakter NUL.")
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            raise BadInput("Parameter alamat (URL) tidak boleh berisi karakter NUL.")
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            if "\x00" in key or "\x00" in value:
                raise BadInput("Isian formulir tidak boleh berisi karakter NUL.")
    if request.is_json and request.method in ("POST", "PUT", "PATCH"):
        body = request.get_data(cache=True)
        if b"\\u0000" in body or b"\x00" in body:
            raise BadInput("Data JSON tidak boleh berisi karakter NUL.")
    if request.path.startswith("/api/") and request.args.get("q"):
        _check_rison(request.args["q"])
    for key, value in request.args.items(multi=True):
        if _PAGE_ARG.findall(key):
            if not value.isdigit() or int(value) > _MAX_PAGE_NUMBER:
                raise BadInput(f"Parameter {escape(key)} harus bilangan bulat 0 sampai {_MAX_PAGE_NUMBER}.")
        match = _ORDER_ARG.findall(key)
        if match:
            _check_order(match[0], value)
    return None


def _is_fab_file_download() -> bool:
    """FAB gives every ModelView (users, roles, groups included) a ``download/<filename>``
    route that sends any ``*_sep_*`` file at the top of UPLOAD_FOLDER to whoever holds
    can_download on that view, whatever the row, and a 500 for other names. A view whose rows
    hold files serves them itself, scoped (TkpkDocumentView overrides ``download``); FAB's
    route is refused here, for every view, before it runs."""
    from flask_appbuilder.views import ModelView

    endpoint = request.endpoint or ""
    if not endpoint.endswith(".download"):
        return False
    view = _views_by_endpoint().get(endpoint.rsplit(".", 1)[0])
    return isinstance(view, ModelView) and type(view).download is ModelView.download


def _check_rison(value: str) -> None:
    """FAB's APIs read ``q`` as rison; prison's parser recurses without end on unbalanced
    parentheses such as ``((((((`` (a RecursionError, which FAB answered as a 500)."""
    import prison

    try:
        parsed = prison.loads(value)
    except (RecursionError, Exception):  # noqa: BLE001 — any parse failure is the client's
        raise BadInput("Parameter q bukan rison yang valid.") from None
    filters = parsed.get("filters") if isinstance(parsed, dict) else None
    datamodel = getattr(_views_by_endpoint().get((request.endpoint or "").split(".")[0]), "datamodel", None)
    for item in filters if isinstance(filters, list) else ():
        if not isinstance(item, dict):
            continue
        col, value = str(item.get("col")), item.get("value")
        # FAB iterates the value of an in/not_in filter: a single value was a TypeError (500).
        if item.get("opr") in ("in", "not_in") and not isinstance(value, list):
            raise BadInput(f"Filter '{escape(col)}' dengan opr {item['opr']} "
                           "memerlukan daftar nilai, misalnya value:!(1,2).")
        # A rison number on a text column: FAB concatenates it into LIKE (TypeError) or binds it
        # as a number against text (no such operator in PostgreSQL): both were 500s.
        values = value if isinstance(value, list) else [value]
        if datamodel is not None and _is_text_column(datamodel, col) and any(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise BadInput(f"Filter '{escape(col)}' memerlukan nilai teks dalam tanda kutip, "
                           f"misalnya value:'{escape(str(values[0]))}'.")


def _is_text_column(datamodel, col: str) -> bool:
    try:
        return bool(datamodel.is_string(col) or datamodel.is_text(col) or datamodel.is_enum(col))
    except Exception:  # noqa: BLE001 — an unknown column is FAB's to refuse (400)
        return False


def _check_order(view_name: str, column: str) -> None:
    direction = request.args.get("_od_" + view_name)
    if direction is not None and direction not in ("asc", "desc"):
        raise BadInput(f"Parameter _od_{escape(view_name)} harus 'asc' atau 'desc'.")
    view = _views_by_endpoint().get((request.endpoint or "").split(".")[0])
    allowed = getattr(view, "order_columns", None)
    if view is not None and allowed is not None and column not in allowed:
        raise BadInput(f"Kolom urutan '{escape(column)}' tidak dikenal.")


def _views_by_endpoint() -> dict:
    views = current_app.extensions.get("sinergi_views_by_endpoint")
    if views is None:
        views = {view.endpoint: view for view in current_app.appbuilder.baseviews}
        current_app.extensions["sinergi_views_by_endpoint"] = views
    return views


def _translate_api_messages(response):
    """FAB's API answers its own 4xx with English messages; say them in Indonesian. Our own
    messages (already Indonesian, or naming a parameter) are kept, prefixed on /api/."""
    if response.status_code not in (400, 401, 403, 404, 405, 413) or not response.is_json:
        return response
    if not request.path.startswith(JSON_PREFIXES):
        return response
    body = response.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return response
    original = body["message"]
    said = _say_fab_message(original)
    if said:
        body["message"], body["detail"] = said, original
    elif (request.path.startswith("/api/") and response.status_code in (400, 405, 413)
          and not original.startswith(tuple(MESSAGES.values()))):
        # A 400 names what was wrong (often FAB's English); 401/403/404 from our own code are
        # already whole Indonesian sentences (the login guard's, the token checks').
        body["message"], body["detail"] = f"{TITLES[response.status_code]}: {original}", original
    else:
        return response
    response.set_data(current_app.json.dumps(body))
    return response


# --- FAB's @safe ----------------------------------------------------------------------------------
def _response_500_reraises(self, message=None):
    """FAB's ``@safe`` catches everything and answers a bare 500 (after logging a traceback).
    Give the exception back to Flask instead, so a DataError is a 400, an outage a 503, and a
    real bug the same Indonesian 500 as everywhere else."""
    exc = sys.exc_info()[1]
    if exc is not None:
        raise exc
    return self.response(500, message=MESSAGES[500])


def _quiet_safe_logging() -> None:
    """FAB's ``@safe`` logs every exception with its traceback before ``response_500``; the
    handlers here log what deserves it (a real 500 once, an outage once), so drop FAB's for
    client errors and outages."""
    class _Filter(logging.Filter):
        def filter(self, record):
            exc = record.exc_info[1] if record.exc_info else None
            return not isinstance(exc, (sa_exc.DataError, sa_exc.OperationalError, sa_exc.InterfaceError,
                                        HTTPException))

    logging.getLogger("flask_appbuilder.api").addFilter(_Filter())


def install(app: Flask) -> None:
    """Register the checks and handlers on the app (called once by create_app)."""
    from flask_appbuilder.api import BaseApi

    BaseApi.response_500 = _response_500_reraises
    _quiet_safe_logging()
    # First in line: before FAB's own hooks and before the views parse anything.
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.insert(0, _check_input)
    hooks.insert(0, _check_outage)
    app.after_request(_translate_api_messages)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(InternalServerError, handle_500)
    app.register_error_handler(sa_exc.DataError, handle_data_error)
    app.register_error_handler(sa_exc.OperationalError, handle_operational_error)
    app.register_error_handler(sa_exc.InterfaceError, handle_operational_error)
    try:
        import psycopg

        app.register_error_handler(psycopg.DataError, handle_data_error)
        app.register_error_handler(psycopg.OperationalError, handle_operational_error)
    except ImportError:  # pragma: no cover — psycopg 3 is a requirement
        pass
    try:
        from prison.decoder import ParserException

        app.register_error_handler(ParserException, lambda exc: error_response(
            400, "Parameter q bukan rison yang valid."))
    except ImportError:  # pragma: no cover
        pass
    from flask_appbuilder.exceptions import ApplyFilterException

    # FAB wraps a filter value the database refused (e.g. a relation filter that cannot be cast).
    app.register_error_handler(ApplyFilterException, handle_data_error)
    from app.health import blueprint

    app.register_blueprint(blueprint)
