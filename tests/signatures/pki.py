"""Everything the CAdES/GOST tests sign with, generated at test time: a test CA and RSA/ECDSA signers
built with `cryptography`, CAdES envelopes made with pyHanko's CMS signer, GOST keys, certificates and
CMS envelopes built with asn1crypto and gostcrypto, and an ETSI TS 119 612 trusted list."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from asn1crypto import algos, cms, core, keys, x509

from docmgr.signatures import gost

INN, OGRN, SNILS = "1.2.643.3.131.1.1", "1.2.643.100.1", "1.2.643.100.3"


@dataclass
class Party:
    certificate: x509.Certificate
    key: object  # asn1crypto PrivateKeyInfo (RSA/ECDSA) or raw GOST private bytes
    ca: x509.Certificate
    bits: int = 0  # GOST only
    curve: str = ""
    ca_key: object = None  # GOST only: the CA's private key (to sign CRLs)

    @property
    def cert_der(self) -> bytes:
        return self.certificate.dump()

    @property
    def ca_der(self) -> bytes:
        return self.ca.dump()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(cn: str = "Test Qualified CA"):
    """(certificate, key) of a test root CA (cryptography objects)."""
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, cn), cx509.NameAttribute(NameOID.COUNTRY_NAME, "IT")])
    cert = (
        cx509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1)).not_valid_after(_now() + dt.timedelta(days=365))
        .add_extension(cx509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(cx509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                      encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_signer(ca, *, kind: str = "rsa", cn: str = "Mario Rossi", attributes: dict[str, str] | None = None) -> Party:
    """A signer certificate issued by ``ca`` (from :func:`make_ca`), with extra subject attributes by OID."""
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    ca_cert, ca_key = ca
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    names = [cx509.NameAttribute(NameOID.COMMON_NAME, cn)]
    for oid, value in (attributes or {}).items():
        names.append(cx509.NameAttribute(cx509.ObjectIdentifier(oid), value))
    cert = (
        cx509.CertificateBuilder().subject_name(cx509.Name(names)).issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1)).not_valid_after(_now() + dt.timedelta(days=300))
        .add_extension(cx509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                      encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    der_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return Party(
        x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)), keys.PrivateKeyInfo.load(der_key),
        x509.Certificate.load(ca_cert.public_bytes(serialization.Encoding.DER)),
    )


def cades(party: Party, content: bytes, *, detached: bool = False) -> cms.ContentInfo:
    """A CAdES-BES envelope made with pyHanko's CMS signer."""
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    signer = signers.SimpleSigner(
        signing_cert=party.certificate, signing_key=party.key,
        cert_registry=SimpleCertificateStore.from_certs([party.ca]),
    )
    return asyncio.run(signer.async_sign_general_data(content, "sha256", detached=detached, use_cades=True))


def parallel(*envelopes: cms.ContentInfo) -> cms.ContentInfo:
    """One envelope whose SignerInfos are those of ``envelopes`` (all over the same content)."""
    first = envelopes[0]["content"]
    certificates, seen, signer_infos, digests = [], set(), [], []
    for envelope in envelopes:
        signed_data = envelope["content"]
        for choice in signed_data["certificates"]:
            if choice.dump() not in seen:
                seen.add(choice.dump())
                certificates.append(choice)
        signer_infos.extend(signed_data["signer_infos"])
        for algorithm in signed_data["digest_algorithms"]:
            if algorithm.dump() not in {d.dump() for d in digests}:
                digests.append(algorithm)
    signed_data = cms.SignedData({
        "version": first["version"], "digest_algorithms": digests, "encap_content_info": first["encap_content_info"],
        "certificates": certificates, "signer_infos": signer_infos,
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})


# --- GOST -----------------------------------------------------------------------------------------


def _gost_spki(bits: int, curve: str, point: bytes) -> keys.PublicKeyInfo:
    params = gost.GostKeyParameters({"public_key_param_set": curve})
    info = gost.GostPublicKeyInfo({
        "algorithm": {"algorithm": gost.KEY_256 if bits == 256 else gost.KEY_512, "parameters": core.Any.load(params.dump())},
        "public_key": core.OctetString(point).dump(),
    })
    return keys.PublicKeyInfo.load(info.dump())


def _gost_name(cn: str, extra: dict[str, str]) -> x509.Name:
    rdns = [x509.RelativeDistinguishedName([{"type": "common_name", "value": x509.DirectoryString(name="utf8_string", value=cn)}])]
    for oid, value in extra.items():
        atv = x509.NameTypeAndValue({"type": oid, "value": core.UTF8String(value)})
        rdns.append(x509.RelativeDistinguishedName([atv]))
    return x509.Name(name="", value=x509.RDNSequence(rdns))


def _gost_certificate(subject: x509.Name, issuer: x509.Name, spki: keys.PublicKeyInfo, bits: int, signing_key: bytes,
                      signing_bits: int, signing_curve: str, ca: bool, serial: int) -> x509.Certificate:
    algorithm = {"algorithm": gost.SIGN_256 if signing_bits == 256 else gost.SIGN_512}
    extensions = [{"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": ca}}]
    tbs = x509.TbsCertificate({
        "version": "v3", "serial_number": serial, "signature": algorithm, "issuer": issuer,
        "validity": {"not_before": x509.Time(name="utc_time", value=_now() - dt.timedelta(days=1)),
                     "not_after": x509.Time(name="utc_time", value=_now() + dt.timedelta(days=300))},
        "subject": subject, "subject_public_key_info": spki, "extensions": extensions,
    })
    signature = gost.sign(signing_key, signing_bits, signing_curve, tbs.dump())
    return x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature})


def make_gost_signer(bits: int = 256, *, curve: str | None = None, attributes: dict[str, str] | None = None,
                     cn: str = "Иванов Иван Иванович", ca_bits: int = 256, ca_cn: str = "Тестовый УЦ") -> Party:
    """A GOST CA (256-bit, set A) and a signer certificate it issued, keys generated now."""
    curve = curve or ("1.2.643.7.1.2.1.1.1" if bits == 256 else "1.2.643.7.1.2.1.2.1")
    ca_curve = "1.2.643.7.1.2.1.1.1" if ca_bits == 256 else "1.2.643.7.1.2.1.2.1"
    ca_private, ca_point = gost.generate_key(ca_bits, ca_curve)
    ca_name = _gost_name(ca_cn, {"2.5.4.6": "RU"})
    ca_cert = _gost_certificate(ca_name, ca_name, _gost_spki(ca_bits, ca_curve, ca_point), ca_bits, ca_private,
                                ca_bits, ca_curve, True, 1)
    private, point = gost.generate_key(bits, curve)
    cert = _gost_certificate(_gost_name(cn, attributes or {}), ca_name, _gost_spki(bits, curve, point), bits,
                             ca_private, ca_bits, ca_curve, False, 2)
    return Party(cert, private, ca_cert, bits, curve, ca_private)


def gost_cms(party: Party, content: bytes, *, detached: bool = True, digest_override: bytes | None = None,
             signature_oid: str | None = None) -> cms.ContentInfo:
    """A CMS SignedData with one GOST SignerInfo, as CryptoPro makes it (signed attributes, s||r)."""
    bits = party.bits
    digest_oid = gost.DIGEST_256 if bits == 256 else gost.DIGEST_512
    attrs = cms.CMSAttributes([
        {"type": "content_type", "values": ["data"]},
        {"type": "signing_time", "values": [cms.Time(name="utc_time", value=_now())]},
        {"type": "message_digest", "values": [digest_override or gost.streebog(content, bits)]},
    ])
    signature = gost.sign(party.key, bits, party.curve, b"\x31" + attrs.dump()[1:])
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": {"issuer_and_serial_number": {"issuer": party.certificate.issuer,
                                             "serial_number": party.certificate.serial_number}},
        "digest_algorithm": {"algorithm": digest_oid},
        "signed_attrs": attrs,
        "signature_algorithm": {"algorithm": signature_oid or (gost.KEY_256 if bits == 256 else gost.KEY_512)},
        "signature": signature,
    })
    signed_data = cms.SignedData({
        "version": "v1", "digest_algorithms": [{"algorithm": digest_oid}],
        "encap_content_info": {"content_type": "data", "content": None if detached else content},
        "certificates": [party.certificate, party.ca], "signer_infos": [signer_info],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})


def digest_algorithm(name: str) -> algos.DigestAlgorithm:
    return algos.DigestAlgorithm({"algorithm": name})


def make_gost_signer_on_wrong_curve(bits: int = 256) -> Party:
    """A GOST certificate whose key was made on 256-bit set A but which declares set B."""
    party = make_gost_signer(bits)
    tbs = party.certificate["tbs_certificate"]
    point = core.OctetString.load(gost.GostPublicKeyInfo.load(tbs["subject_public_key_info"].dump())["public_key"].native).native
    wrong = "1.2.643.7.1.2.1.1.2" if bits == 256 else "1.2.643.7.1.2.1.2.2"
    tbs = x509.TbsCertificate.load(tbs.dump())
    tbs["subject_public_key_info"] = _gost_spki(bits, wrong, point)
    certificate = x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": party.certificate["signature_algorithm"],
                                    "signature_value": party.certificate["signature_value"]})
    return Party(certificate, party.key, party.ca, bits, party.curve)


def trusted_list(services: list[tuple[str, bytes, str]], *, territory: str = "IT") -> bytes:
    """An ETSI TS 119 612 trusted list with one provider and a qualified CA service per (name, DER, status)."""
    import base64
    from xml.sax.saxutils import escape

    status_base = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"
    entries = "".join(
        f"""<tsl:TSPService><tsl:ServiceInformation>
          <tsl:ServiceTypeIdentifier>http://uri.etsi.org/TrstSvc/Svctype/CA/QC</tsl:ServiceTypeIdentifier>
          <tsl:ServiceName><tsl:Name xml:lang="en">{escape(name)}</tsl:Name></tsl:ServiceName>
          <tsl:ServiceDigitalIdentity><tsl:DigitalId><tsl:X509Certificate>{base64.b64encode(der).decode()}</tsl:X509Certificate>
          </tsl:DigitalId></tsl:ServiceDigitalIdentity>
          <tsl:ServiceStatus>{status_base}{status}</tsl:ServiceStatus>
          <tsl:StatusStartingTime>2024-01-01T00:00:00Z</tsl:StatusStartingTime>
        </tsl:ServiceInformation></tsl:TSPService>"""
        for name, der, status in services
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<tsl:TrustServiceStatusList xmlns:tsl="http://uri.etsi.org/02231/v2#" TSLTag="http://uri.etsi.org/19612/TSLTag">
  <tsl:SchemeInformation><tsl:TSLVersionIdentifier>5</tsl:TSLVersionIdentifier>
    <tsl:SchemeTerritory>{territory}</tsl:SchemeTerritory></tsl:SchemeInformation>
  <tsl:TrustServiceProviderList><tsl:TrustServiceProvider>
    <tsl:TSPInformation><tsl:TSPName><tsl:Name xml:lang="en">Test TSP</tsl:Name></tsl:TSPName></tsl:TSPInformation>
    <tsl:TSPServices>{entries}</tsl:TSPServices>
  </tsl:TrustServiceProvider></tsl:TrustServiceProviderList>
</tsl:TrustServiceStatusList>""".encode()


def with_crl(ca, envelope: cms.ContentInfo, revoked: list[Party]) -> cms.ContentInfo:
    """``envelope`` carrying a CRL of ``ca`` (from :func:`make_ca`) that revokes ``revoked``' certificates."""
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization

    ca_cert, ca_key = ca
    builder = (cx509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(_now() - dt.timedelta(hours=1)).next_update(_now() + dt.timedelta(days=7)))
    for party in revoked:
        builder = builder.add_revoked_certificate(
            cx509.RevokedCertificateBuilder().serial_number(party.certificate.serial_number)
            .revocation_date(_now() - dt.timedelta(hours=2)).build())
    from asn1crypto import crl as asn1_crl

    crl_der = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    copy = cms.ContentInfo.load(envelope.dump())
    copy["content"]["crls"] = [cms.RevocationInfoChoice(name="crl", value=asn1_crl.CertificateList.load(crl_der))]
    return cms.ContentInfo.load(copy.dump())


# --- countersignatures and GOST CRLs ------------------------------------------------------------------


def countersign(party: Party, envelope: cms.ContentInfo, *, path: tuple[int, ...] = (0,), content_type: bool = False,
                countersigned: bytes | None = None) -> cms.ContentInfo:
    """``envelope`` with ``party``'s countersignature (RFC 5652 §11.4) added to the SignerInfo at ``path``
    (indexes: the envelope's SignerInfo, then countersignatures within it). ``countersigned`` overrides the
    signature value the message digest is made over (a wrong digest); ``content_type`` adds the forbidden
    content-type attribute."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    copy = cms.ContentInfo.load(envelope.dump())
    signed_data = copy["content"]
    target = signed_data["signer_infos"][path[0]]
    for index in path[1:]:
        target = _counter_attribute(target)["values"][index]
    value = countersigned if countersigned is not None else target["signature"].native
    if party.bits:  # GOST
        digest_oid = gost.DIGEST_256 if party.bits == 256 else gost.DIGEST_512
        digest = gost.streebog(value, party.bits)
        digest_algorithm, signature_algorithm = {"algorithm": digest_oid}, {"algorithm": gost.KEY_256 if party.bits == 256 else gost.KEY_512}
    else:
        import hashlib

        digest = hashlib.sha256(value).digest()
        digest_algorithm = {"algorithm": "sha256"}
        signature_algorithm = {"algorithm": "sha256_rsa" if party.certificate.public_key.algorithm == "rsa" else "sha256_ecdsa"}
    attrs = [{"type": "signing_time", "values": [cms.Time(name="utc_time", value=_now())]},
             {"type": "message_digest", "values": [digest]}]
    if content_type:
        attrs.insert(0, {"type": "content_type", "values": ["data"]})
    signed_attrs = cms.CMSAttributes(attrs)
    to_sign = b"\x31" + signed_attrs.dump()[1:]
    if party.bits:
        signature = gost.sign(party.key, party.bits, party.curve, to_sign)
    else:
        key = serialization.load_der_private_key(party.key.dump(), None)
        signature = (key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256()) if party.certificate.public_key.algorithm == "rsa"
                     else key.sign(to_sign, ec.ECDSA(hashes.SHA256())))
    counter = cms.SignerInfo({
        "version": "v1",
        "sid": {"issuer_and_serial_number": {"issuer": party.certificate.issuer, "serial_number": party.certificate.serial_number}},
        "digest_algorithm": digest_algorithm, "signed_attrs": signed_attrs, "signature_algorithm": signature_algorithm,
        "signature": signature,
    })
    # Rebuilt from the inside out, each level loaded afresh: asn1crypto's dump() of an object edited deep
    # inside re-checks every level for changes, which grows exponentially with the nesting.
    def rebuilt(info: cms.SignerInfo, rest: tuple[int, ...]) -> cms.SignerInfo:
        info = cms.SignerInfo.load(info.dump())
        attribute = _counter_attribute(info)
        values = list(attribute["values"]) if attribute is not None else []
        if rest:
            values[rest[0]] = rebuilt(values[rest[0]], rest[1:])
        else:
            values.append(counter)
        others = [a for a in (info["unsigned_attrs"] if info["unsigned_attrs"].native else [])
                  if a["type"].native != "counter_signature"]
        info["unsigned_attrs"] = cms.CMSAttributes([*others, {"type": "counter_signature", "values": values}])
        return cms.SignerInfo.load(info.dump())

    signer_infos = list(signed_data["signer_infos"])
    signer_infos[path[0]] = rebuilt(signer_infos[path[0]], path[1:])
    signed_data["signer_infos"] = cms.SignerInfos(signer_infos)
    certificates = list(signed_data["certificates"])
    if all(c.chosen.dump() != party.certificate.dump() for c in certificates):
        certificates.append(cms.CertificateChoices(name="certificate", value=party.certificate))
    signed_data["certificates"] = certificates
    return cms.ContentInfo.load(copy.dump())


def _counter_attribute(signer_info: cms.SignerInfo):
    if not signer_info["unsigned_attrs"].native:
        return None
    return next((a for a in signer_info["unsigned_attrs"] if a["type"].native == "counter_signature"), None)


def gost_with_crl(party: Party, envelope: cms.ContentInfo, revoked: list[Party]) -> cms.ContentInfo:
    """``envelope`` carrying a CRL signed by ``party``'s GOST CA that revokes ``revoked``' certificates."""
    from asn1crypto import crl as asn1_crl

    ca_bits = gost.SIGNATURE_ALGORITHMS[party.certificate["signature_algorithm"]["algorithm"].dotted]
    ca_curve = "1.2.643.7.1.2.1.1.1" if ca_bits == 256 else "1.2.643.7.1.2.1.2.1"
    algorithm = {"algorithm": gost.SIGN_256 if ca_bits == 256 else gost.SIGN_512}
    entries = [{"user_certificate": p.certificate.serial_number, "revocation_date": x509.Time(name="utc_time", value=_now() - dt.timedelta(hours=2))}
               for p in revoked]
    tbs = asn1_crl.TbsCertList({
        "version": "v2", "signature": algorithm, "issuer": party.ca.subject,
        "this_update": x509.Time(name="utc_time", value=_now() - dt.timedelta(hours=1)),
        "next_update": x509.Time(name="utc_time", value=_now() + dt.timedelta(days=7)),
        **({"revoked_certificates": entries} if entries else {}),
    })
    signature = gost.sign(party.ca_key, ca_bits, ca_curve, tbs.dump())
    crl = asn1_crl.CertificateList({"tbs_cert_list": tbs, "signature_algorithm": algorithm, "signature": signature})
    copy = cms.ContentInfo.load(envelope.dump())
    copy["content"]["crls"] = [cms.RevocationInfoChoice(name="crl", value=crl)]
    return cms.ContentInfo.load(copy.dump())
