"""/api/v1/mail (administrators): the messages recorded or sent; /api/v1/me/notifications (everyone: their own
choice of status mails)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

import docmgr.mail.preferences as preferences
import docmgr.mail.serializers as ser
import docmgr.mail.services as services
from docmgr.api import acting_user, documented, json_body
from docmgr.extensions import db

bp = Blueprint("mail_api", __name__)


@bp.get("/mail")
@documented({200: ser.MailListSchema}, query=ser.MailQuery)
def mail():
    """The newest messages (``?status=queued|sent|not_sent|failed``), with counts per status."""
    found = services.list_mail(db.session, acting_user(), request.args.get("status") or None)
    return jsonify(ser.MailListSchema().dump(found))


@bp.get("/me/notifications")
@documented({200: ser.NotificationPreferencesSchema})
def my_notifications():
    """Which status mails you receive."""
    return jsonify(ser.NotificationPreferencesSchema().dump(preferences.preferences(db.session, acting_user())))


@bp.patch("/me/notifications")
@documented({200: ser.NotificationPreferencesSchema}, body=ser.NotificationPreferencesRequest)
def update_my_notifications():
    """Switch status mails on or off (``{"executed": false}``); the others stay as they are."""
    user = acting_user()
    found = preferences.update_preferences(db.session, user, json_body(ser.NotificationPreferencesRequest))
    db.session.commit()
    return jsonify(ser.NotificationPreferencesSchema().dump(found))
