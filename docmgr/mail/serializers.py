"""The API shape of the sent-mail list (administrators)."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import OneOf

from docmgr.mail.services import STATUS_FILTERS
from docmgr.serializers import Input, IsoDateTime, Output, counts


class MailSchema(Output):
    """One message: ``status`` is queued, sent, not_sent (no SMTP configured) or failed (retried)."""

    id = fields.Integer()
    kind = fields.String(metadata={"example": "test"})
    to = fields.String(attribute="to_address", metadata={"example": "anna@example.org"})
    to_name = fields.String()
    subject = fields.String()
    language = fields.String(validate=OneOf(["it", "ru", "en"]))
    status = fields.String(validate=OneOf(STATUS_FILTERS))
    error = fields.String()
    attempts = fields.Integer()
    created_at = IsoDateTime()
    sent_at = IsoDateTime(allow_none=True)


class MailListSchema(Output):
    counts = counts(metadata={"description": "messages per status"})
    items = fields.List(fields.Nested(MailSchema))


class MailQuery(Input):
    status = fields.String(validate=OneOf(STATUS_FILTERS), metadata={"description": "one status; default: all"})


class NotificationPreferencesSchema(Output):
    """Which status mails the user receives (true: receives it)."""

    signature_recorded = fields.Boolean()
    declined = fields.Boolean()
    executed = fields.Boolean()
    expired = fields.Boolean()


class NotificationPreferencesRequest(Input):
    """Events to switch on (true) or off (false); those not given stay as they are."""

    signature_recorded = fields.Boolean()
    declined = fields.Boolean()
    executed = fields.Boolean()
    expired = fields.Boolean()
