"""An agreement executed with a CAdES .p7m (Italy) and a detached GOST .sig (Russia): who signed on the
page and the certificate, the evidence package checked with sha256sum, `openssl cms -verify` and
`docmgr verify-evidence`, and the verification page/API that tells nothing about other agreements."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile

import pytest
from asn1crypto import pem
from pypdf import PdfReader

from tests.conftest import csrf_from
from tests.signatures import pki
from tests.signatures.conftest import CODICE_FISCALE, frozen_pdf, upload, upload_detached


@pytest.fixture
def executed(app, client, cast, make_agreement, advance, rossi, ivanov, token_for):
    agreement = advance(make_agreement(), "out_for_signature")
    frozen = frozen_pdf(app, agreement)
    envelope = pki.cades(rossi, frozen).dump()
    first = upload(client, token_for(cast.firm_it), agreement.id, agreement.signatories[0].id, envelope,
                   name="contratto.pdf.p7m")
    assert first.status_code == 201, first.get_json()
    second = upload_detached(client, token_for(cast.firm_ru), agreement.id, agreement.signatories[1].id, frozen,
                             pki.gost_cms(ivanov, frozen).dump(), "dogovor.pdf.sig")
    assert second.status_code == 201, second.get_json()
    assert second.get_json()["agreement"]["status"] == "executed"
    return agreement, frozen, envelope


def _pdf_text(data: bytes) -> str:
    return "".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def test_who_signed_is_on_the_page_and_in_the_certificate(client, cast, executed, login, token_for):
    agreement, _, _ = executed
    html = login(cast.firm_it).get(f"/agreements/{agreement.id}/signatures").get_data(as_text=True)
    assert CODICE_FISCALE in html and "ИНН 007712345678" in html and "ОГРН 1027700132195" in html
    assert "CADES" in html and "GOST" in html
    certificate = client.get(f"/api/v1/agreements/{agreement.id}/certificate.pdf", headers=token_for(cast.legal))
    text = _pdf_text(certificate.data)
    assert CODICE_FISCALE in text and "007712345678" in text and "1027700132195" in text


def _package(client, headers, agreement_id) -> bytes:
    response = client.get(f"/api/v1/agreements/{agreement_id}/evidence", headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/zip"
    return response.data


@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("sha256sum") is None, reason="needs openssl")
def test_evidence_package_verifies_with_common_tools_and_docmgr(app, client, cast, executed, rossi, tmp_path, token_for):
    agreement, frozen, envelope = executed
    data = _package(client, token_for(cast.firm_ru), agreement.id)
    folder = tmp_path / "evidence"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        archive.extractall(folder)
    assert {"README.txt", "final-draft.pdf", "certificate.pdf", "audit/events.json", "audit/chain.json",
            "manifest-sha256.txt", "signatures/index.json"} <= names
    readme = (folder / "README.txt").read_text()
    assert "[IT]" in readme and "[RU]" in readme and "[EN]" in readme and "openssl cms -verify" in readme
    index = json.loads((folder / "signatures/index.json").read_text())
    formats = sorted(entry["format"] for entry in index["signatures"])
    assert formats == ["cades", "gost"]
    p7m = next(e["file"] for e in index["signatures"] if e["format"] == "cades")
    assert (folder / p7m).read_bytes() == envelope  # as received
    events = json.loads((folder / "audit/events.json").read_text())
    assert {"signature.recorded", "agreement.executed", "agreement.certificate_issued"} <= {e["action"] for e in events}

    assert subprocess.run(["sha256sum", "--quiet", "-c", "manifest-sha256.txt"], cwd=folder).returncode == 0
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(pem.armor("CERTIFICATE", rossi.ca_der))
    content = tmp_path / "content.pdf"
    result = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", str(folder / p7m), "-CAfile", str(ca_pem),
         "-purpose", "any", "-out", str(content)], capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert content.read_bytes() == frozen == (folder / "final-draft.pdf").read_bytes()

    zip_path = tmp_path / "evidence.zip"
    zip_path.write_bytes(data)
    runner = app.test_cli_runner()
    verified = runner.invoke(args=["docmgr", "verify-evidence", str(zip_path)])
    assert verified.exit_code == 0, verified.output
    assert "cades signature valid" in verified.output and "gost signature valid" in verified.output

    # A changed audit entry (with the manifest re-hashed to match) is still caught by the chain.
    tampered_events = [dict(e) for e in events]
    tampered_events[0]["actor_email"] = "someone.else@example.org"
    members = {name: (folder / name).read_bytes() for name in names if name != "manifest-sha256.txt"}
    members["audit/events.json"] = json.dumps(tampered_events).encode()
    manifest = "".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in sorted(members.items()))
    bad = tmp_path / "tampered.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, value in members.items():
            archive.writestr(name, value)
        archive.writestr("manifest-sha256.txt", manifest)
    refused = runner.invoke(args=["docmgr", "verify-evidence", str(bad)])
    assert refused.exit_code == 1 and "does not match its hash" in refused.output


def test_evidence_is_only_for_parties_and_executed_agreements(client, cast, executed, make_agreement, token_for):
    agreement, _, _ = executed
    assert client.get(f"/api/v1/agreements/{agreement.id}/evidence", headers=token_for(cast.outsider)).status_code == 404
    draft = make_agreement()
    response = client.get(f"/api/v1/agreements/{draft.id}/evidence", headers=token_for(cast.legal))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "evidence_not_found"


def _verify(client, headers, data: bytes, name: str, signature: bytes | None = None):
    fields = {"file": (io.BytesIO(data), name)}
    if signature is not None:
        fields["signature"] = (io.BytesIO(signature), "x.sig")
    return client.post("/api/v1/verify", headers=headers, data=fields, content_type="multipart/form-data")


def test_verify_names_only_agreements_the_caller_may_see(client, cast, executed, ivanov, token_for):
    agreement, frozen, envelope = executed
    party = _verify(client, token_for(cast.firm_it), envelope, "contratto.pdf.p7m")
    assert party.status_code == 200, party.get_json()
    body = party.get_json()
    assert body["matches_executed_agreement"] is True
    assert [m["agreement_id"] for m in body["agreements"]] == [agreement.id]
    assert body["verification"]["format"] == "cades"
    assert body["verification"]["signatures"][0]["codice_fiscale"] == CODICE_FISCALE

    outsider = _verify(client, token_for(cast.outsider), envelope, "contratto.pdf.p7m").get_json()
    assert outsider["matches_executed_agreement"] is False and outsider["agreements"] == []
    assert agreement.title not in json.dumps(outsider)
    assert outsider["verification"]["signatures"][0]["codice_fiscale"] == CODICE_FISCALE  # the file's own content

    detached = _verify(client, token_for(cast.ministry), frozen, "dogovor.pdf", pki.gost_cms(ivanov, frozen).dump())
    body = detached.get_json()
    assert body["agreements"][0]["matched"] == ["executed_copy", "final_draft", "signature_file"]
    assert body["verification"]["format"] == "gost" and body["verification"]["signatures"][0]["inn"] == "007712345678"

    other = _verify(client, token_for(cast.firm_it), b"%PDF-1.4\n% nothing\n", "x.pdf").get_json()
    assert other["agreements"] == [] and other["verification"]["valid"] is False
    assert _verify(client, token_for(cast.firm_it), b"\x7fELF binary", "x.bin").status_code == 415


def test_verification_page(cast, executed, login):
    agreement, _, envelope = executed
    client = login(cast.firm_ru)
    form = client.get("/verify")
    assert form.status_code == 200
    page = client.post("/verify", data={"file": (io.BytesIO(envelope), "contratto.pdf.p7m"),
                                        "csrf_token": csrf_from(form.get_data(as_text=True))},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert f"#{agreement.id}" in page and CODICE_FISCALE in page
