"""signatures: the signing lifecycle of agreements, signed copies and their verification."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.maintenance import register_blob_references
from docmgr.signatures.models import SignatureSubmission


def _blob_references(session: Session) -> Iterator[tuple[str, str]]:
    for submission_id, agreement_id, sha, detached in session.execute(
        select(SignatureSubmission.id, SignatureSubmission.agreement_id, SignatureSubmission.sha256,
               SignatureSubmission.signature_sha256)
    ):
        yield sha, f"agreement {agreement_id} signature submission {submission_id}"
        if detached:
            yield detached, f"agreement {agreement_id} signature submission {submission_id} (detached signature)"


def init_app(app: Flask) -> None:
    """The stored-file references of signature submissions, for `check`."""
    register_blob_references(app, _blob_references)
