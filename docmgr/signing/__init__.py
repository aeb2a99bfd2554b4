"""Signatories in the loop (issue 13): personal signing links opened with an e-mailed one-time code,
sent automatically when an agreement goes out for signature (and by hand: the invitation API)."""

from __future__ import annotations

from flask import Flask

from docmgr.signatures.lifecycle import on_transition
from docmgr.signing import views
from docmgr.signing.notifications import notify_status
from docmgr.signing.services import invite_on_send


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    on_transition(invite_on_send)
    on_transition(notify_status)
