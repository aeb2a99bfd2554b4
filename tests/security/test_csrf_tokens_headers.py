"""CSRF on every state-changing form, forged/expired/revoked tokens on every API read, login brute force,
open redirects after login, and the security headers of every answer."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from sqlalchemy import select, update

from docmgr.extensions import db
from tests.conftest import PASSWORD, csrf_from
from tests.security.conftest import error_code, snapshot
from tests.security.test_access_matrix import ROUTES, _rule_for, _send, url_for_rule

STATE_CHANGING = ("POST", "PATCH", "DELETE", "PUT")


def _pages(methods):
    return [pytest.param(e, m, id=f"{e}-{m}") for (e, m) in ROUTES if m in methods and not e.startswith("api.")
            and e != "static"]


def _api(methods, *, public: bool = False):
    return [pytest.param(e, m, id=f"{e}-{m}") for (e, m), r in ROUTES.items() if m in methods and e.startswith("api.")
            and r.public == public]


# --- CSRF ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "method"), _pages(STATE_CHANGING))
def test_form_post_without_csrf_token_is_refused(world, endpoint, method):
    """Logged in as an admin (who may do everything) but without the token: 400 csrf_failed, nothing changes."""
    route = ROUTES[(endpoint, method)]
    client, _token = world.browser("admin")
    url = url_for_rule(world, _rule_for(world, endpoint, method), route)
    other_token = world.browser("legal")[1]
    before = snapshot(world.app)
    response = _send(client, method, url, route, world)
    assert response.status_code == 400, (url, response.status_code)
    assert error_code(response) == "csrf_failed"
    # A wrong token (another browser's) is no better.
    response = _send(client, method, url, route, world, csrf=other_token)
    assert response.status_code == 400 and error_code(response) == "csrf_failed", (url, response.status_code)
    assert snapshot(world.app) == before
    assert client.get("/api/v1/me").status_code == 200  # still logged in: the refusal changed nothing


@pytest.mark.parametrize(("endpoint", "method"), _api(STATE_CHANGING))
def test_api_write_with_session_cookie_but_no_csrf_token_is_refused(world, endpoint, method):
    route = ROUTES[(endpoint, method)]
    client, _token = world.browser("admin")
    url = url_for_rule(world, _rule_for(world, endpoint, method), route)
    before = snapshot(world.app)
    response = _send(client, method, url, route, world)
    assert response.status_code == 400, (url, response.status_code, response.get_data(as_text=True)[:200])
    assert response.mimetype == "application/json" and error_code(response) == "csrf_failed"
    assert snapshot(world.app) == before


def test_bogus_bearer_header_does_not_let_a_session_cookie_skip_csrf(world):
    """A request with 'Authorization: Bearer junk' skips the CSRF check; the cookie riding along must then not
    log it in, or any site could forge writes by adding a junk header."""
    client, _token = world.browser("admin")
    before = snapshot(world.app)
    response = client.post("/api/v1/organizations", json={"name": "Forged", "country": "IT"},
                           headers={"Authorization": "Bearer junk"})
    assert response.status_code == 401 and error_code(response) == "not_authenticated"
    response = client.post("/admin/organizations", data={"name": "Forged", "country": "IT", "kind": "firm"},
                           headers={"Authorization": "Bearer junk"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")  # the page asks to log in
    assert snapshot(world.app) == before


# --- tokens --------------------------------------------------------------------------------------------------------


def _fresh_token(world, role: str = "firm_a") -> tuple[str, int]:
    from docmgr.accounts.models import ApiToken

    response = world.app.test_client().post("/api/v1/auth/token", json={"email": world.users[role].email,
                                                                        "password": PASSWORD})
    assert response.status_code == 201
    token = response.get_json()["token"]
    token_id = db.session.scalar(select(ApiToken.id).order_by(ApiToken.id.desc()))
    return token, token_id


API_READS = [(e, m) for (e, m), r in ROUTES.items() if e.startswith("api.") and m == "GET" and not r.public]


def _assert_every_read_is_401(world, header: dict[str, str], label: str) -> None:
    client = world.app.test_client()
    for endpoint, method in API_READS:
        route = ROUTES[(endpoint, method)]
        url = url_for_rule(world, _rule_for(world, endpoint, method), route)
        response = client.get(url, headers=header)
        assert response.status_code == 401, (label, url, response.status_code)
        assert error_code(response) == "not_authenticated", (label, url)


@pytest.mark.parametrize("header", [
    "Bearer dm_" + "A" * 43, "Bearer ", "Bearer  ", "Bearer dm_x y", "Bearer " + "x" * 20000, "Bearer d\u00e9j\u00e0",
    "Bearer ../../etc/passwd", "Bearer ' OR 1=1 --", "Bearer \x00",
])
def test_forged_tokens_are_401_everywhere(world, header):
    _assert_every_read_is_401(world, {"Authorization": header}, repr(header[:30]))


def test_revoked_token_is_401_everywhere_even_with_a_session_cookie(world):
    token, _ = _fresh_token(world)
    client = world.app.test_client()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.delete("/api/v1/auth/token", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    _assert_every_read_is_401(world, {"Authorization": f"Bearer {token}"}, "revoked")
    browser, _csrf = world.browser("firm_a")  # the same user's live session does not rescue the dead token
    assert browser.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_token_revoked_by_an_admin_is_401_everywhere(world):
    token, token_id = _fresh_token(world)
    response = world.app.test_client().delete(f"/api/v1/auth/tokens/{token_id}", headers=world.token("admin"))
    assert response.status_code == 204
    _assert_every_read_is_401(world, {"Authorization": f"Bearer {token}"}, "revoked by admin")


def test_expired_token_is_401_everywhere(world):
    from docmgr.accounts.models import ApiToken
    from docmgr.database import utcnow

    token, token_id = _fresh_token(world)
    db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    _assert_every_read_is_401(world, {"Authorization": f"Bearer {token}"}, "expired")


def test_token_of_a_deactivated_user_is_401(app, make_user, token_for, client):
    from docmgr.accounts.services import set_user_active

    admin, victim = make_user("admin"), make_user("firm")
    header = token_for(victim)
    set_user_active(db.session, admin, victim.id, False)
    db.session.commit()
    assert client.get("/api/v1/me", headers=header).status_code == 401
    assert client.get("/api/v1/documents", headers=header).status_code == 401


def test_token_hash_not_token_is_stored(world):
    from docmgr.accounts.models import ApiToken

    token, token_id = _fresh_token(world)
    row = db.session.get(ApiToken, token_id)
    assert token not in (row.token_hash or "")
    listed = world.app.test_client().get("/api/v1/auth/tokens", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and token not in listed.get_data(as_text=True)


# --- login brute force (fresh app per test: failures are remembered in the database) --------------------------------


def _login_form(client, email: str, password: str, **kwargs):
    token = csrf_from(client.get("/login", **kwargs).get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs)


def test_login_form_and_token_endpoint_share_one_counter(app, client, make_user):
    user = make_user("legal")
    for _ in range(3):
        assert _login_form(client, user.email, "wrong password").status_code == 401
    for _ in range(2):
        response = client.post("/api/v1/auth/token", json={"email": user.email, "password": "wrong password"})
        assert response.status_code == 401
    before = snapshot(app)
    # Now even the right password is refused, on both doors, and nothing new is issued.
    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 429 and error_code(response) == "too_many_attempts"
    response = _login_form(client, user.email, PASSWORD)
    assert response.status_code == 429 and "too_many_attempts" in response.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401  # not logged in
    assert snapshot(app)[0]["api_tokens"] == before[0]["api_tokens"]


def test_guessing_many_emails_from_one_address_throttles_each_pair_not_the_address(app, client, make_user):
    """Availability (issue 12): throttles are per (address, e-mail) pair. Guesses at other accounts from a
    shared address (an office, a reverse proxy) lock no one else out; a spoofed X-Forwarded-For changes
    nothing unless DOCMGR_TRUSTED_PROXIES is set."""
    user = make_user("legal")
    for n in range(40):
        response = client.post("/api/v1/auth/token", json={"email": f"guess{n % 4}@example.org", "password": "x" * 10},
                               headers={"X-Forwarded-For": f"10.0.0.{n}"})  # a spoofed header changes nothing
        if response.status_code == 429:
            break
    assert response.status_code == 429 and error_code(response) == "too_many_attempts", n
    assert n <= 4 * app.config["LOGIN_MAX_FAILURES"]
    response = client.post("/api/v1/auth/token", json={"email": user.email, "password": PASSWORD},
                           headers={"X-Forwarded-For": "192.0.2.77"})
    assert response.status_code == 201


# --- open redirects ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [
    "//evil.example", "https://evil.example/", "http:evil.example", "/\\evil.example", "\\\\evil.example",
    "javascript:alert(1)", "/\t/evil.example", " //evil.example", "//evil.example/%2F..", "https:/evil.example",
    "/%0d%0aLocation:%20http://evil.example", "data:text/html,<script>alert(1)</script>", "///evil.example",
])
def test_login_next_never_leaves_the_site(world, target):
    client = world.app.test_client()
    page = client.get("/login", query_string={"next": target})
    token = csrf_from(page.get_data(as_text=True))
    response = client.post("/login", query_string={"next": target},
                           data={"email": world.users["firm_b"].email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    location = response.headers["Location"]
    parsed = urlparse(location)
    assert not parsed.netloc and not parsed.scheme and location.startswith("/") and not location.startswith("//"), location
    assert "\\" not in location and "\r" not in location and "\n" not in location
    # Already logged in: the same rule applies to the redirect away from /login.
    again = client.get("/login", query_string={"next": target})
    assert again.status_code == 302 and not urlparse(again.headers["Location"]).netloc


def test_login_next_keeps_a_same_site_path(world):
    client = world.app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login?next=/agreements%3Fstatus%3Ddraft",
                           data={"email": world.users["firm_b"].email, "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/agreements?status=draft"


# --- security headers ----------------------------------------------------------------------------------------------


GETS = [pytest.param(e, id=e) for (e, m) in ROUTES if m == "GET"]


def _assert_headers(response, url: str) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    script_src = next((part for part in csp.split(";") if part.strip().startswith("script-src")), "")
    assert script_src and "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, (url, csp)
    assert "default-src" in csp and "frame-ancestors 'none'" in csp, (url, csp)
    assert headers.get("X-Content-Type-Options") == "nosniff", url
    assert headers.get("X-Frame-Options") == "DENY", url
    assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"), url


@pytest.mark.parametrize("endpoint", GETS)
def test_security_headers_on_every_answer(world, endpoint):
    route = ROUTES[(endpoint, "GET")]
    url = url_for_rule(world, _rule_for(world, endpoint, "GET"), route)
    if url.startswith("/api/"):
        response = world.app.test_client().get(url, headers=world.token("legal"))
    else:
        response = world.browser("legal")[0].get(url)
    assert response.status_code < 500, url
    _assert_headers(response, url)
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: no HSTS
    if response.status_code == 200 and response.mimetype == "text/html":
        assert "<script>" not in response.get_data(as_text=True), url  # CSP forbids inline scripts anyway
    if url.startswith("/api/") and not url.endswith((".pdf", ".docx", "/content", "/export", ".json", "/evidence")):
        assert response.mimetype == "application/json", url


def test_error_answers_have_the_headers_too(world):
    client = world.app.test_client()
    for response, url in ((client.get("/api/v1/documents/999999"), "401"),
                          (client.get("/api/v1/documents/999999", headers=world.token("legal")), "404 api"),
                          (world.browser("legal")[0].get("/documents/999999"), "404 page"),
                          (client.post("/login", data={}), "400 csrf")):
        _assert_headers(response, url)


def test_hsts_over_tls(world):
    client = world.app.test_client()
    for url in ("/login", "/api/v1/openapi.json"):
        response = client.get(url, base_url="https://localhost")
        assert "max-age=" in response.headers.get("Strict-Transport-Security", ""), url
        _assert_headers(response, url)


DOWNLOADS = [
    "/api/v1/documents/{doc_a}/files/{file_a}/content", "/documents/{doc_a}/files/{file_a}/download",
    "/api/v1/agreements/{agreement_exec}/drafts/1.pdf", "/api/v1/agreements/{agreement_exec}/drafts/1.docx",
    "/agreements/{agreement_exec}/drafts/1.pdf", "/agreements/{agreement_exec}/drafts/1.docx",
    "/api/v1/agreements/{agreement_exec}/signatories/{signatory_exec}/submissions/{submission_exec}/content",
    "/agreements/{agreement_exec}/signatures/{signatory_exec}/submissions/{submission_exec}",
    "/api/v1/agreements/{agreement_exec}/certificate.pdf", "/agreements/{agreement_exec}/signatures/certificate.pdf",
]


@pytest.mark.parametrize("template", DOWNLOADS)
def test_downloads_are_attachments_with_nosniff(world, template):
    url = template.format(**world.ids)
    if url.startswith("/api/"):
        response = world.app.test_client().get(url, headers=world.token("legal"))
    else:
        response = world.browser("legal")[0].get(url)
    assert response.status_code == 200, url
    disposition = response.headers.get("Content-Disposition", "")
    assert disposition.startswith("attachment"), (url, disposition)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", url
    assert response.mimetype not in ("text/html", "image/svg+xml", "application/xhtml+xml"), url
    assert "no-store" in response.headers.get("Cache-Control", ""), url


@pytest.mark.parametrize("template", ["/documents/{doc_a}/files/{file_a}/thumbnail.png",
                                      "/documents/{doc_a}/files/{file_a}/pages/1.png"])
def test_previews_are_png_with_nosniff(world, template):
    url = template.format(**world.ids)
    response = world.browser("legal")[0].get(url)
    assert response.status_code == 200, url
    assert response.mimetype == "image/png" and response.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert "private" in response.headers.get("Cache-Control", "")


def test_session_cookie_flags(world):
    client = world.app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": world.users["firm_b"].email, "password": PASSWORD,
                                           "csrf_token": token})
    cookie = "; ".join(response.headers.getlist("Set-Cookie"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie


def test_secret_key_is_not_guessable(world):
    assert len(world.app.config["SECRET_KEY"]) >= 32
    assert secrets.compare_digest(world.app.config["SECRET_KEY"], world.app.config["SECRET_KEY"])
