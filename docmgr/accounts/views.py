"""Pages: log in and out, the user's own account and tokens, and the administration of users,
organisations and task-force sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, Response, flash, make_response, redirect, render_template, request, url_for
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
from docmgr.forms import FormErrors, FormInvalid, PageForm
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


def _submit(form: PageForm, save: Callable[[], str | Response | None], then: str, *, validate: bool = True,
            reraise: tuple[int, ...] = ()) -> tuple[Response | None, FormErrors | None, int]:
    """The administration pages' one form path, for creating and for editing alike: check every field (unless
    ``validate`` is off: a button that sends no fields), call the service through ``save``, commit once.

    ``save`` returns the message to flash before going to ``then``, or a page to answer as it is (the
    deactivation's confirmation), or None to show the page again (a temporary password). A refusal is rolled back
    and shown beside its fields; statuses in ``reraise`` answer as error pages instead. Returns (the response to
    send, or None to render the page) with the page's errors and status."""
    try:
        if validate and not form.validate():
            raise FormInvalid
        outcome = save()
        if isinstance(outcome, Response):
            return outcome, None, 200
        db.session.commit()
    except (DocmgrError, FormInvalid) as exc:
        db.session.rollback()
        if isinstance(exc, DocmgrError) and exc.status in reraise:
            raise
        error, status = form.refusal(exc)
        return None, error, status
    if outcome is None:
        return None, None, 200
    flash(outcome, "success")
    return redirect(then), None, 200


def _set_active(actor: User, user_id: int, action: str) -> str | Response:
    """(De)activate a user; deactivation asks first: a page with a button that posts the same action confirmed."""
    if action == "deactivate" and not request.form.get("confirm"):
        user = services.get_user(db.session, actor, user_id)
        return make_response(render_template("accounts/confirm_deactivate.html", user=user))
    services.set_user_active(db.session, actor, user_id, action == "activate")
    return _("Saved.")


# The user page's buttons that send no fields (anything else saves the form).
_USER_BUTTONS = ("activate", "deactivate", "temporary_password", "reset_link")


def _user_fields(form: NewUserForm | EditUserForm) -> dict[str, Any]:
    return {"email": form.email.data, "name": form.name.data, "role": form.role.data, "organization": form.organization}


def _roles_least_first() -> list[str]:
    """The role choices, the least privileged first: a new user's form starts at "firm"."""
    order = (Role.FIRM.value, Role.MINISTRY.value, Role.LEGAL.value, Role.ADMIN.value)
    return sorted((r.value for r in Role), key=lambda role: order.index(role) if role in order else len(order))


@bp.route("/admin/users", methods=["GET", "POST"])
@login_required
def admin_users():
    actor = require_admin(current_user._get_current_object())
    error, status = None, 200
    form = NewUserForm()
    if request.method == "POST":
        action = request.form.get("action")
        if action in ("activate", "deactivate"):
            user_id = request.form.get("user_id", type=int) or 0
            response, error, status = _submit(form, lambda: _set_active(actor, user_id, action),
                                              url_for("accounts.admin_users"), validate=False)
        else:
            def create() -> str:
                user = services.create_user(db.session, actor, password=form.password.data, **_user_fields(form))
                return _("User %(email)s created.", email=user.email)

            response, error, status = _submit(form, create, url_for("accounts.admin_users"))
        if response is not None:
            return response
    users = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template(
        "accounts/admin_users.html", users=users, organizations=list_organizations(db.session), roles=_roles_least_first(),
        error=error, form=request.form,
    ), status


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def admin_user_edit(user_id: int):
    """Edit or rename a user; (de)activate them (deactivation confirmed first); reset their password."""
    actor = require_admin(current_user._get_current_object())
    user = services.get_user(db.session, actor, user_id)
    error, status, shown = None, 200, {}
    form = EditUserForm()
    if request.method == "POST":
        action = request.form.get("action", "save")

        def save() -> str | Response | None:
            if action in ("activate", "deactivate"):
                return _set_active(actor, user.id, action)
            if action == "temporary_password":
                shown["temporary_password"] = passwords.set_temporary_password(db.session, actor, user.id)
                return None
            if action == "reset_link":
                passwords.send_reset_link(db.session, actor, user.id)
                return _("A password reset link was sent to %(email)s.", email=user.email)
            services.update_user(db.session, actor, user.id, **_user_fields(form))
            return _("Saved.")

        response, error, status = _submit(form, save, url_for("accounts.admin_user_edit", user_id=user.id),
                                          validate=action not in _USER_BUTTONS, reraise=(403, 404))
        if response is not None:
            return response
        if error:
            user = services.get_user(db.session, actor, user_id)
    values = request.form if error else {
        "email": user.email, "name": user.name, "role": user.role, "organization_id": str(user.organization_id or ""),
    }
    return render_template(
        "accounts/admin_user_edit.html", user=user, organizations=list_organizations(db.session),
        roles=_roles_least_first(), error=error, form=values, temporary_password=shown.get("temporary_password"),
    ), status


# The organisation and session forms' fields are the services' keyword arguments (``form.data``).


@bp.route("/admin/organizations", methods=["GET", "POST"])
@login_required
def admin_organizations():
    actor = require_admin(current_user._get_current_object())
    error, status = None, 200
    form = NewOrganizationForm()
    if request.method == "POST":
        def create() -> str:
            org = services.create_organization(db.session, actor, **form.data)
            return _("Organisation %(name)s created.", name=org.name)

        response, error, status = _submit(form, create, url_for("accounts.admin_organizations"))
        if response is not None:
            return response
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
        def save() -> str:
            services.update_organization(db.session, actor, org.id, **form.data)
            return _("Saved.")

        response, error, status = _submit(form, save, url_for("accounts.admin_organizations"))
        if response is not None:
            return response
        if error:
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
        def save() -> str:
            update_task_force_session(db.session, actor, forum_session.id, **form.data)
            return _("Saved.")

        response, error, status = _submit(form, save, url_for("accounts.admin_sessions"))
        if response is not None:
            return response
        if error:
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
        def create() -> str:
            forum_session = create_task_force_session(db.session, actor, **form.data)
            return _("Session %(name)s created.", name=forum_session.name)

        response, error, status = _submit(form, create, url_for("accounts.admin_sessions"))
        if response is not None:
            return response
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
