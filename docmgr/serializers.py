"""What every package's ``serializers.py`` builds on: the base of response and request shapes, ISO-8601
times, and the one error shape of /api/v1.

Each shape is written once, as a marshmallow schema; the views dump through it and
``docmgr.openapi`` generates the OpenAPI document from the same classes, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from marshmallow import Schema, fields

from docmgr.vocab import iso


class Output(Schema):
    """A response shape. Every field is always present in the answer (the spec lists them all as
    required) unless declared with ``metadata={"optional": True}``; no other field may appear (the
    spec says ``additionalProperties: false``, from marshmallow's default ``unknown = RAISE``).

    ``computed`` names values that are not plain attributes of the object: attribute name -> a function
    of the object. The field itself stays an ordinary typed field, so the spec describes it."""

    computed: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        compute = self.computed.get(attr)
        if compute is not None:
            return compute(obj)
        return super().get_attribute(obj, attr, default)


class Input(Schema):
    """A request shape: the fields a JSON body or form may carry (unknown ones are refused by name),
    ``required=True`` for those it must carry."""


class IsoDateTime(fields.DateTime):
    """A timestamp as the API writes it: ISO 8601, UTC as ``Z``."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return iso(value)


class IsoDate(fields.Date):
    """A calendar date as ``YYYY-MM-DD``."""


def optional(field: fields.Field) -> fields.Field:
    """Mark a response field as present only sometimes (e.g. only for staff, or only in one view)."""
    field.metadata = {**field.metadata, "optional": True}
    return field


class ErrorDetailSchema(Output):
    code = fields.String(metadata={"description": "snake_case code", "example": "invalid_field"})
    message = fields.String(metadata={"description": "a sentence for people"})
    field = optional(fields.String(metadata={"description": "the field or parameter at fault"}))
    # Availability (docmgr.request_limits, login throttles): limits a refusal names.
    max_length = optional(fields.Integer(metadata={"description": "invalid_field (a text too long): the most characters it may have"}))
    maximum = optional(fields.Integer(metadata={"description": "invalid_field (a number out of range): the largest it may be"}))
    retry_after = optional(fields.Integer(metadata={"description": "429: seconds until trying again (also in Retry-After)"}))
    signatory_id = optional(fields.Integer(metadata={
        "description": "409 duplicate_signature_file: the signatory the same file is already recorded for"}))
    field_errors = optional(fields.Dict(keys=fields.String(), values=fields.String(), data_key="fields", metadata={
        "description": "invalid_field, when several fields are checked together: every wrong field and its message"}))


class ErrorSchema(Output):
    """Every refusal of /api/v1: ``{"error": {"code", "message", "field"?}}``."""

    error = fields.Nested(ErrorDetailSchema)


def free_object(**kwargs: Any) -> fields.Dict:
    """An object whose keys are data, not a fixed shape (template fields, verification details…)."""
    return fields.Dict(keys=fields.String(), **kwargs)


def counts(**kwargs: Any) -> fields.Dict:
    """``{name: count}``."""
    return fields.Dict(keys=fields.String(), values=fields.Integer(), **kwargs)
