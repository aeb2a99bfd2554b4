"""Webhooks (issue 13): administrators register HTTPS endpoints; every agreement status change they
subscribe to is POSTed to them as JSON, signed with HMAC-SHA256, by the task queue with retries."""

from __future__ import annotations

from flask import Flask

from docmgr.signatures.lifecycle import agreement_status_changed
from docmgr.tasks import register_handler
from docmgr.webhooks import views
from docmgr.webhooks.services import DELIVER_TASK, deliver_task, on_status_changed


def init_app(app: Flask) -> None:
    """The admin page, the ``webhook.deliver`` task and the status-change receiver (the API blueprint is
    nested in /api/v1 by create_app)."""
    app.register_blueprint(views.bp)
    register_handler(app, DELIVER_TASK, deliver_task)
    agreement_status_changed.connect(on_status_changed, weak=False)
