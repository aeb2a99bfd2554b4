"""The API shapes of accounts: tokens, users, organisations and task-force sessions."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import OneOf

from docmgr.serializers import Input, IsoDate, IsoDateTime, Output
from docmgr.vocab import COUNTRIES, ORGANIZATION_KINDS, ROLES


class NewTokenSchema(Output):
    token = fields.String(metadata={"description": "send it as 'Authorization: Bearer TOKEN'"})
    expires_at = IsoDateTime()
    token_id = fields.Integer()


class TokenSchema(Output):
    id = fields.Integer()
    created_at = IsoDateTime()
    expires_at = IsoDateTime()
    revoked_at = IsoDateTime(allow_none=True)


class UserSchema(Output):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    role = fields.String(validate=OneOf(ROLES))
    organization_id = fields.Integer(allow_none=True)
    is_active = fields.Boolean()
    created_at = IsoDateTime()


class OrganizationSchema(Output):
    id = fields.Integer()
    name = fields.String()
    name_alt = fields.String(allow_none=True)
    country = fields.String(validate=OneOf(COUNTRIES))
    kind = fields.String(validate=OneOf(ORGANIZATION_KINDS))
    address = fields.String(allow_none=True)
    address_alt = fields.String(allow_none=True)


class TaskForceSessionSchema(Output):
    id = fields.Integer()
    name = fields.String()
    name_alt = fields.String()
    place = fields.String()
    place_alt = fields.String()
    country = fields.String(validate=OneOf(COUNTRIES))
    starts_on = IsoDate()
    ends_on = IsoDate()


# --- requests ------------------------------------------------------------------------------------


class TokenRequest(Input):
    email = fields.String(required=True)
    password = fields.String(required=True)


class ThrottleSchema(Output):
    """Failed logins in a row for one (address, e-mail) pair, and until when it is locked out."""

    email = fields.String()
    remote_addr = fields.String()
    failures = fields.Integer()
    last_failure_at = IsoDateTime()
    locked_until = IsoDateTime()
    is_locked = fields.Boolean()


class ThrottleLiftRequest(Input):
    email = fields.String(required=True)
    remote_addr = fields.String(required=True)


class ThrottleLiftSchema(Output):
    lifted = fields.Integer(metadata={"description": "how many failed logins were forgotten"})


class TokenListQuery(Input):
    user_id = fields.Integer(metadata={"description": "admins: another user's tokens"})


class UserRequest(Input):
    email = fields.String(required=True)
    password = fields.String(required=True)
    role = fields.String(required=True, validate=OneOf(ROLES))
    organization_id = fields.Integer(allow_none=True, metadata={"description": "required for firm users"})
    name = fields.String()


class OrganizationRequest(Input):
    name = fields.String(required=True)
    name_alt = fields.String(allow_none=True)
    country = fields.String(required=True, validate=OneOf(COUNTRIES))
    kind = fields.String(validate=OneOf(ORGANIZATION_KINDS))
    address = fields.String(allow_none=True)
    address_alt = fields.String(allow_none=True)


class TaskForceSessionRequest(Input):
    name = fields.String(required=True)
    name_alt = fields.String(allow_none=True)
    place = fields.String(required=True)
    place_alt = fields.String(allow_none=True)
    country = fields.String(required=True, validate=OneOf(COUNTRIES))
    starts_on = IsoDate(required=True)
    ends_on = IsoDate(required=True)
