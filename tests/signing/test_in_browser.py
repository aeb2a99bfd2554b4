"""Signing in the browser through a link: the holder confirms their name, draws (or types) a signature and
consents; docmgr stamps and seals the frozen PDF with the instance certificate. The seal verifies with
pyHanko's validator against that certificate, the signature counts (method ``electronic``), the audit entry
names the signatory (not the legal officer who sent the link) with address, browser, code time and the
SHA-256 before and after. Bad input (no consent, another name, a drawing that is not a PNG or too big, no
signature) is refused with 422, audited, and changes nothing."""

from __future__ import annotations

import base64
import io
import json

import pytest
from sqlalchemy import func, select

from docmgr.audit.models import AuditEvent
from docmgr.drafting.models import Agreement, Signatory
from docmgr.extensions import db
from docmgr.signatures.models import SignatureSubmission
from tests.conftest import csrf_from
from tests.signatures.conftest import frozen_pdf
from tests.signing.test_acting import opened


def drawing_png(size=(400, 120)) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).line((10, size[1] - 20, size[0] // 2, 20, size[0] - 10, size[1] - 30), fill=(11, 31, 92, 255), width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def data_url(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def sign(browser, path, **fields):
    token = csrf_from(browser.get(path).get_data(as_text=True))
    return browser.post(f"{path}/sign", data={"csrf_token": token, **fields},
                        headers={"User-Agent": "SealBrowser/2.0"})


def events(action: str) -> list[dict]:
    return [json.loads(e.data) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def validate_seal(app, data: bytes):
    """pyHanko's own validator, with the seal's certificate as the only trust root."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    cert = load_cert_from_pemder(app.config["SEAL_CERT"])
    reader = PdfFileReader(io.BytesIO(data))
    (embedded,) = reader.embedded_signatures
    status = validate_pdf_signature(embedded, ValidationContext(trust_roots=[cert], allow_fetching=False))
    return status, cert, embedded


def test_drawn_signature_is_stamped_sealed_and_counts(app, client, smtp, cast, token_for, out_for_signature):
    agreement, marco, anna = out_for_signature
    browser, path = opened(app, client, smtp, token_for(cast.legal), agreement, anna)
    frozen = frozen_pdf(app, agreement)
    answer = sign(browser, path, name="  анна  смирнова ", drawing=data_url(drawing_png()), consent="yes")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:3000]
    assert 'data-done="signed"' in answer.get_data(as_text=True)
    db.session.expire_all()
    signed = db.session.get(Signatory, anna.id)
    assert (signed.status, signed.method) == ("signed", "electronic")
    sealed = app.extensions["docmgr.store"].read(signed.signed_file_sha256)
    assert sealed.startswith(frozen) and len(sealed) > len(frozen)

    status, cert, embedded = validate_seal(app, sealed)
    assert status.intact and status.valid and status.trusted
    assert status.signing_cert.sha256 == cert.sha256
    assert status.modification_level.name == "NONE"
    # The visible block is the seal's own widget, on the last page, with an appearance stream.
    widget = embedded.sig_field
    assert "/AP" in widget and widget["/Rect"][2] > widget["/Rect"][0]

    (entry,) = events("signature.recorded")
    assert entry["actor_kind"] == "signatory" and entry["actor_signatory_id"] == anna.id
    assert entry["method"] == "electronic" and entry["consent"] is True and entry["signature_kind"] == "drawn"
    assert entry["sha256_before"] == agreement.frozen_pdf_sha256 and entry["sha256_after"] == signed.signed_file_sha256
    assert entry["ip"] == "127.0.0.1" and entry["user_agent"] == "SealBrowser/2.0" and entry["code_verified_at"]
    assert entry["link_id"] and entry["consent_text"]
    recorded = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signature.recorded")).one()
    assert recorded.actor_id is None  # not the legal officer who sent the link
    assert events("signing.via_link")[-1]["via"] == "electronic_signature"
    assert db.session.get(Agreement, agreement.id).status == "partially_signed"
    # The link is spent.
    assert browser.get(path).status_code == 410


def test_typed_signature_executes_and_check_passes(app, client, smtp, cast, token_for, out_for_signature, identity):
    from tests.signatures.conftest import sign_pdf
    from tests.signing.test_acting import post_file

    agreement, marco, anna = out_for_signature
    legal = token_for(cast.legal)
    browser, path = opened(app, client, smtp, legal, agreement, marco)
    assert sign(browser, path, name="Marco Bianchi", typed_signature="Marco Bianchi", consent="yes").status_code == 200
    browser, path = opened(app, client, smtp, legal, agreement, anna)
    assert post_file(browser, path, sign_pdf(frozen_pdf(app, agreement), identity), "signed.pdf", "digital").status_code == 200
    db.session.expire_all()
    done = db.session.get(Agreement, agreement.id)
    assert done.status == "executed" and done.certificate_sha256
    names = sorted(f.filename for f in done.executed_document.files)
    assert any("signed-by-signatory" in n for n in names) and any(n.endswith("executed-signed.pdf") for n in names)
    executed = events("agreement.executed")[-1]
    assert executed["caused_by"]["actor_kind"] == "signatory"
    result = app.test_cli_runner().invoke(args=["docmgr", "check"])
    assert result.exit_code == 0, result.output


BAD = [
    ({"name": "Anna Smirnova", "drawing": "", "consent": ""}, "consent_required"),
    ({"name": "Someone Else", "typed_signature": "x", "consent": "yes"}, "name_mismatch"),
    ({"name": "Анна Смирнова", "consent": "yes"}, "signature_missing"),
    ({"name": "Анна Смирнова", "drawing": "data:image/jpeg;base64,/9j/4AAQ", "consent": "yes"}, "drawing_not_png"),
    ({"name": "Анна Смирнова", "drawing": data_url(b"GIF89a" + b"\0" * 100), "consent": "yes"}, "drawing_not_png"),
    ({"name": "Анна Смирнова", "drawing": data_url(b"\x89PNG\r\n\x1a\n" + b"\0" * 64), "consent": "yes"}, "drawing_unreadable"),
    ({"name": "Анна Смирнова", "drawing": data_url(drawing_png((2400, 200))), "consent": "yes"}, "drawing_too_large"),
]


@pytest.mark.parametrize(("fields", "code"), BAD, ids=[code for _, code in BAD])
def test_bad_input_is_refused_audited_and_changes_nothing(app, client, smtp, cast, token_for, out_for_signature,
                                                          fields, code):
    agreement, _marco, anna = out_for_signature
    browser, path = opened(app, client, smtp, token_for(cast.legal), agreement, anna)
    blobs = sorted(p.name for p in (app.config["STORAGE_DIR"] / "objects").rglob("*") if p.is_file())
    answer = sign(browser, path, **fields)
    assert answer.status_code == 422
    assert f'data-code="{code}"' in answer.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Signatory, anna.id).status == "pending"
    assert db.session.scalar(select(func.count()).select_from(SignatureSubmission)) == 0
    assert sorted(p.name for p in (app.config["STORAGE_DIR"] / "objects").rglob("*") if p.is_file()) == blobs
    (refusal,) = events("signature.electronic_refused")
    assert refusal["code"] == code and refusal["actor_kind"] == "signatory" and refusal["ip"] == "127.0.0.1"
    assert browser.get(path).status_code == 200  # the link still works


def test_too_big_drawing_is_refused_at_the_edge(app, client, smtp, cast, token_for, out_for_signature):
    agreement, _marco, anna = out_for_signature
    browser, path = opened(app, client, smtp, token_for(cast.legal), agreement, anna)
    answer = sign(browser, path, name="Анна Смирнова", drawing="data:image/png;base64," + "A" * 500_000, consent="yes")
    assert answer.status_code in (413, 422)
    db.session.expire_all()
    assert db.session.get(Signatory, anna.id).status == "pending"


def test_without_a_verified_code_nothing_is_signed(app, client, smtp, cast, token_for, out_for_signature):
    agreement, _marco, anna = out_for_signature
    browser, path = opened(app, client, smtp, token_for(cast.legal), agreement, anna)
    stranger = app.test_client()
    answer = sign(stranger, path, name="Анна Смирнова", typed_signature="A", consent="yes")
    assert answer.status_code == 302
    db.session.expire_all()
    assert db.session.get(Signatory, anna.id).status == "pending"
