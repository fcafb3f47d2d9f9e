"""FAB security manager that knows Sinergi's user model (with its kabupaten/kota), guards
every login against brute force (app/security/login_guard.py), revokes API tokens and reads
the user's permissions once per request."""
import jwt
from flask import flash, g, has_request_context, jsonify, redirect, request
from flask_appbuilder.api import safe
from flask_appbuilder.const import API_SECURITY_ACCESS_TOKEN_KEY
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import assoc_permissionview_role
from flask_appbuilder.security.views import AuthDBView, UserDBModelView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_appbuilder.views import expose
from flask_babel import lazy_gettext as _
from flask_jwt_extended import (create_access_token, decode_token, get_jwt, get_jwt_identity, jwt_required,
                                verify_jwt_in_request)
from flask_jwt_extended.exceptions import JWTExtendedException, RevokedTokenError
from flask_login import login_user
from sqlalchemy import select

from app.models.users import SinergiUser
from app.security import login_guard
from app.security.user_stats import UserStatsView
from app.views.readable_values import ReadableValuesMixin

TOKEN_MISSING = "Butuh token akses: kirim header 'Authorization: Bearer <token>'."
TOKEN_INVALID = "Token tidak sah."
TOKEN_EXPIRED = "Token sudah kedaluwarsa; masuk lagi atau perbarui token."
TOKEN_REVOKED = "Token sudah dicabut (keluar); masuk lagi."
TOKEN_NOT_FRESH = "Tindakan ini butuh token baru dari login, bukan dari pembaruan token."
# Where a request keeps the permissions it has read: {frozenset(role ids): {(permission, view)}}.
# The WSGI environ lives exactly as long as the request (``g`` may outlive it when a test or a
# script pushes an app context around several requests).
PERMISSIONS_KEY = "sinergi.role_permissions"


def _token_401(message: str):
    return jsonify(message=message), 401


def _too_many(wait: int):
    response = jsonify(message=login_guard.wait_message(wait))
    response.status_code = 429
    response.headers["Retry-After"] = str(wait)
    return response


def _with_429(doc: str) -> str:
    """FAB's OpenAPI text of an endpoint, with our 429 answer added."""
    return (doc or "").replace("            500:\n", "            429:\n"
                               "              description: Terlalu banyak percobaan gagal; lihat Retry-After\n"
                               "            500:\n", 1)


class SinergiSecurityApi(SecurityApi):
    """FAB's /api/v1/security: login and refresh behind the login guard (429 + Retry-After when
    refused), and logout, which revokes the tokens."""

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        g.sinergi_login_wait = 0
        response = SecurityApi.login.__wrapped__(self)
        if g.get("sinergi_login_wait"):
            return _too_many(g.sinergi_login_wait)
        if response.status_code == 401:  # the same words for an unknown name and a wrong password
            return self.response(401, message=login_guard.WRONG_LOGIN)
        return response

    login.__doc__ = _with_429(SecurityApi.login.__doc__)

    @expose("/refresh", methods=["POST"])
    def refresh(self):  # no @safe: it would turn the token errors re-raised below into 500
        ip = login_guard.client_ip()
        wait = login_guard.retry_after(None, ip)
        if wait:
            return _too_many(wait)
        try:
            verify_jwt_in_request(refresh=True)
        except (JWTExtendedException, jwt.PyJWTError) as error:
            # Expired or revoked tokens are what honest clients send; anything else (a forged or
            # garbled token, an access token) counts as a failure for the IP.
            if not isinstance(error, (jwt.ExpiredSignatureError, RevokedTokenError)):
                wait = login_guard.record_failure(None, ip)
                if wait:
                    return _too_many(wait)
            raise  # flask-jwt-extended's handlers answer (401, see create_jwt_manager)
        user = g.get("user")  # set by FAB's load_user_jwt: the token's user, active
        wait = login_guard.retry_after(user.username if user else None, ip)
        if wait:  # a locked account gets no new access token either
            return _too_many(wait)
        return self.response(200, **{API_SECURITY_ACCESS_TOKEN_KEY: create_access_token(
            identity=get_jwt_identity(), fresh=False)})

    refresh.__doc__ = _with_429(SecurityApi.refresh.__doc__)

    @expose("/logout", methods=["POST"])
    @jwt_required()
    @safe
    def logout(self):
        """Revoke the access token presented, and the refresh token if one is sent
        ---
        post:
          description: >-
            Puts the access token of the Authorization header (and the refresh token given as
            refresh_token in the JSON body) on the denylist; both are refused from then on.
          requestBody:
            required: false
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    refresh_token:
                      type: string
          responses:
            200:
              description: Tokens revoked
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
          security:
            - jwt: []
        """
        access = get_jwt()
        refresh_token = (request.get_json(silent=True) or {}).get("refresh_token") if request.is_json else None
        refresh = None
        if refresh_token:
            try:
                refresh = decode_token(refresh_token, allow_expired=True)
            except (JWTExtendedException, jwt.PyJWTError):
                return self.response_400(message="refresh_token tidak sah.")
            if refresh.get("type") != "refresh" or refresh.get("sub") != access.get("sub"):
                return self.response_400(message="refresh_token bukan token pembaruan milik pengguna ini.")
        login_guard.revoke(access)
        if refresh:
            login_guard.revoke(refresh)
        return self.response(200, message="Berhasil keluar; token dicabut.")


class SinergiAuthDBView(AuthDBView):
    """FAB's login form, which says how long to wait when the login guard refuses, on Sinergi's
    own page (the product and the province; app/templates/security/login.html)."""

    login_template = "security/login.html"

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):  # FAB's AuthDBView.login, plus the "wait N minutes" message
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm_db()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            if not user:
                wait = g.get("sinergi_login_wait")
                flash(login_guard.wait_message(wait) if wait else str(self.invalid_login_message), "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            login_user(user, remember=False)
            return redirect(next_url)
        return self.render_template(self.login_template, title=self.title, form=form, appbuilder=self.appbuilder)


class SinergiUserDBModelView(ReadableValuesMixin, UserDBModelView):
    label_columns = {**UserDBModelView.label_columns, "regency": _("Regency")}
    show_fieldsets = [
        (_("User info"), {"fields": ["username", "active", "roles", "login_count", "regency"]}),
        *UserDBModelView.show_fieldsets[1:],
    ]
    user_show_fieldsets = [
        (_("User info"), {"fields": ["username", "active", "roles", "login_count", "regency"]}),
        *UserDBModelView.user_show_fieldsets[1:],
    ]
    add_columns = UserDBModelView.add_columns + ["regency"]
    edit_columns = UserDBModelView.edit_columns + ["regency"]
    list_columns = UserDBModelView.list_columns + ["regency"]


class SinergiSecurityManager(SecurityManager):
    user_model = SinergiUser
    userdbmodelview = SinergiUserDBModelView
    security_api = SinergiSecurityApi
    authdbview = SinergiAuthDBView
    userstatschartview = UserStatsView  # a table: FAB's chart loads Google's script from the internet

    def auth_user_db(self, username, password):
        """FAB's check of name and password, behind the login guard: a locked account (or an IP
        over its limit) is refused before the password is looked at, every failure is counted.
        Both callers (the /login/ form and the API) read ``g.sinergi_login_wait`` to tell a
        refusal (wait N seconds) from a wrong password."""
        g.sinergi_login_wait = 0
        if not login_guard.enabled():
            return super().auth_user_db(username, password)
        wait = login_guard.retry_after(username)
        if wait:
            # Refused without looking at the password, and not counted: hammering a locked
            # account gains nothing, and counting it for the IP would let one person behind an
            # office's shared address lock everybody there out.
            g.sinergi_login_wait = wait
            return None
        user = super().auth_user_db(username, password)
        if user is not None:
            login_guard.record_success(username)
        else:
            g.sinergi_login_wait = login_guard.record_failure(username)
        return user

    def exist_permission_on_roles(self, view_name, permission_name, role_ids) -> bool:
        """FAB asks this for every ``has_access``: one EXISTS query each, and the menu alone
        asks ~44 times per page (one per menu item). Here the roles' permissions are read in
        one query at the request's first question and answered from that set afterwards.
        Per request only: a permission granted or revoked counts from the next request on."""
        if not has_request_context():
            return super().exist_permission_on_roles(view_name, permission_name, role_ids)
        cache = request.environ.setdefault(PERMISSIONS_KEY, {})
        key = frozenset(role_ids)
        if key not in cache:
            cache[key] = self._role_permissions(key)
        return (permission_name, view_name) in cache[key]

    def _role_permissions(self, role_ids) -> frozenset:
        """{(permission name, view menu name)} granted to any of the roles."""
        pv, link = self.permissionview_model, assoc_permissionview_role
        query = (select(self.permission_model.name, self.viewmenu_model.name)
                 .select_from(pv)
                 .join(link, link.c.permission_view_id == pv.id)
                 .join(self.permission_model, self.permission_model.id == pv.permission_id)
                 .join(self.viewmenu_model, self.viewmenu_model.id == pv.view_menu_id)
                 .where(link.c.role_id.in_(role_ids)))
        return frozenset(tuple(row) for row in self.session.execute(query))

    def create_jwt_manager(self, app):
        """FAB's JWT manager plus the denylist (logout) and 401 answers in Indonesian for every
        token problem (flask-jwt-extended answers 422 to a malformed token by default)."""
        jwt_manager = super().create_jwt_manager(app)
        jwt_manager.token_in_blocklist_loader(lambda _header, payload: login_guard.is_revoked(payload))
        jwt_manager.unauthorized_loader(lambda _reason: _token_401(TOKEN_MISSING))
        jwt_manager.invalid_token_loader(lambda _reason: _token_401(TOKEN_INVALID))
        jwt_manager.expired_token_loader(lambda _header, _payload: _token_401(TOKEN_EXPIRED))
        jwt_manager.revoked_token_loader(lambda _header, _payload: _token_401(TOKEN_REVOKED))
        jwt_manager.needs_fresh_token_loader(lambda _header, _payload: _token_401(TOKEN_NOT_FRESH))
        jwt_manager.user_lookup_error_loader(lambda _header, _payload: _token_401(TOKEN_INVALID))
        return jwt_manager

    def register_views(self):
        super().register_views()
        # FAB puts AUTH_RATE_LIMIT on the /login/ form only; the API's login and refresh get it too.
        if self.is_auth_limited:
            for view in self.appbuilder.baseviews:
                if isinstance(view, SinergiSecurityApi):
                    self.limiter.limit(self.auth_rate_limit, methods=["POST"])(view.blueprint)
