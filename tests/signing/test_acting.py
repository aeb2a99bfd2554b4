"""Acting through a signing link once the one-time code is verified: the signed PDF is verified exactly as
on the signature page (a good PAdES signature is recorded, a signature over another file refused), a
wet-ink scan recorded, a decline needs its reason; every action is audited with IP and browser."""

from __future__ import annotations

import io
import json

from sqlalchemy import select

from docmgr.audit.models import AuditEvent
from docmgr.drafting.models import Signatory
from docmgr.extensions import db
from docmgr.signatures.models import SignatureSubmission
from tests.conftest import csrf_from
from tests.signatures.conftest import frozen_pdf, png_scan, render_agreement_pdf, sign_pdf
from tests.signing.test_links import LINK, enter_code, invite, request_code, text_of


def opened(app, client, smtp, legal, agreement, signatory):
    invite(client, legal, agreement, signatory)
    path = LINK.search(text_of(smtp.messages[-1])).group(1)
    browser = app.test_client()
    assert enter_code(browser, path, request_code(browser, path, smtp)).status_code == 302
    return browser, path


def post_file(browser, path, data, name, method):
    token = csrf_from(browser.get(path).get_data(as_text=True))
    return browser.post(f"{path}/upload", data={"csrf_token": token, "method": method, "file": (io.BytesIO(data), name)},
                        content_type="multipart/form-data", headers={"User-Agent": "TestBrowser/1.0"})


def via_link_events() -> list[dict]:
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signing.via_link")
                                .order_by(AuditEvent.id)).all()
    return [json.loads(e.data) for e in events]


def test_sign_by_upload_and_by_scan_through_links(app, client, smtp, cast, token_for, identity, out_for_signature):
    agreement, marco, anna = out_for_signature
    legal = token_for(cast.legal)
    browser, path = opened(app, client, smtp, legal, agreement, marco)

    # Not verified in another browser: nothing happens.
    stranger = app.test_client()
    token = csrf_from(stranger.get(path).get_data(as_text=True))
    refused = stranger.post(f"{path}/upload", data={"csrf_token": token, "method": "digital",
                                                    "file": (io.BytesIO(b"%PDF-1.4"), "x.pdf")},
                            content_type="multipart/form-data")
    assert refused.status_code == 302
    # A signature over another PDF is refused (and kept as a refused submission); the signatory stays pending.
    other = sign_pdf(render_agreement_pdf("Another", "Some other text."), identity)
    answer = post_file(browser, path, other, "signed.pdf", "digital")
    assert answer.status_code == 303
    assert db.session.get(Signatory, marco.id).status == "pending"
    good = sign_pdf(frozen_pdf(app, agreement), identity)
    answer = post_file(browser, path, good, "signed.pdf", "digital")
    assert answer.status_code == 200 and 'data-done="signed"' in answer.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Signatory, marco.id).status == "signed"
    page = browser.get(path)
    assert page.status_code == 410 and 'data-link-state="used"' in page.get_data(as_text=True)  # reused: refused

    browser, path = opened(app, client, smtp, legal, agreement, anna)
    answer = post_file(browser, path, png_scan(), "scan.png", "wet_ink")
    assert answer.status_code == 200 and 'data-done="review"' in answer.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Signatory, anna.id).status == "pending"  # a scan counts once legal accepted it
    [waiting] = db.session.scalars(select(SignatureSubmission).where(SignatureSubmission.review_status == "pending"))
    accepted = client.post(f"/api/v1/agreements/{agreement.id}/signatories/{anna.id}/submissions/{waiting.id}/review",
                           headers=legal, json={"decision": "accept"})
    assert accepted.status_code == 200, accepted.get_json()
    db.session.expire_all()
    assert db.session.get(Signatory, anna.id).status == "signed"
    assert db.session.get(type(agreement), agreement.id).status == "executed"
    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("signing.via_link") == 3 and actions.count("signature.recorded") == 2
    assert "signature.rejected" in actions
    first = via_link_events()[0]
    assert (first["via"], first["ip"], first["user_agent"]) == ("signature_rejected", "127.0.0.1", "TestBrowser/1.0")
    assert first["code_verified_at"] and first["method"] == "digital"


def test_decline_through_a_link_needs_a_reason(app, client, smtp, cast, token_for, out_for_signature):
    agreement, marco, _anna = out_for_signature
    browser, path = opened(app, client, smtp, token_for(cast.legal), agreement, marco)
    token = csrf_from(browser.get(path).get_data(as_text=True))
    assert browser.post(f"{path}/decline", data={"csrf_token": token, "reason": "  "}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Signatory, marco.id).status == "pending"
    answer = browser.post(f"{path}/decline", data={"csrf_token": token, "reason": "Clause 4 is unacceptable"},
                          headers={"User-Agent": "TestBrowser/1.0"})
    assert answer.status_code == 200 and 'data-done="declined"' in answer.get_data(as_text=True)
    db.session.expire_all()
    declined = db.session.get(Signatory, marco.id)
    assert (declined.status, declined.decline_reason) == ("declined", "Clause 4 is unacceptable")
    assert db.session.get(type(agreement), agreement.id).status == "declined"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "signing.via_link")).one()
    assert event.agreement_id == agreement.id
