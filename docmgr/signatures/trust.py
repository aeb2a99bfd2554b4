"""Trust anchors: the certificates a signer's chain may end in, for every format (PAdES, CAdES, GOST).

Two sources, used together:

* ``DOCMGR_SIGNATURE_TRUST_ROOTS``: PEM/DER files named in the configuration (read at each check);
* the ``trust_anchors`` table, filled by ``docmgr trust import FILE`` from PEM/DER certificates or from an
  ETSI TS 119 612 trusted list (the XML of the EU's and Italy's lists). From a list, the certificates of
  qualified CA services (``Svctype/CA/QC``) are kept with their service status; only a status that
  grants trust (``granted``, ``recognisedatnationallevel``, and the pre-2016 ``undersupervision`` /
  ``accredited``) makes them anchors. Importing a list again replaces what that list gave before, so a
  withdrawn service stops being trusted.

The list's own XML signature is checked (signxml) when ``DOCMGR_TRUST_LIST_SIGNER_CERT`` names the
certificate of the list's operator; a list whose signature does not verify is refused, and only the
signed element is read.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from docmgr.errors import Invalid
from docmgr.signatures.models import TrustAnchor

TSL_NS = "http://uri.etsi.org/02231/v2#"
QUALIFIED_CA = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
_STATUS = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"
_OLD_STATUS = "http://uri.etsi.org/TrstSvc/Svcstatus/"
GRANTED = {
    _STATUS + "granted", _STATUS + "recognisedatnationallevel", _OLD_STATUS + "undersupervision",
    _OLD_STATUS + "accredited", _OLD_STATUS + "supervisionincessation",
}


@dataclass
class ImportResult:
    source: str
    kind: str  # "certificates" or "trusted_list"
    added: int
    granted: int
    removed: int


def trust_roots(session: Session, config: Any) -> list[bytes]:
    """DER certificates of every trust anchor in force: configured files, then granted imported ones."""
    from pyhanko.keys import load_certs_from_pemder

    roots = [cert.dump() for path in config["SIGNATURE_TRUST_ROOTS"] for cert in load_certs_from_pemder([str(path)])]
    roots.extend(session.scalars(select(TrustAnchor.certificate_der).where(TrustAnchor.is_granted.is_(True))))
    return roots


def _certificates_from_pemder(data: bytes) -> list[bytes]:
    from asn1crypto import pem, x509

    ders = [der for _, _, der in pem.unarmor(data, multiple=True)] if pem.detect(data) else [data]
    for der in ders:  # refuse a damaged certificate now (not its key: asn1crypto does not know GOST keys)
        tbs = x509.Certificate.load(der, strict=True)["tbs_certificate"]
        for name in ("serial_number", "issuer", "subject", "validity"):
            tbs[name].native  # noqa: B018
    return ders


def _subject(der: bytes) -> str:
    from asn1crypto import x509

    return x509.Certificate.load(der).subject.human_friendly[:500]


def import_file(session: Session, path: Path, *, list_signer_cert: str | None = None) -> ImportResult:
    """Load trust anchors from ``path`` (PEM/DER certificates or a TS 119 612 list). Raises Invalid."""
    data = Path(path).read_bytes()
    source = Path(path).name[:500]
    if data.lstrip()[:1] == b"<":
        return _import_trusted_list(session, data, source, list_signer_cert)
    try:
        ders = _certificates_from_pemder(data)
    except (ValueError, TypeError, KeyError) as error:
        raise Invalid(f"{source}: not a PEM/DER certificate or a TS 119 612 trusted list ({error.__class__.__name__}).") from None
    added = sum(_upsert(session, der, source, "", "", True) for der in ders)
    return ImportResult(source, "certificates", added, len(ders), 0)


def _upsert(session: Session, der: bytes, source: str, service_name: str, status: str, granted: bool) -> int:
    sha = hashlib.sha256(der).hexdigest()
    anchor = session.scalar(select(TrustAnchor).where(TrustAnchor.fingerprint == sha))
    if anchor is None:
        session.add(TrustAnchor(fingerprint=sha, certificate_der=der, subject=_subject(der), source=source,
                                service_name=service_name[:500], service_status=status[:200], is_granted=granted))
        session.flush()
        return 1
    anchor.source, anchor.service_name, anchor.service_status, anchor.is_granted = source, service_name[:500], status[:200], granted
    return 0


def _import_trusted_list(session: Session, data: bytes, source: str, list_signer_cert: str | None) -> ImportResult:
    from defusedxml import ElementTree

    if list_signer_cert:
        data = _signed_part(data, list_signer_cert, source)  # read only what the operator signed
    try:
        root = ElementTree.fromstring(data)
    except Exception as error:  # noqa: BLE001 - any XML problem: refuse with the reason
        raise Invalid(f"{source}: the trusted list is not well-formed XML ({error.__class__.__name__}).") from None
    if root.tag != f"{{{TSL_NS}}}TrustServiceStatusList":
        raise Invalid(f"{source}: not an ETSI TS 119 612 trusted list (root element {root.tag}).")
    ns = {"tsl": TSL_NS}
    found: list[tuple[bytes, str, str, bool]] = []
    for service in root.iterfind(".//tsl:TSPService/tsl:ServiceInformation", ns):
        if (service.findtext("tsl:ServiceTypeIdentifier", "", ns) or "").strip() != QUALIFIED_CA:
            continue
        status = (service.findtext("tsl:ServiceStatus", "", ns) or "").strip()
        name = (service.findtext("tsl:ServiceName/tsl:Name", "", ns) or "").strip()
        for element in service.iterfind(".//tsl:ServiceDigitalIdentity/tsl:DigitalId/tsl:X509Certificate", ns):
            try:
                der = base64.b64decode("".join((element.text or "").split()), validate=True)
                _certificates_from_pemder(der)
            except (ValueError, TypeError, KeyError):
                raise Invalid(f"{source}: a certificate of service {name!r} cannot be read.") from None
            found.append((der, name, status, status in GRANTED))
    keep = {hashlib.sha256(der).hexdigest() for der, *_ in found}
    removed = session.execute(
        delete(TrustAnchor).where(TrustAnchor.source == source, TrustAnchor.fingerprint.not_in(keep))
    ).rowcount or 0
    added = sum(_upsert(session, der, source, name, status, granted) for der, name, status, granted in found)
    return ImportResult(source, "trusted_list", added, sum(1 for *_, granted in found if granted), removed)


def _signed_part(data: bytes, cert_path: str, source: str) -> bytes:
    """The XML the list's operator signed (an enveloped XMLDSig/XAdES signature over the whole list),
    checked with signxml against the configured certificate. Raises Invalid."""
    from lxml import etree
    from signxml import XMLVerifier

    try:
        certificate = Path(cert_path).read_text()
    except OSError as error:
        raise Invalid(f"The trusted list signer certificate cannot be read ({error.__class__.__name__}).") from None
    try:
        result = XMLVerifier().verify(data, x509_cert=certificate)
    except Exception as error:  # noqa: BLE001 - any failure means the list is not the operator's
        raise Invalid(f"{source}: the trusted list's XML signature does not verify ({error.__class__.__name__}).") from None
    signed = result.signed_xml
    if signed is None or signed.tag != f"{{{TSL_NS}}}TrustServiceStatusList":
        raise Invalid(f"{source}: the XML signature does not cover the whole trusted list.")
    return etree.tostring(signed)
