"""Sessions end when they should (issue 12, "Sessions"), against gunicorn with several workers: a cookie saved
before a logout, a deactivation, a role or password change is replayed later, to whichever worker answers.

Also: an absolute lifetime that no request renews, ``?lang=`` leaving the session cookie alone, a new CSRF
secret at login, and the ``Secure`` flag whenever the request came over https.
"""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import create_engine, text

from tests import backends
from tests.conftest import PASSWORD, csrf_from
from tests.security.live import SECRET_KEY, Browser, LiveServer

USER = "victim@example.org"
ADMIN = "boss@example.org"


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("sessions")
    live = LiveServer(folder, workers=3, **backends.server_env(request, folder))  # PostgreSQL/Redis in CI's pass 2
    try:
        live.start()
        live.run("create-user", "--email", USER, "--password", PASSWORD, "--role", "legal")
        live.run("create-user", "--email", ADMIN, "--password", PASSWORD, "--role", "admin")
        yield live
    finally:
        live.stop()


def sql(server: LiveServer, statement: str, **params):
    """One statement on the server's database (SQLite or PostgreSQL), committed; its first row."""
    engine = create_engine(server.env["DOCMGR_DATABASE_URL"])
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return result.first() if result.returns_rows else None
    finally:
        engine.dispose()


def login(server: LiveServer, email: str = USER) -> tuple[Browser, str]:
    browser = server.browser()
    token = csrf_from(browser.request("GET", "/login").body)
    response = browser.request("POST", "/login", {"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status == 302, response.body[:500]
    page = browser.request("GET", "/account")
    assert page.status == 200
    return browser, csrf_from(page.body)


def logged_in(browser: Browser, tries: int = 6) -> bool:
    """Asked several times, so that every worker gets its say; all must agree."""
    answers = {browser.request("GET", "/account").status for _ in range(tries)}
    assert len(answers) == 1, f"workers disagree: {answers}"
    return answers == {200}


def replay(server: LiveServer, jar: dict[str, str]) -> Browser:
    thief = server.browser()
    thief.jar = dict(jar)
    return thief


def token_count(server: LiveServer, email: str) -> int:
    return sql(server, "SELECT count(*) FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.email = :email",
               email=email)[0]


def test_a_cookie_saved_before_logout_is_dead_after_it_and_cannot_make_a_token(server):
    browser, csrf = login(server)
    saved = dict(browser.jar)
    assert logged_in(browser)
    response = browser.request("POST", "/logout", {"csrf_token": csrf})
    assert response.status == 302
    thief = replay(server, saved)
    assert not logged_in(thief)
    before = token_count(server, USER)
    response = thief.request("POST", "/account", {"action": "create_token", "csrf_token": csrf})
    assert response.status in (302, 400, 401), response.status
    assert "dm_" not in response.body
    response = thief.request("POST", "/api/v1/auth/token", json_body=b"{}", headers={"X-CSRFToken": csrf})
    assert response.status != 201 and "dm_" not in response.body
    assert token_count(server, USER) == before


def test_logout_also_ends_the_users_other_sessions(server):
    first, _ = login(server)
    second, csrf = login(server)
    assert logged_in(first) and logged_in(second)
    second.request("POST", "/logout", {"csrf_token": csrf})
    assert not logged_in(first)


def _set_active(server: LiveServer, email: str, active: bool) -> None:
    admin, csrf = login(server, ADMIN)
    user_id = sql(server, "SELECT id FROM users WHERE email = :email", email=email)[0]
    response = admin.request("POST", "/admin/users", {"action": "activate" if active else "deactivate",
                                                      "user_id": str(user_id), "csrf_token": csrf,
                                                      "confirm": "1"})  # deactivation asks first
    assert response.status == 302, response.body[:300]


def test_a_cookie_from_before_a_deactivation_stays_dead_after_reactivation(server):
    browser, _ = login(server)
    saved = dict(browser.jar)
    _set_active(server, USER, False)
    assert not logged_in(replay(server, saved))
    _set_active(server, USER, True)
    assert not logged_in(replay(server, saved))
    fresh, _ = login(server)  # the owner logs in again normally
    assert logged_in(fresh)


@pytest.mark.parametrize("change", ["role", "password", "organisation"])
def test_a_change_of_role_password_or_organisation_ends_the_sessions(server, change):
    """Whoever changes the account (the CLI, an admin tool, a restore), the old sessions stop working."""
    browser, _ = login(server)
    assert logged_in(browser)
    if change == "role":
        sql(server, "UPDATE users SET role = 'ministry' WHERE email = :email", email=USER)
    elif change == "password":
        sql(server, "UPDATE users SET password_hash = password_hash || 'x' WHERE email = :email", email=USER)
    else:
        org = sql(server, "INSERT INTO organizations (name, country, kind, created_at) "
                          "VALUES ('Sessions Org', 'IT', 'firm', '2026-01-01 00:00:00') RETURNING id")[0]
        sql(server, "UPDATE users SET organization_id = :org WHERE email = :email", org=org, email=USER)
    try:
        assert not logged_in(browser)
    finally:
        sql(server, "UPDATE users SET role = 'legal', organization_id = NULL, password_hash = "
                    "rtrim(password_hash, 'x') WHERE email = :email", email=USER)
    fresh, _ = login(server)
    assert logged_in(fresh)


def _forged_cookie(server: LiveServer, browser: Browser, login_at: int) -> str:
    """The server's own signer (the test knows the key): the same session with another login time."""
    from flask.sessions import SecureCookieSessionInterface

    from docmgr import create_app

    app = create_app({"SECRET_KEY": SECRET_KEY, "STORAGE_DIR": str(server.data_dir / "storage"),
                      "INDEX_DIR": str(server.data_dir / "index"),
                      "SQLALCHEMY_DATABASE_URI": server.env["DOCMGR_DATABASE_URL"], "TESTING": True})
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    data = serializer.loads(browser.jar["session"])
    assert "_login_at" in data
    return serializer.dumps(dict(data, _login_at=login_at))


def test_a_session_has_an_absolute_lifetime(server):
    browser, _ = login(server)
    assert logged_in(replay(server, {"session": _forged_cookie(server, browser, int(time.time()) - 60)}))
    old = _forged_cookie(server, browser, int(time.time()) - 13 * 3600)  # the default lifetime is 12 h
    assert not logged_in(replay(server, {"session": old}))


def test_lang_does_not_reissue_the_session_cookie(server):
    browser, _ = login(server)
    for lang in ("ru", "it", "en", "ru"):
        response = browser.request("GET", f"/account?lang={lang}")
        assert response.status == 200
        assert f'<html lang="{lang}">' in response.body
        assert "session" not in response.cookies(), response.cookies()
    assert '<html lang="ru">' in browser.request("GET", "/account").body  # still remembered


def test_login_starts_a_new_session_with_a_new_csrf_secret(server):
    browser = server.browser()
    before_token = csrf_from(browser.request("GET", "/login").body)
    planted = dict(browser.jar)
    response = browser.request("POST", "/login", {"email": USER, "password": PASSWORD, "csrf_token": before_token})
    assert response.status == 302
    assert browser.jar["session"] != planted["session"]
    before = token_count(server, USER)
    response = browser.request("POST", "/account", {"action": "create_token", "csrf_token": before_token})
    assert response.status == 400 and "dm_" not in response.body
    assert token_count(server, USER) == before
    fresh_token = csrf_from(browser.request("GET", "/account").body)
    assert fresh_token != before_token
    response = browser.request("POST", "/account", {"action": "create_token", "csrf_token": fresh_token})
    assert response.status == 200 and re.search(r"dm_[\w-]{20,}", response.body)


def test_the_cookie_is_secure_over_https(app, make_user):
    user = make_user("legal")
    client = app.test_client()
    page = client.get("/login", base_url="https://docmgr.example")
    token = csrf_from(page.get_data(as_text=True))
    response = client.post("/login", base_url="https://docmgr.example", headers={"Referer": "https://docmgr.example/login"},
                           data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies and all("Secure" in c for c in cookies), cookies
    lang = client.get("/login?lang=ru", base_url="https://docmgr.example").headers.getlist("Set-Cookie")
    assert lang and all("Secure" in c for c in lang), lang
    plain = app.test_client().get("/login?lang=it").headers.getlist("Set-Cookie")
    assert plain and not any("Secure" in c for c in plain)  # plain http on loopback: no Secure, or no cookie at all
