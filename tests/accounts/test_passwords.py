"""'Forgot password': an e-mailed link (256-bit token stored hashed, expiring, single use), the same answer
for known and unknown addresses, throttled per address and per e-mail."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import func, select, update

from docmgr.accounts.models import PasswordReset, User
from docmgr.errors import Invalid
from docmgr.extensions import db
from docmgr.mail.models import OutgoingMail
from tests.conftest import PASSWORD, assert_another_writer_gets_in, csrf_from, table_counts


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


@pytest.fixture
def probed_hashing(monkeypatch):
    """Each password hashed or checked probes, while it is hashed, whether another writer can get in: hashing
    takes 0.1 s and more (scrypt), and no request may hold the database's write lock meanwhile."""
    from docmgr.accounts import services

    probes: list[str] = []

    def probing(real):
        def hashing(*args, **kwargs):
            try:
                assert_another_writer_gets_in()
                probes.append("free")
            except Exception as error:  # "database is locked", or a transaction left open on PostgreSQL
                probes.append(repr(error))
            return real(*args, **kwargs)
        return hashing

    monkeypatch.setattr(services, "generate_password_hash", probing(services.generate_password_hash))
    monkeypatch.setattr(services, "check_password_hash", probing(services.check_password_hash))
    return probes


def test_no_database_lock_is_held_while_a_password_is_hashed(app, client, make_user, token_for, login,
                                                             probed_hashing):
    admin = make_user("admin")
    headers = token_for(admin)
    response = client.post("/api/v1/users", headers=headers, json={"email": "nuova@example.it", "password": PASSWORD,
                                                                   "role": "legal"})
    assert response.status_code == 201, response.get_json()
    user = db.session.get(User, response.get_json()["id"])
    login(admin)  # the admin's page: a temporary password
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    html = client.post(f"/admin/users/{user.id}", data={"action": "temporary_password",
                                                         "csrf_token": csrf_from(page)}).get_data(as_text=True)
    temporary = html.split("data-temporary-password>")[1].split("<")[0]
    own = app.test_client()  # the user logs in with it and chooses their own
    page = own.get("/login").get_data(as_text=True)
    own.post("/login", data={"email": user.email, "password": temporary, "csrf_token": csrf_from(page)})
    page = own.get("/password/change").get_data(as_text=True)
    response = own.post("/password/change", data={"csrf_token": csrf_from(page), "current_password": temporary,
                                                  "password": "a brand new one", "password_confirm": "a brand new one"})
    assert response.status_code == 302
    _forgot(app.test_client(), user.email)  # and then forgets it
    assert _choose(app.test_client(), _link_token(), "yet another one").status_code == 302
    assert _can_log_in(client, user.email, "yet another one")
    # One hash for the token, the creation, the temporary password, and each login; three for the change.
    assert len(probed_hashing) >= 9 and set(probed_hashing) == {"free"}, probed_hashing


def test_a_password_changed_meanwhile_is_not_overwritten_by_a_change_that_gave_the_old_one(app, make_user, monkeypatch):
    """The current password is checked with no lock held; if it changes before the new one is stored, the
    change is refused as if the current password were wrong."""
    from docmgr.accounts import passwords, services

    user = make_user("legal")
    real = services.generate_password_hash
    calls = []

    def meanwhile(password, method):
        if not calls:  # while the first new password is hashed, an admin sets another one
            calls.append(password)
            db.session.execute(update(User).where(User.id == user.id).values(password_hash=real("by the admin", method)))
            db.session.commit()
        return real(password, method)

    monkeypatch.setattr(services, "generate_password_hash", meanwhile)
    with pytest.raises(Invalid) as refused:
        passwords.change_own_password(db.session, user, PASSWORD, "a brand new one")
    assert refused.value.field == "current_password"
    db.session.rollback()
    assert _can_log_in(app.test_client(), user.email, "by the admin")
