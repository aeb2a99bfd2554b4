"""Domain errors raised by services, and the one handler that turns them into answers.

Services raise these (never ``abort()``); the handler answers the contract's JSON shape under
``/api/`` and an HTML page (or a flashed form message, when the view asks for it) for people.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


class DocmgrError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None, **details: Any):
        super().__init__(message)
        self.message = str(message)
        if code:
            self.code = code
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        if self.details:
            error.update(self.details)
        return {"error": error}


class BadRequest(DocmgrError):
    status, code = 400, "bad_request"


class Unauthorized(DocmgrError):
    status, code = 401, "unauthorized"


class Forbidden(DocmgrError):
    status, code = 403, "forbidden"


class NotFound(DocmgrError):
    status, code = 404, "not_found"


class Conflict(DocmgrError):
    status, code = 409, "conflict"


class TooLarge(DocmgrError):
    status, code = 413, "file_too_large"


class UnsupportedType(DocmgrError):
    status, code = 415, "unsupported_file_type"


class Invalid(DocmgrError):
    """422: a field value is wrong; ``field`` names it."""

    status, code = 422, "invalid_field"


class RateLimited(DocmgrError):
    status, code = 429, "rate_limited"


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _answer(status: int, code: str, message: str, payload: dict[str, Any] | None = None):
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


def register_error_handlers(app: Flask) -> None:
    from docmgr.extensions import db
    from docmgr.storage import discard_uncommitted

    def rollback() -> None:
        """Remove the request's new blobs *before* giving up the write lock: once it is released,
        another request may store the same bytes and commit a row that points at them."""
        discard_uncommitted()
        db.session.rollback()

    @app.errorhandler(DocmgrError)
    def handle_docmgr_error(error: DocmgrError):
        rollback()
        _log_refusal(error)  # hardening: security events
        return _answer(error.status, error.code, error.message, error.to_dict())

    @app.errorhandler(CSRFError)
    def handle_csrf(error: CSRFError):
        rollback()
        _log_security_event("csrf_failed", reason=error.description)  # hardening: security events
        return _answer(400, "csrf_failed", str(_l("The form expired or was not sent from this site; reload and try again.")))

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException):
        rollback()
        code, message = _HTTP_CODES.get(error.code or 500, ("http_error", error.description))
        if error.code == 413:
            limit = app.config["MAX_UPLOAD_MB"]
            message = str(_l("The upload is larger than the limit of %(mb)s MB.", mb=f"{limit:g}"))
            _log_security_event("upload_refused", status=413, code=code)  # hardening: security events
        return _answer(error.code or 500, code, str(message))

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        code, message = _HTTP_CODES[500]
        return _answer(500, code, str(message))


# --- security events (hardening): refusals worth a line in the security log ----------------------


def _log_security_event(event: str, **details: Any) -> None:
    from docmgr.security_log import log_security_event

    log_security_event(event, **details)


def _log_refusal(error: DocmgrError) -> None:
    if error.status in (413, 415) or (error.status == 422 and (error.field or "").startswith("file")):
        _log_security_event("upload_refused", status=error.status, code=error.code, message=error.message)
    elif error.status in (403, 404):
        _log_security_event("forbidden" if error.status == 403 else "not_found", status=error.status, code=error.code)
    elif error.status == 401 and request.headers.get("Authorization", "").startswith("Bearer "):
        _log_security_event("token_rejected", status=401, reason=_bearer_token_state())


def _bearer_token_state() -> str:
    """Why a presented API token did not log anyone in: revoked, expired, inactive_user or unknown."""
    from sqlalchemy import select

    from docmgr.accounts.models import ApiToken
    from docmgr.accounts.services import hash_token
    from docmgr.database import utcnow
    from docmgr.extensions import db

    token = request.headers.get("Authorization", "")[len("Bearer "):].strip()
    try:
        row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token))) if token else None
        if row is None:
            return "unknown"
        if row.revoked_at is not None:
            return "revoked"
        if row.expires_at <= utcnow():
            return "expired"
        return "inactive_user"
    finally:
        db.session.rollback()  # the handler had rolled back already; leave no read transaction open
