"""Signing in the browser: a simple electronic signature (eIDAS sense), sealed by the instance.

The signatory — a signing link's holder (:class:`~docmgr.signatures.services.SignatoryActor`, after the
e-mailed one-time code) or a firm user named as the signatory (same e-mail address) — confirms their name,
types or draws a signature and gives explicit consent. docmgr then stamps the signature block onto the
signature page and seals the frozen PDF with its own certificate (:mod:`docmgr.signatures.seal`); the
sealed PDF is verified like any uploaded PAdES file, stored by its SHA-256, and counts as that signatory's
signature (method ``electronic``). The audit entry records the time, address, browser, the one-time code's
verification, the consent text and the SHA-256 before and after.

Refusals (no consent, another name, no signature, a drawing that is not a small PNG) raise
:class:`~docmgr.errors.Invalid` before anything changes; the views record the refusal in the audit log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.audit.services import record
from docmgr.database import release_read_transaction, utcnow
from docmgr.documents.sandbox import SandboxLimits
from docmgr.drafting.models import Signatory
from docmgr.errors import Conflict, Forbidden, Invalid
from docmgr.signatures import checking, seal, trust
from docmgr.signatures.models import SignatureSubmission
from docmgr.signatures.services import (
    Actor,
    SignatoryActor,
    SignatureOutcome,
    _locked,
    _require_signing_open,
    accept_signature,
    acting_user,
    actor_audit,
    get_signatory,
)
from docmgr.storage import current_store, store_bytes

METHOD = "electronic"
CONSENT_TEXT = _l(
    "I confirm that I am the person named above and that I sign this agreement electronically. I agree that my "
    "typed or drawn signature, applied and sealed by docmgr, has the same value as my handwritten signature on "
    "this document."
)
CAPTION = _l("Signed electronically via docmgr")
MAX_TYPED = 200


def _normal(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name or "").casefold().split())


def is_named_signatory(user: User | None, signatory: Signatory) -> bool:
    """A firm user is "named as the signatory" when the row carries their e-mail address (their own organisation)."""
    return bool(user is not None and user.is_firm and signatory.email and user.email
                and user.email.strip().lower() == signatory.email.strip().lower()
                and user.organization_id == signatory.organization_id)


def may_sign_in_browser(actor: Actor, signatory: Signatory) -> bool:
    if isinstance(actor, SignatoryActor):
        return actor.signatory_id == signatory.id
    return is_named_signatory(actor, signatory)


def seal_certificate_der() -> bytes:
    files = seal.ensure_seal(current_app.config["SEAL_CERT"], current_app.config["SEAL_KEY"])
    return seal.certificate_der(files.cert)


def _checked_input(signatory: Signatory, *, confirmed_name: str, typed: str | None, drawing: bytes | None,
                   consent: bool) -> tuple[str, bytes | None]:
    if not consent:
        raise Invalid(gettext("Give your consent to sign electronically (tick the box)."), field="consent",
                      code="consent_required")
    names = {_normal(signatory.name), _normal(signatory.name_alt)} - {""}
    if _normal(confirmed_name) not in names:
        raise Invalid(gettext("Type your name exactly as it is written above: %(name)s.", name=signatory.name),
                      field="name", code="name_mismatch")
    typed = (typed or "").strip()
    if drawing and typed:
        raise Invalid(gettext("Type your signature or draw it, not both."), field="signature", code="signature_ambiguous")
    if not drawing and not typed:
        raise Invalid(gettext("Type your signature or draw it."), field="signature", code="signature_missing")
    if len(typed) > MAX_TYPED:
        raise Invalid(gettext("The typed signature is limited to %(n)s characters.", n=MAX_TYPED), field="signature")
    if drawing:
        try:
            return "", seal.drawn_signature(drawing, int(current_app.config["SEAL_DRAWING_MAX_KB"]) * 1024)
        except seal.SealError as error:
            messages = {
                "drawing_too_large": gettext("The drawn signature is too large."),
                "drawing_not_png": gettext("The drawn signature must be a PNG image."),
                "drawing_empty": gettext("The drawn signature is empty: draw it again."),
            }
            raise Invalid(messages.get(error.code, gettext("The drawn signature cannot be read: draw it again.")),
                          field="drawing", code=error.code) from None
    return typed, None


def sign_in_browser(
    session: Session, actor: Actor, agreement_id: int, signatory_id: int, *, confirmed_name: str,
    typed: str | None = None, drawing: bytes | None = None, consent: bool = False, language: str = "",
    ip: str = "", user_agent: str = "",
) -> SignatureOutcome:
    """Stamp, seal, verify and record the signatory's electronic signature (see the module's docstring)."""
    signatory = get_signatory(session, actor, agreement_id, signatory_id)
    agreement = _locked(session, signatory.agreement)
    if not may_sign_in_browser(actor, signatory):
        raise Forbidden(gettext("Only the signatory named on this row signs it in the browser."),
                        code="not_your_signatory")
    _require_signing_open(agreement, signatory)
    typed, drawing_png = _checked_input(signatory, confirmed_name=confirmed_name, typed=typed, drawing=drawing,
                                        consent=consent)
    config = current_app.config
    files = seal.ensure_seal(config["SEAL_CERT"], config["SEAL_KEY"])
    seal_der = seal.certificate_der(files.cert)
    frozen_sha256 = agreement.frozen_pdf_sha256
    frozen_path = current_store().path(frozen_sha256)
    roots = [*trust.trust_roots(session, config), seal_der]
    slot = sorted(s.id for s in agreement.signatories).index(signatory.id)
    name, signed_at = signatory.name, utcnow()
    consent_text = str(CONSENT_TEXT)
    request = seal.SealRequest(
        frozen_pdf=frozen_path.read_bytes(), field_name=f"docmgr-seal-signatory-{signatory.id}", slot=slot, name=name,
        signed_at=signed_at, caption=str(CAPTION), typed=typed, drawing_png=drawing_png,
        reason=f"{CAPTION} — {agreement.title}"[:200], location="docmgr",
    )
    release_read_transaction(session)  # no lock while sealing and verifying (about a second)
    sealed = seal.seal_pdf(request, files.cert, files.key)
    with tempfile.TemporaryDirectory(prefix="docmgr-seal-") as workdir:
        path = Path(workdir) / "sealed.pdf"
        path.write_bytes(sealed)
        result: dict[str, Any] = checking.verify(
            "pdf", path, frozen_path, trust_roots=roots, require_trusted=bool(config["SIGNATURE_REQUIRE_TRUSTED"]),
            allow_fetching=False, limits=SandboxLimits.from_config(config),
            in_child=bool(config.get("EXTRACTION_SUBPROCESS", True)),
        )
    if not result.get("valid"):
        raise Conflict(gettext("The seal could not be applied; nothing was recorded. Tell the legal office."),
                       code="seal_failed", reasons=result.get("reasons", []))
    # Again in the write transaction: the agreement may have moved on meanwhile.
    agreement = _locked(session, agreement)
    _require_signing_open(agreement, signatory)
    if agreement.frozen_pdf_sha256 != frozen_sha256:
        raise Conflict(gettext("The agreement changed while it was being sealed; sign again."), code="changed_meanwhile")
    blob = store_bytes(sealed)
    drawing_sha256 = hashlib.sha256(drawing_png).hexdigest() if drawing_png else None
    result.update(
        method=METHOD, frozen_pdf_sha256=frozen_sha256, seal_certificate_sha256=hashlib.sha256(seal_der).hexdigest(),
        electronic={"name": name, "signature_kind": "drawn" if drawing_png else "typed", "typed": typed or None,
                    "drawing_sha256": drawing_sha256, "consent_language": language or None},
    )
    submission = SignatureSubmission(
        signatory_id=signatory.id, agreement_id=agreement.id, sha256=blob.sha256, size=blob.size,
        filename=f"agreement-{agreement.id}-signed-electronically-{signatory.id}.pdf", content_type="application/pdf",
        method=METHOD, signed_at=signed_at, verification_json=json.dumps(result, sort_keys=True), is_valid=True,
    )
    client = {} if isinstance(actor, SignatoryActor) else {"ip": ip, "user_agent": user_agent[:300],
                                                           "actor_kind": "user", "authenticated": "session"}
    return accept_signature(
        session, actor, signatory, submission, result, sha256_before=frozen_sha256, sha256_after=blob.sha256,
        consent=True, consent_text=consent_text, consent_language=language or None,
        signature_kind="drawn" if drawing_png else "typed", drawing_sha256=drawing_sha256,
        confirmed_name=confirmed_name.strip(), seal_certificate_sha256=result["seal_certificate_sha256"], **client,
    )


def record_refusal(session: Session, actor: Actor, agreement_id: int, signatory_id: int, code: str,
                   **data: Any) -> None:
    """Audit a refused attempt (after the caller rolled back): nothing else changes."""
    record(session, acting_user(actor), "signature.electronic_refused", object_type="Signatory",
           object_id=signatory_id, agreement_id=agreement_id, code=code, **actor_audit(actor), **data)


def drawing_from_data_url(value: str | None) -> bytes | None:
    """The bytes of a ``data:image/png;base64,…`` URL (the canvas's output); None when empty. Anything else is
    refused as not a PNG."""
    value = (value or "").strip()
    if not value:
        return None
    prefix = "data:image/png;base64,"
    if not value.startswith(prefix):
        raise Invalid(gettext("The drawn signature must be a PNG image."), field="drawing", code="drawing_not_png")
    try:
        return base64.b64decode(value[len(prefix):], validate=True)
    except (ValueError, binascii.Error):
        raise Invalid(gettext("The drawn signature cannot be read: draw it again."), field="drawing",
                      code="drawing_unreadable") from None
