"""CAdES (.p7m attached/detached, parallel, nested) and GOST signatures through the real API: every
envelope is signed at test time (pyHanko's CMS signer, gostcrypto), verified in the limited child."""

from __future__ import annotations

import pytest
from asn1crypto import cms, core
from sqlalchemy import func, select

from docmgr.extensions import db
from docmgr.signatures.models import SignatureSubmission, TrustAnchor
from tests.signatures import pki
from tests.signatures.conftest import CODICE_FISCALE, frozen_pdf, render_agreement_pdf, upload, upload_detached


@pytest.fixture
def out(make_agreement, advance):
    return advance(make_agreement(), "out_for_signature")


def _submissions() -> int:
    return db.session.scalar(select(func.count()).select_from(SignatureSubmission))


def test_cades_attached_rsa_names_the_codice_fiscale(app, client, cast, out, rossi, token_for):
    envelope = pki.cades(rossi, frozen_pdf(app, out)).dump()
    response = upload(client, token_for(cast.legal), out.id, out.signatories[0].id, envelope, name="contratto.pdf.p7m")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    verification = body["signatory"]["verification"]
    assert verification["format"] == "cades" and verification["valid"] is True and verification["intact"] is True
    assert verification["matches_frozen_pdf"] is True and verification["trusted"] is False
    [signer] = verification["signatures"]
    assert signer["codice_fiscale"] == CODICE_FISCALE and signer["organisation"] == "Comune di Roma"
    assert signer["position"] == "Sindaco" and signer["name"] == "Mario Rossi"
    assert signer["trust"] == "valid_but_untrusted" and "not checked" in signer["revocation"]
    assert body["submission"]["content_type"] == "application/pkcs7-mime"
    assert app.extensions["docmgr.store"].read(body["signatory"]["signed_file_sha256"]) == envelope  # kept as received


def test_base64_p7m_as_some_italian_tools_send_it_is_accepted(app, client, cast, out, rossi, token_for):
    import base64

    envelope = base64.encodebytes(pki.cades(rossi, frozen_pdf(app, out)).dump())
    response = upload(client, token_for(cast.legal), out.id, out.signatories[0].id, envelope, name="contratto.pdf.p7m")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["signatory"]["verification"]["signatures"][0]["codice_fiscale"] == CODICE_FISCALE


def test_cades_detached_ecdsa_keeps_the_signature_file(app, client, cast, out, bianchi, token_for):
    frozen = frozen_pdf(app, out)
    signature = pki.cades(bianchi, frozen, detached=True).dump()
    response = upload_detached(client, token_for(cast.legal), out.id, out.signatories[0].id, frozen, signature, "contratto.pdf.p7s")
    assert response.status_code == 201, response.get_json()
    submission = response.get_json()["submission"]
    assert submission["verification"]["coverage"] == "DETACHED"
    assert submission["verification"]["signatures"][0]["organisation"] == "Regione Lazio"
    assert app.extensions["docmgr.store"].read(submission["signature_sha256"]) == signature
    assert submission["signature_filename"] == "contratto.pdf.p7s"


def test_parallel_and_nested_envelopes_report_every_signer_and_execute(app, client, cast, out, rossi, bianchi, token_for):
    frozen = frozen_pdf(app, out)
    two = pki.parallel(pki.cades(rossi, frozen), pki.cades(bianchi, frozen)).dump()
    first = upload(client, token_for(cast.legal), out.id, out.signatories[0].id, two, name="a.pdf.p7m")
    assert first.status_code == 201, first.get_json()
    names = [s["name"] for s in first.get_json()["signatory"]["verification"]["signatures"]]
    assert sorted(names) == ["Anna Bianchi", "Mario Rossi"]  # a SET OF: DER orders the SignerInfos
    nested = pki.cades(bianchi, pki.cades(rossi, frozen).dump()).dump()  # matrioska: contratto.pdf.p7m.p7m
    second = upload(client, token_for(cast.legal), out.id, out.signatories[1].id, nested, name="a.pdf.p7m.p7m")
    assert second.status_code == 201, second.get_json()
    verification = second.get_json()["signatory"]["verification"]
    assert verification["envelopes"] == 2
    assert [(s["envelope"], s["name"]) for s in verification["signatures"]] == [(1, "Anna Bianchi"), (2, "Mario Rossi")]
    agreement = second.get_json()["agreement"]
    assert agreement["status"] == "executed"
    db.session.expire_all()
    from docmgr.drafting.models import Agreement

    executed = db.session.get(Agreement, out.id).executed_document
    assert [f.sha256 for f in executed.files] == [out.frozen_pdf_sha256]  # the signed PDF is the frozen one


@pytest.mark.parametrize("bits", [256, 512])
def test_gost_detached_names_inn_and_ogrn(app, client, cast, out, ivanov, petrov, bits, token_for):
    party = ivanov if bits == 256 else petrov
    frozen = frozen_pdf(app, out)
    signature = pki.gost_cms(party, frozen).dump()
    response = upload_detached(client, token_for(cast.legal), out.id, out.signatories[1].id, frozen, signature)
    assert response.status_code == 201, response.get_json()
    verification = response.get_json()["signatory"]["verification"]
    assert verification["format"] == "gost" and verification["valid"] is True
    [signer] = verification["signatures"]
    assert signer["algorithm"] == f"GOST R 34.10-2012 ({bits} bit) with Streebog-{bits}"
    if bits == 256:
        assert (signer["inn"], signer["ogrn"], signer["snils"]) == ("007712345678", "1027700132195", "11223344595")
        assert signer["organisation"] == "ООО Ромашка" and signer["position"] == "Директор"
    else:
        assert signer["inn"] == "500100732259" and signer["name"] == "Петров Пётр"
    assert signer["trusted"] is False  # its test CA is no anchor


def test_gost_attached_envelope_is_accepted(app, client, cast, out, ivanov, token_for):
    envelope = pki.gost_cms(ivanov, frozen_pdf(app, out), detached=False).dump()
    response = upload(client, token_for(cast.legal), out.id, out.signatories[1].id, envelope, name="dogovor.pdf.sig")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["signatory"]["verification"]["coverage"] == "ATTACHED"


def _flip_in_content(envelope: cms.ContentInfo) -> bytes:
    der = bytearray(envelope.dump())
    content = bytes(envelope["content"]["encap_content_info"]["content"].native)
    position = bytes(der).index(content) + len(content) // 2
    der[position] ^= 0x01
    return bytes(der)


def _refused(response, *needles: str) -> dict:
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "signature_invalid", error
    text = " ".join(error["reasons"])
    for needle in needles:
        assert needle in text, error["reasons"]
    return error


def test_tampered_wrong_pdf_and_wrong_digest_are_refused_and_kept_on_record(
    app, client, cast, out, rossi, ivanov, token_for
):
    frozen = frozen_pdf(app, out)
    headers, signatory = token_for(cast.legal), out.signatories[0]
    before = _submissions()
    # CAdES: content changed inside the envelope
    _refused(upload(client, headers, out.id, signatory.id, _flip_in_content(pki.cades(rossi, frozen)), name="x.p7m"),
             "integrity check failed", "not the frozen final draft")
    # CAdES: a well-signed different PDF
    other = render_agreement_pdf("Another agreement", "Different text.")
    _refused(upload(client, headers, out.id, signatory.id, pki.cades(rossi, other).dump(), name="x.p7m"),
             "not the frozen final draft")
    # GOST: a different PDF beside the signature; a signature whose digest attribute is wrong
    signature = pki.gost_cms(ivanov, frozen).dump()
    _refused(upload_detached(client, headers, out.id, signatory.id, other, signature), "integrity check failed")
    wrong_digest = pki.gost_cms(ivanov, frozen, digest_override=b"\x00" * 32).dump()
    _refused(upload_detached(client, headers, out.id, signatory.id, frozen, wrong_digest), "integrity check failed")
    # GOST: content right, signature value broken
    broken = pki.gost_cms(ivanov, frozen)
    value = bytearray(broken["content"]["signer_infos"][0]["signature"].native)
    value[5] ^= 0xFF
    broken["content"]["signer_infos"][0]["signature"] = core.OctetString(bytes(value))
    _refused(upload_detached(client, headers, out.id, signatory.id, frozen, broken.dump()), "GOST signature value is not valid")
    assert _submissions() == before + 5
    db.session.refresh(signatory)
    assert signatory.status == "pending" and signatory.signed_file_sha256 is None


def _nested(party, content: bytes, depth: int) -> bytes:
    data = content
    for _ in range(depth):
        data = pki.cades(party, data).dump()
    return data


def _many_signer_infos(envelope: cms.ContentInfo, count: int) -> bytes:
    signed_data = envelope["content"]
    copy = cms.SignedData({**{k: signed_data[k] for k in ("version", "digest_algorithms", "encap_content_info",
                                                           "certificates")},
                           "signer_infos": [signed_data["signer_infos"][0]] * count})
    return cms.ContentInfo({"content_type": "signed_data", "content": copy}).dump()


def _many_certificates(envelope: cms.ContentInfo, count: int) -> bytes:
    signed_data = envelope["content"]
    extra = [signed_data["certificates"][0]] * count
    copy = cms.SignedData({**{k: signed_data[k] for k in ("version", "digest_algorithms", "encap_content_info",
                                                           "signer_infos")}, "certificates": extra})
    return cms.ContentInfo({"content_type": "signed_data", "content": copy}).dump()


def _unknown_algorithm(envelope: cms.ContentInfo) -> bytes:
    envelope = cms.ContentInfo.load(envelope.dump())
    envelope["content"]["signer_infos"][0]["digest_algorithm"] = {"algorithm": "1.2.3.4.5.6.7"}
    return envelope.dump()


def test_bad_envelopes_are_refused_with_a_reason(app, client, cast, out, bianchi, token_for):
    frozen = frozen_pdf(app, out)
    headers, signatory = token_for(cast.legal), out.signatories[0]
    attached = pki.cades(bianchi, frozen)
    wrong_curve = pki.make_gost_signer_on_wrong_curve(256)
    cases = {
        "no content": (pki.cades(bianchi, frozen, detached=True).dump(), "carries no content"),
        "truncated": (attached.dump()[: len(attached.dump()) - 300], "truncated or damaged"),
        "50 deep": (_nested(bianchi, frozen, 50), "nested more than"),
        "1000 signer infos": (_many_signer_infos(attached, 1000), "1000 signatures"),
        "100 certificates": (_many_certificates(attached, 100), "100 certificates"),
        "unknown OID": (_unknown_algorithm(attached), "unknown digest algorithm OID 1.2.3.4.5.6.7"),
        "GOST wrong curve": (pki.gost_cms(wrong_curve, frozen, detached=False).dump(), "not a point of its curve"),
    }
    for label, (data, needle) in cases.items():
        response = upload(client, headers, out.id, signatory.id, data, name=f"{label}.p7m")
        error = _refused(response, needle)
        assert error["submission"]["is_valid"] is False, label
    db.session.refresh(signatory)
    assert signatory.status == "pending"


def test_detached_signature_needs_a_pdf_and_a_cms_file(app, client, cast, out, bianchi, token_for):
    frozen = frozen_pdf(app, out)
    headers = token_for(cast.legal)
    signature = pki.cades(bianchi, frozen, detached=True).dump()
    before = _submissions()
    response = upload_detached(client, headers, out.id, out.signatories[0].id, b"hello, not a PDF", signature)
    assert response.status_code == 415
    response = upload_detached(client, headers, out.id, out.signatories[0].id, frozen, frozen)
    assert response.status_code == 415 and response.get_json()["error"]["field"] == "signature"
    assert _submissions() == before


def test_trusted_list_makes_a_signer_trusted_and_withdrawing_it_untrusted(app, client, cast, out, rossi, ivanov,
                                                                         tmp_path, token_for):
    runner = app.test_cli_runner()
    listing = tmp_path / "IT_TSL.xml"
    listing.write_bytes(pki.trusted_list([("Test Qualified CA", rossi.ca_der, "granted"),
                                          ("Тестовый УЦ", ivanov.ca_der, "granted")]))
    result = runner.invoke(args=["docmgr", "trust", "import", str(listing)])
    assert result.exit_code == 0, result.output
    assert "2 new, 2 trusted" in result.output
    frozen = frozen_pdf(app, out)
    headers = token_for(cast.legal)
    app.config["SIGNATURE_REQUIRE_TRUSTED"] = True
    trusted = upload(client, headers, out.id, out.signatories[0].id, pki.cades(rossi, frozen).dump(), name="a.p7m")
    assert trusted.status_code == 201, trusted.get_json()
    assert trusted.get_json()["signatory"]["verification"]["signatures"][0]["trust"] == "valid_and_trusted"

    listing.write_bytes(pki.trusted_list([("Test Qualified CA", rossi.ca_der, "withdrawn")]))
    result = runner.invoke(args=["docmgr", "trust", "import", str(listing)])
    assert result.exit_code == 0 and "0 trusted, 1 removed" in result.output, result.output
    assert db.session.scalar(select(func.count()).select_from(TrustAnchor).where(TrustAnchor.is_granted)) == 0
    refused = upload_detached(client, headers, out.id, out.signatories[1].id, frozen, pki.gost_cms(ivanov, frozen).dump())
    _refused(refused, "does not chain to a trust anchor")


def test_trust_import_refuses_garbage(app, tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<html><body>not a list</body></html>")
    result = app.test_cli_runner().invoke(args=["docmgr", "trust", "import", str(bad)])
    assert result.exit_code == 1 and "not an ETSI TS 119 612 trusted list" in result.output
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"\x00\x01 junk")
    result = app.test_cli_runner().invoke(args=["docmgr", "trust", "import", str(junk)])
    assert result.exit_code == 1


def _list_operator(tmp_path):
    from cryptography.hazmat.primitives import serialization

    operator_cert, operator_key = pki.make_ca("Trusted list operator")
    cert_pem = operator_cert.public_bytes(serialization.Encoding.PEM)
    key_pem = operator_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    path = tmp_path / "operator.pem"
    path.write_bytes(cert_pem)
    return str(path), cert_pem, key_pem


def test_trusted_list_signature_is_checked_when_configured(app, rossi, tmp_path):
    from lxml import etree
    from signxml import XMLSigner

    cert_path, cert_pem, key_pem = _list_operator(tmp_path)
    app.config["TRUST_LIST_SIGNER_CERT"] = cert_path
    runner = app.test_cli_runner()
    unsigned = pki.trusted_list([("Test Qualified CA", rossi.ca_der, "granted")])
    signed = etree.tostring(XMLSigner(signature_algorithm="ecdsa-sha256").sign(
        etree.fromstring(unsigned), key=key_pem, cert=cert_pem.decode()))
    listing = tmp_path / "IT_TSL.xml"

    listing.write_bytes(unsigned)
    result = runner.invoke(args=["docmgr", "trust", "import", str(listing)])
    assert result.exit_code == 1 and "XML signature does not verify" in result.output

    listing.write_bytes(signed.replace(b"Test Qualified CA", b"Evil Qualified CA"))
    result = runner.invoke(args=["docmgr", "trust", "import", str(listing)])
    assert result.exit_code == 1 and "XML signature does not verify" in result.output
    assert db.session.scalar(select(func.count()).select_from(TrustAnchor)) == 0

    listing.write_bytes(signed)
    result = runner.invoke(args=["docmgr", "trust", "import", str(listing)])
    assert result.exit_code == 0 and "1 new, 1 trusted" in result.output, result.output


def test_embedded_crl_is_used_for_revocation(app, client, cast, out, ca, bianchi, rossi, token_for):
    frozen = frozen_pdf(app, out)
    headers = token_for(cast.legal)
    from docmgr.signatures import trust

    trust.import_file(db.session, _pem_file(app, rossi.ca_der))  # the test CA, as `docmgr trust import` does
    db.session.commit()
    clean = pki.with_crl(ca, pki.cades(bianchi, frozen), revoked=[])
    response = upload(client, headers, out.id, out.signatories[0].id, clean.dump(), name="a.p7m")
    assert response.status_code == 201, response.get_json()
    [signer] = response.get_json()["signatory"]["verification"]["signatures"]
    assert signer["trust"] == "valid_and_trusted" and signer["revocation"].startswith("checked against the CRL")

    app.config["SIGNATURE_REQUIRE_TRUSTED"] = True
    revoked = pki.with_crl(ca, pki.cades(rossi, frozen), revoked=[rossi])
    _refused(upload(client, headers, out.id, out.signatories[1].id, revoked.dump(), name="b.p7m"),
             "certificate was revoked")


def _pem_file(app, der: bytes):
    from pathlib import Path

    from asn1crypto import pem

    path = Path(app.config["STORAGE_DIR"]) / "anchor.pem"
    path.write_bytes(pem.armor("CERTIFICATE", der))
    return path


def test_verification_runs_in_the_limited_child(app, client, cast, out, petrov, token_for):
    """A wall-clock limit far below what a GOST 512 check costs: the child is stopped, the web worker answers."""
    frozen = frozen_pdf(app, out)
    app.config["EXTRACTION_TIMEOUT_SECONDS"] = 0.05
    response = upload_detached(client, token_for(cast.legal), out.id, out.signatories[1].id, frozen,
                               pki.gost_cms(petrov, frozen).dump())
    _refused(response, "too large or too complex to verify")
