"""signatures: the signing lifecycle of agreements, signed copies and their verification."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.maintenance import register_blob_references, register_check, register_init_step
from docmgr.signatures import seal
from docmgr.signatures.models import SignatureSubmission


def _blob_references(session: Session) -> Iterator[tuple[str, str]]:
    for submission_id, agreement_id, sha, detached in session.execute(
        select(SignatureSubmission.id, SignatureSubmission.agreement_id, SignatureSubmission.sha256,
               SignatureSubmission.signature_sha256)
    ):
        yield sha, f"agreement {agreement_id} signature submission {submission_id}"
        if detached:
            yield detached, f"agreement {agreement_id} signature submission {submission_id} (detached signature)"


def _ensure_seal() -> str | None:
    """`init`: the instance's seal certificate and key (DOCMGR_SEAL_CERT/_KEY), made when missing."""
    files = seal.ensure_seal(current_app.config["SEAL_CERT"], current_app.config["SEAL_KEY"])
    return f"Seal certificate created: {files.cert} (key {files.key}, mode 0600)" if files.created else None


def _check_seal(echo) -> int:
    """`check`: the seal's certificate loads and its key is readable by its owner only."""
    cert, key = Path(current_app.config["SEAL_CERT"]), Path(current_app.config["SEAL_KEY"])
    if not cert.exists() and not key.exists():
        return 0  # made on first use (or by `init`)
    problems = 0
    try:
        seal.certificate_der(cert)
    except (OSError, ValueError) as error:
        echo(f"seal certificate {cert}: cannot be read ({error.__class__.__name__})")
        problems += 1
    if not key.exists():
        echo(f"seal key {key}: missing")
        problems += 1
    elif key.stat().st_mode & 0o077:
        echo(f"seal key {key}: readable by others (mode {key.stat().st_mode & 0o777:o}); chmod 600 it")
        problems += 1
    return problems


def init_app(app: Flask) -> None:
    """The stored-file references of signature submissions, for `check`; the seal's `init` step and check."""
    register_blob_references(app, _blob_references)
    register_init_step(app, _ensure_seal)
    register_check(app, _check_seal)
