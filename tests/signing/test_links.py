"""Invitations and signing links: a personal link e-mailed to the signatory (real SMTP on loopback),
opened with an e-mailed one-time code; expired, revoked, locked, used and withdrawn links refuse
clearly and change nothing; tokens and codes are stored only as SHA-256."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from sqlalchemy import select

from docmgr.audit.models import AuditEvent
from docmgr.database import utcnow
from docmgr.extensions import db
from docmgr.signing.models import SigningLink
from tests.conftest import csrf_from

LINK = re.compile(r"http://127\.0\.0\.1:8000(/sign/[A-Za-z0-9_-]+)")


def invite(client, headers, agreement, signatory, status=201):
    answer = client.post(f"/api/v1/agreements/{agreement.id}/signatories/{signatory.id}/invitation", headers=headers)
    assert answer.status_code == status, answer.get_json()
    return answer.get_json()


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def request_code(browser, path, smtp) -> str:
    page = browser.get(path)
    assert page.status_code == 200
    before = len(smtp.messages)
    answer = browser.post(f"{path}/code", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert answer.status_code == 302
    assert len(smtp.messages) == before + 1
    return re.search(r"\b(\d{6})\b", text_of(smtp.messages[-1])).group(1)


def enter_code(browser, path, code):
    page = browser.get(path)
    return browser.post(f"{path}/verify", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "code": code})


def test_invitation_link_code_and_the_frozen_pdf(app, client, smtp, cast, token_for, out_for_signature):
    agreement, marco, anna = out_for_signature
    legal = token_for(cast.legal)
    # Going out for signature invited both (a mail each, in their languages); a new invitation replaces it.
    assert sorted(m["To"] for m in smtp.messages) == ["Marco Bianchi <marco@example.it>",
                                                       "Анна Смирнова <anna@example.ru>"]
    assert db.session.scalars(select(SigningLink)).all().__len__() == 2
    smtp.messages.clear()
    sent = invite(client, legal, agreement, marco)
    [message] = smtp.messages
    assert message["To"] == "Marco Bianchi <marco@example.it>" and message["Content-Language"] == "it"
    assert message["Subject"] == f"Da firmare: {agreement.title}"
    path = LINK.search(text_of(message)).group(1)
    assert sent["url"].endswith(path)
    secret = path.rsplit("/", 1)[1]
    assert len(secret) >= 43  # 32 random bytes (256 bits), URL-safe base64
    [link] = db.session.scalars(select(SigningLink).where(SigningLink.revoked_at.is_(None),
                                                          SigningLink.signatory_id == marco.id)).all()
    assert link.token_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert (link.signatory_id, link.agreement_id) == (marco.id, agreement.id)
    assert timedelta(days=13) < link.expires_at - utcnow() <= timedelta(days=14)

    browser = app.test_client()
    page = browser.get(path, headers={"Accept-Language": "it"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and agreement.frozen_pdf_sha256 not in html  # nothing before the code
    assert browser.get(f"{path}/document.pdf").status_code == 403
    code = request_code(browser, path, smtp)
    assert smtp.messages[-1]["Content-Language"] == "it"
    db.session.refresh(link)
    assert link.code_sha256 and code not in link.code_sha256
    assert enter_code(browser, path, code).status_code == 302
    html = browser.get(path).get_data(as_text=True)
    assert f"<code class=\"mono\" data-sha256>{agreement.frozen_pdf_sha256}</code>" in html
    pdf = browser.get(f"{path}/document.pdf")
    assert pdf.status_code == 200 and hashlib.sha256(pdf.data).hexdigest() == agreement.frozen_pdf_sha256
    # The code is one-time: another browser cannot reuse it.
    other = app.test_client()
    assert enter_code(other, path, code).status_code == 303
    assert other.get(f"{path}/document.pdf").status_code == 403

    # Anna's invitation and code are in Russian.
    invite(client, legal, agreement, anna)
    assert smtp.messages[-1]["Content-Language"] == "ru" and "Анна Смирнова" in text_of(smtp.messages[-1])
    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("signing.invited") == 4 and "signing.code_sent" in actions
    assert "signing.code_verified" in actions and "signing.code_refused" in actions


def test_five_wrong_codes_lock_the_link_until_a_new_invitation(app, client, smtp, cast, token_for,
                                                                 out_for_signature):
    agreement, marco, _anna = out_for_signature
    legal = token_for(cast.legal)
    invite(client, legal, agreement, marco)
    path = LINK.search(text_of(smtp.messages[-1])).group(1)
    browser = app.test_client()
    code = request_code(browser, path, smtp)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(4):
        assert enter_code(browser, path, wrong).status_code == 303
    answer = enter_code(browser, path, wrong)
    assert answer.status_code == 410 and 'data-link-state="locked"' in answer.get_data(as_text=True)
    locked = browser.get(path)
    assert locked.status_code == 410 and 'data-link-state="locked"' in locked.get_data(as_text=True)
    # Even the right code no longer opens it.
    assert browser.post(f"{path}/verify", data={"code": code}).status_code in (400, 410)
    assert browser.get(f"{path}/document.pdf").status_code == 410

    invite(client, legal, agreement, marco)  # legal sends a new link: the old one is revoked
    fresh = LINK.search(text_of(smtp.messages[-1])).group(1)
    assert fresh != path
    assert 'data-link-state="revoked"' in browser.get(path).get_data(as_text=True)
    assert enter_code(browser, fresh, request_code(browser, fresh, smtp)).status_code == 302


def test_revoked_expired_used_withdrawn_and_unknown_links(app, client, smtp, cast, token_for, out_for_signature):
    from docmgr.signatures import services

    agreement, marco, anna = out_for_signature
    legal = token_for(cast.legal)
    invite(client, legal, agreement, marco)
    marco_path = LINK.search(text_of(smtp.messages[-1])).group(1)
    invite(client, legal, agreement, anna)
    anna_path = LINK.search(text_of(smtp.messages[-1])).group(1)
    browser = app.test_client()

    gone = client.delete(f"/api/v1/agreements/{agreement.id}/signatories/{marco.id}/invitation", headers=legal)
    assert gone.status_code == 200 and gone.get_json() == {"revoked": 1}
    page = browser.get(marco_path, headers={"Accept-Language": "ru"})
    assert page.status_code == 410 and 'data-link-state="revoked"' in page.get_data(as_text=True)
    assert "отозвана" in page.get_data(as_text=True)  # in the holder's language
    before = len(smtp.messages)
    assert browser.post(f"{marco_path}/code").status_code in (400, 410)  # nothing sent
    assert len(smtp.messages) == before

    link = db.session.scalars(select(SigningLink).where(SigningLink.signatory_id == anna.id,
                                                       SigningLink.revoked_at.is_(None))).one()
    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert 'data-link-state="expired"' in browser.get(anna_path).get_data(as_text=True)
    link.expires_at = utcnow() + timedelta(days=1)
    db.session.commit()

    services.decline(db.session, cast.firm_ru, agreement.id, anna.id, "Not our terms")
    db.session.commit()
    page = browser.get(anna_path)
    assert page.status_code == 410 and 'data-link-state="used"' in page.get_data(as_text=True)
    assert browser.get("/sign/" + "x" * 43).status_code == 404
    assert invite(client, legal, agreement, marco, status=409)["error"]["code"] == "not_out_for_signature"


def test_withdrawn_agreement_and_who_may_invite(app, client, smtp, cast, token_for, out_for_signature):
    from docmgr.signatures import services

    agreement, marco, anna = out_for_signature
    legal = token_for(cast.legal)
    refused = invite(client, token_for(cast.firm_it), agreement, marco, status=403)
    assert refused["error"]["code"]
    anna.email = ""
    db.session.commit()
    assert invite(client, legal, agreement, anna, status=422)["error"]["code"] == "signatory_without_email"
    assert client.post(f"/api/v1/agreements/{agreement.id}/signatories/999999/invitation",
                       headers=legal).status_code == 404
    invite(client, legal, agreement, marco)
    path = LINK.search(text_of(smtp.messages[-1])).group(1)
    services.transition(db.session, cast.legal, agreement.id, "withdrawn", reason="Superseded")
    db.session.commit()
    page = app.test_client().get(path)
    assert page.status_code == 410 and 'data-link-state="withdrawn"' in page.get_data(as_text=True)
