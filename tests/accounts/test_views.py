"""Pages: log in / out, cookies, CSRF on every form, administration, interface language, headers."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from docmgr.accounts.models import ApiToken, Organization, User
from docmgr.documents.models import TaskForceSession
from docmgr.extensions import db
from tests.conftest import PASSWORD, csrf_from, stored_blob_count, table_counts


def _csrf(client, path: str = "/login") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


# --- logging in and out ------------------------------------------------------------------------


def test_pages_need_a_login(client):
    for path in ("/", "/account", "/admin/users", "/documents/new"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_browser_login_and_logout(client, make_user):
    user = make_user("legal")
    token = _csrf(client)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    cookie = response.headers.get("Set-Cookie", "")
    assert "session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/")
    assert page.status_code == 200 and user.email in page.get_data(as_text=True)

    token = csrf_from(page.get_data(as_text=True))
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/").status_code == 302  # logged out


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)"]
)
def test_login_redirects_only_within_the_site(app, make_user, target):
    user = make_user("legal")
    client = app.test_client()
    token = _csrf(client)
    response = client.post(
        "/login", query_string={"next": target}, data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"] and "javascript" not in response.headers["Location"]


def test_login_goes_back_to_the_page_asked_for(client, make_user):
    user = make_user("legal")
    token = _csrf(client)
    response = client.post(
        "/login?next=/documents/new", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"].endswith("/documents/new")


def test_wrong_password_rerenders_the_form_with_a_message(client, make_user):
    user = make_user("legal")
    token = _csrf(client)
    response = client.post("/login", data={"email": user.email, "password": "wrong password", "csrf_token": token})
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "Wrong e-mail or password." in html and 'name="email"' in html
    assert client.get("/").status_code == 302


def test_browser_logins_are_rate_limited_too(client, make_user):
    user = make_user("legal")
    token = _csrf(client)
    for _ in range(5):
        client.post("/login", data={"email": user.email, "password": "wrong password", "csrf_token": token})
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 429
    assert 'data-code="too_many_attempts"' in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_deactivated_user_cannot_log_in(client, make_user):
    user = make_user("legal")
    db.session.get(User, user.id).is_active_account = False
    db.session.commit()
    token = _csrf(client)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 401


def test_a_session_ends_when_the_user_is_deactivated(app, make_user, browser):
    admin = make_user("admin")
    user = make_user("legal")
    user_client, _ = browser(user)
    assert user_client.get("/").status_code == 200
    admin_client, csrf = browser(admin)
    admin_client.post("/admin/users", data={"action": "deactivate", "confirm": "1", "user_id": user.id, "csrf_token": csrf})
    assert user_client.get("/").status_code == 302


# --- CSRF on every form --------------------------------------------------------------------------


def _assert_csrf_refused(client, path: str, data: dict, **kwargs) -> None:
    before = table_counts()
    response = client.post(path, data=data, **kwargs)
    assert response.status_code == 400, (path, response.status_code)
    assert "csrf_failed" in response.get_data(as_text=True) or response.status_code == 400
    assert table_counts() == before, path


def test_login_without_csrf_is_refused(client, make_user):
    user = make_user("legal")
    client.get("/login")
    _assert_csrf_refused(client, "/login", {"email": user.email, "password": PASSWORD})
    _assert_csrf_refused(client, "/login", {"email": user.email, "password": PASSWORD, "csrf_token": "forged"})
    assert client.get("/").status_code == 302


def test_every_form_needs_the_csrf_token(app, make_user, make_org, make_document, browser):
    admin = make_user("admin")
    org = make_org()
    firm = make_user("firm", org)
    document = make_document(firm)
    firm_client, _ = browser(firm)
    admin_client, _ = browser(admin)
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == firm.id))
    blobs = stored_blob_count(app)

    upload = {"title_it": "Nuova", "kind": "proposal", "file": (io.BytesIO(b"Testo della proposta."), "p.txt")}
    _assert_csrf_refused(firm_client, "/documents/new", upload, content_type="multipart/form-data")
    add = {"file": (io.BytesIO(b"Seconda versione del testo."), "p.txt")}
    _assert_csrf_refused(firm_client, f"/documents/{document.id}/files", add, content_type="multipart/form-data")
    _assert_csrf_refused(firm_client, "/account", {"action": "create_token"})
    if token_id:
        _assert_csrf_refused(firm_client, "/account", {"action": "revoke_token", "token_id": token_id})
    _assert_csrf_refused(
        admin_client, "/admin/users", {"email": "x@example.org", "password": "long enough", "role": "legal"}
    )
    _assert_csrf_refused(admin_client, "/admin/users", {"action": "deactivate", "user_id": firm.id})
    _assert_csrf_refused(admin_client, "/admin/organizations", {"name": "Delta", "country": "IT"})
    _assert_csrf_refused(
        admin_client, "/admin/sessions",
        {"name": "Roma", "place": "Roma", "country": "IT", "starts_on": "2015-01-01", "ends_on": "2015-01-02"},
    )
    _assert_csrf_refused(firm_client, "/logout", {})
    assert firm_client.get("/").status_code == 200  # still logged in
    assert stored_blob_count(app) == blobs


def test_browser_session_api_calls_need_csrf_but_bearer_calls_do_not(make_user, browser, client, token_for):
    admin = make_user("admin")
    admin_client, csrf = browser(admin)
    payload = {"name": "Epsilon", "country": "IT"}
    before = table_counts()
    response = admin_client.post("/api/v1/organizations", json=payload)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "csrf_failed"
    assert table_counts() == before
    assert admin_client.post("/api/v1/organizations", json=payload, headers={"X-CSRFToken": csrf}).status_code == 201
    assert client.post("/api/v1/organizations", json={"name": "Zeta", "country": "RU"}, headers=token_for(admin)).status_code == 201


# --- the account page --------------------------------------------------------------------------


def test_account_page_creates_and_revokes_tokens(client, make_user, browser):
    user = make_user("firm")
    user_client, csrf = browser(user)
    response = user_client.post("/account", data={"action": "create_token", "csrf_token": csrf})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    import re

    token = re.search(r'id="new-token">([^<]+)<', html).group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id))
    response = user_client.post("/account", data={"action": "revoke_token", "token_id": token_id, "csrf_token": csrf})
    assert response.status_code == 302
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_account_page_cannot_revoke_another_users_token(client, make_user, browser, token_for):
    owner = make_user("firm")
    headers = token_for(owner)
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == owner.id))
    intruder_client, csrf = browser(make_user("legal"))
    response = intruder_client.post("/account", data={"action": "revoke_token", "token_id": token_id, "csrf_token": csrf})
    assert response.status_code == 404
    assert client.get("/api/v1/me", headers=headers).status_code == 200


# --- administration pages ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["legal", "firm", "ministry"])
def test_admin_pages_are_for_admins(make_user, browser, role):
    user_client, csrf = browser(make_user(role))
    before = table_counts()
    for path in ("/admin/users", "/admin/organizations", "/admin/sessions"):
        assert user_client.get(path).status_code == 403, path
    assert user_client.post("/admin/organizations", data={"name": "Eta", "country": "IT", "csrf_token": csrf}).status_code == 403
    assert user_client.post(
        "/admin/users", data={"email": "y@example.org", "password": "long enough", "role": "admin", "csrf_token": csrf}
    ).status_code == 403
    assert user_client.post(
        "/admin/sessions",
        data={"name": "R", "place": "R", "country": "IT", "starts_on": "2015-01-01", "ends_on": "2015-01-02", "csrf_token": csrf},
    ).status_code == 403
    assert table_counts() == before


def test_admin_creates_organization_session_and_user_in_the_browser(make_user, browser):
    admin_client, csrf = browser(make_user("admin"))
    response = admin_client.post(
        "/admin/organizations", data={"name": "Theta Srl", "country": "IT", "kind": "firm", "csrf_token": csrf}
    )
    assert response.status_code == 302
    org = db.session.scalar(select(Organization).where(Organization.name == "Theta Srl"))
    assert org is not None and "Theta Srl" in admin_client.get("/admin/organizations").get_data(as_text=True)

    response = admin_client.post(
        "/admin/sessions",
        data={"name": "Torino 2013", "place": "Torino", "country": "IT", "starts_on": "2013-10-28",
              "ends_on": "2013-10-29", "csrf_token": csrf},
    )
    assert response.status_code == 302
    assert db.session.scalar(select(TaskForceSession).where(TaskForceSession.name == "Torino 2013")) is not None

    response = admin_client.post(
        "/admin/users",
        data={"email": "theta@example.org", "password": "long enough", "role": "firm", "organization_id": org.id,
              "csrf_token": csrf},
    )
    assert response.status_code == 302
    created = db.session.scalar(select(User).where(User.email == "theta@example.org"))
    assert created.organization_id == org.id and created.password_hash.startswith(("scrypt:", "pbkdf2:"))


@pytest.mark.parametrize(
    "path, data, message",
    [
        ("/admin/organizations", {"name": "", "country": "IT"}, "needs a name"),
        ("/admin/organizations", {"name": "Iota", "country": "FR"}, "Country must be IT or RU"),
        ("/admin/sessions", {"name": "S", "place": "P", "country": "IT", "starts_on": "yesterday", "ends_on": "2015-01-01"},
         "YYYY-MM-DD"),
        ("/admin/sessions", {"name": "S", "place": "P", "country": "IT", "starts_on": "2015-01-02", "ends_on": "2015-01-01"},
         "cannot end before"),
        ("/admin/users", {"email": "bad", "password": "long enough", "role": "legal"}, "valid e-mail"),
        ("/admin/users", {"email": "f@example.org", "password": "long enough", "role": "firm"}, "organisation"),
        ("/admin/users", {"email": "f@example.org", "password": "long enough", "role": "firm", "organization_id": "9999"},
         "No such organisation"),
        ("/admin/users", {"email": "f@example.org", "password": "long enough", "role": "firm", "organization_id": "abc"},
         "No such organisation"),
    ],
)
def test_admin_forms_show_invalid_values(make_user, browser, path, data, message):
    admin_client, csrf = browser(make_user("admin"))
    before = table_counts()
    response = admin_client.post(path, data={**data, "csrf_token": csrf})
    assert response.status_code == 422, response.status_code
    html = response.get_data(as_text=True)
    assert message in html and 'class="flash error"' in html
    assert table_counts() == before


def test_admin_forms_refuse_duplicates(make_user, make_org, browser):
    make_org("Kappa Srl")
    existing = make_user("legal")
    admin_client, csrf = browser(make_user("admin"))
    before = table_counts()
    response = admin_client.post("/admin/organizations", data={"name": "kappa srl", "country": "IT", "csrf_token": csrf})
    assert response.status_code == 422 and "already exists" in response.get_data(as_text=True)
    response = admin_client.post(
        "/admin/users", data={"email": existing.email, "password": "long enough", "role": "legal", "csrf_token": csrf}
    )
    assert response.status_code == 422 and "already exists" in response.get_data(as_text=True)
    assert table_counts() == before


def test_admin_cannot_deactivate_themselves(make_user, browser):
    admin = make_user("admin")
    admin_client, csrf = browser(admin)
    response = admin_client.post("/admin/users", data={"action": "deactivate", "confirm": "1", "user_id": admin.id, "csrf_token": csrf})
    assert response.status_code == 422
    assert admin_client.get("/admin/users").status_code == 200


# --- interface language and headers ------------------------------------------------------------


def test_lang_parameter_switches_and_sticks(client):
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)
    assert '<html lang="ru">' in client.get("/login?lang=ru").get_data(as_text=True)
    assert '<html lang="ru">' in client.get("/login").get_data(as_text=True)  # kept in the session
    assert '<html lang="it">' in client.get("/login?lang=it").get_data(as_text=True)
    assert '<html lang="it">' in client.get("/login?lang=xx").get_data(as_text=True)  # unknown: ignored


def test_accept_language_picks_the_default(app):
    fresh = app.test_client()
    page = fresh.get("/login", headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"})
    assert '<html lang="it">' in page.get_data(as_text=True)
    page = app.test_client().get("/login", headers={"Accept-Language": "ru"})
    assert '<html lang="ru">' in page.get_data(as_text=True)
    page = app.test_client().get("/login", headers={"Accept-Language": "it", "Cookie": ""}, query_string={"lang": "en"})
    assert '<html lang="en">' in page.get_data(as_text=True)


def test_security_headers_on_pages_and_api(client, make_user, browser):
    user_client, _ = browser(make_user("legal"))
    for response in (client.get("/login"), user_client.get("/"), client.get("/api/v1/me")):
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"]
    assert "no-store" in user_client.get("/").headers["Cache-Control"]


def test_pages_have_no_inline_scripts(make_user, browser):
    admin_client, _ = browser(make_user("admin"))
    for path in ("/", "/documents/new", "/account", "/admin/users", "/admin/organizations", "/admin/sessions"):
        html = admin_client.get(path).get_data(as_text=True)
        assert "<script>" not in html and "onclick=" not in html, path


def test_pages_have_no_inline_styles_the_csp_would_block(make_user, browser, client):
    """style-src 'self' ignores style="" attributes: layout must come from app.css."""
    assert 'style="' not in client.get("/login").get_data(as_text=True)
    admin_client, _ = browser(make_user("admin"))
    for path in ("/", "/documents/new", "/account", "/admin/users", "/admin/organizations", "/admin/sessions"):
        assert 'style="' not in admin_client.get(path).get_data(as_text=True), path
