"""Brute-force protection (app/security/login_guard.py): account lock after N failures on the
API and the form, per-IP limit, refresh limited, logout revokes tokens, malformed tokens get
401 — counted in PostgreSQL, whatever process answers."""
from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from tests.conftest import DEMO_PASSWORD, ROOT, sql

LOGIN = "/api/v1/security/login"
WRONG = "Nama pengguna atau kata sandi salah. Silakan coba lagi."
_serial = itertools.count(1)




@pytest.fixture(autouse=True)
def guard(app):
    """Default guard settings for each test, and no failures or locks left behind: the rest of
    the suite logs in from the same 127.0.0.1."""
    keys = ("LOGIN_GUARD_ENABLED", "LOGIN_MAX_FAILURES", "LOGIN_IP_MAX_FAILURES", "LOGIN_WINDOW_SECONDS",
            "LOGIN_LOCK_SECONDS")
    saved = {k: app.config[k] for k in keys}
    app.config.update(LOGIN_GUARD_ENABLED=True, LOGIN_MAX_FAILURES=5, LOGIN_IP_MAX_FAILURES=50,
                      LOGIN_WINDOW_SECONDS=900, LOGIN_LOCK_SECONDS=900)
    sql(app, "DELETE FROM login_failure; DELETE FROM login_lock")
    yield app.config
    app.config.update(saved)
    sql(app, "DELETE FROM login_failure; DELETE FROM login_lock")


@pytest.fixture()
def user(app):
    """A user of our own (Operator TKPK of 18.07) to lock: the demo users stay usable."""
    from app.extensions import appbuilder, db

    name = f"uji_kunci_{secrets.token_hex(3)}_{next(_serial)}"
    with app.app_context():
        sm = appbuilder.sm
        regency = db.session.execute(text("SELECT id FROM regency WHERE code = '18.07'")).scalar()
        made = sm.add_user(name, "Uji", "Kunci", f"{name}@uji.invalid", sm.find_role("Operator TKPK"),
                           password=DEMO_PASSWORD)
        assert made, "user not created"
        made.regency_id = regency
        db.session.commit()
    return name


def api_login(client, username, password, refresh=False):
    return client.post(LOGIN, json={"username": username, "password": password, "provider": "db",
                                    "refresh": refresh})


def test_twenty_wrong_passwords_lock_the_account_and_the_right_one_is_refused(app, user):
    client = app.test_client()
    answers = [api_login(client, user, f"salah-{i}") for i in range(20)]
    codes = [r.status_code for r in answers]
    # 4 plain refusals, the 5th failure takes the lock: from then on 429 (with Retry-After).
    assert codes == [401] * 4 + [429] * 16, codes
    assert all(r.json["message"] == WRONG for r in answers[:4])
    locked = answers[-1]
    assert "Terlalu banyak percobaan" in locked.json["message"] and "15 menit" in locked.json["message"]
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    right = api_login(client, user, DEMO_PASSWORD)
    assert right.status_code == 429 and "access_token" not in right.json
    # One audit row for the lock (not one per refused attempt), and the chain still verifies.
    rows = sql(app, """SELECT entity, entity_id, after, username FROM audit_log
                        WHERE action = 'lock_login' AND after->>'username' = :u""", u=user)
    assert len(rows) == 1
    entity, entity_id, after, actor = rows[0]
    user_id = sql(app, "SELECT id FROM ab_user WHERE username = :u", u=user)[0][0]
    assert (entity, entity_id, after["failures"], after["ip"], actor) == ("ab_user", user_id, 5, "127.0.0.1", "anonim")
    from app.extensions import db
    from app.services import audit

    with app.app_context(), db.engine.connect() as conn:
        assert audit.verify(conn) == []


def test_the_lock_expires_by_itself(app, user, guard):
    guard["LOGIN_LOCK_SECONDS"] = 2
    client = app.test_client()
    codes = [api_login(client, user, "salah").status_code for _ in range(5)]
    assert codes == [401] * 4 + [429]
    assert api_login(client, user, DEMO_PASSWORD).status_code == 429
    time.sleep(2.5)
    r = api_login(client, user, DEMO_PASSWORD)
    assert r.status_code == 200 and r.json["access_token"]
    # After the lock, a fresh count: one wrong password is a plain 401 again.
    assert api_login(client, user, "salah").status_code == 401


def test_a_success_resets_the_count(app, user):
    client = app.test_client()
    for _ in range(4):
        assert api_login(client, user, "salah").status_code == 401
    assert api_login(client, user, DEMO_PASSWORD).status_code == 200
    assert [api_login(client, user, "salah").status_code for _ in range(4)] == [401] * 4


def test_an_unknown_name_behaves_exactly_like_a_real_one(app, user):
    client = app.test_client()

    def story(name):
        answers = [api_login(client, name, "salah") for _ in range(6)]
        return [(r.status_code, r.json["message"], "Retry-After" in r.headers) for r in answers]

    real, unknown = story(user), story(f"tidak_ada_{secrets.token_hex(4)}")
    assert real == unknown
    assert real[0] == (401, WRONG, False) and real[-1][0] == 429


def test_the_form_is_locked_too(app, user):
    """An account locked through the API cannot log in through /login/, even with the right
    password; the form says how long to wait."""
    client = app.test_client()
    for _ in range(5):
        api_login(client, user, "salah")
    r = client.post("/login/", data={"username": user, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Terlalu banyak percobaan" in page
    assert client.get("/api/v1/household/?page_size=1").status_code == 401  # no session either


def test_wrong_passwords_on_the_form_lock_the_api(app, user):
    client = app.test_client()
    for _ in range(5):
        r = client.post("/login/", data={"username": user, "password": "salah"})
        assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert api_login(app.test_client(), user, DEMO_PASSWORD).status_code == 429


def test_one_address_is_limited_across_names(app, guard):
    guard["LOGIN_IP_MAX_FAILURES"] = 3
    client = app.test_client()
    codes = [api_login(client, f"nama_{i}_{secrets.token_hex(3)}", "salah").status_code for i in range(4)]
    assert codes == [401, 401, 429, 429]
    # Another address is not blocked (the limit is per client address).
    other = client.post(LOGIN, json={"username": "op1807", "password": DEMO_PASSWORD, "provider": "db"},
                        environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 200


def test_refresh_is_limited(app, user, guard):
    guard["LOGIN_IP_MAX_FAILURES"] = 3
    client = app.test_client()
    tokens = api_login(client, user, DEMO_PASSWORD, refresh=True).json
    good = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    r = client.post("/api/v1/security/refresh", headers=good)
    assert r.status_code == 200 and r.json["access_token"]
    forged = {"Authorization": f"Bearer {tokens['refresh_token'][:-4]}AAAA"}  # signature guessed
    codes = [client.post("/api/v1/security/refresh", headers=forged).status_code for _ in range(4)]
    assert codes == [401, 401, 429, 429]
    # The address is blocked: even the genuine refresh token waits.
    r = client.post("/api/v1/security/refresh", headers=good)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_a_locked_account_gets_no_new_access_token(app, user):
    client = app.test_client()
    refresh = api_login(client, user, DEMO_PASSWORD, refresh=True).json["refresh_token"]
    for _ in range(5):
        api_login(client, user, "salah")
    r = client.post("/api/v1/security/refresh", headers={"Authorization": f"Bearer {refresh}"})
    assert r.status_code == 429


def test_logout_revokes_the_access_and_refresh_tokens(app):
    client = app.test_client()
    tokens = api_login(client, "op1807", DEMO_PASSWORD, refresh=True).json
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v1/household/?page_size=1", headers=access).status_code == 200
    r = client.post("/api/v1/security/logout", headers=access, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.data
    after = client.get("/api/v1/household/?page_size=1", headers=access)
    assert after.status_code == 401 and after.json["message"] == "Token sudah dicabut (keluar); masuk lagi."
    refreshed = client.post("/api/v1/security/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert refreshed.status_code == 401
    # Another login of the same user is not affected.
    fresh = api_login(client, "op1807", DEMO_PASSWORD).json["access_token"]
    assert client.get("/api/v1/household/?page_size=1", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_logout_refuses_someone_elses_refresh_token(app):
    client = app.test_client()
    mine = api_login(client, "op1807", DEMO_PASSWORD).json["access_token"]
    theirs = api_login(client, "pimpinan", DEMO_PASSWORD, refresh=True).json["refresh_token"]
    r = client.post("/api/v1/security/logout", headers={"Authorization": f"Bearer {mine}"},
                    json={"refresh_token": theirs})
    assert r.status_code == 400
    assert client.post("/api/v1/security/refresh", headers={"Authorization": f"Bearer {theirs}"}).status_code == 200


@pytest.mark.parametrize("header", ["Bearer abc", "Bearer", "Bearer a.b.c", "Bearer  ", "sampah", "Basic dXNlcjpwYXNz",
                                    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."])
def test_a_malformed_bearer_token_gets_401_in_indonesian(app, header):
    r = app.test_client().get("/api/v1/household/?page_size=1", headers={"Authorization": header})
    assert r.status_code == 401, (header, r.status_code, r.data)
    assert r.is_json and r.json["message"] in ("Token tidak sah.",
                                               "Butuh token akses: kirim header 'Authorization: Bearer <token>'.")


def test_the_guard_can_be_switched_off(app, user, guard):
    guard["LOGIN_GUARD_ENABLED"] = False
    client = app.test_client()
    assert {api_login(client, user, "salah").status_code for _ in range(8)} == {401}
    assert api_login(client, user, DEMO_PASSWORD).status_code == 200


def _config(code: str, **env) -> str:
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_token_lifetimes_and_secure_cookies_come_from_the_configuration():
    code = ("import config as c; print(c.JWT_ACCESS_TOKEN_EXPIRES.total_seconds(), "
            "c.JWT_REFRESH_TOKEN_EXPIRES.total_seconds(), c.SESSION_COOKIE_SECURE, c.REMEMBER_COOKIE_SECURE)")
    assert _config(code) == "900.0 86400.0 False False"
    assert _config(code, SINERGI_ENV="production", SINERGI_JWT_ACCESS_MINUTES="30",
                   SINERGI_JWT_REFRESH_HOURS="8") == "1800.0 28800.0 True True"


def test_the_counters_are_shared_by_the_gunicorn_workers(live_server, app, user):
    """live_server runs 2 gunicorn workers with the default settings (5 failures, 15 minutes):
    counted per process, up to 8 wrong passwords would get a plain 401."""
    import json
    import urllib.error
    import urllib.request

    def attempt(password):
        request = urllib.request.Request(live_server + LOGIN, method="POST", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"username": user, "password": password,
                                                          "provider": "db"}).encode())
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    codes = [attempt("salah") for _ in range(20)]
    assert codes == [401] * 4 + [429] * 16, codes
    assert attempt(DEMO_PASSWORD) == 429


def test_flask_limiter_also_guards_the_api_login_when_rate_limits_are_on():
    """RATELIMIT_ENABLED=1 (production default): FAB's AUTH_RATE_LIMIT (10 per 20 s) was only on
    the /login/ form; the API's login gets it too. A fresh process: the limiter is set up at start."""
    code = """
import secrets
from app import create_app
client = create_app(TESTING=True).test_client()
codes = [client.post("/api/v1/security/login", json={"username": "x" + secrets.token_hex(4), "password": "salah",
                                                    "provider": "db"}).status_code for _ in range(11)]
print(codes)
"""
    out = _config(code, RATELIMIT_ENABLED="1", SINERGI_LOGIN_GUARD="0")
    assert out.splitlines()[-1] == str([401] * 10 + [429]), out


def test_hammering_one_locked_account_does_not_block_the_address(app, user, guard):
    """Attempts refused during a lock are not counted: 300 tries at one account (the tester's
    attack) leave the address free for the other people behind it."""
    guard["LOGIN_IP_MAX_FAILURES"] = 10
    client = app.test_client()
    codes = [api_login(client, user, f"salah-{i}").status_code for i in range(300)]
    assert codes.count(401) == 4 and codes.count(429) == 296
    assert api_login(client, "op1807", DEMO_PASSWORD).status_code == 200


def test_the_api_description_lists_logout_and_the_429_answers(app):
    client = app.test_client()
    admin = {"Authorization": f"Bearer {api_login(client, 'admin', DEMO_PASSWORD).json['access_token']}"}
    paths = client.get("/api/v1/_openapi", headers=admin).json["paths"]
    assert "post" in paths["/api/v1/security/logout"]
    assert "429" in paths["/api/v1/security/login"]["post"]["responses"]
    assert "429" in paths["/api/v1/security/refresh"]["post"]["responses"]
