"""The web layer's answer to every error: JSON under ``/api/``, an HTML page for people.

``docmgr.errors`` only defines the exceptions; this module registers the Flask handlers that turn
them (and Werkzeug's HTTP errors, CSRF failures and anything unexpected) into answers, rolls the
request back, and writes the refusals worth a line to the security log.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from docmgr.accounts.services import bearer_token_state
from docmgr.errors import Busy, DocmgrError
from docmgr.extensions import db
from docmgr.security_log import log_security_event
from docmgr.storage import discard_uncommitted


def wants_json() -> bool:
    """Whether this request is answered in JSON (the API, or a client that asks for JSON)."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def answer(status: int, code: str, message: str, payload: dict[str, Any] | None = None) -> tuple[Response | str, int]:
    """The error as the contract's JSON shape or as the error page, whichever the request wants."""
    if wants_json():
        body = payload or {"error": {"code": code, "message": message}}
        return jsonify(body), status
    return render_template("error.html", status=status, code=code, message=message), status


_HTTP_CODES = {
    400: ("bad_request", _l("The request could not be understood.")),
    401: ("unauthorized", _l("Please log in.")),
    403: ("forbidden", _l("You are not allowed to do this.")),
    404: ("not_found", _l("Not found.")),
    405: ("method_not_allowed", _l("This method is not allowed here.")),
    413: ("file_too_large", _l("The upload is too large.")),
    429: ("rate_limited", _l("Too many requests; try again later.")),
    500: ("internal_error", _l("Something went wrong on our side; nothing was saved.")),
}


# PostgreSQL: lock_timeout ran out (55P03), a deadlock was broken (40P01), a serialisation failure (40001).
_PG_RETRYABLE = {"55P03", "40P01", "40001"}


def is_lock_timeout(error: BaseException) -> bool:
    """SQLite's "database is locked" / "database table is locked" after the busy timeout ran out; PostgreSQL's
    lock timeout (DB_BUSY_TIMEOUT_SECONDS too) and the other "try again" errors."""
    original = getattr(error, "orig", error)
    if getattr(original, "sqlstate", None) in _PG_RETRYABLE:
        return True
    return isinstance(error, OperationalError) and "locked" in str(original).lower()


def _rollback() -> None:
    """Remove the request's new blobs *before* giving up the write lock: once it is released,
    another request may store the same bytes and commit a row that points at them."""
    discard_uncommitted()
    db.session.rollback()


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DocmgrError)
    def handle_docmgr_error(error: DocmgrError):
        _rollback()
        _log_refusal(error)  # hardening: security events
        body, status = answer(error.status, error.code, error.message, error.to_dict())
        response = app.make_response((body, status))
        if "retry_after" in error.details:  # 429 and 503 say when to come back
            response.headers["Retry-After"] = str(error.details["retry_after"])
        return response

    @app.errorhandler(CSRFError)
    def handle_csrf(error: CSRFError):
        _rollback()
        log_security_event("csrf_failed", reason=error.description)  # hardening: security events
        return answer(400, "csrf_failed", str(_l("The form expired or was not sent from this site; reload and try again.")))

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):
        _rollback()
        code, message = _HTTP_CODES.get(error.code or 500, ("http_error", error.description))
        if error.code == 413:
            limit = app.config["MAX_UPLOAD_MB"]
            message = str(_l("The upload is larger than the limit of %(mb)s MB.", mb=f"{limit:g}"))
            log_security_event("upload_refused", status=413, code=code)  # hardening: security events
        return answer(error.code or 500, code, str(message))

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        if is_lock_timeout(error):  # availability: a writer that waited too long is told to retry
            g.read_only_transaction = True  # the answer's page may read (the user, the menu) but waits for no lock
            try:
                _rollback()
            except Exception:  # noqa: BLE001 - the request is answered below either way
                app.logger.warning("rollback after a lock timeout failed", exc_info=True)
            log_security_event("database_busy", path=request.path)
            body, status = answer(503, Busy.code, str(_l("The service is busy; nothing was saved. Try again in a few seconds.")))
            response = app.make_response((body, status))
            response.headers["Retry-After"] = str(max(1, round(app.config.get("DB_BUSY_TIMEOUT_SECONDS", Busy.retry_after))))
            return response
        _rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        code, message = _HTTP_CODES[500]
        return answer(500, code, str(message))


# --- security events (hardening): refusals worth a line in the security log ----------------------


def _log_refusal(error: DocmgrError) -> None:
    if error.status in (413, 415) or (error.status == 422 and (error.field or "").startswith("file")):
        log_security_event("upload_refused", status=error.status, code=error.code, message=error.message)
    elif error.status in (403, 404):
        log_security_event("forbidden" if error.status == 403 else "not_found", status=error.status, code=error.code)
    elif error.status == 401 and request.headers.get("Authorization", "").startswith("Bearer "):
        token = request.headers.get("Authorization", "")[len("Bearer "):].strip()
        try:
            state = bearer_token_state(db.session, token)
        finally:
            db.session.rollback()  # the handler had rolled back already; leave no read transaction open
        log_security_event("token_rejected", status=401, reason=state)
