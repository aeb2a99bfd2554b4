"""Setting up the data folders and schema, and the integrity checks behind `docmgr check`."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from sqlalchemy import select

from docmgr.extensions import db
from docmgr.storage import current_store


def initialize() -> int | None:
    """Create the data folders, bring the schema to the newest migration and rebuild a search
    index built by an older version. Returns how many entries were reindexed (None: none needed)."""
    from flask_migrate import upgrade

    current_store().ensure()
    current_app.config["INDEX_DIR"].mkdir(parents=True, exist_ok=True)
    upgrade()
    from docmgr.drafting.services import sync_templates  # drafting: load the shipped agreement templates

    sync_templates(db.session)
    db.session.commit()
    from docmgr.search.services import reindex_if_outdated

    return reindex_if_outdated()


def referenced_blobs() -> list[tuple[str, str]]:
    """(sha256, what points at it) for every stored file a row refers to."""
    from docmgr.documents.models import DocumentFile
    from docmgr.drafting.models import Agreement, Draft, Signatory

    refs: list[tuple[str, str]] = []
    for file_id, document_id, sha, filename in db.session.execute(
        select(DocumentFile.id, DocumentFile.document_id, DocumentFile.sha256, DocumentFile.filename)
    ):
        refs.append((sha, f"document {document_id} file {file_id} ({filename})"))
    for draft_id, agreement_id, pdf, docx in db.session.execute(
        select(Draft.id, Draft.agreement_id, Draft.pdf_sha256, Draft.docx_sha256)
    ):
        refs.append((pdf, f"agreement {agreement_id} draft {draft_id} (PDF)"))
        refs.append((docx, f"agreement {agreement_id} draft {draft_id} (DOCX)"))
    for signatory_id, agreement_id, sha in db.session.execute(
        select(Signatory.id, Signatory.agreement_id, Signatory.signed_file_sha256).where(
            Signatory.signed_file_sha256.is_not(None)
        )
    ):
        refs.append((sha, f"agreement {agreement_id} signatory {signatory_id} signed copy"))
    for agreement_id, sha in db.session.execute(
        select(Agreement.id, Agreement.certificate_sha256).where(Agreement.certificate_sha256.is_not(None))
    ):
        refs.append((sha, f"agreement {agreement_id} completion certificate"))
    from docmgr.signatures.models import SignatureSubmission

    for submission_id, agreement_id, sha, detached in db.session.execute(
        select(SignatureSubmission.id, SignatureSubmission.agreement_id, SignatureSubmission.sha256,
               SignatureSubmission.signature_sha256)
    ):
        refs.append((sha, f"agreement {agreement_id} signature submission {submission_id}"))
        if detached:
            refs.append((detached, f"agreement {agreement_id} signature submission {submission_id} (detached signature)"))
    return refs


def check_files(echo: Callable[[str], None]) -> int:
    store = current_store()
    problems = 0
    seen: dict[str, str | None] = {}
    refs = referenced_blobs()
    for sha, owner in refs:
        if sha not in seen:
            seen[sha] = store.verify(sha)
        if seen[sha]:
            problems += 1
            echo(f"file {seen[sha]}: {owner} sha256={sha}")
    echo(f"files: {len(seen)} stored file(s) re-hashed, {problems} problem(s)")
    return problems


def check_audit(echo: Callable[[str], None]) -> int:
    from docmgr.audit.services import verify_chain

    report = verify_chain(db.session)
    for problem in report.problems:
        echo(f"audit: {problem['message']}")
    echo(f"audit: {report.events} event(s) in the chain, {len(report.problems)} problem(s)")
    return len(report.problems)


# Each check prints what it finds and returns how many problems. Modules add theirs here.
CHECKS: list[Callable[[Callable[[str], None]], int]] = [check_files, check_audit]


def run_checks(echo: Callable[[str], None] = print) -> int:
    return sum(check(echo) for check in CHECKS)
