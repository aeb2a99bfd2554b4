"""Countersignatures (RFC 5652 §11.4) in CAdES and GOST envelopes, and CRLs embedded in GOST envelopes,
through the real API: every signature is made at test time and verified in the limited child."""

from __future__ import annotations

import pytest

from docmgr.signatures.cms import MAX_NESTING
from tests.signatures import pki
from tests.signatures.conftest import frozen_pdf, upload, upload_detached


@pytest.fixture
def out(make_agreement, advance):
    return advance(make_agreement(), "out_for_signature")


@pytest.fixture(scope="module")
def sidorov():
    """A GOST 512 signer under another CA than ivanov's (issuer + serial must tell them apart)."""
    return pki.make_gost_signer(512, cn="Сидоров Сидор", ca_cn="УЦ Второй", ca_bits=512)


def _refused(response, *needles: str) -> list[str]:
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "signature_invalid", error
    for needle in needles:
        assert any(needle in reason for reason in error["reasons"]), error["reasons"]
    return error["reasons"]


def test_nested_cades_countersignatures_are_verified_and_reported(app, client, cast, out, rossi, bianchi, token_for):
    frozen = frozen_pdf(app, out)
    envelope = pki.countersign(rossi, pki.countersign(bianchi, pki.cades(rossi, frozen)), path=(0, 0))
    response = upload(client, token_for(cast.legal), out.id, out.signatories[0].id, envelope.dump(), name="a.pdf.p7m")
    assert response.status_code == 201, response.get_json()
    verification = response.get_json()["signatory"]["verification"]
    assert verification["valid"] is True and verification["intact"] is True
    signers = [(s["signer_index"], s.get("countersignature_of"), s["name"], s["trust"]) for s in verification["signatures"]]
    assert signers == [(1, None, "Mario Rossi", "valid_but_untrusted"), (2, 1, "Anna Bianchi", "valid_but_untrusted"),
                       (3, 2, "Mario Rossi", "valid_but_untrusted")]
    assert verification["signatures"][1]["algorithm"] == "ECDSA with SHA256"


def test_broken_countersignatures_are_refused_with_the_reason(app, client, cast, out, rossi, bianchi, token_for):
    frozen = frozen_pdf(app, out)
    headers, signatory = token_for(cast.legal), out.signatories[0].id
    base = pki.cades(rossi, frozen)
    other_value = pki.countersign(bianchi, base, countersigned=b"another signature value")
    _refused(upload(client, headers, out.id, signatory, other_value.dump(), name="a.p7m"),
             "Anna Bianchi: the countersignature's message digest is not that of the signature it countersigns")
    with_content_type = pki.countersign(bianchi, base, content_type=True)
    _refused(upload(client, headers, out.id, signatory, with_content_type.dump(), name="b.p7m"),
             "countersignature carries a content-type attribute")
    forged = pki.cms.ContentInfo.load(pki.countersign(bianchi, base).dump())  # its signature value altered
    counter = forged["content"]["signer_infos"][0]["unsigned_attrs"][0]["values"][0]
    counter["signature"] = bytes(b ^ 0xFF if i == 10 else b for i, b in enumerate(counter["signature"].native))
    _refused(upload(client, headers, out.id, signatory, pki.cms.ContentInfo.load(forged.dump()).dump(), name="c.p7m"),
             "Anna Bianchi: the cryptographic signature is not valid")
    deep = base
    for level in range(MAX_NESTING + 1):
        deep = pki.countersign(rossi, deep, path=(0,) + (0,) * level)
    _refused(upload(client, headers, out.id, signatory, deep.dump(), name="d.p7m"),
             f"nested more than {MAX_NESTING} levels deep")


def test_gost_countersignature_and_embedded_crl(app, client, cast, out, ivanov, sidorov, token_for):
    frozen = frozen_pdf(app, out)
    headers = token_for(cast.legal)
    signature = pki.countersign(sidorov, pki.gost_cms(ivanov, frozen))
    response = upload_detached(client, headers, out.id, out.signatories[1].id, frozen, signature.dump())
    assert response.status_code == 201, response.get_json()
    verification = response.get_json()["signatory"]["verification"]
    assert verification["format"] == "gost" and verification["valid"] is True
    first, counter = verification["signatures"]
    assert counter["countersignature_of"] == 1 and counter["name"] == "Сидоров Сидор"
    assert counter["algorithm"] == "GOST R 34.10-2012 (512 bit) with Streebog-512" and counter["valid"] is True
    assert first["revocation"].startswith("not checked")


def test_gost_embedded_crl_is_checked_and_a_revoked_signer_refused(app, client, cast, out, ivanov, sidorov, token_for,
                                                                    make_agreement, advance):
    frozen = frozen_pdf(app, out)
    headers = token_for(cast.legal)
    revoked = pki.gost_with_crl(ivanov, pki.gost_cms(ivanov, frozen), revoked=[ivanov])
    _refused(upload_detached(client, headers, out.id, out.signatories[1].id, frozen, revoked.dump()),
             "was revoked (embedded CRL)")
    clean = pki.gost_with_crl(ivanov, pki.gost_cms(ivanov, frozen), revoked=[])
    response = upload_detached(client, headers, out.id, out.signatories[0].id, frozen, clean.dump())
    assert response.status_code == 201, response.get_json()
    [signer] = response.get_json()["signatory"]["verification"]["signatures"]
    assert signer["revocation"] == "checked against the CRL embedded in the signature"
    other = advance(make_agreement(), "out_for_signature")  # a PDF is the signed copy of one signatory only
    other_pdf = frozen_pdf(app, other)
    foreign = pki.gost_with_crl(sidorov, pki.gost_cms(ivanov, other_pdf), revoked=[ivanov])  # another CA's CRL
    response = upload_detached(client, headers, other.id, other.signatories[0].id, other_pdf, foreign.dump())
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["signatory"]["verification"]["signatures"][0]["revocation"].startswith("not checked")
