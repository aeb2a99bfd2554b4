"""Security events as one JSON object per line, on the logger ``docmgr.security``.

Failed and throttled logins, refused or revoked API tokens, CSRF failures, 403/404 answers from the
services and refused uploads each give one line such as::

    {"event": "login_failed", "time": "2025-01-01T10:00:00Z", "user": "a@example.org",
     "ip": "10.0.0.7", "method": "POST", "path": "/api/v1/auth/token", "details": {"reason": "wrong_password"}}

One object per line, so a log shipper or ``jq`` reads the file without a parser of its own. The lines
are not the audit chain: they record refusals, which change nothing and therefore have no place in
the chain (a failed login is in both, because the throttle counts it).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from flask import Flask, has_request_context, request

LOGGER_NAME = "docmgr.security"
logger = logging.getLogger(LOGGER_NAME)


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the event (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns it once; we always look it up
        pass


def configure_security_logging(app: Flask) -> None:
    """Send the security events to ``SECURITY_LOG_PATH`` (a file) or stderr, one JSON object per line.

    The logger still propagates, so an application that configures the root logger (or pytest's
    ``caplog``) sees the events too. Calling this again (a second app in one process) adds nothing.
    """
    logger.setLevel(logging.INFO)
    target = str(app.config.get("SECURITY_LOG_PATH") or "stderr")
    if any(getattr(handler, "docmgr_target", None) == target for handler in logger.handlers):
        return
    handler: logging.Handler = _CurrentStderrHandler() if target == "stderr" else logging.FileHandler(target)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.docmgr_target = target  # type: ignore[attr-defined]
    logger.addHandler(handler)


def _acting_user() -> tuple[str | None, int | None]:
    from flask_login import current_user

    try:
        if current_user and current_user.is_authenticated:
            return getattr(current_user, "email", None), getattr(current_user, "id", None)
    except Exception:  # loading the user failed; the event matters more than the name
        pass
    return None, None


def security_event(event: str, *, user: str | None = None, ip: str | None = None, **details: Any) -> dict[str, Any]:
    """The event as a dict: ``user``/``ip`` default to the request's user and address, ``path`` is the
    request's path; everything else goes under ``details``."""
    entry: dict[str, Any] = {
        "event": event,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "user": user,
        "ip": ip,
        "method": None,
        "path": None,
    }
    if has_request_context():
        if user is None:
            entry["user"], user_id = _acting_user()
            if user_id is not None:
                entry["user_id"] = user_id
        entry["ip"] = ip or request.remote_addr
        entry["method"] = request.method
        entry["path"] = request.path
    entry["details"] = details
    return entry


def log_security_event(event: str, *, user: str | None = None, ip: str | None = None, **details: Any) -> None:
    """Write one security event (see the module docstring). Never raises: a logging failure must not
    turn a refusal into a server error."""
    try:
        line = json.dumps(security_event(event, user=user, ip=ip, **details), ensure_ascii=False, default=str)
    except Exception:
        line = json.dumps({"event": event, "details": {"note": "event could not be serialised"}})
    # logging.config.fileConfig/dictConfig (Alembic's env.py runs one) disables every logger that
    # exists at that moment; security events must not be silenced by someone else's logging set-up.
    logger.disabled = False
    logger.warning(line)
