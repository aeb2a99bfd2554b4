"""Password resets: by an administrator (a temporary password, or a link sent by e-mail) and by the user
through "forgot password".

A link carries a random token of 256 bits; only its SHA-256 is stored. It works once, for
``PASSWORD_RESET_MINUTES``, and choosing a new password through it ends every session of the user and
voids their other links. "Forgot password" answers the same whether the address has an account or not,
and is throttled per e-mail address and per client address (every request is counted, for unknown
addresses too).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from docmgr.accounts import sessions
from docmgr.accounts.identity import EMAIL_MAX_LENGTH, normalize_email
from docmgr.accounts.models import PasswordReset, User
from docmgr.accounts.permissions import require_admin
from docmgr.accounts.services import check_password, hash_password, password_matches, revoke_all_tokens
from docmgr.audit.services import record
from docmgr.database import utcnow
from docmgr.errors import Invalid, NotFound, RateLimited
from docmgr.mail.services import compose_for_user
from docmgr.security_log import log_security_event

RESET_MAIL = "password_reset"
TEMPORARY_PASSWORD_BYTES = 12  # 16 URL-safe characters


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _set_password(user: User, password_hash: str) -> None:
    user.password_hash = password_hash
    sessions.revoke_all(user)  # every session from before ends (the fingerprint covers the hash too)


def _admin_target(session: Session, actor: User, user_id: int) -> User:
    require_admin(actor)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(gettext("No such user."))
    return user


def set_temporary_password(session: Session, actor: User, user_id: int) -> str:
    """Admins: give the user a random temporary password (shown once to the admin); the user chooses their own
    at the next login. Their sessions and API tokens end."""
    _admin_target(session, actor, user_id)
    password = secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)
    password_hash = hash_password(session, password)
    user = _admin_target(session, actor, user_id)
    _set_password(user, password_hash)
    user.password_must_change = True
    revoke_all_tokens(session, actor, user)
    record(session, actor, "user.password_reset", user, method="temporary_password")
    return password


def _issue_link(session: Session, user: User, *, actor: User | None, remote_addr: str) -> PasswordReset:
    token = secrets.token_urlsafe(32)  # 256 bits
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    row = PasswordReset(
        email=user.email, remote_addr=remote_addr[:64], user_id=user.id, token_hash=_token_hash(token),
        created_by_id=actor.id if actor else None, created_at=utcnow(), expires_at=utcnow() + timedelta(minutes=minutes),
    )
    session.add(row)
    session.flush()
    compose_for_user(session, RESET_MAIL, user, url=f"{current_app.config['PUBLIC_URL'].rstrip('/')}/password/reset/{token}",
                     minutes=int(minutes))
    return row


def send_reset_link(session: Session, actor: User, user_id: int) -> PasswordReset:
    """Admins: e-mail the user a link to choose a new password."""
    user = _admin_target(session, actor, user_id)
    row = _issue_link(session, user, actor=actor, remote_addr="")
    record(session, actor, "user.password_reset", user, method="link", reset_id=row.id)
    return row


def request_reset(session: Session, email: str, remote_addr: str) -> None:
    """"Forgot password": a link to an active account with this address, nothing otherwise; the same answer
    either way. ``RateLimited`` past the hourly limits, which count every request, known address or not."""
    email = normalize_email(email or "")[:EMAIL_MAX_LENGTH]
    remote_addr = (remote_addr or "unknown")[:64]
    if not email:
        raise Invalid(gettext("Give a valid e-mail address."), field="email")
    config = current_app.config
    since = utcnow() - timedelta(hours=1)
    per_email = session.scalar(select(func.count()).select_from(PasswordReset).where(
        PasswordReset.email == email, PasswordReset.created_at >= since, PasswordReset.created_by_id.is_(None)))
    per_address = session.scalar(select(func.count()).select_from(PasswordReset).where(
        PasswordReset.remote_addr == remote_addr, PasswordReset.created_at >= since))
    if per_email >= config["PASSWORD_RESET_MAX_PER_EMAIL"] or per_address >= config["PASSWORD_RESET_MAX_PER_ADDRESS"]:
        log_security_event("password_reset_throttled", user=email, ip=remote_addr)
        raise RateLimited(gettext("Too many password reset requests; try again in an hour."),
                          code="too_many_attempts", retry_after=3600)
    user = session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        session.add(PasswordReset(email=email, remote_addr=remote_addr, created_at=utcnow()))
        log_security_event("password_reset_unknown", user=email, ip=remote_addr)
        return
    row = _issue_link(session, user, actor=None, remote_addr=remote_addr)
    record(session, None, "user.password_reset_requested", user, remote_addr=remote_addr, reset_id=row.id)


def _usable_link(session: Session, token: str) -> PasswordReset:
    row = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _token_hash(token or ""))) if token else None
    if (row is None or row.used_at is not None or row.expires_at is None or row.expires_at <= utcnow()
            or row.user is None or not row.user.is_active):
        raise Invalid(gettext("This password reset link is not valid any more. Ask for a new one."),
                      code="reset_link_invalid", field="token")
    return row


def check_reset_link(session: Session, token: str) -> User:
    """The user a link resets the password of, or ``Invalid`` (unknown, used, expired): the page says so."""
    return _usable_link(session, token).user


def reset_with_link(session: Session, token: str, password: str) -> User:
    """Choose a new password through a link: once; every other link of the user and every session end."""
    _usable_link(session, token)
    check_password(password)
    password_hash = hash_password(session, password)
    row = _usable_link(session, token)  # again: the link may have been used meanwhile
    user = row.user
    now = utcnow()
    row.used_at = now
    session.execute(update(PasswordReset).where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
                    .values(used_at=now))
    _set_password(user, password_hash)
    user.password_must_change = False
    record(session, None, "user.password_changed", user, reset_id=row.id)
    return user


def change_own_password(session: Session, user: User, current: str, password: str) -> User:
    """A logged-in user (e.g. after a temporary password) chooses a new password, giving the current one."""
    stored = user.password_hash
    if not password_matches(session, stored, current):
        raise Invalid(gettext("The current password is wrong."), field="current_password")
    check_password(password)
    if password_matches(session, stored, password):
        raise Invalid(gettext("Choose a password different from the current one."), field="password")
    password_hash = hash_password(session, password)
    if user.password_hash != stored:  # changed meanwhile (another session, an admin): what was given is not current
        raise Invalid(gettext("The current password is wrong."), field="current_password")
    _set_password(user, password_hash)
    user.password_must_change = False
    record(session, user, "user.password_changed", user)
    return user
