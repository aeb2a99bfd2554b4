"""PAdES verification of a signed PDF with pyHanko (CAdES and GOST: :mod:`docmgr.signatures.cms`).

Pure functions, no Flask: :mod:`docmgr.signatures.checking` runs them in the limited child process.

What "valid" means for a digital signature here (the rules the report names, in this order):

1. the file is a PDF with at least one embedded signature that pyHanko can read;
2. it *starts with the frozen PDF's exact bytes* — the signature was added as an incremental
   update to the PDF the parties approved, not to a re-rendered or edited copy;
3. every revision that adds a signature adds only that signature: its field and widget, entered in
   the form's /Fields and the page's /Annots; the metadata /Info may change. Any other annotation
   (a stamp over page 1), page content or form change is a modification and is refused. A prefix
   check alone would let someone append a content change and sign over it; pyHanko's own diff
   analysis reviews the revisions after a signature, not the one adding it (and cannot start from
   a revision without a form), so this step is checked here;
4. every embedded signature is cryptographically intact and valid, and pyHanko's difference
   analysis finds nothing after the signed revisions beyond further signatures or form filling;
5. when ``require_trusted`` is set, the newest signature's certificate chains to a configured root.

Trust is reported separately: an intact self-signed signature over the right PDF is valid unless
the configuration requires trust.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Any

# Root-catalog keys a signing tool may add or change without touching what the document says.
_CATALOG_KEYS_SIGNING_MAY_CHANGE = frozenset({"/AcroForm", "/Perms", "/DSS", "/Extensions"})


@dataclass
class DigitalVerification:
    is_valid: bool
    reasons: list[str] = field(default_factory=list)  # why it is invalid (empty when valid)
    matches_frozen: bool = False
    intact: bool = False
    trusted: bool = False
    signatures: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        newest = self.signatures[-1] if self.signatures else {}
        return {
            "method": "digital",
            "valid": self.is_valid,
            "reasons": self.reasons,
            "matches_frozen_pdf": self.matches_frozen,
            "intact": self.intact,
            "trusted": self.trusted,
            "signer_subject": newest.get("signer_subject"),
            "signing_time": newest.get("signing_time"),
            "coverage": newest.get("coverage"),
            "signatures": self.signatures,
        }


# What a signing revision may change in an existing object: the catalog (the form, permissions, validation data),
# a page (its annotation list, for the widget), the form (its field list and defaults).
_ACROFORM_KEYS_SIGNING_MAY_CHANGE = frozenset({"/Fields", "/SigFlags", "/DA", "/DR"})


def _signing_revision_problems(reader, revision: int) -> list[str]:
    """A signature revision may add only the signature (issue 12): its field and widget are new objects, the
    page's /Annots and the form's /Fields gain exactly those, and nothing else of the document changes —
    no other annotation (a stamp or a text box over the page), no page content, no other form field.
    pyHanko's difference analysis reviews the revisions *after* a signature, not the one that adds it."""
    from pyhanko.pdf_utils import generic

    problems: list[str] = []
    if reader.xrefs.refs_freed_in_revision(revision):
        problems.append("the signing revision deletes objects of the frozen PDF")
    old = reader.get_historical_resolver(revision - 1)
    new = reader.get_historical_resolver(revision)
    root_ref = old.root_ref
    if new.root_ref != root_ref:
        problems.append("the signing revision replaces the document catalog")
    # Only the metadata object the document already had may change freely (not one /Info is pointed at now).
    info = old.trailer_view.get_value_as_reference("/Info", optional=True)
    page_refs = set(_page_refs(old))
    if info in page_refs or info == root_ref:
        info = None

    def _value(container, key: str):
        """``container[key]`` resolved, or None (pyHanko's ``get`` leaves references unresolved)."""
        return container[key] if isinstance(container, generic.DictionaryObject) and key in container else None

    def is_new(ref) -> bool:
        return reader.xrefs.get_introducing_revision(ref) >= revision

    def refs_of(array) -> list:
        array = array.get_object() if isinstance(array, generic.IndirectObject) else array
        if array is None:
            return []
        if not isinstance(array, generic.ArrayObject):
            return [None]
        return [item.reference if isinstance(item, generic.IndirectObject) else None for item in array]

    def added(before, after, what: str) -> list:
        """The entries ``after`` adds to ``before``, which it must keep in order."""
        old_refs, new_refs = refs_of(before), refs_of(after)
        if None in new_refs or new_refs[: len(old_refs)] != old_refs:
            problems.append(f"the signing revision changes the existing {what}")
            return []
        return new_refs[len(old_refs):]

    def signature_field(obj) -> bool:
        return isinstance(obj, generic.DictionaryObject) and _value(obj, "/FT") == "/Sig" and "/AA" not in obj

    def check_widgets(refs: list) -> None:
        for ref in refs:
            widget = new.get_object(ref)
            parent = _value(widget, "/Parent") if isinstance(widget, generic.DictionaryObject) else None
            if not (is_new(ref) and isinstance(widget, generic.DictionaryObject) and _value(widget, "/Subtype") == "/Widget"
                    and "/A" not in widget and "/AA" not in widget and signature_field(parent or widget)):
                problems.append(f"the signing revision adds an annotation that is not the signature's widget (object {ref.idnum})")

    def check_fields(refs: list) -> None:
        for ref in refs:
            if not (is_new(ref) and signature_field(new.get_object(ref))):
                problems.append(f"the signing revision adds a form field that is not a signature (object {ref.idnum})")

    old_form = _value(old.root, "/AcroForm") if "/AcroForm" in old.root else None
    old_form_ref = old.root.raw_get("/AcroForm") if old_form is not None else None
    old_form_ref = old_form_ref.reference if isinstance(old_form_ref, generic.IndirectObject) else None
    annots_arrays = {}
    for page in page_refs:
        raw = old.get_object(page).raw_get("/Annots") if "/Annots" in old.get_object(page) else None
        if isinstance(raw, generic.IndirectObject):
            annots_arrays[raw.reference] = page
    fields_raw = old_form.raw_get("/Fields") if isinstance(old_form, generic.DictionaryObject) and "/Fields" in old_form else None
    fields_array = fields_raw.reference if isinstance(fields_raw, generic.IndirectObject) else None

    for ref in sorted(reader.xrefs.explicit_refs_in_revision(revision), key=lambda r: (r.idnum, r.generation)):
        if is_new(ref) or ref == info:
            continue  # new objects are vetted where they are attached; /Info is metadata
        before, after = old.get_object(ref), new.get_object(ref)
        if ref in annots_arrays:
            check_widgets(added(before, after, f"annotations of a page (object {ref.idnum})"))
            continue
        if ref == fields_array:
            check_fields(added(before, after, "form fields"))
            continue
        if not isinstance(before, generic.DictionaryObject) or not isinstance(after, generic.DictionaryObject):
            problems.append(f"the signing revision changes object {ref.idnum} of the frozen PDF")
            continue
        if isinstance(before, generic.StreamObject) and (
            not isinstance(after, generic.StreamObject) or before.data != after.data
        ):
            problems.append(f"the signing revision changes the content of object {ref.idnum} of the frozen PDF")
        changed = {k for k in set(before) | set(after) if k not in before or k not in after or before.raw_get(k) != after.raw_get(k)}
        if ref == root_ref:
            allowed = _CATALOG_KEYS_SIGNING_MAY_CHANGE
        elif ref in page_refs:
            allowed = {"/Annots"}
        elif ref == old_form_ref:
            allowed = _ACROFORM_KEYS_SIGNING_MAY_CHANGE
        else:
            allowed = set()
        if changed - allowed:
            problems.append(
                f"the signing revision changes object {ref.idnum} of the frozen PDF ({', '.join(sorted(changed - allowed))})"
            )
        if ref in page_refs and "/Annots" in changed:
            check_widgets(added(_value(before, "/Annots"), _value(after, "/Annots"), f"annotations of a page (object {ref.idnum})"))
        if ref == root_ref and "/AcroForm" in changed:
            form = _value(after, "/AcroForm")
            if not isinstance(form, generic.DictionaryObject):
                problems.append("the signing revision replaces the form with something else")
                continue
            # A form that is new, direct, or another object than before: vetted whole here.
            extra = {k for k in set(form) - _ACROFORM_KEYS_SIGNING_MAY_CHANGE
                     if old_form is None or k not in old_form or old_form.raw_get(k) != form.raw_get(k)}
            if extra:
                problems.append(f"the signing revision changes form settings ({', '.join(sorted(extra))})")
            check_fields(added(_value(old_form, "/Fields") if old_form is not None else None, _value(form, "/Fields"),
                               "form fields"))
        if ref == old_form_ref and "/Fields" in changed:
            check_fields(added(_value(before, "/Fields"), _value(after, "/Fields"), "form fields"))
    return problems


def _page_refs(resolver) -> list:
    from pyhanko.pdf_utils import generic

    refs = []
    stack = [resolver.root.raw_get("/Pages")]
    while stack:
        node_ref = stack.pop()
        if not isinstance(node_ref, generic.IndirectObject):
            continue
        node = node_ref.get_object()
        if node.get("/Type") == "/Pages":
            stack.extend(node.raw_get("/Kids"))
        else:
            refs.append(node_ref.reference)
    return refs


def verify_digital(
    data: bytes, frozen_pdf: bytes | None, *, trust_roots: list | None = None, require_trusted: bool = False
) -> DigitalVerification:
    """Verify a signed PDF against the frozen PDF it must extend (``None``: the signatures alone, for the
    verification page; rules 2 and 3 are then skipped). Never raises for bad input."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    result = DigitalVerification(is_valid=False)
    result.matches_frozen = frozen_pdf is None or (data.startswith(frozen_pdf) and len(data) > len(frozen_pdf))
    if not result.matches_frozen:
        result.reasons.append("the file was not signed over the frozen final draft (it does not start with its bytes)")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = list(reader.embedded_signatures)
    except Exception as error:  # noqa: BLE001 - a damaged PDF is an invalid submission, not a crash
        result.reasons.append(f"the PDF cannot be read ({error.__class__.__name__})")
        return result
    if not signatures:
        result.reasons.append("the PDF contains no digital signature")
        return result

    frozen_revisions = 0
    if result.matches_frozen and frozen_pdf is not None:
        try:
            frozen_revisions = PdfFileReader(io.BytesIO(frozen_pdf), strict=False).xrefs.total_revisions
            earliest = min(s.signed_revision for s in signatures)
            if earliest != frozen_revisions:
                result.matches_frozen = False
                result.reasons.append("the earliest signature does not sign the revision right after the frozen PDF")
            else:
                problems = [problem for revision in sorted({s.signed_revision for s in signatures})
                            for problem in _signing_revision_problems(reader, revision)]
                if problems:
                    result.matches_frozen = False
                    result.reasons.extend(problems)
        except Exception as error:  # noqa: BLE001
            result.matches_frozen = False
            result.reasons.append(f"the revisions of the PDF cannot be compared ({error.__class__.__name__})")

    intact_all, valid_all = True, True
    for embedded in sorted(signatures, key=lambda s: s.signed_revision):
        summary: dict[str, Any] = {"field": embedded.field_name, "revision": embedded.signed_revision}
        try:
            context = ValidationContext(trust_roots=list(trust_roots or []), allow_fetching=False)
            status = quietly(validate_pdf_signature, embedded, context)
        except Exception as error:  # noqa: BLE001
            summary.update(intact=False, valid=False, trusted=False, error=error.__class__.__name__)
            result.signatures.append(summary)
            intact_all = valid_all = False
            result.reasons.append(f"signature {embedded.field_name!r} cannot be validated ({error.__class__.__name__})")
            continue
        level = status.modification_level
        summary.update(
            intact=bool(status.intact),
            valid=bool(status.valid),
            trusted=bool(status.trusted),
            signer_subject=status.signing_cert.subject.human_friendly if status.signing_cert else None,
            signer_certificate_sha256=status.signing_cert.sha256.hex() if status.signing_cert else None,
            signing_time=status.signer_reported_dt.isoformat() if status.signer_reported_dt else None,
            coverage=status.coverage.name if status.coverage else None,
            modification_level=level.name if level is not None else None,
            docmdp_ok=status.docmdp_ok,
        )
        result.signatures.append(summary)
        if not status.intact:
            intact_all = False
            result.reasons.append(f"signature {embedded.field_name!r}: the signed bytes were altered (integrity check failed)")
        elif not status.valid:
            valid_all = False
            result.reasons.append(f"signature {embedded.field_name!r}: the cryptographic signature is not valid")
        if level is None or level > ModificationLevel.FORM_FILLING or status.docmdp_ok is False:
            valid_all = False
            result.reasons.append(f"signature {embedded.field_name!r}: the document was changed after it was signed")
    result.intact = intact_all
    result.trusted = bool(result.signatures and result.signatures[-1].get("trusted"))
    if require_trusted and not result.trusted:
        result.reasons.append("the signer's certificate does not chain to a configured trust root")
    result.is_valid = result.matches_frozen and intact_all and valid_all and (result.trusted or not require_trusted)
    return result


def quietly(function, *args):
    """pyHanko logs a traceback for every untrusted certificate or later change; the result reports both."""
    loggers = [logging.getLogger(name) for name in ("pyhanko.sign.validation.generic_cms", "pyhanko.sign.diff_analysis.policies", "pyhanko_certvalidator")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        return function(*args)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
