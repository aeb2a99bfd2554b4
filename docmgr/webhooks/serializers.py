"""The API shapes of webhooks (administrators)."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import OneOf

from docmgr.serializers import Input, IsoDateTime, Output, counts
from docmgr.webhooks import services
from docmgr.webhooks.models import DeliveryStatus

DELIVERY_STATUSES = [s.value for s in DeliveryStatus]


class WebhookSchema(Output):
    """An endpoint; its secret is never shown again after creation."""

    id = fields.Integer()
    url = fields.String(metadata={"example": "https://partner.example.org/docmgr-hook"})
    events = fields.List(fields.String(validate=OneOf(services.EVENTS)))
    active = fields.Boolean(attribute="is_active")
    created_at = IsoDateTime()
    deliveries = counts(metadata={"description": "deliveries per status"})


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(metadata={"description": "the HMAC key, shown only in this answer"})


class WebhookListSchema(Output):
    items = fields.List(fields.Nested(WebhookSchema))
    events = fields.List(fields.String(), metadata={"description": "the event names an endpoint may subscribe to"})


class WebhookRequest(Input):
    url = fields.String(required=True, metadata={"description": "https://…; http:// only for a loopback host"})
    events = fields.List(fields.String(validate=OneOf(services.EVENTS)), required=True)
    secret = fields.String(metadata={"description": "16-200 characters; left out: a random one, returned once"})


class WebhookUpdate(Input):
    active = fields.Boolean(required=True, metadata={"description": "false disables deliveries to the endpoint"})


class AttemptSchema(Output):
    attempted_at = IsoDateTime()
    status_code = fields.Integer(allow_none=True, metadata={"description": "null: no answer (refused, timed out)"})
    response_head = fields.String(metadata={"description": "the first bytes of the answer"})
    duration_ms = fields.Integer()
    error = fields.String()


class DeliverySchema(Output):
    id = fields.Integer()
    webhook_id = fields.Integer()
    event = fields.String()
    agreement_id = fields.Integer(allow_none=True)
    status = fields.String(validate=OneOf(DELIVERY_STATUSES))
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String()
    created_at = IsoDateTime()
    delivered_at = IsoDateTime(allow_none=True)
    body = fields.String(metadata={"description": "the exact JSON body sent"})
    log = fields.List(fields.Nested(AttemptSchema), metadata={"description": "every attempt and its answer"})


class DeliveryListSchema(Output):
    items = fields.List(fields.Nested(DeliverySchema))
