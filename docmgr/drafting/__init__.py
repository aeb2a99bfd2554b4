"""drafting: agreement templates, agreements and their rendered drafts."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.drafting.models import Agreement, Draft, Signatory
from docmgr.drafting.services import all_draft_ids, executed_copy_shown_as, index_draft, sync_templates
from docmgr.extensions import db
from docmgr.maintenance import register_blob_references, register_init_step
from docmgr.search.indexers import register_indexer, register_shown_as_other


def _blob_references(session: Session) -> Iterator[tuple[str, str]]:
    for draft_id, agreement_id, pdf, docx in session.execute(
        select(Draft.id, Draft.agreement_id, Draft.pdf_sha256, Draft.docx_sha256)
    ):
        yield pdf, f"agreement {agreement_id} draft {draft_id} (PDF)"
        yield docx, f"agreement {agreement_id} draft {draft_id} (DOCX)"
    for signatory_id, agreement_id, sha in session.execute(
        select(Signatory.id, Signatory.agreement_id, Signatory.signed_file_sha256).where(
            Signatory.signed_file_sha256.is_not(None))
    ):
        yield sha, f"agreement {agreement_id} signatory {signatory_id} signed copy"
    for agreement_id, sha in session.execute(
        select(Agreement.id, Agreement.certificate_sha256).where(Agreement.certificate_sha256.is_not(None))
    ):
        yield sha, f"agreement {agreement_id} completion certificate"


def _load_shipped_templates() -> None:
    sync_templates(db.session)
    db.session.commit()


def init_app(app: Flask) -> None:
    """The "draft" indexer, the stored-file references for `check`, and loading the templates at `init`."""
    register_indexer(app, "draft", index_draft, all_draft_ids)
    register_shown_as_other(app, executed_copy_shown_as)
    register_blob_references(app, _blob_references)
    register_init_step(app, _load_shipped_templates)
