"""The API shapes of signatures: the agreement's signature state, submissions, the answers to a
signature or a decline, and the task-force figures. They extend drafting's agreement and signatory."""

from __future__ import annotations

from marshmallow import fields
from marshmallow.validate import OneOf
from sqlalchemy.orm import object_session

from docmgr.drafting.serializers import SIGNATURE_METHODS, STATUSES, AgreementSchema, SignatorySchema
from docmgr.serializers import ErrorDetailSchema, ErrorSchema, Input, IsoDateTime, Output, counts, free_object, optional
from docmgr.signatures import services
from docmgr.vocab import REVIEW_DECISIONS, REVIEW_STATUSES


class SignedSignatorySchema(SignatorySchema):
    """Drafting's signatory plus the hash of the accepted signed copy."""

    signed_file_sha256 = fields.String(allow_none=True)


class SubmissionSchema(Output):
    """One uploaded signed copy, accepted or refused (kept on record either way)."""

    id = fields.Integer()
    signatory_id = fields.Integer()
    sha256 = fields.String()
    size = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    method = fields.String(validate=OneOf(SIGNATURE_METHODS))
    signed_at = IsoDateTime(allow_none=True)
    signature_sha256 = fields.String(allow_none=True, metadata={"description": "a detached .p7s/.sig, as received"})
    signature_filename = fields.String(allow_none=True)
    is_valid = fields.Boolean()
    shared_counterpart = fields.Boolean(metadata={"description": "recorded by legal as one counterpart signed by "
                                                                 "several signatories"})
    verification = free_object(allow_none=True, metadata={"description": "what the check of the signed copy found"})
    created_at = IsoDateTime()
    created_by_id = fields.Integer(allow_none=True)
    review_status = fields.String(validate=OneOf(REVIEW_STATUSES), metadata={"description": (
        "a wet-ink scan from a link holder or a firm user counts only once legal accepts it: pending, then "
        "accepted or rejected; recorded by legal: accepted at once; digital/electronic: not_required")})
    reviewed_by_id = fields.Integer(allow_none=True)
    reviewed_at = IsoDateTime(allow_none=True)
    review_reason = fields.String(metadata={"description": "why legal rejected (or a note on accepting) the scan"})

    computed = {"verification": services.verification_of, "signature_filename": lambda s: s.signature_filename or None}


class AgreementStateSchema(AgreementSchema):
    """Drafting's agreement plus the signature side: approval, the frozen draft, the certificate."""

    approved_by_id = fields.Integer(allow_none=True)
    frozen_draft_id = fields.Integer(allow_none=True)
    sent_for_signature_at = IsoDateTime(allow_none=True)
    certificate_url = fields.String(allow_none=True)
    signatories = fields.List(fields.Nested(SignedSignatorySchema))

    computed = {
        **AgreementSchema.computed,
        "certificate_url": lambda agreement: (
            f"/api/v1/agreements/{agreement.id}/certificate.pdf" if agreement.certificate_sha256 else None
        ),
    }


class SignatureStateSchema(AgreementStateSchema):
    """The agreement's signature state with every submission (refused ones included)."""

    submissions = fields.List(fields.Nested(SubmissionSchema))

    computed = {
        **AgreementStateSchema.computed,
        "submissions": lambda agreement: services.submissions_for(object_session(agreement), agreement),
    }


class SignatureResultSchema(Output):
    """The answer to an accepted signed copy: the signatory, the submission, the agreement now. A wet-ink
    scan of a link holder or a firm user (202) waits for legal's review: the signatory is still pending."""

    signatory = fields.Nested(SignedSignatorySchema)
    submission = fields.Nested(SubmissionSchema)
    agreement = fields.Nested(AgreementStateSchema)
    message = fields.String(metadata={"description": "what happens now, in words"})

    computed = {"message": lambda outcome: services.outcome_message(outcome)}


class ReviewResultSchema(Output):
    """The reviewed submission, the signatory and the agreement now."""

    submission = fields.Nested(SubmissionSchema)
    signatory = fields.Nested(SignedSignatorySchema)
    agreement = fields.Nested(AgreementStateSchema)


class CheckedFileSchema(Output):
    filename = fields.String()
    sha256 = fields.String()
    size = optional(fields.Integer())
    type = optional(fields.String(metadata={"description": "pdf, cms (a .p7m/.p7s/.sig), docx, png…"}))


class MatchedAgreementSchema(Output):
    agreement_id = fields.Integer()
    title = fields.String()
    matched = fields.List(fields.String(validate=OneOf(("final_draft", "executed_copy", "signature_file"))))


class VerifyResultSchema(Output):
    """What an uploaded file is: the executed agreements (that the caller may read) it is byte-identical
    to, and what each of its signatures says (``verification``: format, signers, intact, trusted, reasons)."""

    file = fields.Nested(CheckedFileSchema)
    signature_file = fields.Nested(CheckedFileSchema, allow_none=True)
    matches_executed_agreement = fields.Boolean()
    agreements = fields.List(fields.Nested(MatchedAgreementSchema))
    verification = free_object(allow_none=True)


class DeclineResultSchema(Output):
    signatory = fields.Nested(SignedSignatorySchema)
    agreement = fields.Nested(AgreementStateSchema)


class SignatureRefusalDetailSchema(ErrorDetailSchema):
    """A refused signed copy also names the reasons and the submission kept on record."""

    reasons = optional(fields.List(fields.String()))
    submission = optional(fields.Nested(SubmissionSchema))


class SignatureRefusalSchema(ErrorSchema):
    error = fields.Nested(SignatureRefusalDetailSchema)


class TransitionRefusalDetailSchema(ErrorDetailSchema):
    """A transition not allowed now names where the agreement stands and where it was asked to go."""

    current_status = optional(fields.String(validate=OneOf(STATUSES)))
    requested_status = optional(fields.String())


class TransitionRefusalSchema(ErrorSchema):
    error = fields.Nested(TransitionRefusalDetailSchema)


class FiguresSchema(Output):
    """The task force's figures (whole period, or one session)."""

    session_id = fields.Integer(allow_none=True)
    proposals = fields.Integer()
    partnership_projects = fields.Integer()
    agreements_signed = fields.Integer()
    agreements_total = fields.Integer()
    agreements_by_status = counts(metadata={"description": "status -> count; statuses: " + ", ".join(STATUSES)})
    organizations_by_country = counts()
    definitions = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "what each figure counts"})


# --- requests ------------------------------------------------------------------------------------


class TransitionRequest(Input):
    to = fields.String(required=True, validate=OneOf(STATUSES))
    reason = fields.String(allow_none=True)
    due_at = fields.String(allow_none=True, metadata={"format": "date-time", "description": "sending out: the signing deadline"})


class SignatureForm(Input):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary", "description": (
        "the signed copy: a PAdES-signed PDF, a CAdES/GOST .p7m, a scan; or the PDF a detached 'signature' signs")})
    signature = fields.Raw(metadata={"type": "string", "format": "binary",
                                     "description": "a detached CAdES/GOST signature (.p7s, .sig) of 'file'"})
    signed_at = fields.String(metadata={"description": "when it was signed (ISO 8601)"})
    method = fields.String(validate=OneOf(services.METHODS))
    shared_counterpart = fields.String(metadata={"description": (
        "true (legal staff only): this file is one counterpart signed by several signatories, already "
        "recorded for another signatory of the agreement; without it the same file is refused (409 "
        "duplicate_signature_file)"), "enum": ["true", "false"]})


class VerifyForm(Input):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": "a PDF, a .p7m, or the PDF a detached 'signature' signs"})
    signature = fields.Raw(metadata={"type": "string", "format": "binary", "description": "a detached .p7s/.sig"})


class ReviewRequest(Input):
    decision = fields.String(required=True, validate=OneOf(REVIEW_DECISIONS), metadata={
        "description": "accept: the scan counts as the signature; reject: the signatory is told why and may upload again"})
    reason = fields.String(allow_none=True, metadata={"description": "required to reject (at most 2,000 characters)"})


class DeclineRequest(Input):
    reason = fields.String(required=True)


class FiguresQuery(Input):
    session_id = fields.Integer()


INBOX_REASONS = ("review", "waiting_approval", "ready_to_send", "sign_by_passed", "waiting_too_long", "declined",
                 "scan_review")


class InboxItemSchema(Output):
    """One thing waiting: an agreement, why, since when, and the signatory concerned (if any)."""

    agreement_id = fields.Integer(attribute="agreement.id")
    title = fields.String(attribute="agreement.title")
    status = fields.String(attribute="agreement.status")
    reason = fields.String(validate=OneOf(INBOX_REASONS))
    since = IsoDateTime(allow_none=True)
    signatory_id = fields.Integer(allow_none=True)
    signatory_name = fields.String(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    submission_id = fields.Integer(allow_none=True, metadata={"description": "scan_review: the scan waiting for review"})
    url = fields.String(metadata={"description": "the agreement's page"})

    computed = {
        "submission_id": lambda item: item.submission.id if item.submission else None,
        "signatory_id": lambda item: item.signatory.id if item.signatory else None,
        "signatory_name": lambda item: item.signatory.name if item.signatory else None,
        "decline_reason": lambda item: item.signatory.decline_reason if item.signatory else None,
        "url": lambda item: f"/agreements/{item.agreement.id}" + ("#scan-review" if item.submission else ""),
    }


class InboxSchema(Output):
    drafts_to_review = fields.List(fields.Nested(InboxItemSchema))
    approvals_waiting = fields.List(fields.Nested(InboxItemSchema))
    signatures_overdue = fields.List(fields.Nested(InboxItemSchema))
    declines = fields.List(fields.Nested(InboxItemSchema))
    scans_to_review = fields.List(fields.Nested(InboxItemSchema), metadata={
        "description": "wet-ink scans of link holders and firm users that count only once legal accepts them"})
    total = fields.Integer()
