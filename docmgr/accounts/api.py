"""/api/v1: tokens, the current user, and (for admins) users, organisations and sessions."""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, jsonify, request
from flask_babel import gettext
from sqlalchemy import select

from docmgr.accounts import serializers as ser
from docmgr.accounts import services
from docmgr.accounts.models import ApiToken, Organization, User
from docmgr.accounts.permissions import require_admin
from docmgr.api import acting_user, documented, json_body, text_field
from docmgr.documents.services import create_task_force_session, list_organizations, list_task_force_sessions
from docmgr.errors import Invalid, Unauthorized
from docmgr.extensions import db

bp = Blueprint("accounts_api", __name__)


USER = ser.UserSchema()
USERS = ser.UserSchema(many=True)
ORGANIZATION = ser.OrganizationSchema()
SESSION = ser.TaskForceSessionSchema()


@bp.post("/auth/token")
@documented({201: ser.NewTokenSchema}, body=ser.TokenRequest, public=True)
def create_token():
    data = json_body(ser.TokenRequest)
    user = services.authenticate(
        db.session, text_field(data, "email"), text_field(data, "password"), request.remote_addr or ""
    )
    if user is None:
        db.session.commit()  # keep the record of the failed attempt
        raise Unauthorized(gettext("Wrong e-mail or password."), code="invalid_credentials")
    token, row = services.issue_token(db.session, user)
    db.session.commit()
    return jsonify(ser.NewTokenSchema().dump({"token": token, "expires_at": row.expires_at, "token_id": row.id})), 201


@bp.delete("/auth/token")
@documented({204: None})
def revoke_current_token():
    """Revoke the token this request was made with."""
    user = acting_user()
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Invalid(gettext("This request was not made with a token."), field="Authorization")
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == services.hash_token(header[7:].strip())))
    if row is None or row.user_id != user.id:
        # A browser session that also sent a bearer header that is not one of its tokens.
        raise Unauthorized(gettext("This token is not valid."), code="invalid_token")
    services.revoke_token(db.session, user, row.id)
    db.session.commit()
    return "", 204


@bp.get("/auth/tokens")
@documented({200: ser.TokenSchema(many=True)}, query=ser.TokenListQuery)
def list_tokens():
    user = acting_user()
    user_id = request.args.get("user_id", type=int)
    return jsonify(ser.TokenSchema(many=True).dump(services.list_tokens(db.session, user, user_id)))


@bp.delete("/auth/tokens/<int:token_id>")
@documented({204: None})
def revoke_token(token_id: int):
    services.revoke_token(db.session, acting_user(), token_id)
    db.session.commit()
    return "", 204


@bp.get("/auth/throttles")
@documented({200: ser.ThrottleSchema(many=True)})
def list_throttles():
    """Admins: the (address, e-mail) pairs throttled after failed logins."""
    return jsonify(ser.ThrottleSchema(many=True).dump(services.list_throttles(db.session, acting_user())))


@bp.post("/auth/throttles/lift")
@documented({200: ser.ThrottleLiftSchema}, body=ser.ThrottleLiftRequest)
def lift_throttle():
    """Admins: forget one pair's failed logins (audited), so it may log in again at once."""
    actor = acting_user()
    data = json_body(ser.ThrottleLiftRequest)
    lifted = services.lift_throttle(db.session, actor, text_field(data, "email"), text_field(data, "remote_addr"))
    db.session.commit()
    return jsonify(ser.ThrottleLiftSchema().dump({"lifted": lifted}))


@bp.get("/me")
@documented({200: ser.UserSchema})
def me():
    return jsonify(USER.dump(acting_user()))


@bp.get("/users")
@documented({200: ser.UserSchema(many=True)})
def list_users():
    require_admin(acting_user())
    return jsonify(USERS.dump(db.session.scalars(select(User).order_by(User.id))))


@bp.post("/users")
@documented({201: ser.UserSchema}, body=ser.UserRequest, errors=(409,))
def create_user():
    actor = acting_user()
    data = json_body(ser.UserRequest)
    org = None
    org_id = data.get("organization_id")
    if org_id is not None:
        is_id = isinstance(org_id, int) and not isinstance(org_id, bool)
        org = db.session.get(Organization, org_id) if is_id else None
        if org is None:
            raise Invalid(gettext("No such organisation."), field="organization_id")
    user = services.create_user(
        db.session, actor, email=text_field(data, "email"), password=text_field(data, "password"),
        role=text_field(data, "role"), organization=org, name=text_field(data, "name", ""),
    )
    db.session.commit()
    return jsonify(USER.dump(user)), 201


@bp.get("/organizations")
@documented({200: ser.OrganizationSchema(many=True)})
def organizations():
    acting_user()
    return jsonify(ORGANIZATION.dump(list_organizations(db.session), many=True))


@bp.post("/organizations")
@documented({201: ser.OrganizationSchema}, body=ser.OrganizationRequest, errors=(409,))
def create_organization():
    actor = acting_user()
    data = json_body(ser.OrganizationRequest)
    org = services.create_organization(
        db.session, actor, name=text_field(data, "name"), country=text_field(data, "country"),
        kind=text_field(data, "kind") or "firm", name_alt=text_field(data, "name_alt"),
        address=text_field(data, "address"), address_alt=text_field(data, "address_alt"),
    )
    db.session.commit()
    return jsonify(ORGANIZATION.dump(org)), 201


@bp.get("/sessions")
@documented({200: ser.TaskForceSessionSchema(many=True)})
def sessions():
    acting_user()
    return jsonify(SESSION.dump(list_task_force_sessions(db.session), many=True))


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date_field(data: dict, name: str) -> date:
    value = data.get(name)
    try:
        if not isinstance(value, str) or not _ISO_DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(gettext("'%(name)s' must be a date as YYYY-MM-DD.", name=name), field=name) from None


@bp.post("/sessions")
@documented({201: ser.TaskForceSessionSchema}, body=ser.TaskForceSessionRequest, errors=(409,))
def create_session():
    actor = acting_user()
    data = json_body(ser.TaskForceSessionRequest)
    forum_session = create_task_force_session(
        db.session, actor, name=text_field(data, "name"), place=text_field(data, "place"),
        country=text_field(data, "country"),
        starts_on=_date_field(data, "starts_on"), ends_on=_date_field(data, "ends_on"),
        name_alt=data.get("name_alt"), place_alt=data.get("place_alt"),
    )
    db.session.commit()
    return jsonify(SESSION.dump(forum_session)), 201
