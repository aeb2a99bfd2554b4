"""The /api/v1 blueprint and the small helpers every module's api.py shares."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, request
from flask_babel import gettext
from flask_login import current_user
from marshmallow import Schema

from docmgr.errors import BadRequest, Invalid, Unauthorized
from docmgr.vocab import parse_int

bp = Blueprint("api", __name__, url_prefix="/api/v1")

View = TypeVar("View", bound=Callable[..., Any])

# Refusals any /api/v1 route may answer (malformed, not logged in, not allowed, not found/not yours,
# invalid values, too many requests); routes add 409/413/415 where they can happen.
COMMON_ERRORS = (400, 401, 403, 404, 413, 422, 429, 503)  # 413/503: the edge and a busy database


@dataclass(frozen=True)
class Operation:
    """What ``docmgr.openapi`` says about one view: its answers by status, and what it reads.

    ``responses`` maps a status to a marshmallow schema (class or instance, e.g. ``S(many=True)``), to a
    media type string for bytes (downloads), or to None for an empty answer (204)."""

    responses: Mapping[int, Any]
    query: Any = None  # an Input schema of the query string
    body: Any = None  # an Input schema of the JSON body
    form: Any = None  # an Input schema of a multipart form
    errors: tuple[int, ...] = COMMON_ERRORS
    public: bool = False  # served without logging in
    extra_errors: dict[int, Any] = field(default_factory=dict)  # status -> a schema extending ErrorSchema


def documented(
    responses: Mapping[int, Any], *, query: Any = None, body: Any = None, form: Any = None,
    errors: tuple[int, ...] = (), public: bool = False, error_schemas: Mapping[int, Any] | None = None,
) -> Callable[[View], View]:
    """Attach the view's API description (read by ``docmgr.openapi``); the view is returned unchanged."""

    def attach(view: View) -> View:
        view.openapi = Operation(  # type: ignore[attr-defined]
            responses=dict(responses), query=query, body=body, form=form,
            errors=tuple(sorted(set(COMMON_ERRORS) | set(errors))), public=public,
            extra_errors=dict(error_schemas or {}),
        )
        return view

    return attach


@functools.cache
def _names(shape: type[Schema]) -> tuple[frozenset[str], frozenset[str]]:
    """The field names a request schema allows, and those it requires."""
    fields_ = shape().fields
    allowed = frozenset(f.data_key or name for name, f in fields_.items())
    return allowed, frozenset(f.data_key or name for name, f in fields_.items() if f.required)


def acting_user():
    """The logged-in user (session cookie or bearer token), or a 401 in the contract's shape."""
    if not current_user.is_authenticated:
        raise Unauthorized(gettext("Log in, or send an API token as 'Authorization: Bearer TOKEN'."), code="not_authenticated")
    return current_user._get_current_object()


def json_body(allowed: set[str] | type[Schema], required: set[str] = frozenset()) -> dict[str, Any]:
    """The request's JSON object; unknown fields are refused by name so typos never pass silently.

    ``allowed`` is a set of names or an Input schema (its fields are allowed, its ``required=True`` ones
    required)."""
    if not isinstance(allowed, (set, frozenset)):
        allowed, required = _names(allowed)
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest(gettext("The body must be a JSON object (Content-Type: application/json)."), code="malformed_json")
    if not isinstance(data, dict):
        raise BadRequest(gettext("The body must be a JSON object."), code="malformed_json")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Invalid(gettext("Unknown field: %(unknown)s.", unknown=unknown[0]), field=unknown[0], code="unknown_field")
    for name in sorted(required):
        if data.get(name) in (None, "", []):
            raise Invalid(gettext("The field '%(name)s' is required.", name=name), field=name, code="missing_field")
    return data


def text_field(data: dict[str, Any], name: str, default: str | None = None) -> str | None:
    """A JSON field that must be a string (or absent/null → ``default``): a list or a number is refused by
    name rather than turned into text like "['x']"."""
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise Invalid(gettext("'%(name)s' must be a string.", name=name), field=name)
    return value


def form_fields(allowed: set[str] | type[Schema]) -> None:
    """Refuse unknown multipart/form fields by name (file parts are checked by the caller); ``allowed``
    is a set of names or an Input schema."""
    if not isinstance(allowed, (set, frozenset)):
        allowed = _names(allowed)[0] - {"file", "signature"}
    unknown = sorted(set(request.form) - allowed)
    if unknown:
        raise Invalid(gettext("Unknown field: %(unknown)s.", unknown=unknown[0]), field=unknown[0], code="unknown_field")


def int_arg(name: str, default: int | None = None, *, minimum: int = 1, maximum: int | None = None) -> int | None:
    try:
        value = parse_int(request.args.get(name))
    except ValueError:
        raise Invalid(gettext("'%(name)s' must be a whole number.", name=name), field=name) from None
    if value is None:
        return default
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise Invalid(gettext("'%(name)s' must be %(bound)s.", name=name, bound=bound), field=name)
    return value


def page_args(default_per_page: int = 20, max_per_page: int = 100) -> tuple[int, int]:
    return int_arg("page", 1), int_arg("per_page", default_per_page, maximum=max_per_page)
