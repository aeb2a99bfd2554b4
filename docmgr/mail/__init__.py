"""Outgoing mail (issue 13): messages composed in the recipient's language, sent by the task queue.

Other modules call :func:`docmgr.mail.services.compose` (or ``compose_for_user``) inside their own
transaction; the worker sends. Administrators see every message on ``/mail`` and ``GET /api/v1/mail``.
"""

from __future__ import annotations

from flask import Flask

from docmgr.extensions import db
from docmgr.mail import preferences, views
from docmgr.mail.services import SEND_TASK, send_task
from docmgr.tasks import register_handler


def init_app(app: Flask) -> None:
    """Register the page and the ``mail.send`` task (the API blueprint is nested in /api/v1 by create_app)."""
    app.register_blueprint(views.bp)
    register_handler(app, SEND_TASK, send_task)
    # The account page (docmgr.accounts) shows the notification choices without importing this module.
    app.jinja_env.globals.update(notification_events=preferences.EVENTS,
                                 notification_choices=lambda user: preferences.preferences(db.session, user))
