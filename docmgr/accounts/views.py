"""Pages: log in and out, the user's own account and tokens, and the administration of users,
organisations and task-force sessions."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from docmgr.accounts import services, sessions
from docmgr.accounts.forms import LoginForm, NewOrganizationForm, NewSessionForm, NewUserForm
from docmgr.accounts.models import COUNTRIES, OrganizationKind, Role, User
from docmgr.accounts.permissions import require_admin
from docmgr.documents.services import create_task_force_session, list_organizations, list_task_force_sessions
from docmgr.errors import DocmgrError
from docmgr.extensions import db
from docmgr.forms import FormInvalid
from docmgr.web import form_error

bp = Blueprint("accounts", __name__)


def _landing_page(user) -> str:
    """Where a login without ``next`` leads: legal staff to their inbox, everyone else to the documents."""
    return url_for("signatures.inbox") if getattr(user, "is_legal", False) else url_for("documents.index")


def _safe_next(target: str | None, user=None) -> str:
    """Only same-site paths: never redirect a user to another site after login."""
    # Browsers read "/\\evil.example" as "//evil.example": refuse backslashes and control characters too.
    if (
        target and target.startswith("/") and not target.startswith("//") and not urlparse(target).netloc
        and "\\" not in target and not any(ord(c) < 32 for c in target)
    ):
        return target
    return _landing_page(user)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next"), current_user))
    error = None
    status = 200
    form = LoginForm()
    if request.method == "POST":
        try:
            user = services.authenticate(db.session, form.email.data, form.password.data, request.remote_addr or "")
            db.session.commit()
            if user is None:
                error, status = {"field": "password", "message": _("Wrong e-mail or password.")}, 401
            else:
                sessions.start(user)  # a new session and CSRF secret
                return redirect(_safe_next(request.args.get("next"), user))
        except DocmgrError as exc:
            db.session.rollback()
            error, status = form_error(exc), exc.status
    return render_template("accounts/login.html", error=error, email=form.email.data), status


@bp.post("/logout")
@login_required
def logout():
    services.record_logout(db.session, current_user._get_current_object())
    db.session.commit()
    sessions.stop()
    flash(_("You are logged out."), "success")
    return redirect(url_for("accounts.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    user = current_user._get_current_object()
    new_token = None
    if request.method == "POST":
        action = request.form.get("action")
        if action == "create_token":
            new_token, _row = services.issue_token(db.session, user)
            db.session.commit()
        elif action == "revoke_token":
            services.revoke_token(db.session, user, request.form.get("token_id", type=int) or 0)
            db.session.commit()
            flash(_("The token was revoked."), "success")
            return redirect(url_for("accounts.account"))
    tokens = services.list_tokens(db.session, user)
    return render_template("accounts/account.html", tokens=tokens, new_token=new_token)


# --- administration ----------------------------------------------------------------------------


@bp.route("/admin/users", methods=["GET", "POST"])
@login_required
def admin_users():
    actor = require_admin(current_user._get_current_object())
    error, status = None, 200
    form = NewUserForm()
    if request.method == "POST":
        try:
            if request.form.get("action") in ("activate", "deactivate"):
                services.set_user_active(
                    db.session, actor, request.form.get("user_id", type=int) or 0, request.form["action"] == "activate"
                )
                db.session.commit()
                flash(_("Saved."), "success")
                return redirect(url_for("accounts.admin_users"))
            if not form.validate():
                raise FormInvalid
            user = services.create_user(
                db.session, actor, email=form.email.data, password=form.password.data,
                role=form.role.data, organization=form.organization, name=form.name.data,
            )
            db.session.commit()
            flash(_("User %(email)s created.", email=user.email), "success")
            return redirect(url_for("accounts.admin_users"))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
    users = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template(
        "accounts/admin_users.html", users=users, organizations=list_organizations(db.session), roles=[r.value for r in Role],
        error=error, form=request.form,
    ), status


@bp.route("/admin/organizations", methods=["GET", "POST"])
@login_required
def admin_organizations():
    actor = require_admin(current_user._get_current_object())
    error, status = None, 200
    form = NewOrganizationForm()
    if request.method == "POST":
        try:
            if not form.validate():
                raise FormInvalid
            org = services.create_organization(
                db.session, actor, name=form.name.data, country=form.country.data, kind=form.kind.data,
                name_alt=form.name_alt.data, address=form.address.data, address_alt=form.address_alt.data,
            )
            db.session.commit()
            flash(_("Organisation %(name)s created.", name=org.name), "success")
            return redirect(url_for("accounts.admin_organizations"))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
    return render_template(
        "accounts/admin_organizations.html", organizations=list_organizations(db.session), countries=COUNTRIES,
        kinds=[k.value for k in OrganizationKind], error=error, form=request.form,
    ), status


@bp.route("/admin/sessions", methods=["GET", "POST"])
@login_required
def admin_sessions():
    actor = require_admin(current_user._get_current_object())
    error, status = None, 200
    form = NewSessionForm()
    if request.method == "POST":
        try:
            if not form.validate():
                raise FormInvalid
            forum_session = create_task_force_session(
                db.session, actor, name=form.name.data, place=form.place.data, country=form.country.data,
                starts_on=form.starts_on.data, ends_on=form.ends_on.data,
            )
            db.session.commit()
            flash(_("Session %(name)s created.", name=forum_session.name), "success")
            return redirect(url_for("accounts.admin_sessions"))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
    return render_template(
        "accounts/admin_sessions.html", sessions=list_task_force_sessions(db.session), countries=COUNTRIES,
        error=error, form=request.form,
    ), status


@bp.route("/admin/throttles", methods=["GET", "POST"])
@login_required
def admin_throttles():
    """The (address, e-mail) pairs throttled after failed logins; an admin lifts one (audited)."""
    actor = require_admin(current_user._get_current_object())
    error, status = None, 200
    if request.method == "POST":
        try:
            email, address = request.form.get("email", ""), request.form.get("remote_addr", "")
            services.lift_throttle(db.session, actor, email, address)
            db.session.commit()
            flash(_("The throttle of %(email)s from %(address)s was lifted.", email=email, address=address), "success")
            return redirect(url_for("accounts.admin_throttles"))
        except DocmgrError as exc:
            db.session.rollback()
            error, status = form_error(exc), exc.status
    return render_template(
        "accounts/admin_throttles.html", throttles=services.list_throttles(db.session, actor), error=error,
    ), status
