"""'Forgot password': an e-mailed link (256-bit token stored hashed, expiring, single use), the same answer
for known and unknown addresses, throttled per address and per e-mail."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from sqlalchemy import func, select

from docmgr.accounts.models import PasswordReset, User
from docmgr.extensions import db
from docmgr.mail.models import OutgoingMail
from tests.conftest import PASSWORD, csrf_from, table_counts


def _forgot(client, email: str):
    token = csrf_from(client.get("/password/forgot").get_data(as_text=True))
    return client.post("/password/forgot", data={"email": email, "csrf_token": token})


def _link_token() -> str:
    mail = db.session.scalar(select(OutgoingMail).where(OutgoingMail.kind == "password_reset").order_by(OutgoingMail.id.desc()))
    return re.search(r"/password/reset/([A-Za-z0-9_-]+)", mail.body_text).group(1)


def _choose(client, token: str, password: str, confirm: str | None = None):
    page = client.get(f"/password/reset/{token}")
    if page.status_code != 200:
        return page
    return client.post(f"/password/reset/{token}", data={
        "password": password, "password_confirm": password if confirm is None else confirm,
        "csrf_token": csrf_from(page.get_data(as_text=True))})


def _can_log_in(client, email: str, password: str) -> bool:
    return client.post("/api/v1/auth/token", json={"email": email, "password": password}).status_code == 201


def test_forgot_password_journey(client, make_user):
    user = make_user("firm")
    response = _forgot(client, user.email.upper())
    assert response.status_code == 200 and "data-sent" in response.get_data(as_text=True)
    token = _link_token()
    assert len(token) >= 43  # 256 bits, URL-safe base64
    row = db.session.scalar(select(PasswordReset).where(PasswordReset.user_id == user.id))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in (row.token_hash or "")
    mismatch = _choose(client, token, "a new password", "another one")
    assert mismatch.status_code == 422 and 'id="password_confirm-error"' in mismatch.get_data(as_text=True)
    assert _choose(client, token, "a new password").status_code == 302
    assert _can_log_in(client, user.email, "a new password") and not _can_log_in(client, user.email, PASSWORD)
    again = _choose(client, token, "yet another password")  # single use
    assert again.status_code == 410 and 'data-code="reset_link_invalid"' in again.get_data(as_text=True)
    assert _can_log_in(client, user.email, "a new password")


def test_no_account_enumeration(client, make_user):
    user = make_user("firm")
    known = _forgot(client, user.email).get_data(as_text=True)
    unknown = _forgot(client, "nobody@example.org").get_data(as_text=True)
    strip = lambda html: re.sub(r'name="csrf_token" value="[^"]+"', "", html).replace(user.email, "X")  # noqa: E731
    assert strip(known) == strip(unknown)
    assert db.session.scalar(select(func.count()).select_from(OutgoingMail)) == 1  # only the real account gets mail


def test_expired_and_unknown_links_change_nothing(client, make_user):
    user = make_user("firm")
    _forgot(client, user.email)
    token = _link_token()
    row = db.session.scalar(select(PasswordReset).where(PasswordReset.user_id == user.id))
    row.expires_at = row.created_at - dt.timedelta(seconds=1)
    db.session.commit()
    before = table_counts()
    for bad in (token, "A" * 43, token[:-1]):
        assert _choose(client, bad, "a new password").status_code == 410
    assert table_counts() == before and _can_log_in(client, user.email, PASSWORD)


def test_a_new_password_voids_other_links_and_sessions(app, client, make_user, login):
    user = make_user("legal")
    login(user)
    _forgot(client, user.email)
    first = _link_token()
    _forgot(client, user.email)
    second = _link_token()
    assert first != second
    other = app.test_client()
    assert _choose(other, second, "a new password").status_code == 302
    assert _choose(other, first, "another password").status_code == 410
    response = client.get("/account")  # the session from before the reset ended
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_throttled_per_email_and_per_address(app, client, make_user):
    user = make_user("firm")
    for _ in range(app.config["PASSWORD_RESET_MAX_PER_EMAIL"]):
        assert _forgot(client, user.email).status_code == 200
    response = _forgot(client, user.email)
    assert response.status_code == 429 and 'data-code="too_many_attempts"' in response.get_data(as_text=True)
    # Unknown addresses count the same (the 429 tells nothing about who has an account).
    for _ in range(app.config["PASSWORD_RESET_MAX_PER_EMAIL"]):
        assert _forgot(client, "ghost@example.org").status_code == 200
    assert _forgot(client, "ghost@example.org").status_code == 429
    # Per client address: many different e-mails from one address stop too.
    allowed = app.config["PASSWORD_RESET_MAX_PER_ADDRESS"] - 2 * app.config["PASSWORD_RESET_MAX_PER_EMAIL"]
    for n in range(allowed):
        assert _forgot(client, f"other{n}@example.org").status_code == 200
    assert _forgot(client, "fresh@example.org").status_code == 429
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_deactivated_account_gets_no_link(client, make_user):
    user = make_user("firm")
    user.is_active_account = False
    db.session.commit()
    assert _forgot(client, user.email).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(OutgoingMail)) == 0
