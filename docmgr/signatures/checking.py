"""Uploaded signed copies on the hardened path: sniffed like every upload, parsed in the limited child.

* the type comes from :func:`docmgr.documents.extraction.sniff` (the one sniffer), except CMS envelopes
  (``.p7m``, ``.p7s``, ``.sig``: DER, PEM or Base64 SignedData), which that sniffer refuses as unknown;
* wet-ink scans are opened by the upload sandbox (:func:`docmgr.documents.sandbox.extract_in_subprocess`);
* PAdES, CAdES and GOST verification run in a limited child under the same limits as text extraction, so a
  crafted signature costs the child, never the web worker. Those children come from :data:`VERIFIER`, a
  template process that has imported pyHanko, pyhanko-certvalidator, asn1crypto and gostcrypto and built
  the GOST curves once (issue 14: importing them in every child cost ~0.44 s a signature; preloading them
  in the uploads' fork server slowed every upload).

No Flask here: the service passes paths, trust anchors (DER) and the limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docmgr.documents.extraction import ExtractionError, sniff
from docmgr.documents.sandbox import SandboxLimits, extract_in_subprocess
from docmgr.limits import WarmChildren, run_in_limited_child
from docmgr.signatures import cms
from docmgr.signatures.verification import verify_digital

CMS = "cms"
SCAN_KINDS = ("pdf", "png", "jpeg")
CONTENT_TYPES = {"pdf": "application/pdf", "png": "image/png", "jpeg": "image/jpeg", CMS: "application/pkcs7-mime"}


# The template of the verification children (started on the first verification of each process).
VERIFIER = WarmChildren(
    "docmgr-signature",
    preload=[
        "docmgr.signatures.checking", "docmgr.signatures.cms", "docmgr.signatures.verification",
        "asyncio", "pyhanko.sign.validation", "pyhanko.sign.validation.generic_cms", "pyhanko_certvalidator",
        "asn1crypto.cms", "asn1crypto.x509", "gostcrypto.gostsignature", "gostcrypto.gosthash",
    ],
    warm=["docmgr.signatures.gost:warm"],
)


class Unreadable(ValueError):
    """The upload is not a file we accept; ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def kind_of(path: Path, data: bytes) -> str:
    """'cms' for a CMS signature (``data`` is the file's content), else the upload sniffer's kind.
    Raises :class:`Unreadable`."""
    if cms.to_der(data) is not None:
        return CMS
    try:
        return sniff(path)
    except ExtractionError as error:
        raise Unreadable(error.code, error.message) from None


def check_scan(path: Path, kind: str, limits: SandboxLimits) -> None:
    """A wet-ink scan opens in the upload sandbox, has pages and no password. Raises :class:`Unreadable`."""
    try:
        _, extracted = extract_in_subprocess(path, kind, max_chars=1000, limits=limits)
    except ExtractionError as error:
        raise Unreadable(error.code, error.message) from None
    if extracted.encrypted:
        raise Unreadable("encrypted_file", "the PDF is password-protected")
    if kind == "pdf" and not extracted.page_count:
        raise Unreadable("malformed_file", "the PDF has no pages")
    if kind == "pdf":  # security (issue 12): nothing that runs or opens by itself goes into an executed copy
        active = run_in_limited_child(_active_content_child, (str(path),), limits, name="docmgr-scan-check")
        if active is None:
            raise Unreadable("too_complex", "the PDF is too large or too complex to check")
        if active:
            raise Unreadable("malformed_file", "the PDF carries active content (" + ", ".join(active)
                             + "); scan or export it again without it")


def _active_content_child(path: str) -> list[str] | None:
    """Runs in the limited child: what active content the PDF holds (None when it cannot be read)."""
    try:
        from pypdf import PdfReader

        from docmgr.signatures.active_content import find_active_content

        return find_active_content(PdfReader(path))
    except Exception:  # noqa: BLE001 - it opened in the sandbox just before; anything else is "cannot check"
        return None


def _verify_child(task: dict[str, Any]) -> dict[str, Any]:
    """Runs in the limited child: the verification report of one signed copy (never raises)."""
    try:
        frozen = Path(task["frozen_path"]).read_bytes() if task["frozen_path"] else None
        data = Path(task["path"]).read_bytes()
        if task["kind"] == CMS:
            detached = Path(task["pdf_path"]).read_bytes() if task.get("pdf_path") else None
            return cms.verify_cms(
                data, frozen, detached_pdf=detached, trust_roots=task["trust_roots"],
                require_trusted=task["require_trusted"], allow_fetching=task["allow_fetching"],
            )
        from asn1crypto import x509

        report = verify_digital(
            data, frozen, trust_roots=[x509.Certificate.load(der) for der in task["trust_roots"]],
            require_trusted=task["require_trusted"],
        ).to_dict()
        report["format"] = "pades"
        return report
    except (MemoryError, RecursionError):
        return {"_error": "too_complex"}
    except Exception as error:  # noqa: BLE001 - reported as an invalid signature with its reason
        return {"_error": f"the signature cannot be read ({error.__class__.__name__})"}


def verify(
    kind: str, path: Path, frozen_path: Path | None, *, pdf_path: Path | None = None, trust_roots: list[bytes],
    require_trusted: bool, allow_fetching: bool, limits: SandboxLimits, in_child: bool = True,
) -> dict[str, Any]:
    """The verification report (``format`` pades/cades/gost), computed in the limited child;
    ``frozen_path=None`` checks the signatures alone (the verification page)."""
    task = {
        "kind": kind, "path": str(path), "frozen_path": str(frozen_path) if frozen_path else None, "pdf_path": str(pdf_path) if pdf_path else None,
        "trust_roots": trust_roots, "require_trusted": require_trusted, "allow_fetching": allow_fetching,
    }
    report = VERIFIER.run(_verify_child, (task,), limits) if in_child else _verify_child(task)
    if report is None or "_error" in report:
        reason = (report or {}).get("_error", "too_complex")
        if reason == "too_complex":
            reason = "the signature is too large or too complex to verify"
        return {"method": "digital", "format": "cades" if kind == CMS else "pades", "valid": False, "reasons": [reason],
                "matches_frozen_pdf": False, "intact": False, "trusted": False, "signatures": []}
    return report
