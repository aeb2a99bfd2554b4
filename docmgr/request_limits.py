"""The edge: every request body is read, bounded and checked before any view, service or database
access sees it (security, issue 12 "Availability").

One ``before_request`` hook, registered first, so that

* a slow client has sent its whole body before anything takes a database lock (the user loaders of
  Flask-Login and every later hook read the database);
* a JSON body is at most ``MAX_JSON_BYTES`` and ``MAX_JSON_DEPTH`` deep (Python's parser would
  otherwise recurse until a ``RecursionError``);
* named fields are capped (e-mail 254, password 1,024, titles, names, reasons…) wherever they occur, in
  JSON objects at any depth and in form fields, before a service could store or record them.

Query-string values are checked too: no whole number beyond a 64-bit row id (``page`` at most 100,000).

Refusals are the contract's errors: 413 ``body_too_large``, 400 ``malformed_json``, 422 ``too_deep`` /
``invalid_field`` (a text too long, with ``max_length``; a number out of range, with ``maximum``) naming the field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, current_app, request
from flask_babel import gettext
from werkzeug.exceptions import RequestEntityTooLarge

from docmgr.errors import BadRequest, Invalid, TooLarge

# The longest value each named field may have, wherever it is sent (JSON at any depth, forms). One place,
# so the login form, the token endpoint and the admin forms cannot disagree.
FIELD_MAX_CHARS: dict[str, int] = {
    "email": 254,  # RFC 5321's longest usable address
    "password": 1024, "new_password": 1024, "current_password": 1024, "password_confirm": 1024,
    "name": 300, "name_ru": 300, "name_alt": 300, "session_name": 300, "place": 300,
    "title": 500, "title_it": 500, "title_ru": 500,
    "reason": 2000, "address": 1000, "address_alt": 1000,
    "key": 100, "role": 32, "kind": 64, "country": 8, "method": 32, "language": 8, "action": 64,
    "signed_at": 64, "due_at": 64, "starts_on": 64, "ends_on": 64,
    # a drawn signature as a data: URL (base64 of a PNG of at most SEAL_DRAWING_MAX_KB = 300 KB)
    "drawing": 410_000, "typed_signature": 300,
}
# Any other single value: big enough for a template body, small enough to be no lever.
DEFAULT_MAX_CHARS = 200_000
# Whole numbers, in query strings, forms and JSON: what a database row id can be (SQLite's 64 bits), and
# page numbers no listing needs (page * per_page becomes an OFFSET).
MAX_INTEGER = 2**63 - 1
INTEGER_MAX: dict[str, int] = {"page": 100_000, "per_page": 1000, "limit": 1000}
_INTEGER = re.compile(r"\s*[-+]?\d+\s*")
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(data: bytes) -> int:
    """How deeply ``data``'s arrays and objects nest (brackets inside strings do not count), without
    parsing it: a linear scan that cannot recurse."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b"", data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _too_long(field: str, limit: int) -> Invalid:
    return Invalid(gettext("'%(field)s' is longer than %(num)s characters.", field=field, num=limit), field=field,
                   code="invalid_field", max_length=limit)


def _is_number_field(field: str) -> bool:
    """Fields whose text is a whole number: ids, lists of ids, pages (not titles or searches of digits)."""
    return field in INTEGER_MAX or field == "id" or field.endswith(("_id", "_ids"))


def _check_integer(field: str, number: int) -> None:
    limit = INTEGER_MAX.get(field, MAX_INTEGER)
    if abs(number) > limit:
        raise Invalid(gettext("'%(field)s' must be a whole number of at most %(num)s.", field=field, num=limit),
                      field=field, code="invalid_field", maximum=limit)


def check_value(field: str, value: Any) -> None:
    """Raise 422 ``invalid_field`` (with ``max_length``) when a string under ``field`` is longer than its cap, and
    for a whole number (or a text of digits) beyond what any id or page can be; walks lists and objects
    (each key names its values)."""
    if isinstance(value, str):
        limit = FIELD_MAX_CHARS.get(field, DEFAULT_MAX_CHARS)
        if len(value) > limit:
            raise _too_long(field, limit)
        if _is_number_field(field) and len(value) < 4300 and _INTEGER.fullmatch(value):  # (int()'s own limit)
            _check_integer(field, int(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        _check_integer(field, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and len(key) > FIELD_MAX_CHARS["key"]:
                raise _too_long(field or "body", FIELD_MAX_CHARS["key"])
            check_value(str(key), item)
    elif isinstance(value, list):
        for item in value:
            check_value(field, item)


def _read_json() -> None:
    request.max_content_length = min(current_app.config["MAX_JSON_BYTES"], current_app.config["MAX_CONTENT_LENGTH"])
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        limit_kb = current_app.config["MAX_JSON_BYTES"] // 1024
        raise TooLarge(gettext("This request body may have at most %(num)s KB.", num=limit_kb), code="body_too_large") from None
    if not data.strip():
        return
    max_depth = current_app.config["MAX_JSON_DEPTH"]
    if json_depth(data) > max_depth:
        raise Invalid(gettext("The JSON body nests deeper than %(num)s levels.", num=max_depth), field="body",
                      code="too_deep")
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        raise BadRequest(gettext("The body is not valid JSON."), code="malformed_json") from None
    check_value("", parsed)


def check_request_body() -> None:
    """The first ``before_request``: read and check the whole body, then let the request proceed."""
    for field, values in request.args.lists():  # (their length: the server's request-line limit, and each view)
        for value in values:
            if _is_number_field(field) and len(value) < 4300 and _INTEGER.fullmatch(value):
                _check_integer(field, int(value))
    if request.method not in _BODY_METHODS:
        return
    if request.is_json:
        _read_json()
        return
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        if request.mimetype == "application/x-www-form-urlencoded":  # no files: text fields only
            limit = current_app.config["MAX_FORM_MEMORY_SIZE"]
            request.max_content_length = min(limit, current_app.config["MAX_CONTENT_LENGTH"])
            try:
                request.get_data(cache=True, parse_form_data=True)
            except RequestEntityTooLarge:
                raise TooLarge(gettext("A form may send at most %(num)s KB of text.", num=limit // 1024),
                               code="body_too_large") from None
        form = request.form  # reads the body: werkzeug spools file parts to temporary files
        for field, values in form.lists():
            for value in values:
                check_value(field, value)
        return
    # Anything else: no view reads a raw body of another type, so it is read now, as small as a JSON body
    # (a body the view will ignore must not hold the worker, nor fill its memory).
    request.max_content_length = min(current_app.config["MAX_JSON_BYTES"], current_app.config["MAX_CONTENT_LENGTH"])
    try:
        request.get_data(cache=True)
    except RequestEntityTooLarge:
        limit_kb = current_app.config["MAX_JSON_BYTES"] // 1024
        raise TooLarge(gettext("This request body may have at most %(num)s KB.", num=limit_kb), code="body_too_large") from None


def init_app(app: Flask) -> None:
    """Put the check before every other ``before_request`` hook, the app's and the blueprints'."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_request_body)
