"""/api/v1/mail (administrators): the messages recorded or sent."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

import docmgr.mail.serializers as ser
import docmgr.mail.services as services
from docmgr.api import acting_user, documented
from docmgr.extensions import db

bp = Blueprint("mail_api", __name__)


@bp.get("/mail")
@documented({200: ser.MailListSchema}, query=ser.MailQuery)
def mail():
    """The newest messages (``?status=queued|sent|not_sent|failed``), with counts per status."""
    found = services.list_mail(db.session, acting_user(), request.args.get("status") or None)
    return jsonify(ser.MailListSchema().dump(found))
