"""CAdES and GOST signatures: CMS SignedData, attached (``.p7m``) or detached (``.p7s``, ``.sig``).

Pure functions, no Flask; :mod:`docmgr.signatures.checking` runs them in the limited child process.

What "valid" means here (the reasons name the rule that failed):

1. the envelope is DER (or its PEM/Base64 form, as some Italian tools send it), complete, at most
   :data:`MAX_NESTING` envelopes deep ("matrioska" ``.p7m.p7m``: each envelope's content is the next
   envelope), with at most :data:`MAX_SIGNER_INFOS` SignerInfos and :data:`MAX_CERTIFICATES`
   certificates per envelope, and only algorithms we know;
2. the signed content (the innermost content, or the detached PDF) is byte-identical to the frozen PDF;
3. every SignerInfo of every envelope is intact (message-digest attribute = digest of its envelope's
   content; signing-certificate(-v2) names the signer's certificate) and its signature is valid:
   RSA/ECDSA/EdDSA through pyHanko's ``generic_cms`` and pyhanko-certvalidator; ГОСТ Р 34.10-2012 through
   :mod:`docmgr.signatures.gost`. So is every countersignature (RFC 5652 §11.4, the ``counter-signature``
   unsigned attribute, nested to any of :data:`MAX_NESTING` levels): its message digest is that of the
   signature value it countersigns, it carries no content-type attribute, and it is reported as a signer
   of its own with ``countersignature_of`` (the ``signer_index`` it countersigns);
4. trust: the signer's certificate chains to a trust anchor (RSA/ECDSA: certvalidator's path
   validation; GOST: each issuer's GOST signature is checked up to an anchor). Revocation is checked
   only against CRLs/OCSP answers embedded in the envelope (or fetched when the configured fetcher is
   on; GOST: embedded CRLs whose issuer's GOST signature verifies); otherwise the report says it was
   not checked.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, core, x509

from docmgr.signatures import gost
from docmgr.signatures.identity import signer_identity
from docmgr.signatures.verification import quietly

MAX_NESTING = 8
MAX_SIGNER_INFOS = 16
MAX_CERTIFICATES = 32
MAX_CHAIN = 10

SIGNED_DATA_OID_DER = bytes.fromhex("06092a864886f70d010702")
# Digest and signature algorithms accepted besides GOST (asn1crypto names).
DIGESTS = {"sha224", "sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "sha1"}
SIGNATURES = {
    "rsassa_pkcs1v15", "rsassa_pss", "sha1_rsa", "sha224_rsa", "sha256_rsa", "sha384_rsa", "sha512_rsa",
    "sha224_ecdsa", "sha256_ecdsa", "sha384_ecdsa", "sha512_ecdsa", "ecdsa", "ed25519", "ed448",
    "sha3_256_rsa", "sha3_384_rsa", "sha3_512_rsa", "sha3_256_ecdsa", "sha3_384_ecdsa", "sha3_512_ecdsa",
}
_PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----(.*?)-----END [A-Z0-9 ]+-----", re.S)


COUNTER_DIGEST = "the countersignature's message digest is not that of the signature it countersigns"
COUNTER_CONTENT_TYPE = "a countersignature carries a content-type attribute (RFC 5652 §11.1 forbids it)"


class Refused(ValueError):
    """An envelope we will not (or cannot) verify; the message is the reason shown to the user."""


def _looks_like_signed_data(der: bytes) -> bool:
    return len(der) > 16 and der[0] == 0x30 and SIGNED_DATA_OID_DER in der[:24]


def to_der(data: bytes) -> bytes | None:
    """The DER of a CMS SignedData sent as DER, PEM or bare Base64; None when it is not one."""
    if _looks_like_signed_data(data):
        return data
    head = data[:64].lstrip()
    if not head or head[:1] not in b"-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/":
        return None
    pem = _PEM.search(data)
    body = pem.group(1) if pem else data
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return der if _looks_like_signed_data(der) else None


@dataclass
class Layer:
    signed_data: cms.SignedData
    content: bytes  # what this envelope's SignerInfos sign
    depth: int


def unwrap(der: bytes, detached_content: bytes | None) -> tuple[list[Layer], bytes]:
    """The envelopes from the outside in, and the innermost content. Raises :class:`Refused`."""
    layers: list[Layer] = []
    current = der
    while True:
        if len(layers) >= MAX_NESTING:
            raise Refused(f"the envelopes are nested more than {MAX_NESTING} levels deep")
        signed_data = _load(current)
        _check_limits(signed_data)
        encapsulated = signed_data["encap_content_info"]
        content = encapsulated["content"]
        if content.native is None:
            if layers:
                raise Refused("a nested envelope carries no content")
            if detached_content is None:
                raise Refused("the envelope carries no content (a detached signature needs the signed PDF as 'file')")
            layers.append(Layer(signed_data, detached_content, 0))
            return layers, detached_content
        if detached_content is not None and not layers:
            raise Refused("the signature carries its own content; send it alone as 'file' (an attached .p7m)")
        payload = bytes(content.native) if isinstance(content.native, bytes) else content.contents
        layers.append(Layer(signed_data, payload, len(layers)))
        inner = to_der(payload) if payload[:1] == b"\x30" else None
        if inner is None:
            return layers, payload
        current = inner


def _load(der: bytes) -> cms.SignedData:
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise Refused(f"the envelope is a CMS {info['content_type'].native}, not a signature (SignedData)")
        signed_data = info["content"]
        _check_counts(signed_data)  # before parsing the parts: 1,000 SignerInfos cost seconds to parse
        # Parse every part we rely on, so a damaged structure is refused here and not half-way through.
        # (Not the certificates' keys: asn1crypto's spec does not know GOST keys; gost.py reads those.)
        for name in ("digest_algorithms", "encap_content_info", "signer_infos", "crls"):
            signed_data[name].native  # noqa: B018
        for choice in _present(signed_data["certificates"]):
            tbs = choice.chosen["tbs_certificate"]
            for name in ("serial_number", "issuer", "subject", "validity", "extensions"):
                tbs[name].native  # noqa: B018
        return signed_data
    except Refused:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        raise Refused(f"the envelope is truncated or damaged ({error.__class__.__name__})") from None


def _present(value: Any) -> Any:
    """An optional SET OF as a sequence ([] when absent), without parsing its members."""
    return [] if isinstance(value, core.Void) else value


def _check_counts(signed_data: cms.SignedData) -> None:
    """The SignerInfos and certificates are counted (their headers only) before anything is parsed."""
    signer_count = len(signed_data["signer_infos"])
    if signer_count == 0:
        raise Refused("the envelope contains no signature (no SignerInfo)")
    if signer_count > MAX_SIGNER_INFOS:
        raise Refused(f"the envelope has {signer_count} signatures (SignerInfos); at most {MAX_SIGNER_INFOS} are accepted")
    count = len(_present(signed_data["certificates"]))
    if count > MAX_CERTIFICATES:
        raise Refused(f"the envelope carries {count} certificates; at most {MAX_CERTIFICATES} are accepted")


def _check_limits(signed_data: cms.SignedData) -> None:
    _check_counts(signed_data)
    everyone = _with_countersignatures(signed_data["signer_infos"])
    for signer_info, _parent in everyone:
        digest_oid = signer_info["digest_algorithm"]["algorithm"]
        signature_oid = signer_info["signature_algorithm"]["algorithm"]
        if digest_oid.dotted not in gost.DIGEST_ALGORITHMS and digest_oid.native not in DIGESTS:
            raise Refused(f"unknown digest algorithm OID {digest_oid.dotted}")
        if signature_oid.dotted not in gost.SIGNATURE_ALGORITHMS and signature_oid.native not in SIGNATURES:
            raise Refused(f"unknown signature algorithm OID {signature_oid.dotted}")


def _countersignatures(signer_info: cms.SignerInfo) -> list[cms.SignerInfo]:
    """The SignerInfos in the counter-signature attributes of ``signer_info`` (RFC 5652 §11.4)."""
    found: list[cms.SignerInfo] = []
    for attr in _present(signer_info["unsigned_attrs"]):
        if attr["type"].native == "counter_signature":
            found.extend(attr["values"])
    return found


def _with_countersignatures(signer_infos: Any) -> list[tuple[cms.SignerInfo, cms.SignerInfo | None]]:
    """Every signature of an envelope as (SignerInfo, the SignerInfo it countersigns or None): the
    envelope's own SignerInfos first, then their countersignatures level by level. Raises :class:`Refused`
    past :data:`MAX_SIGNER_INFOS` signatures or :data:`MAX_NESTING` levels of countersignatures."""
    everyone: list[tuple[cms.SignerInfo, cms.SignerInfo | None]] = [(info, None) for info in signer_infos]
    level = list(everyone)
    for depth in range(MAX_NESTING + 1):
        level = [(counter, info) for info, _ in level for counter in _countersignatures(info)]
        if not level:
            return everyone
        if depth == MAX_NESTING:
            break
        everyone.extend(level)
        if len(everyone) > MAX_SIGNER_INFOS:
            raise Refused(f"the envelope has more than {MAX_SIGNER_INFOS} signatures with its countersignatures")
    raise Refused(f"the countersignatures are nested more than {MAX_NESTING} levels deep")


def _certificates(signed_data: cms.SignedData) -> list[x509.Certificate]:
    return [choice.chosen for choice in _present(signed_data["certificates"]) if choice.name == "certificate"]


def _find_signer_cert(signer_info: cms.SignerInfo, certificates: list[x509.Certificate]) -> x509.Certificate | None:
    sid = signer_info["sid"]
    for certificate in certificates:
        if sid.name == "issuer_and_serial_number":
            if (certificate.issuer == sid.chosen["issuer"]
                    and certificate.serial_number == sid.chosen["serial_number"].native):
                return certificate
        elif certificate.key_identifier == sid.chosen.native:
            return certificate
    return None


def _signed_attr(signer_info: cms.SignerInfo, name: str) -> Any:
    attrs = signer_info["signed_attrs"]
    if attrs.native is None:
        return None
    for attr in attrs:
        if attr["type"].native == name:
            return attr["values"][0]
    return None


def _has_embedded_revocation(signed_data: cms.SignedData, signer_info: cms.SignerInfo) -> bool:
    if len(_present(signed_data["crls"])):
        return True
    return _signed_attr(signer_info, "adobe_revocation_info_archival") is not None


# --- one SignerInfo -------------------------------------------------------------------------------


def _verify_standard(
    signed_data: cms.SignedData, signer_info: cms.SignerInfo, content: bytes, trust_roots: list[bytes],
    allow_fetching: bool,
) -> dict[str, Any]:
    """RSA / ECDSA / EdDSA through pyHanko's generic_cms validation, one SignerInfo at a time."""
    import asyncio

    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
    from pyhanko_certvalidator import ValidationContext

    single = signed_data.copy()
    single["signer_infos"] = cms.SignerInfos([signer_info])
    # pyHanko validates detached content; the signature covers the signed attributes, not the envelope.
    single["encap_content_info"] = {"content_type": signed_data["encap_content_info"]["content_type"].native}
    crls = [c.chosen for c in _present(signed_data["crls"]) if c.name == "crl"]
    # Without CRL distribution points in a certificate, certvalidator's soft-fail mode skips revocation
    # even when a CRL is at hand; so when the signature carries revocation data, it is required to be used.
    embedded = _has_embedded_revocation(signed_data, signer_info)
    context = ValidationContext(
        trust_roots=[x509.Certificate.load(der) for der in trust_roots], allow_fetching=allow_fetching, crls=crls,
        revocation_mode="require" if embedded else "soft-fail",
    )
    status = quietly(lambda: asyncio.run(async_validate_detached_cms(content, single, signer_validation_context=context)))
    problem = getattr(status, "trust_problem_indic", None)
    return {
        "trust_problem": problem.name if problem is not None else None,
        "intact": bool(status.intact), "valid": bool(status.valid), "trusted": bool(status.trusted),
        "signing_time": status.signer_reported_dt.isoformat() if status.signer_reported_dt else None,
        "certificate": status.signing_cert,
        "algorithm": f"{signer_info['signature_algorithm'].signature_algo.upper()} with "
                     f"{signer_info['digest_algorithm']['algorithm'].native.upper()}",
    }


def _verify_standard_countersignature(
    signed_data: cms.SignedData, signer_info: cms.SignerInfo, countersigned: bytes, trust_roots: list[bytes],
    allow_fetching: bool,
) -> dict[str, Any]:
    """An RSA/ECDSA/EdDSA countersignature over ``countersigned`` (the signature value it countersigns).
    pyHanko's CMS validation requires a content-type attribute, which a countersignature must not carry,
    so the parts are called directly: pyhanko-certvalidator's signature check and path validation."""
    import asyncio

    from cryptography.exceptions import InvalidSignature
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import PathBuildingError, RevokedError, ValidationError
    from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator, SignatureValidationContext

    certificates = _certificates(signed_data)
    certificate = _find_signer_cert(signer_info, certificates)
    if certificate is None:
        raise Refused("the countersigner's certificate is not in the envelope")
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    problems: list[str] = []
    if signer_info["signed_attrs"].native is None:
        to_verify, intact = countersigned, True
    else:
        message_digest = _signed_attr(signer_info, "message_digest")
        intact = message_digest is not None and message_digest.native == hashlib.new(digest_name, countersigned).digest()
        if not intact:
            problems.append(COUNTER_DIGEST)
        if _signed_attr(signer_info, "content_type") is not None:
            intact = False
            problems.append(COUNTER_CONTENT_TYPE)
        if not _names_certificate(signer_info, certificate):
            intact = False
            problems.append("the signing-certificate attribute does not name the countersigner's certificate")
        to_verify = b"\x31" + signer_info["signed_attrs"].dump()[1:]  # signed as a SET OF (RFC 5652 §5.4)
    try:
        DefaultSignatureValidator().validate_signature(
            signer_info["signature"].native, to_verify, certificate.public_key, signer_info["signature_algorithm"],
            context=SignatureValidationContext(contextual_md_algorithm=digest_name))
        valid = intact
    except InvalidSignature:
        valid = False
        if intact:
            problems.append("the cryptographic signature is not valid")
    crls = [c.chosen for c in _present(signed_data["crls"]) if c.name == "crl"]
    context = ValidationContext(
        trust_roots=[x509.Certificate.load(der) for der in trust_roots], allow_fetching=allow_fetching, crls=crls,
        revocation_mode="require" if crls else "soft-fail",
    )
    validator = CertificateValidator(certificate, [c for c in certificates if c is not certificate], context)
    trust_problem = None
    try:
        quietly(lambda: asyncio.run(validator.async_validate_usage(set())))
    except RevokedError:
        trust_problem = "REVOKED"
    except PathBuildingError:
        trust_problem = "NO_CERTIFICATE_CHAIN_FOUND"
    except ValidationError as error:
        trust_problem = error.__class__.__name__
    signing_time = _signed_attr(signer_info, "signing_time")
    return {
        "trust_problem": trust_problem, "problems": problems, "intact": intact, "valid": valid,
        "trusted": trust_problem is None,
        "signing_time": signing_time.native.isoformat() if signing_time is not None else None,
        "certificate": certificate,
        "algorithm": f"{signer_info['signature_algorithm'].signature_algo.upper()} with {digest_name.upper()}",
    }


def _names_certificate(signer_info: cms.SignerInfo, certificate: x509.Certificate) -> bool:
    """Whether the signing-certificate(-v2) attribute, when present, names ``certificate`` (by hash)."""
    for name, default in (("signing_certificate_v2", "sha256"), ("signing_certificate", "sha1")):
        attribute = _signed_attr(signer_info, name)
        if attribute is None:
            continue
        first = attribute["certs"][0]
        algorithm = first["hash_algorithm"]["algorithm"].native if name.endswith("v2") else default
        try:
            return first["cert_hash"].native == hashlib.new(algorithm, certificate.dump()).digest()
        except ValueError:  # a digest hashlib does not know
            return False
    return True


def _verify_gost(
    signed_data: cms.SignedData, signer_info: cms.SignerInfo, content: bytes, trust_roots: list[bytes],
    countersignature: bool = False,
) -> dict[str, Any]:
    """ГОСТ Р 34.10-2012: message digest, signed attributes, signature, then the chain to an anchor.
    A countersignature's ``content`` is the signature value it countersigns."""
    certificate = _find_signer_cert(signer_info, _certificates(signed_data))
    if certificate is None:
        raise Refused("the signer's certificate is not in the envelope")
    bits = gost.SIGNATURE_ALGORITHMS[signer_info["signature_algorithm"]["algorithm"].dotted]
    digest_bits = gost.DIGEST_ALGORITHMS.get(signer_info["digest_algorithm"]["algorithm"].dotted)
    if digest_bits != bits:
        raise Refused(f"a GOST {bits}-bit signature must use a Стрибог-{bits} digest")
    try:
        key = gost.read_public_key(certificate["tbs_certificate"]["subject_public_key_info"].dump())
    except (gost.GostError, ValueError) as error:
        raise Refused(f"the signer's GOST key cannot be used: {error}") from None
    if key.bits != bits:
        raise Refused(f"the signature is GOST {bits}-bit but the certificate's key is {key.bits}-bit (wrong parameters)")
    problems: list[str] = []
    attrs = signer_info["signed_attrs"]
    if attrs.native is None:
        to_verify = content
        intact = True
    else:
        message_digest = _signed_attr(signer_info, "message_digest")
        intact = message_digest is not None and message_digest.native == gost.streebog(content, bits)
        if not intact:
            problems.append(COUNTER_DIGEST if countersignature else
                            "the signed content does not match the signature's message digest (integrity check failed)")
        content_type = _signed_attr(signer_info, "content_type")
        if countersignature:
            if content_type is not None:
                intact = False
                problems.append(COUNTER_CONTENT_TYPE)
        elif content_type is None or content_type.native != signed_data["encap_content_info"]["content_type"].native:
            intact = False
            problems.append("the content-type attribute does not match the envelope")
        to_verify = b"\x31" + attrs.dump()[1:]  # signed attributes are signed as a SET OF (RFC 5652 §5.4)
    valid = intact and gost.verify(key, to_verify, signer_info["signature"].native)
    if intact and not valid:
        problems.append("the GOST signature value is not valid")
    signing_time = _signed_attr(signer_info, "signing_time")
    crls = [c.chosen for c in _present(signed_data["crls"]) if c.name == "crl"]
    trusted, trust_reason, revocation = _gost_chain_trusted(certificate, _certificates(signed_data), trust_roots, crls)
    if revocation == "revoked":  # a revoked certificate makes the signature invalid, trusted or not
        valid = False
        problems.append("the signer's certificate or one of its issuers was revoked (embedded CRL)")
    return {
        "intact": intact, "valid": valid, "trusted": trusted, "problems": problems, "trust_reason": trust_reason,
        "revocation": GOST_REVOCATION[revocation],
        "signing_time": signing_time.native.isoformat() if signing_time is not None else None,
        "certificate": certificate,
        "algorithm": f"GOST R 34.10-2012 ({bits} bit) with Streebog-{bits}",
    }


GOST_REVOCATION = {
    "good": "checked against the CRL embedded in the signature",
    "revoked": "checked against the CRL embedded in the signature: revoked",
    None: "not checked (no CRL of the certificate's issuer in the signature)",
}


def _gost_crl_status(
    certificate: x509.Certificate, issuer_key: gost.GostPublicKey, crls: list[Any], now: dt.datetime
) -> str | None:
    """'revoked' or 'good' by the first embedded CRL of ``certificate``'s issuer whose GOST signature
    verifies under ``issuer_key`` and that is current; None when there is no such CRL."""
    for crl in crls:
        tbs = crl["tbs_cert_list"]
        if tbs["issuer"] != certificate.issuer:
            continue
        next_update = tbs["next_update"].native
        if not tbs["this_update"].native <= now or (next_update is not None and next_update < now):
            continue  # not yet or no longer current
        algorithm = crl["signature_algorithm"]["algorithm"].dotted
        if gost.SIGNATURE_ALGORITHMS.get(algorithm) != issuer_key.bits or not gost.verify(
            issuer_key, tbs.dump(), crl["signature"].native
        ):
            continue  # not the issuer's CRL
        serial = certificate.serial_number
        revoked = any(entry["user_certificate"].native == serial for entry in _present(tbs["revoked_certificates"]))
        return "revoked" if revoked else "good"
    return None


def _gost_chain_trusted(
    certificate: x509.Certificate, pool: list[x509.Certificate], trust_roots: list[bytes], crls: list[Any],
) -> tuple[bool, str | None, str | None]:
    """(trusted, why not, revocation of the signer's certificate: 'good', 'revoked' or None = not checked).
    A certificate of the chain revoked by an embedded CRL of its issuer makes the revocation 'revoked'."""
    revocation: str | None = None
    anchors = {hashlib.sha256(der).digest() for der in trust_roots}
    now = dt.datetime.now(dt.UTC)
    current = certificate
    for _ in range(MAX_CHAIN):
        validity = current["tbs_certificate"]["validity"]
        if not validity["not_before"].native <= now <= validity["not_after"].native:
            return False, f"the certificate of {current.subject.human_friendly} is not valid now", revocation
        if hashlib.sha256(current.dump()).digest() in anchors:
            return True, None, revocation
        issuer = next((c for c in pool if c.subject == current.issuer and c is not current), None)
        if issuer is None:
            issuer_der = next((der for der in trust_roots if x509.Certificate.load(der).subject == current.issuer), None)
            issuer = x509.Certificate.load(issuer_der) if issuer_der else None
        if issuer is None:
            return False, "the signer's certificate does not chain to a trust anchor", revocation
        algorithm = current["signature_algorithm"]["algorithm"].dotted
        try:
            key = gost.read_public_key(issuer["tbs_certificate"]["subject_public_key_info"].dump())
        except (gost.GostError, ValueError):
            return False, "the issuer's key is not a usable GOST key", revocation
        if gost.SIGNATURE_ALGORITHMS.get(algorithm) != key.bits or not gost.verify(
            key, current["tbs_certificate"].dump(), current["signature_value"].native
        ):
            return False, f"the issuer's signature on {current.subject.human_friendly}'s certificate is not valid", revocation
        status = _gost_crl_status(current, key, crls, now)
        if status == "revoked":
            return False, f"the certificate of {current.subject.human_friendly} was revoked (embedded CRL)", "revoked"
        if current is certificate:
            revocation = status
        current = issuer
    return False, f"the certificate chain is longer than {MAX_CHAIN}", revocation


# --- the envelope ------------------------------------------------------------------------------------


def verify_cms(
    data: bytes, frozen_pdf: bytes | None, *, detached_pdf: bytes | None = None, trust_roots: list[bytes] | None = None,
    require_trusted: bool = False, allow_fetching: bool = False,
) -> dict[str, Any]:
    """The verification report of a CAdES/GOST envelope (the same shape as PAdES's). Never raises for bad input.

    ``frozen_pdf=None`` checks the signatures alone (the verification page): the report then carries the
    signed content's ``content_sha256`` instead of a comparison."""
    report: dict[str, Any] = {
        "method": "digital", "format": "cades", "valid": False, "reasons": [], "matches_frozen_pdf": False,
        "intact": False, "trusted": False, "signer_subject": None, "signing_time": None, "coverage": None,
        "signatures": [], "envelopes": 0,
    }
    der = to_der(data)
    if der is None:
        report["reasons"].append("the signature file is not a CMS signature (CAdES .p7m/.p7s or GOST .sig)")
        return report
    try:
        layers, content = unwrap(der, detached_pdf)
    except Refused as refusal:
        report["reasons"].append(str(refusal))
        return report
    report["envelopes"] = len(layers)
    report["coverage"] = "DETACHED" if detached_pdf is not None else "ATTACHED"
    report["content_sha256"] = hashlib.sha256(content).hexdigest()
    report["matches_frozen_pdf"] = content == frozen_pdf if frozen_pdf is not None else None
    if report["matches_frozen_pdf"] is False:
        report["reasons"].append(
            "the signed content is not the frozen final draft (a different file, or the PDF was changed)"
            if b"%PDF-" in content[:1024] else "the signed content is not a PDF (so not the frozen final draft)"
        )
    roots = list(trust_roots or [])
    intact_all = valid_all = trusted_all = True
    for layer in layers:
        numbers: dict[int, int] = {}  # id(SignerInfo) -> its signer_index, for countersignature_of
        for index, (signer_info, parent) in enumerate(_with_countersignatures(layer.signed_data["signer_infos"])):
            numbers[id(signer_info)] = index + 1
            if parent is None:
                summary = _verify_signer(layer, signer_info, layer.content, roots, allow_fetching)
            else:
                summary = _verify_signer(layer, signer_info, parent["signature"].native, roots, allow_fetching,
                                         countersignature=True)
                summary["countersignature_of"] = numbers[id(parent)]
            summary.update(envelope=layer.depth + 1, signer_index=index + 1)
            report["signatures"].append(summary)
            intact_all &= summary["intact"]
            valid_all &= summary["valid"]
            trusted_all &= summary["trusted"]
            kind = "countersigner" if parent is not None else "signer"
            label = summary.get("name") or f"{kind} {index + 1} of envelope {layer.depth + 1}"
            report["reasons"].extend(f"{label}: {reason}" for reason in summary["reasons"])
    if any(s["algorithm"].startswith("GOST") for s in report["signatures"]):
        report["format"] = "gost"
    first = report["signatures"][0] if report["signatures"] else {}
    report.update(intact=intact_all, trusted=bool(report["signatures"]) and trusted_all,
                  signer_subject=first.get("signer_subject"), signing_time=first.get("signing_time"))
    if require_trusted and not report["trusted"]:
        report["reasons"].append("a signer's certificate does not chain to a trust anchor")
    report["valid"] = bool(report["matches_frozen_pdf"] is not False and intact_all and valid_all
                           and (report["trusted"] or not require_trusted))
    return report


def _verify_signer(
    layer: Layer, signer_info: cms.SignerInfo, content: bytes, roots: list[bytes], allow_fetching: bool,
    countersignature: bool = False,
) -> dict[str, Any]:
    """The summary of one SignerInfo over ``content`` (for a countersignature: the countersigned value)."""
    reasons: list[str] = []
    summary: dict[str, Any] = {"intact": False, "valid": False, "trusted": False, "algorithm": "unknown"}
    try:
        if signer_info["signature_algorithm"]["algorithm"].dotted in gost.SIGNATURE_ALGORITHMS:
            result = _verify_gost(layer.signed_data, signer_info, content, roots, countersignature)
            reasons.extend(result.pop("problems"))
            trust_reason = result.pop("trust_reason")
        else:
            if countersignature:
                result = _verify_standard_countersignature(layer.signed_data, signer_info, content, roots, allow_fetching)
            else:
                result = _verify_standard(layer.signed_data, signer_info, content, roots, allow_fetching)
            problems = result.pop("problems", [])
            reasons.extend(problems)
            problem = result.pop("trust_problem") or ""
            trust_reason = None if result["trusted"] else (
                "the signer's certificate was revoked" if "REVOKED" in problem
                else f"the signer's certificate is not trusted ({problem})" if problem and problem != "NO_CERTIFICATE_CHAIN_FOUND"
                else "the signer's certificate does not chain to a trust anchor"
            )
            if "REVOKED" in problem:  # a revoked certificate makes the signature invalid, trusted or not
                result["valid"] = False
                reasons.append("the signer's certificate was revoked (embedded CRL/OCSP)")
            if problems:
                pass  # already said precisely
            elif not result["intact"]:
                reasons.append("the signed content does not match the signature's message digest (integrity check failed)")
            elif not result["valid"]:
                reasons.append("the cryptographic signature is not valid")
            summary["revocation"] = (
                "checked against the CRL/OCSP data embedded in the signature"
                if _has_embedded_revocation(layer.signed_data, signer_info)
                else ("checked online" if allow_fetching else "not checked (no CRL or OCSP answer in the signature)")
            )
    except Refused as refusal:
        summary["reasons"] = [str(refusal)]
        return summary
    except Exception as error:  # noqa: BLE001 - a signature pyHanko cannot process is invalid, not a crash
        summary["reasons"] = [f"the signature cannot be validated ({error.__class__.__name__})"]
        return summary
    certificate: x509.Certificate | None = result.pop("certificate")
    summary.update(result)
    if certificate is not None:
        summary.update(signer_identity(certificate))
        summary["signer_subject"] = certificate.subject.human_friendly
        summary["signer_certificate_sha256"] = hashlib.sha256(certificate.dump()).hexdigest()
    summary["trust"] = (
        "invalid" if not (summary["intact"] and summary["valid"])
        else "valid_and_trusted" if summary["trusted"] else "valid_but_untrusted"
    )
    if trust_reason and not summary["trusted"]:
        summary["trust_reason"] = trust_reason
    summary["reasons"] = reasons
    return summary
