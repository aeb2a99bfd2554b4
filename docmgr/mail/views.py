"""The "Sent mail" page for administrators; everyone's choice of status mails."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

import docmgr.mail.preferences as preferences
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


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def notifications():
    user = current_user._get_current_object()
    if request.method == "POST":
        chosen = set(request.form.getlist("events"))
        preferences.update_preferences(db.session, user, {event: event in chosen for event in preferences.EVENTS})
        db.session.commit()
        flash(_("Your notification choices are saved."), "success")
        return redirect(url_for("mail.notifications"), 303)
    return render_template("mail/notifications.html", events=preferences.EVENTS,
                           chosen=preferences.preferences(db.session, user))
