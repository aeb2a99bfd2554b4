"""Signatories in the loop (issue 13): personal signing links opened with an e-mailed one-time code,
sent automatically when an agreement goes out for signature (and by hand: the invitation API); signing
order, reminders and deadlines (docmgr.signing.flow); status mails (docmgr.signing.notifications)."""

from __future__ import annotations

from flask import Flask

from docmgr.signatures.lifecycle import on_transition, scan_rejected, scan_submitted, signature_recorded
from docmgr.signing import flow, views
from docmgr.signing.notifications import (
    EXECUTED_MAIL_TASK,
    executed_mail_task,
    notify_scan_rejected,
    notify_scan_submitted,
    notify_signature,
    notify_status,
)
from docmgr.signing.services import invite_on_send
from docmgr.tasks import register_handler


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    on_transition(invite_on_send)
    on_transition(notify_status)
    signature_recorded.connect(notify_signature, weak=False)
    scan_submitted.connect(notify_scan_submitted, weak=False)
    scan_rejected.connect(notify_scan_rejected, weak=False)
    register_handler(app, EXECUTED_MAIL_TASK, executed_mail_task)
    flow.init_app(app)
