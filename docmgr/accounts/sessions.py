"""Browser sessions: bound to the account as it is in the database, with an absolute lifetime.

The session cookie is signed but lives in the browser, so ending a session means making the server
stop accepting it. Each session carries a fingerprint of the user's ``session_version``, role,
organisation and password hash: logout and deactivation raise the version, and a change of role,
organisation or password changes the fingerprint, so every copy of an older cookie stops working in
every worker. The login time inside the signed cookie bounds its life, whatever the browser does with it.
"""

from __future__ import annotations

import hmac
import time
from hashlib import sha256

from flask import Flask, current_app, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import login_user, logout_user

from docmgr.accounts.models import User

_FINGERPRINT = "_auth"
_LOGIN_AT = "_login_at"


def fingerprint(user: User) -> str:
    """What a session must match to stay valid; keyed, because the cookie's contents are readable."""
    state = f"{user.id}:{user.session_version or 0}:{user.role}:{user.organization_id}:{user.password_hash}"
    key = current_app.config["SECRET_KEY"]
    return hmac.new(key.encode() if isinstance(key, str) else key, state.encode(), sha256).hexdigest()[:32]


def start(user: User) -> None:
    """Log ``user`` in with a fresh session: nothing from before the login (a planted session, the old
    CSRF secret) carries over."""
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)  # Flask-WTF's cached token
    login_user(user)
    session[_FINGERPRINT] = fingerprint(user)
    session[_LOGIN_AT] = int(time.time())


def stop() -> None:
    """Forget this browser's session (the server-side revocation is ``revoke_all``)."""
    logout_user()
    session.clear()


def revoke_all(user: User) -> None:
    """End every browser session of ``user``, wherever it is (logout, deactivation); the caller commits."""
    user.session_version = (user.session_version or 0) + 1


def is_current(user: User) -> bool:
    """The session belongs to the account as it is now, and is younger than the absolute lifetime."""
    login_at = session.get(_LOGIN_AT)
    if not isinstance(login_at, int):
        return False
    age = time.time() - login_at
    if age < -60 or age > current_app.config["SESSION_ABSOLUTE_LIFETIME_SECONDS"]:
        return False
    return hmac.compare_digest(str(session.get(_FINGERPRINT, "")), fingerprint(user))


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, marked ``Secure`` whenever the request came over https (directly or,
    with the trusted-proxy setting, through a proxy), not only when configured so."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or (has_request_context() and request.is_secure))
