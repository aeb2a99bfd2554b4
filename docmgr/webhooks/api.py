"""/api/v1/webhooks (administrators): register, list, disable and delete endpoints; their deliveries."""

from __future__ import annotations

from flask import Blueprint, jsonify

import docmgr.webhooks.serializers as ser
import docmgr.webhooks.services as services
from docmgr.api import acting_user, documented, json_body
from docmgr.extensions import db

bp = Blueprint("webhooks_api", __name__)


def _dump(schema, hook, **extra):
    return schema().dump({**{name: getattr(hook, name) for name in ("id", "url", "events", "is_active", "created_at")},
                          "deliveries": services.delivery_counts(db.session, hook.id), **extra})


@bp.get("/webhooks")
@documented({200: ser.WebhookListSchema})
def webhooks():
    """Every endpoint (secrets are not shown) and the event names."""
    hooks = services.list_webhooks(db.session, acting_user())
    return jsonify({"items": [_dump(ser.WebhookSchema, hook) for hook in hooks], "events": list(services.EVENTS)})


@bp.post("/webhooks")
@documented({201: ser.WebhookCreatedSchema}, body=ser.WebhookRequest)
def create():
    """Register an endpoint: ``{"url", "events": [...], "secret"}``. Deliveries carry
    ``X-Docmgr-Signature: sha256=HEX``, the HMAC-SHA256 of the raw body with the secret."""
    data = json_body(ser.WebhookRequest)
    hook = services.create_webhook(db.session, acting_user(), url=data.get("url"), events=data.get("events"),
                                   secret=data.get("secret"))
    db.session.commit()
    return jsonify(_dump(ser.WebhookCreatedSchema, hook, secret=hook.secret)), 201


@bp.patch("/webhooks/<int:webhook_id>")
@documented({200: ser.WebhookSchema}, body=ser.WebhookUpdate)
def update(webhook_id: int):
    """Disable (``{"active": false}``) or enable an endpoint."""
    data = json_body(ser.WebhookUpdate)
    hook = services.set_active(db.session, acting_user(), webhook_id, data.get("active"))
    db.session.commit()
    return jsonify(_dump(ser.WebhookSchema, hook))


@bp.delete("/webhooks/<int:webhook_id>")
@documented({204: None})
def delete(webhook_id: int):
    """Delete an endpoint and its delivery log."""
    services.delete_webhook(db.session, acting_user(), webhook_id)
    db.session.commit()
    return "", 204


@bp.get("/webhooks/<int:webhook_id>/deliveries")
@documented({200: ser.DeliveryListSchema})
def deliveries(webhook_id: int):
    """The newest deliveries to the endpoint, each with every attempt and its answer."""
    found = services.deliveries(db.session, acting_user(), webhook_id)
    items = [{**{name: getattr(d, name) for name in ser.DeliverySchema._declared_fields if name != "log"},
              "log": services.attempts_of(db.session, d)} for d in found]
    return jsonify(ser.DeliveryListSchema().dump({"items": items}))
