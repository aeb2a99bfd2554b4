"""docmgr: documents and agreements of the Italian–Russian task force on industrial districts."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import event
from werkzeug.routing import IntegerConverter

from docmgr import (
    documents,
    drafting,
    mail,
    maintenance,
    notes,
    openapi,  # noqa: F401  (registers /api/v1/openapi.json on the API blueprint)
    saved_searches,
    search,
    signatures,
    signing,
    tasks,
    webhooks,
)
from docmgr.accounts import api as accounts_api
from docmgr.accounts import views as accounts_views
from docmgr.accounts.services import load_user_from_request, load_user_from_session
from docmgr.api import bp as api_bp
from docmgr.audit import api as audit_api
from docmgr.audit import views as audit_views
from docmgr.cli import docmgr_cli
from docmgr.config import REPO_ROOT, load_config
from docmgr.database import load_all_models
from docmgr.documents import api as documents_api
from docmgr.documents import views as documents_views
from docmgr.drafting import api as drafting_api
from docmgr.drafting import views as drafting_views
from docmgr.errorhandlers import register_error_handlers, wants_json
from docmgr.errors import Unauthorized
from docmgr.extensions import babel, csrf, db, login_manager, migrate
from docmgr.mail import api as mail_api
from docmgr.saved_searches import api as saved_searches_api
from docmgr.saved_searches import views as saved_searches_views
from docmgr.search import api as search_api
from docmgr.search import views as search_views
from docmgr.security_log import configure_security_logging
from docmgr.signatures import api as signatures_api
from docmgr.signatures import views as signatures_views
from docmgr.signing import api as signing_api
from docmgr.storage import discard_uncommitted, open_store
from docmgr.tasks import api as tasks_api
from docmgr.web import register_template_helpers
from docmgr.webhooks import api as webhooks_api


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(load_config(config))
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked in _csrf_unless_bearer below
    from docmgr.accounts.sessions import SessionInterface

    app.session_interface = SessionInterface()  # Secure cookie on https; see docmgr.accounts.sessions

    store = open_store(app.config)  # a folder, local or a volume shared by every node
    store.ensure()
    app.extensions["docmgr.store"] = store

    db.init_app(app)
    migrate.init_app(app, db, directory=str(REPO_ROOT / "docmgr" / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    login_manager.init_app(app)
    with app.app_context():
        _configure_sqlite(db.engine, busy_timeout_ms=int(app.config["DB_BUSY_TIMEOUT_SECONDS"] * 1000))
    if app.config["TRUSTED_PROXIES"] > 0:  # opt-in: the client address the nearest trusted proxy saw
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    load_all_models()
    # Security (tests/security): ids beyond SQLite's 64-bit integers answer 404, not an OverflowError 500.
    app.url_map.converters["int"] = _RowIdConverter

    for module in (accounts_views, documents_views, search_views, saved_searches_views, drafting_views, signatures_views,
                   audit_views):
        app.register_blueprint(module.bp)
    # A blueprint cannot change once registered, and api_bp lives at module level: nest the modules'
    # API blueprints only the first time, so a second create_app in one process (tests) works.
    if not api_bp._got_registered_once:
        for module in (accounts_api, documents_api, search_api, drafting_api, signatures_api, audit_api, tasks_api,
                       mail_api, signing_api, webhooks_api, saved_searches_api):
            api_bp.register_blueprint(module.bp)
    app.register_blueprint(api_bp)

    login_manager.user_loader(load_user_from_session)
    login_manager.request_loader(load_user_from_request)
    login_manager.login_view = "accounts.login"
    login_manager.unauthorized_handler(_unauthorized)

    register_error_handlers(app)
    configure_security_logging(app)  # hardening: JSON lines on the "docmgr.security" logger

    app.cli.add_command(docmgr_cli)

    from docmgr import request_limits

    request_limits.init_app(app)  # before every other hook: the whole body is read and checked before any DB access
    app.before_request_funcs[None].insert(0, _fresh_request_state)  # (touches no database)
    app.before_request(_csrf_unless_bearer)
    app.after_request(_security_headers)
    app.after_request(_remember_language)
    app.teardown_request(_discard_uncommitted_blobs)
    register_template_helpers(app)
    # Each module registers its tasks, indexers, integrity checks, stored-file references and `init` steps.
    # The task queue first (the others register handlers with it); search last (its `init` step rebuilds
    # an outdated index once the others' steps have run).
    for module in (maintenance, tasks, mail, documents, drafting, notes, signatures, signing, webhooks, saved_searches,
                   search):
        module.init_app(app)
    return app


class _RowIdConverter(IntegerConverter):
    """``<int:…>`` in every route: a whole number a database row id can be (at most 2**63 - 1)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - Werkzeug's signature
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def _select_locale() -> str:
    from flask import current_app, has_request_context

    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # the CLI, workers: messages in the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = request.args.get("lang")
    if chosen in languages:
        return chosen  # remembered in a cookie of its own (_remember_language), not in the session
    if request.cookies.get(LANG_COOKIE) in languages:
        return request.cookies[LANG_COOKIE]
    if current_user and current_user.is_authenticated and getattr(current_user, "locale", None) in languages:
        return current_user.locale
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


LANG_COOKIE = "docmgr_lang"


def _remember_language(response):
    """``?lang=`` is kept in a cookie of its own: re-issuing the session cookie for it would renew a
    session's life from any link (tests/security/test_sessions.py)."""
    from flask import current_app

    chosen = request.args.get("lang")
    if chosen in current_app.config["LANGUAGES"] and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
                            secure=current_app.session_interface.get_cookie_secure(current_app))
    return response


def _unauthorized():
    from flask import redirect, url_for

    if wants_json():
        raise Unauthorized(gettext("Log in, or send an API token as 'Authorization: Bearer TOKEN'."), code="not_authenticated")
    return redirect(url_for("accounts.login", next=request.full_path if request.query_string else request.path))


def _fresh_request_state() -> None:
    """Per-request state kept on ``g`` must not outlive its request. In production every request has
    its own app context; in tests and scripts one outer app context may span many requests, and a
    user loaded for one request would otherwise still be "logged in" for the next."""
    g.pop("_login_user", None)
    g.pop("uncommitted_blobs", None)
    # Flask-WTF caches the signed CSRF token of the current session on g; another browser's would not match.
    from flask import current_app

    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    g.pop("csrf_valid", None)
    # Flask-Babel caches the chosen locale on g too; each request chooses again (?lang=, its cookie, header).
    from flask_babel import refresh

    refresh()


def _csrf_unless_bearer() -> None:
    """Forms and browser-session API calls need a CSRF token; bearer-token API calls cannot be forged
    by another site (browsers never attach that header by themselves), so they skip it."""
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return
    if request.endpoint == "api.accounts_api.create_token":
        return  # exchanges credentials for a token; no session is involved
    if request.path.startswith("/api/") and not current_user.is_authenticated:
        return  # nobody to act for: the view answers 401, which says more than a CSRF failure
    csrf.protect()


def _security_headers(response):
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if "Cache-Control" not in headers and current_user and current_user.is_authenticated:
        headers["Cache-Control"] = "private, no-store"
    return response


def _discard_uncommitted_blobs(exc: BaseException | None) -> None:
    """A request that stored new blobs but did not commit must not leave them behind."""
    discard_uncommitted()


def _configure_sqlite(engine, busy_timeout_ms: int = 5000) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE for writing requests.

    With SQLite, a deferred transaction that reads and then writes fails at once with "database is
    locked" if another process committed in between; several gunicorn workers make that common.
    Taking the write lock up front for requests that may write (and for the CLI and workers) makes
    writers queue on the busy timeout instead. Reads stay concurrent under WAL.

    Availability (issue 12): a request's body is read and checked before its first database access
    (docmgr.request_limits, the first hook), so a slow client never holds the lock; slow work (text
    extraction, rendering, signature checks) runs after ``docmgr.database.release_read_transaction``
    has ended the request's transaction; and a writer waits at most ``busy_timeout_ms`` before
    answering 503 with Retry-After.
    """
    if engine.dialect.name != "sqlite":
        return
    _owner_only_database(engine.url.database)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _may_write() else "BEGIN")


def _owner_only_database(path: str | None) -> None:
    """The SQLite file holds password hashes: created, or narrowed, to owner-only (0600) before the first
    connection. SQLite gives its -wal and -shm files the database file's permissions."""
    import os

    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
    except FileNotFoundError:  # its folder does not exist yet: SQLite will say so on connecting
        pass


def _may_write() -> bool:
    from flask import has_app_context, has_request_context

    if has_app_context() and getattr(g, "docmgr_read_only", False):  # e.g. the index writer reading what to index
        return False
    if not has_request_context():
        return True
    if getattr(g, "read_only_transaction", False):  # answering "busy": only reads are left to do
        return False
    if getattr(g, "force_write_transaction", False):
        return True
    return request.method not in ("GET", "HEAD", "OPTIONS")
