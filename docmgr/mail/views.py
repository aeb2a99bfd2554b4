"""The "Sent mail" page for administrators."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

import docmgr.mail.services as services
from docmgr.extensions import db

bp = Blueprint("mail", __name__)


@bp.get("/mail")
@login_required
def index():
    status = request.args.get("status") or None
    found = services.list_mail(db.session, current_user._get_current_object(), status)
    return render_template("mail/index.html", counts=found["counts"], items=found["items"], status=status,
                           filters=services.STATUS_FILTERS)
