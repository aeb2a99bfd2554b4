"""Domain errors raised by services: a leaf module that imports nothing of docmgr.

Services raise these (never ``abort()``); ``docmgr.errorhandlers`` turns them into answers: the
contract's JSON shape under ``/api/`` and an HTML page (or a form message) for people.
"""

from __future__ import annotations

from typing import Any


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


class Busy(DocmgrError):
    """503: the database's write lock was not free within the busy timeout; nothing was saved."""

    status, code = 503, "busy"
    retry_after = 5
