"""Users, organisations, logins and API tokens: the rules and the writes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, has_request_context, request
from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from docmgr.accounts import sessions
from docmgr.accounts.identity import EMAIL_MAX_LENGTH, IdentityError, checked_email, normalize_email, skeleton
from docmgr.accounts.models import COUNTRIES, ApiToken, LoginAttempt, Organization, OrganizationKind, Role, User
from docmgr.accounts.permissions import require_admin
from docmgr.audit.services import record
from docmgr.database import release_read_transaction, utcnow
from docmgr.errors import Invalid, NotFound, RateLimited
from docmgr.extensions import db
from docmgr.security_log import log_security_event
from docmgr.vocab import ORGANIZATION_KINDS, ROLES, iso

MIN_PASSWORD_LENGTH = 8
# Hashing a password nobody has takes as long as checking a real one, so timing tells no one
# which e-mail addresses exist.
_DUMMY_HASH = generate_password_hash("docmgr-timing-equaliser")


# --- field checks: one rule and one message each, run by the services and by the page forms ----------


def check_organization_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid(gettext("The organisation needs a name."), field="name")
    if len(name) > 300:
        raise Invalid(gettext("The name is longer than 300 characters."), field="name")
    return name


def check_country(country: str | None) -> str:
    country = (country or "").strip().upper()
    if country not in COUNTRIES:
        raise Invalid(gettext("Country must be IT or RU."), field="country")
    return country


def check_organization_kind(kind: str | None) -> str:
    if kind not in ORGANIZATION_KINDS:
        raise Invalid(gettext("Kind must be firm, institution or ministry."), field="kind")
    return kind


def check_email(email: str | None) -> str:
    """A new user's e-mail: normalised, one script, nothing invisible (docmgr.accounts.identity)."""
    try:
        return checked_email(email or "")
    except IdentityError as error:
        if error.code == "invisible_characters":
            message = gettext("The e-mail address contains invisible characters (%(chars)s).", chars=error.detail)
        elif error.code == "mixed_script":
            message = gettext("Each part of the e-mail address must be written in one script.")
        else:
            raise Invalid(gettext("Give a valid e-mail address."), field="email") from None
        raise Invalid(message, field="email", code=error.code) from None


def check_role(role: str | None) -> str:
    if role not in ROLES:
        raise Invalid(gettext("Role must be admin, legal, firm or ministry."), field="role")
    return role


def check_password(password: str | None) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise Invalid(gettext("The password needs at least %(num)s characters.", num=MIN_PASSWORD_LENGTH), field="password")
    return password or ""


def hash_password(session: Session, password: str) -> str:
    """The hash to store for ``password``. Hashing takes 0.1 s and more, so the transaction is ended first where it
    has written nothing (``release_read_transaction``): no database lock is held meanwhile, and objects loaded
    before reload on their next use (what a caller checked before must still hold after, or be checked again)."""
    release_read_transaction(session)
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def password_matches(session: Session, password_hash: str, password: str | None) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from; no database lock is held meanwhile (as
    ``hash_password``)."""
    release_read_transaction(session)
    return check_password_hash(password_hash, password or "")


# --- organisations ---------------------------------------------------------------------------------


def create_organization(
    session: Session,
    actor: User | None,
    *,
    name: str,
    country: str,
    kind: str = OrganizationKind.FIRM.value,
    name_alt: str | None = None,
    address: str | None = None,
    address_alt: str | None = None,
) -> Organization:
    if actor is not None:
        require_admin(actor)
    name = check_organization_name(name)
    country = check_country(country)
    kind = check_organization_kind(kind)
    if _organization_named(session, name) is not None:
        raise Invalid(gettext("An organisation named '%(name)s' already exists.", name=name), field="name", code="duplicate")
    org = Organization(
        name=name, country=country, kind=kind, name_alt=(name_alt or "").strip() or None,
        address=address, address_alt=address_alt,
    )
    session.add(org)
    session.flush()
    record(session, actor, "organization.created", org, name=name, country=country, kind=kind)
    return org


def get_organization(session: Session, org_id: int) -> Organization:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(gettext("No such organisation."))
    return org


def _organization_named(session: Session, name: str) -> Organization | None:
    """Case-insensitive in every script: SQLite's lower() only folds ASCII, so «ООО «Сибирские…»» and
    «ооо «сибирские…»» would pass as different names. The table is small; compare in Python."""
    wanted = name.strip().casefold()
    for org in session.scalars(select(Organization).order_by(Organization.id)):
        if org.name.casefold() == wanted:
            return org
    return None


def update_organization(
    session: Session, actor: User, org_id: int, *, name: str, country: str, kind: str, name_alt: str | None = None,
    address: str | None = None, address_alt: str | None = None,
) -> Organization:
    """Admins: rename or correct an organisation (audited, each change as old → new)."""
    require_admin(actor)
    org = get_organization(session, org_id)
    name, country, kind = check_organization_name(name), check_country(country), check_organization_kind(kind)
    same_name = _organization_named(session, name)
    if same_name is not None and same_name.id != org.id:
        raise Invalid(gettext("An organisation named '%(name)s' already exists.", name=name), field="name", code="duplicate")
    changes = _changes(org, {
        "name": name, "country": country, "kind": kind, "name_alt": (name_alt or "").strip() or None,
        "address": (address or "").strip() or None, "address_alt": (address_alt or "").strip() or None,
    })
    if changes:
        record(session, actor, "organization.updated", org, changes=changes)
    return org


def find_organization(session: Session, name: str) -> Organization:
    org = _organization_named(session, name)
    if org is None:
        raise NotFound(gettext("No organisation named '%(name)s'.", name=name), field="org")
    return org


# --- users -------------------------------------------------------------------------------------


def create_user(
    session: Session,
    actor: User | None,
    *,
    email: str,
    password: str,
    role: str,
    organization: Organization | None = None,
    name: str = "",
) -> User:
    """``actor`` None means the command line (the operator of the machine)."""
    if actor is not None:
        require_admin(actor)
    email = _identity_email(session, email)
    check_role(role)
    check_password(password)
    if role == Role.FIRM.value and organization is None:
        raise Invalid(gettext("A firm user belongs to an organisation: give one."), field="org")
    password_hash = hash_password(session, password)
    email = _identity_email(session, email)  # again: a look-alike may have been created meanwhile
    user = User(email=email, name=(name or "").strip(), role=role, organization=organization, password_hash=password_hash)
    session.add(user)
    session.flush()
    record(session, actor, "user.created", user, email=email, role=role, organization_id=user.organization_id)
    return user


def _identity_email(session: Session, raw: str, *, except_user_id: int | None = None) -> str:
    """A new user's e-mail (``check_email``), not a look-alike of anyone's (docmgr.accounts.identity)."""
    email = check_email(raw)
    wanted = skeleton(email)
    for (existing,) in session.execute(select(User.email).where(User.id != (except_user_id or 0))):
        if existing == email or skeleton(existing) == wanted:
            raise Invalid(gettext("A user with e-mail %(email)s already exists.", email=existing), field="email",
                          code="duplicate")
    return email


def _changes(obj: object, values: dict) -> dict[str, list]:
    """Set each attribute that differs; ``{name: [old, new]}`` of those changed (for the audit entry)."""
    changes = {}
    for name, value in values.items():
        old = getattr(obj, name)
        if old != value:
            changes[name] = [old, value]
            setattr(obj, name, value)
    return changes


def get_user(session: Session, actor: User, user_id: int) -> User:
    require_admin(actor)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(gettext("No such user."))
    return user


def update_user(
    session: Session, actor: User, user_id: int, *, email: str, name: str, role: str, organization: Organization | None,
) -> User:
    """Admins: change a user's e-mail, name, role or organisation (audited, each change as old → new). An
    admin cannot take the administrator role from themselves (nobody would be left to give it back)."""
    user = get_user(session, actor, user_id)
    email = user.email if normalize_email(email or "") == user.email else _identity_email(session, email, except_user_id=user.id)
    check_role(role)
    if role == Role.FIRM.value and organization is None:
        raise Invalid(gettext("A firm user belongs to an organisation: give one."), field="org")
    if user.id == actor.id and role != Role.ADMIN.value:
        raise Invalid(gettext("You cannot remove your own administrator role."), field="role")
    changes = _changes(user, {"email": email, "name": (name or "").strip()[:200], "role": role,
                              "organization_id": organization.id if organization else None})
    if changes:
        session.flush()
        record(session, actor, "user.updated", user, changes=changes)
    return user


def set_user_active(session: Session, actor: User, user_id: int, is_active: bool) -> User:
    require_admin(actor)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(gettext("No such user."))
    if user.id == actor.id and not is_active:
        raise Invalid(gettext("You cannot deactivate your own account."), field="is_active")
    user.is_active_account = is_active
    if not is_active:
        revoke_all_tokens(session, actor, user)
        sessions.revoke_all(user)  # a cookie from before must not work again after reactivation
    record(session, actor, "user.activated" if is_active else "user.deactivated", user)
    return user


# --- logging in --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    """Failed logins in a row for one (address, e-mail) pair, and until when that pair is locked out."""

    email: str
    remote_addr: str
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None

    @property
    def is_locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > utcnow()


def _backoff(failures: int) -> timedelta | None:
    """Exponential back-off: nothing for the first LOGIN_MAX_FAILURES - 1 failures in a row, then
    BASE seconds after the next one, twice that after the one after, … at most MAX."""
    config = current_app.config
    free = config["LOGIN_MAX_FAILURES"]
    if failures < free:
        return None
    seconds = config["LOGIN_BACKOFF_BASE_SECONDS"] * 2 ** min(failures - free, 30)
    return timedelta(seconds=min(seconds, config["LOGIN_BACKOFF_MAX_SECONDS"]))


def throttle_for(session: Session, email: str, remote_addr: str) -> Throttle | None:
    """The pair's failures since its last success (or lift), within the window; None when there are none.

    Only the pair counts: another address trying the same e-mail, or this address trying other e-mails,
    changes nothing for it, so neither a guesser elsewhere nor a shared proxy address locks the owner out."""
    since = utcnow() - timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    pair = (LoginAttempt.email == email, LoginAttempt.remote_addr == remote_addr)
    last_success = session.scalar(select(func.max(LoginAttempt.created_at)).where(*pair, LoginAttempt.succeeded.is_(True)))
    if last_success is not None and last_success > since:
        since = last_success
    count, last = session.execute(
        select(func.count(), func.max(LoginAttempt.created_at)).where(
            *pair, LoginAttempt.succeeded.is_(False), LoginAttempt.lifted_at.is_(None), LoginAttempt.created_at >= since,
        )
    ).one()
    if not count:
        return None
    last = last if last.tzinfo else last.replace(tzinfo=UTC)
    backoff = _backoff(count)
    return Throttle(email, remote_addr, count, last, last + backoff if backoff else None)


def list_throttles(session: Session, actor: User) -> list[Throttle]:
    """Admins: every pair with enough failures in a row to be throttled (locked now or the next failure
    locks it), newest first."""
    require_admin(actor)
    since = utcnow() - timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    pairs = session.execute(
        select(LoginAttempt.email, LoginAttempt.remote_addr).where(
            LoginAttempt.succeeded.is_(False), LoginAttempt.lifted_at.is_(None), LoginAttempt.created_at >= since,
        ).group_by(LoginAttempt.email, LoginAttempt.remote_addr).having(
            func.count() >= current_app.config["LOGIN_MAX_FAILURES"]
        )
    ).all()
    throttles = [t for email, addr in pairs if (t := throttle_for(session, email, addr)) and t.locked_until]
    return sorted(throttles, key=lambda t: (t.last_failure_at, t.email, t.remote_addr), reverse=True)


def lift_throttle(session: Session, actor: User, email: str, remote_addr: str) -> int:
    """Admins: forget the pair's failures (kept, marked lifted); audited. 404 when nothing to lift."""
    require_admin(actor)
    email = normalize_email(email)[:EMAIL_MAX_LENGTH]  # as authenticate() records it
    rows = list(session.scalars(select(LoginAttempt).where(
        LoginAttempt.email == email, LoginAttempt.remote_addr == (remote_addr or "").strip(),
        LoginAttempt.succeeded.is_(False), LoginAttempt.lifted_at.is_(None),
    )))
    if not rows:
        raise NotFound(gettext("No failed logins to lift for this address and e-mail."), code="no_throttle")
    now = utcnow()
    for row in rows:
        row.lifted_at = now
    record(session, actor, "login.throttle_lifted", email=email, remote_addr=remote_addr, failures=len(rows))
    return len(rows)


def _refuse_if_throttled(session: Session, email: str, remote_addr: str) -> None:
    throttle = throttle_for(session, email, remote_addr)
    if throttle is not None and throttle.is_locked:
        wait = max(1, int((throttle.locked_until - utcnow()).total_seconds() + 0.999))
        log_security_event("login_throttled", user=email, ip=remote_addr, failures=throttle.failures)
        raise RateLimited(
            gettext("Too many failed logins for this account from your address; try again in %(num)s seconds.", num=wait),
            code="too_many_attempts", retry_after=wait,
        )


def authenticate(session: Session, email: str, password: str, remote_addr: str) -> User | None:
    """Check credentials, throttled per (address, e-mail) pair with exponential back-off.

    Returns None for wrong credentials *after* recording the failure, so that the caller can commit
    it before answering 401 (an exception would roll the record of the attempt back).
    """
    email = normalize_email(email)[:EMAIL_MAX_LENGTH]  # full-width or upper case: the same person
    remote_addr = remote_addr or "unknown"
    _refuse_if_throttled(session, email, remote_addr)
    user = session.scalar(select(User).where(User.email == email))
    password_hash, user_id = (user.password_hash, user.id) if user else (_DUMMY_HASH, None)
    released = release_read_transaction(session)  # no database lock while the password is hashed (0.1 s and more)
    ok = check_password_hash(password_hash, password or "")
    if released:
        # The failures recorded meanwhile count: a burst of guesses sent in parallel is throttled as the same
        # guesses sent one after another are, and a right password in it is not told apart.
        _refuse_if_throttled(session, email, remote_addr)
        user = session.get(User, user_id) if user_id is not None else None
    if not ok or user is None or not user.is_active:
        session.add(LoginAttempt(email=email, remote_addr=remote_addr, succeeded=False))
        record(session, None, "user.login_failed", email=email, remote_addr=remote_addr)
        reason = "unknown_user" if user is None else "wrong_password" if not ok else "inactive_account"
        log_security_event("login_failed", user=email, ip=remote_addr, reason=reason)
        return None
    session.add(LoginAttempt(email=email, remote_addr=remote_addr, succeeded=True))
    record(session, user, "user.login", user, remote_addr=remote_addr)
    return user


def record_logout(session: Session, user: User) -> None:
    """Logout ends every browser session of the user: a copy of the cookie saved before is worthless."""
    sessions.revoke_all(user)
    record(session, user, "user.logout", user)


# --- API tokens --------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User) -> tuple[str, ApiToken]:
    token = "dm_" + secrets.token_urlsafe(32)
    ttl = timedelta(hours=current_app.config["API_TOKEN_TTL_HOURS"])
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), expires_at=utcnow() + ttl)
    session.add(row)
    session.flush()
    record(session, user, "token.issued", row, expires_at=row.expires_at.isoformat())
    return token, row


def list_tokens(session: Session, actor: User, user_id: int | None = None) -> list[ApiToken]:
    owner_id = user_id if user_id is not None else actor.id
    if owner_id != actor.id:
        require_admin(actor)
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == owner_id).order_by(ApiToken.id.desc())))


def revoke_token(session: Session, actor: User, token_id: int) -> ApiToken:
    """Users revoke their own tokens; admins revoke anyone's. Others' tokens answer 404."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.id and not actor.is_admin):
        raise NotFound(gettext("No such token."))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(session, actor, "token.revoked", row, user_id=row.user_id)
    return row


def revoke_all_tokens(session: Session, actor: User, user: User) -> int:
    count = 0
    for row in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
        row.revoked_at = utcnow()
        count += 1
    if count:
        record(session, actor, "token.revoked_all", user, count=count)
    return count


def user_for_token(session: Session, token: str) -> User | None:
    # The user comes in the same query: every API request starts here.
    row = session.scalar(select(ApiToken).options(joinedload(ApiToken.user))
                         .where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = row.user
    return user if user.is_active else None


def bearer_token_state(session: Session, token: str) -> str:
    """Why a presented API token did not log anyone in: revoked, expired, inactive_user or unknown."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token))) if token else None
    if row is None:
        return "unknown"
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= utcnow():
        return "expired"
    return "inactive_user"


# --- Flask-Login loaders -----------------------------------------------------------------------


def load_user_from_session(user_id: str) -> User | None:
    if has_request_context() and request.headers.get("Authorization", "").startswith("Bearer "):
        # A request that sends a token is judged by that token alone: it skips the CSRF check, so a
        # session cookie riding along must not log it in when the token itself is bogus.
        return None
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None
    if user is None or not user.is_active or not sessions.is_current(user):
        return None
    return user


def load_user_from_request(request) -> User | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    return user_for_token(db.session, header[len("Bearer "):].strip())


def token_expiry_iso(row: ApiToken) -> str:
    return iso(row.expires_at) or ""
