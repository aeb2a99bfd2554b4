"""/api/v1 accounts: tokens, rate limiting, revocation, and the admin's organisations, sessions and users."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from docmgr.accounts.models import ApiToken, User
from docmgr.database import utcnow
from docmgr.extensions import db
from tests.conftest import PASSWORD, table_counts


def _error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) >= {"code", "message"} and error["message"]
    if code:
        assert error["code"] == code
    if field:
        assert error.get("field") == field
    return error


def _issue(client, user, password: str = PASSWORD):
    return client.post("/api/v1/auth/token", json={"email": user.email, "password": password})


# --- tokens ------------------------------------------------------------------------------------


def test_token_login_returns_token_and_expiry_and_the_token_works(client, make_user):
    user = make_user("legal")
    response = _issue(client, user)
    assert response.status_code == 201
    body = response.get_json()
    assert body["token"] and body["expires_at"].endswith("Z")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.get_json()["email"] == user.email and me.get_json()["role"] == "legal"
    # only the token's hash is kept
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert body["token"] not in row.token_hash


def test_email_is_case_insensitive_for_login(client, make_user):
    user = make_user("legal")
    response = client.post("/api/v1/auth/token", json={"email": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 201


def test_wrong_password_and_unknown_email_answer_401_alike(client, make_user):
    user = make_user("legal")
    wrong = _error(_issue(client, user, "not the password"), 401, "invalid_credentials")
    unknown = _error(client.post("/api/v1/auth/token", json={"email": "nobody@example.org", "password": "x" * 10}), 401)
    assert wrong == unknown


def test_token_request_validates_its_body(client):
    _error(client.post("/api/v1/auth/token", json={"email": "a@example.org"}), 422, "missing_field", "password")
    _error(
        client.post("/api/v1/auth/token", json={"email": "a@example.org", "password": "x", "remember": True}),
        422, "unknown_field", "remember",
    )
    _error(client.post("/api/v1/auth/token", data="not json", content_type="text/plain"), 400, "malformed_json")


def test_password_is_stored_with_a_current_hash(make_user):
    user = make_user("legal")
    stored = db.session.get(User, user.id).password_hash
    assert PASSWORD not in stored
    assert stored.startswith(("scrypt:", "pbkdf2:"))


def test_failed_logins_are_rate_limited_per_account(client, make_user):
    victim = make_user("legal")
    bystander = make_user("legal")
    for _ in range(5):
        assert _issue(client, victim, "wrong guess!").status_code == 401
    _error(_issue(client, victim), 429, "too_many_attempts")
    # the right password of another account from the same address still works
    assert _issue(client, bystander).status_code == 201


def test_rate_limit_forgets_old_failures(app, client, make_user):
    from docmgr.accounts.models import LoginAttempt

    user = make_user("legal")
    for _ in range(5):
        _issue(client, user, "wrong guess!")
    window = app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    for attempt in db.session.scalars(select(LoginAttempt)):
        attempt.created_at = utcnow() - timedelta(seconds=window + 60)
    db.session.commit()
    assert _issue(client, user).status_code == 201


def test_forged_token_is_refused(client, make_user):
    make_user("legal")
    for header in ("Bearer dm_forged-token-that-was-never-issued", "Bearer ", "Basic abc"):
        _error(client.get("/api/v1/me", headers={"Authorization": header}), 401, "not_authenticated")
    _error(client.get("/api/v1/me"), 401, "not_authenticated")


def test_expired_token_is_refused(client, make_user, token_for):
    user = make_user("legal")
    headers = token_for(user)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    _error(client.get("/api/v1/me", headers=headers), 401)


def test_user_revokes_the_current_token(client, make_user, token_for):
    user = make_user("firm")
    headers = token_for(user)
    other = token_for(user)
    response = client.delete("/api/v1/auth/token", headers=headers)
    assert response.status_code == 204
    _error(client.get("/api/v1/me", headers=headers), 401)
    assert client.get("/api/v1/me", headers=other).status_code == 200  # only that one


def test_revoking_the_current_token_needs_a_token(client, make_user, browser):
    user = make_user("firm")
    browser_client, csrf = browser(user)
    response = browser_client.delete("/api/v1/auth/token", headers={"X-CSRFToken": csrf})
    _error(response, 422, field="Authorization")


def test_a_session_with_a_bogus_bearer_header_gets_a_clear_answer(make_user, browser):
    user = make_user("firm")
    browser_client, _csrf = browser(user)
    response = browser_client.delete("/api/v1/auth/token", headers={"Authorization": "Bearer dm_not-a-real-token"})
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "not_authenticated"


def test_user_revokes_a_token_by_id_and_cannot_touch_others(client, make_user, token_for):
    owner = make_user("firm")
    stranger = make_user("legal")
    owner_headers = token_for(owner)
    second = _issue(client, owner).get_json()
    stranger_headers = token_for(stranger)

    listing = client.get("/api/v1/auth/tokens", headers=owner_headers).get_json()
    assert {t["id"] for t in listing} >= {second["token_id"]}

    _error(client.delete(f"/api/v1/auth/tokens/{second['token_id']}", headers=stranger_headers), 404)
    _error(client.delete("/api/v1/auth/tokens/999999", headers=owner_headers), 404)
    # the stranger may not list them either
    _error(client.get(f"/api/v1/auth/tokens?user_id={owner.id}", headers=stranger_headers), 403)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {second['token']}"}).status_code == 200

    assert client.delete(f"/api/v1/auth/tokens/{second['token_id']}", headers=owner_headers).status_code == 204
    _error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {second['token']}"}), 401)
    assert client.get("/api/v1/me", headers=owner_headers).status_code == 200


def test_admin_revokes_anyones_token(client, make_user, token_for):
    admin = make_user("admin")
    user = make_user("firm")
    user_token = _issue(client, user).get_json()
    admin_headers = token_for(admin)
    listing = client.get(f"/api/v1/auth/tokens?user_id={user.id}", headers=admin_headers)
    assert listing.status_code == 200 and [t["id"] for t in listing.get_json()] == [user_token["token_id"]]
    assert client.delete(f"/api/v1/auth/tokens/{user_token['token_id']}", headers=admin_headers).status_code == 204
    _error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {user_token['token']}"}), 401)


def test_deactivated_users_tokens_stop_working(client, make_user, token_for, browser):
    admin = make_user("admin")
    user = make_user("firm")
    headers = token_for(user)
    admin_client, csrf = browser(admin)
    response = admin_client.post(
        "/admin/users", data={"action": "deactivate", "confirm": "1", "user_id": user.id, "csrf_token": csrf}
    )
    assert response.status_code == 302
    _error(client.get("/api/v1/me", headers=headers), 401)
    # and the account cannot get a new one
    _error(_issue(client, user), 401, "invalid_credentials")


def test_token_cannot_be_used_after_reactivation_either(client, make_user, token_for, browser):
    admin = make_user("admin")
    user = make_user("firm")
    headers = token_for(user)
    admin_client, csrf = browser(admin)
    admin_client.post("/admin/users", data={"action": "deactivate", "confirm": "1", "user_id": user.id, "csrf_token": csrf})
    admin_client.post("/admin/users", data={"action": "activate", "user_id": user.id, "csrf_token": csrf})
    _error(client.get("/api/v1/me", headers=headers), 401)  # revoked at deactivation, for good
    assert _issue(client, user).status_code == 201


# --- organisations, sessions, users --------------------------------------------------------------


@pytest.fixture
def admin_headers(make_user, token_for):
    return token_for(make_user("admin"))


SESSION = {"name": "Torino 2013", "place": "Torino", "country": "IT", "starts_on": "2013-10-28", "ends_on": "2013-10-29"}


def test_admin_creates_an_organization(client, admin_headers):
    response = client.post(
        "/api/v1/organizations",
        json={"name": "Meccanica Srl", "name_alt": "Мекканика", "country": "it", "kind": "firm"},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "Meccanica Srl" and body["country"] == "IT" and body["name_alt"] == "Мекканика"
    listing = client.get("/api/v1/organizations", headers=admin_headers).get_json()
    assert [o["name"] for o in listing] == ["Meccanica Srl"]


@pytest.mark.parametrize(
    "payload, status, code, field",
    [
        ({"name": "", "country": "IT"}, 422, "missing_field", "name"),
        ({"name": "X", "country": "FR"}, 422, "invalid_field", "country"),
        ({"name": "X", "country": "IT", "kind": "bank"}, 422, "invalid_field", "kind"),
        ({"name": "X", "country": "IT", "vat": "1"}, 422, "unknown_field", "vat"),
        ({"name": ["X"], "country": "IT"}, 422, None, "name"),
        ({"name": "X", "country": 7}, 422, None, "country"),
    ],
)
def test_organization_values_are_checked(client, admin_headers, payload, status, code, field):
    before = table_counts()
    _error(client.post("/api/v1/organizations", json=payload, headers=admin_headers), status, code, field)
    assert table_counts() == before


def test_duplicate_organization_is_refused(client, admin_headers):
    assert client.post("/api/v1/organizations", json={"name": "Alfa", "country": "IT"}, headers=admin_headers).status_code == 201
    before = table_counts()
    _error(
        client.post("/api/v1/organizations", json={"name": " alfa ", "country": "RU"}, headers=admin_headers),
        422, "duplicate", "name",
    )
    assert table_counts() == before


@pytest.mark.parametrize("role", ["legal", "firm", "ministry"])
def test_only_admins_create_organizations_sessions_and_users(client, make_user, token_for, role):
    headers = token_for(make_user(role))
    before = table_counts()
    _error(client.post("/api/v1/organizations", json={"name": "Beta", "country": "IT"}, headers=headers), 403)
    _error(client.post("/api/v1/sessions", json=SESSION, headers=headers), 403)
    _error(
        client.post("/api/v1/users", json={"email": "n@example.org", "password": "x" * 12, "role": "legal"}, headers=headers),
        403,
    )
    _error(client.get("/api/v1/users", headers=headers), 403)
    assert table_counts() == before


def test_anonymous_cannot_create_anything(client):
    _error(client.post("/api/v1/organizations", json={"name": "Beta", "country": "IT"}), 401)
    _error(client.post("/api/v1/sessions", json=SESSION), 401)


def test_admin_creates_a_session(client, admin_headers):
    response = client.post("/api/v1/sessions", json=SESSION, headers=admin_headers)
    assert response.status_code == 201
    assert response.get_json()["starts_on"] == "2013-10-28"
    assert [s["name"] for s in client.get("/api/v1/sessions", headers=admin_headers).get_json()] == ["Torino 2013"]
    before = table_counts()
    _error(client.post("/api/v1/sessions", json=SESSION, headers=admin_headers), 422, "duplicate", "name")
    assert table_counts() == before


@pytest.mark.parametrize(
    "change, code, field",
    [
        ({"starts_on": "28/10/2013"}, "invalid_field", "starts_on"),
        ({"ends_on": "2013-10-27"}, "invalid_field", "ends_on"),
        ({"country": "DE"}, "invalid_field", "country"),
        ({"place": ""}, "missing_field", "place"),
        ({"starts_on": 20131028}, "invalid_field", "starts_on"),
        ({"city": "Torino"}, "unknown_field", "city"),
        ({"name": {"it": "Torino"}}, None, "name"),
    ],
)
def test_session_values_are_checked(client, admin_headers, change, code, field):
    before = table_counts()
    _error(client.post("/api/v1/sessions", json={**SESSION, **change}, headers=admin_headers), 422, code, field)
    assert table_counts() == before


def test_admin_creates_users(client, admin_headers, make_org):
    org = make_org("Gamma Srl")
    response = client.post(
        "/api/v1/users",
        json={"email": "New.Firm@Example.org", "password": "long enough pw", "role": "firm", "organization_id": org.id},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["email"] == "new.firm@example.org" and body["organization_id"] == org.id and body["role"] == "firm"
    assert "password" not in body and "password_hash" not in body
    assert client.post("/api/v1/auth/token", json={"email": "new.firm@example.org", "password": "long enough pw"}).status_code == 201


@pytest.mark.parametrize(
    "payload, code, field",
    [
        ({"email": "not-an-email", "password": "long enough", "role": "legal"}, "invalid_field", "email"),
        ({"email": "a@example.org", "password": "short", "role": "legal"}, "invalid_field", "password"),
        ({"email": "a@example.org", "password": "long enough", "role": "boss"}, "invalid_field", "role"),
        ({"email": "a@example.org", "password": "long enough", "role": "firm"}, None, None),
        ({"email": "a@example.org", "password": "long enough", "role": "firm", "organization_id": 9999}, "invalid_field", "organization_id"),
        ({"email": "a@example.org", "password": "long enough", "role": "firm", "organization_id": "1"}, "invalid_field", "organization_id"),
        ({"email": "a@example.org", "password": "long enough", "role": "legal", "is_admin": True}, "unknown_field", "is_admin"),
        ({"email": ["a@example.org"], "password": "long enough", "role": "legal"}, None, "email"),
    ],
)
def test_user_values_are_checked(client, admin_headers, payload, code, field):
    before = table_counts()
    error = _error(client.post("/api/v1/users", json=payload, headers=admin_headers), 422, code, field)
    if payload["role"] == "firm" and "organization_id" not in payload:
        assert error.get("field") in ("organization_id", "org")
    assert table_counts() == before


def test_duplicate_user_is_refused(client, admin_headers, make_user):
    existing = make_user("legal")
    before = table_counts()
    _error(
        client.post("/api/v1/users", json={"email": existing.email.upper(), "password": "long enough", "role": "legal"},
                    headers=admin_headers),
        422, "duplicate", "email",
    )
    assert table_counts() == before


def test_duplicate_names_are_found_in_every_script(client, admin_headers):
    created = client.post("/api/v1/organizations", json={"name": "ООО «Сибирские технологии»", "country": "RU"},
                          headers=admin_headers)
    assert created.status_code == 201
    before = table_counts()
    _error(
        client.post("/api/v1/organizations", json={"name": "ооо «сибирские ТЕХНОЛОГИИ»", "country": "RU"},
                    headers=admin_headers),
        422, "duplicate", "name",
    )
    assert table_counts() == before
