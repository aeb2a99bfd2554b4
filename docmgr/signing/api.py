"""``POST|DELETE /api/v1/agreements/ID/signatories/SID/invitation`` (legal): send or revoke a signing link."""

from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import fields

import docmgr.signing.services as services
from docmgr.api import acting_user, documented
from docmgr.extensions import db
from docmgr.serializers import IsoDateTime, Output

bp = Blueprint("signing_api", __name__)


class InvitationSchema(Output):
    """The link sent (its URL is shown only here, once) and when it expires."""

    signatory_id = fields.Integer()
    url = fields.String(metadata={"example": "http://127.0.0.1:8000/sign/TOKEN"})
    expires_at = IsoDateTime()


class RevokedSchema(Output):
    revoked = fields.Integer(metadata={"description": "how many live links were revoked"})


@bp.post("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/invitation")
@documented({201: InvitationSchema}, errors=(404, 409, 422))
def invite(agreement_id: int, signatory_id: int):
    """Send (or send again) the signatory a personal signing link by e-mail; earlier links stop working."""
    link, url = services.invite(db.session, acting_user(), agreement_id, signatory_id)
    db.session.commit()
    return jsonify(InvitationSchema().dump({"signatory_id": signatory_id, "url": url,
                                            "expires_at": link.expires_at})), 201


@bp.delete("/agreements/<int:agreement_id>/signatories/<int:signatory_id>/invitation")
@documented({200: RevokedSchema}, errors=(404,))
def revoke(agreement_id: int, signatory_id: int):
    """Revoke the signatory's signing links."""
    revoked = services.revoke(db.session, acting_user(), agreement_id, signatory_id)
    db.session.commit()
    return jsonify(RevokedSchema().dump({"revoked": revoked}))
