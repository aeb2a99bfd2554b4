"""Pages: log in and out, the user's own account and tokens, and the administration of users,
organisations and task-force sessions."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from docmgr.accounts import services
from docmgr.accounts.models import COUNTRIES, Organization, OrganizationKind, Role, User
from docmgr.accounts.permissions import require_role
from docmgr.documents.services import create_task_force_session, list_organizations, list_task_force_sessions
from docmgr.errors import DocmgrError, Invalid
from docmgr.extensions import db
from docmgr.web import form_error

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a user to another site after login."""
    # Browsers read "/\\evil.example" as "//evil.example": refuse backslashes and control characters too.
    if (
        target and target.startswith("/") and not target.startswith("//") and not urlparse(target).netloc
        and "\\" not in target and not any(ord(c) < 32 for c in target)
    ):
        return target
    return url_for("documents.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    error = None
    status = 200
    if request.method == "POST":
        try:
            user = services.authenticate(
                db.session, request.form.get("email", ""), request.form.get("password", ""), request.remote_addr or ""
            )
            db.session.commit()
            if user is None:
                error, status = {"field": "password", "message": _("Wrong e-mail or password.")}, 401
            else:
                login_user(user)
                return redirect(_safe_next(request.args.get("next")))
        except DocmgrError as exc:
            db.session.rollback()
            error, status = form_error(exc), exc.status
    return render_template("accounts/login.html", error=error, email=request.form.get("email", "")), status


@bp.post("/logout")
@login_required
def logout():
    services.record_logout(db.session, current_user._get_current_object())
    db.session.commit()
    logout_user()
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
    actor = require_role(current_user._get_current_object(), Role.ADMIN)
    error, status = None, 200
    if request.method == "POST":
        try:
            if request.form.get("action") in ("activate", "deactivate"):
                services.set_user_active(
                    db.session, actor, request.form.get("user_id", type=int) or 0, request.form["action"] == "activate"
                )
                db.session.commit()
                flash(_("Saved."), "success")
                return redirect(url_for("accounts.admin_users"))
            org = None
            if request.form.get("organization_id"):
                org_id = request.form.get("organization_id", type=int)
                org = db.session.get(Organization, org_id) if org_id else None
                if org is None:  # a value not from the list: say so beside the field, as for other fields
                    raise Invalid(_("No such organisation."), field="org")
            user = services.create_user(
                db.session, actor, email=request.form.get("email", ""), password=request.form.get("password", ""),
                role=request.form.get("role", ""), organization=org, name=request.form.get("name", ""),
            )
            db.session.commit()
            flash(_("User %(email)s created.", email=user.email), "success")
            return redirect(url_for("accounts.admin_users"))
        except DocmgrError as exc:
            db.session.rollback()
            error, status = form_error(exc), exc.status
    users = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template(
        "accounts/admin_users.html", users=users, organizations=list_organizations(db.session), roles=[r.value for r in Role],
        error=error, form=request.form,
    ), status


@bp.route("/admin/organizations", methods=["GET", "POST"])
@login_required
def admin_organizations():
    actor = require_role(current_user._get_current_object(), Role.ADMIN)
    error, status = None, 200
    if request.method == "POST":
        try:
            org = services.create_organization(
                db.session, actor, name=request.form.get("name", ""), country=request.form.get("country", ""),
                kind=request.form.get("kind", "firm"), name_alt=request.form.get("name_alt"),
                address=request.form.get("address"), address_alt=request.form.get("address_alt"),
            )
            db.session.commit()
            flash(_("Organisation %(name)s created.", name=org.name), "success")
            return redirect(url_for("accounts.admin_organizations"))
        except DocmgrError as exc:
            db.session.rollback()
            error, status = form_error(exc), exc.status
    return render_template(
        "accounts/admin_organizations.html", organizations=list_organizations(db.session), countries=COUNTRIES,
        kinds=[k.value for k in OrganizationKind], error=error, form=request.form,
    ), status


def _form_date(name: str) -> date:
    try:
        return date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        raise Invalid(_("Give a date as YYYY-MM-DD."), field=name) from None


@bp.route("/admin/sessions", methods=["GET", "POST"])
@login_required
def admin_sessions():
    actor = require_role(current_user._get_current_object(), Role.ADMIN)
    error, status = None, 200
    if request.method == "POST":
        try:
            forum_session = create_task_force_session(
                db.session, actor, name=request.form.get("name", ""), place=request.form.get("place", ""),
                country=request.form.get("country", ""), starts_on=_form_date("starts_on"), ends_on=_form_date("ends_on"),
            )
            db.session.commit()
            flash(_("Session %(name)s created.", name=forum_session.name), "success")
            return redirect(url_for("accounts.admin_sessions"))
        except DocmgrError as exc:
            db.session.rollback()
            error, status = form_error(exc), exc.status
    return render_template(
        "accounts/admin_sessions.html", sessions=list_task_force_sessions(db.session), countries=COUNTRIES,
        error=error, form=request.form,
    ), status
