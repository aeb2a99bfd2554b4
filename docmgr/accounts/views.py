"""Pages: log in and out, the user's own account and tokens, and the administration of users,
organisations and task-force sessions."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from docmgr.accounts import passwords, services, sessions
from docmgr.accounts.forms import (
    ChangePasswordForm,
    EditSessionForm,
    EditUserForm,
    ForgotPasswordForm,
    LoginForm,
    NewOrganizationForm,
    NewPasswordForm,
    NewSessionForm,
    NewUserForm,
)
from docmgr.accounts.models import COUNTRIES, OrganizationKind, Role, User
from docmgr.accounts.permissions import require_admin
from docmgr.documents.models import TaskForceSession
from docmgr.documents.services import (
    create_task_force_session,
    list_organizations,
    list_task_force_sessions,
    update_task_force_session,
)
from docmgr.errors import DocmgrError, NotFound
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
                if user.password_must_change:  # a temporary password from an administrator
                    flash(_("Your password was reset by an administrator: choose your own now."), "info")
                    return redirect(url_for("accounts.change_password"))
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
            if request.form.get("action") == "deactivate" and not request.form.get("confirm"):
                return _confirm_deactivation(actor, request.form.get("user_id", type=int) or 0)
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
        "accounts/admin_users.html", users=users, organizations=list_organizations(db.session), roles=_roles_least_first(),
        error=error, form=request.form,
    ), status


def _roles_least_first() -> list[str]:
    """The role choices, the least privileged first: a new user's form starts at "firm"."""
    order = (Role.FIRM.value, Role.MINISTRY.value, Role.LEGAL.value, Role.ADMIN.value)
    return sorted((r.value for r in Role), key=lambda role: order.index(role) if role in order else len(order))


def _confirm_deactivation(actor: User, user_id: int):
    """Deactivation asks first: this page, with a button that posts the same action confirmed."""
    user = services.get_user(db.session, actor, user_id)
    return render_template("accounts/confirm_deactivate.html", user=user)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def admin_user_edit(user_id: int):
    """Edit or rename a user; (de)activate them (deactivation confirmed first); reset their password."""
    actor = require_admin(current_user._get_current_object())
    user = services.get_user(db.session, actor, user_id)
    error, status, temporary_password = None, 200, None
    form = EditUserForm()
    if request.method == "POST":
        action = request.form.get("action", "save")
        try:
            if action == "deactivate" and not request.form.get("confirm"):
                return _confirm_deactivation(actor, user.id)
            if action in ("activate", "deactivate"):
                services.set_user_active(db.session, actor, user.id, action == "activate")
                db.session.commit()
                flash(_("Saved."), "success")
                return redirect(url_for("accounts.admin_user_edit", user_id=user.id))
            if action == "temporary_password":
                temporary_password = passwords.set_temporary_password(db.session, actor, user.id)
                db.session.commit()
            elif action == "reset_link":
                passwords.send_reset_link(db.session, actor, user.id)
                db.session.commit()
                flash(_("A password reset link was sent to %(email)s.", email=user.email), "success")
                return redirect(url_for("accounts.admin_user_edit", user_id=user.id))
            else:
                if not form.validate():
                    raise FormInvalid
                services.update_user(db.session, actor, user.id, email=form.email.data, name=form.name.data,
                                     role=form.role.data, organization=form.organization)
                db.session.commit()
                flash(_("Saved."), "success")
                return redirect(url_for("accounts.admin_user_edit", user_id=user.id))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            if isinstance(exc, DocmgrError) and exc.status in (403, 404):
                raise
            error, status = form.refusal(exc)
            user = services.get_user(db.session, actor, user_id)
    values = request.form if error else {
        "email": user.email, "name": user.name, "role": user.role, "organization_id": str(user.organization_id or ""),
    }
    return render_template(
        "accounts/admin_user_edit.html", user=user, organizations=list_organizations(db.session),
        roles=_roles_least_first(), error=error, form=values, temporary_password=temporary_password,
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


@bp.route("/admin/organizations/<int:org_id>", methods=["GET", "POST"])
@login_required
def admin_organization_edit(org_id: int):
    actor = require_admin(current_user._get_current_object())
    org = services.get_organization(db.session, org_id)
    error, status = None, 200
    form = NewOrganizationForm()
    if request.method == "POST":
        try:
            if not form.validate():
                raise FormInvalid
            services.update_organization(
                db.session, actor, org.id, name=form.name.data, country=form.country.data, kind=form.kind.data,
                name_alt=form.name_alt.data, address=form.address.data, address_alt=form.address_alt.data,
            )
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("accounts.admin_organizations"))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
            org = services.get_organization(db.session, org_id)
    values = request.form if error else {
        "name": org.name, "name_alt": org.name_alt or "", "country": org.country, "kind": org.kind,
        "address": org.address or "", "address_alt": org.address_alt or "",
    }
    return render_template(
        "accounts/admin_organization_edit.html", org=org, countries=COUNTRIES,
        kinds=[k.value for k in OrganizationKind], error=error, form=values,
    ), status


@bp.route("/admin/sessions/<int:session_id>", methods=["GET", "POST"])
@login_required
def admin_session_edit(session_id: int):
    actor = require_admin(current_user._get_current_object())
    forum_session = db.session.get(TaskForceSession, session_id)
    if forum_session is None:
        raise NotFound(_("No such task-force session."))
    error, status = None, 200
    form = EditSessionForm()
    if request.method == "POST":
        try:
            if not form.validate():
                raise FormInvalid
            update_task_force_session(
                db.session, actor, forum_session.id, name=form.name.data, place=form.place.data,
                country=form.country.data, starts_on=form.starts_on.data, ends_on=form.ends_on.data,
                name_alt=form.name_alt.data, place_alt=form.place_alt.data,
            )
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("accounts.admin_sessions"))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
            forum_session = db.session.get(TaskForceSession, session_id)
    values = request.form if error else {
        "name": forum_session.name, "name_alt": forum_session.name_alt, "place": forum_session.place,
        "place_alt": forum_session.place_alt, "country": forum_session.country,
        "starts_on": forum_session.starts_on.isoformat(), "ends_on": forum_session.ends_on.isoformat(),
    }
    return render_template(
        "accounts/admin_session_edit.html", forum_session=forum_session, countries=COUNTRIES, error=error, form=values,
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


# --- passwords ---------------------------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link by e-mail. The answer is the same whether the address has an account or not."""
    error, status, sent = None, 200, False
    form = ForgotPasswordForm()
    if request.method == "POST":
        try:
            passwords.request_reset(db.session, form.email.data or "", request.remote_addr or "")
            db.session.commit()
            sent = True
        except DocmgrError as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
    return render_template("accounts/password_forgot.html", error=error, sent=sent,
                           email=form.email.data or ""), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password through an e-mailed link (once, before it expires)."""
    error, status = None, 200
    form = NewPasswordForm()
    try:
        passwords.check_reset_link(db.session, token)
    except DocmgrError as exc:
        return render_template("accounts/password_reset.html", invalid=exc.message, error=None), 410
    if request.method == "POST":
        try:
            if not form.validate():
                raise FormInvalid
            passwords.reset_with_link(db.session, token, form.password.data)
            db.session.commit()
            flash(_("Your password was changed. Log in with the new one."), "success")
            return redirect(url_for("accounts.login"))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
    return render_template("accounts/password_reset.html", invalid=None, error=error), status


@bp.route("/password/change", methods=["GET", "POST"])
@login_required
def change_password():
    user = current_user._get_current_object()
    error, status = None, 200
    form = ChangePasswordForm()
    if request.method == "POST":
        try:
            if not form.validate():
                raise FormInvalid
            passwords.change_own_password(db.session, user, form.current_password.data, form.password.data)
            db.session.commit()
            sessions.start(user)  # the old sessions ended with the old password; this one goes on
            flash(_("Your password was changed."), "success")
            return redirect(_safe_next(None, user))
        except (DocmgrError, FormInvalid) as exc:
            db.session.rollback()
            error, status = form.refusal(exc)
    return render_template("accounts/password_change.html", error=error), status
