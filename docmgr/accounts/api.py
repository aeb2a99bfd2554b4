"""/api/v1: tokens, the current user, and (for admins) users, organisations and sessions."""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from docmgr.accounts import services
from docmgr.accounts.models import ApiToken, Organization, Role, User
from docmgr.api import acting_user, iso, json_body, text_field
from docmgr.documents.models import TaskForceSession
from docmgr.documents.services import create_task_force_session, list_organizations, list_task_force_sessions
from docmgr.errors import Invalid, Unauthorized
from docmgr.extensions import db

bp = Blueprint("accounts_api", __name__)


def user_json(user: User) -> dict:
    return {
        "id": user.id, "email": user.email, "name": user.name, "role": user.role,
        "organization_id": user.organization_id, "is_active": user.is_active, "created_at": iso(user.created_at),
    }


def organization_json(org: Organization) -> dict:
    return {
        "id": org.id, "name": org.name, "name_alt": org.name_alt, "country": org.country, "kind": org.kind,
        "address": org.address, "address_alt": org.address_alt,
    }


def session_json(forum_session: TaskForceSession) -> dict:
    return {
        "id": forum_session.id, "name": forum_session.name, "place": forum_session.place,
        "country": forum_session.country, "starts_on": forum_session.starts_on.isoformat(),
        "ends_on": forum_session.ends_on.isoformat(),
    }


def token_json(row: ApiToken) -> dict:
    return {
        "id": row.id, "created_at": iso(row.created_at), "expires_at": iso(row.expires_at),
        "revoked_at": iso(row.revoked_at),
    }


@bp.post("/auth/token")
def create_token():
    data = json_body({"email", "password"}, required={"email", "password"})
    user = services.authenticate(
        db.session, text_field(data, "email"), text_field(data, "password"), request.remote_addr or ""
    )
    if user is None:
        db.session.commit()  # keep the record of the failed attempt
        raise Unauthorized("Wrong e-mail or password.", code="invalid_credentials")
    token, row = services.issue_token(db.session, user)
    db.session.commit()
    return jsonify({"token": token, "expires_at": iso(row.expires_at), "token_id": row.id}), 201


@bp.delete("/auth/token")
def revoke_current_token():
    """Revoke the token this request was made with."""
    user = acting_user()
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Invalid("This request was not made with a token.", field="Authorization")
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == services.hash_token(header[7:].strip())))
    if row is None or row.user_id != user.id:
        # A browser session that also sent a bearer header that is not one of its tokens.
        raise Unauthorized("This token is not valid.", code="invalid_token")
    services.revoke_token(db.session, user, row.id)
    db.session.commit()
    return "", 204


@bp.get("/auth/tokens")
def list_tokens():
    user = acting_user()
    user_id = request.args.get("user_id", type=int)
    return jsonify([token_json(t) for t in services.list_tokens(db.session, user, user_id)])


@bp.delete("/auth/tokens/<int:token_id>")
def revoke_token(token_id: int):
    services.revoke_token(db.session, acting_user(), token_id)
    db.session.commit()
    return "", 204


@bp.get("/me")
def me():
    return jsonify(user_json(acting_user()))


@bp.get("/users")
def list_users():
    services.require_role(acting_user(), Role.ADMIN)
    return jsonify([user_json(u) for u in db.session.scalars(select(User).order_by(User.id))])


@bp.post("/users")
def create_user():
    actor = acting_user()
    data = json_body({"email", "password", "role", "organization_id", "name"}, required={"email", "password", "role"})
    org = None
    org_id = data.get("organization_id")
    if org_id is not None:
        is_id = isinstance(org_id, int) and not isinstance(org_id, bool)
        org = db.session.get(Organization, org_id) if is_id else None
        if org is None:
            raise Invalid("No such organisation.", field="organization_id")
    user = services.create_user(
        db.session, actor, email=text_field(data, "email"), password=text_field(data, "password"),
        role=text_field(data, "role"), organization=org, name=text_field(data, "name", ""),
    )
    db.session.commit()
    return jsonify(user_json(user)), 201


@bp.get("/organizations")
def organizations():
    acting_user()
    return jsonify([organization_json(o) for o in list_organizations(db.session)])


@bp.post("/organizations")
def create_organization():
    actor = acting_user()
    data = json_body({"name", "name_alt", "country", "kind", "address", "address_alt"}, required={"name", "country"})
    org = services.create_organization(
        db.session, actor, name=text_field(data, "name"), country=text_field(data, "country"),
        kind=text_field(data, "kind") or "firm", name_alt=text_field(data, "name_alt"),
        address=text_field(data, "address"), address_alt=text_field(data, "address_alt"),
    )
    db.session.commit()
    return jsonify(organization_json(org)), 201


@bp.get("/sessions")
def sessions():
    acting_user()
    return jsonify([session_json(s) for s in list_task_force_sessions(db.session)])


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date_field(data: dict, name: str) -> date:
    value = data.get(name)
    try:
        if not isinstance(value, str) or not _ISO_DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"'{name}' must be a date as YYYY-MM-DD.", field=name) from None


@bp.post("/sessions")
def create_session():
    actor = acting_user()
    data = json_body({"name", "place", "country", "starts_on", "ends_on"}, required={"name", "place", "country", "starts_on", "ends_on"})
    forum_session = create_task_force_session(
        db.session, actor, name=text_field(data, "name"), place=text_field(data, "place"),
        country=text_field(data, "country"),
        starts_on=_date_field(data, "starts_on"), ends_on=_date_field(data, "ends_on"),
    )
    db.session.commit()
    return jsonify(session_json(forum_session)), 201
