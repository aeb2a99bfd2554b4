"""A wet-ink scan counts only after legal accepted it (issue 13: "Legal sees each scan beside the frozen
signature page before it counts"). Real HTTP client, real DB and files, the real SMTP server on loopback;
the deadline is moved with the app's CLOCK and run by the real queue, as in test_reminders."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select

from docmgr.audit.models import AuditEvent
from docmgr.drafting.models import Agreement, Signatory
from docmgr.extensions import db
from docmgr.signatures.models import SignatureSubmission
from tests.conftest import csrf_from, table_counts
from tests.signatures.conftest import frozen_pdf, sign_pdf, upload
from tests.signing.test_acting import opened, post_file
from tests.signing.test_links import LINK, enter_code, request_code, text_of
from tests.signing.test_reminders import clock, sent_out, tick  # noqa: F401  (fixtures)


def scan(n: int) -> bytes:
    """A small PNG "scan"; each ``n`` gives another file (another SHA-256)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 120), "white")
    ImageDraw.Draw(image).line((10, 100, 280, 20 + n), fill="black", width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def actions(agreement_id: int) -> list[str]:
    return [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.agreement_id == agreement_id)
                                                 .order_by(AuditEvent.id))]


def review(client, headers, agreement, signatory, submission_id, **body):
    return client.post(f"/api/v1/agreements/{agreement.id}/signatories/{signatory.id}/submissions/{submission_id}/review",
                       headers=headers, json=body)


def state(agreement_id: int):
    """Everything a refused review must leave alone."""
    db.session.expire_all()
    agreement = db.session.get(Agreement, agreement_id)
    return (table_counts(), agreement.status, [(s.id, s.status) for s in agreement.signatories],
            [(s.id, s.review_status, s.reviewed_at, s.review_reason) for s in
             db.session.scalars(select(SignatureSubmission).where(SignatureSubmission.agreement_id == agreement_id))])


def by_recipient(smtp) -> dict[str, object]:
    return {message["To"].addresses[0].addr_spec: message for message in smtp.messages}


def test_a_link_holders_scan_waits_for_legal_then_counts(app, client, smtp, cast, token_for, out_for_signature):
    from docmgr.webhooks.models import WebhookDelivery

    agreement, marco, anna = out_for_signature
    legal, admin = token_for(cast.legal), token_for(cast.admin)
    firm_users = {cast.firm_it.email, cast.firm_ru.email}  # created now: the parties' users hear of signatures
    hook = client.post("/api/v1/webhooks", headers=admin, json={"url": "http://127.0.0.1:9/hook",
                                                                "events": ["agreement.status_changed"]})
    assert hook.status_code == 201, hook.get_json()
    browser, path = opened(app, client, smtp, legal, agreement, marco)
    assert "legal office has compared it" in browser.get(path).get_data(as_text=True)
    smtp.messages.clear()
    answer = post_file(browser, path, scan(1), "firma.png", "wet_ink")
    assert answer.status_code == 200
    assert 'data-done="review"' in answer.get_data(as_text=True) and "legal office will compare" in answer.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Signatory, marco.id).status == "pending"
    assert db.session.get(Agreement, agreement.id).status == "out_for_signature"
    [submission] = db.session.scalars(select(SignatureSubmission)).all()
    assert (submission.review_status, submission.created_by_id, submission.is_valid) == ("pending", None, True)
    assert "signature.submitted_for_review" in actions(agreement.id) and "signature.recorded" not in actions(agreement.id)
    assert db.session.scalars(select(WebhookDelivery)).all() == []  # the agreement did not move
    # The agreement's legal officer is told a scan waits (their "signature recorded" choice).
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages] == [cast.legal.email]
    assert f"/agreements/{agreement.id}#scan-review" in text_of(smtp.messages[0])
    # The link page says the scan is being checked; another upload is refused while it waits.
    page = browser.get(path).get_data(as_text=True)
    assert "data-review-pending" in page and f"{path}/upload" not in page
    again = post_file(browser, path, scan(2), "again.png", "wet_ink")
    assert again.status_code == 303
    assert "waiting for the legal office" in browser.get(path).get_data(as_text=True)
    assert db.session.scalars(select(SignatureSubmission)).all().__len__() == 1

    # The inbox lists it (API and page); the signatories table says so; the page shows accept/reject forms.
    inbox = client.get("/api/v1/inbox", headers=legal).get_json()
    [item] = inbox["scans_to_review"]
    assert (item["signatory_id"], item["submission_id"], item["reason"]) == (marco.id, submission.id, "scan_review")
    assert item["url"].endswith("#scan-review") and inbox["signatures_overdue"] == []

    # Legal accepts: the signature counts; status, webhook and mails as for any signature.
    smtp.messages.clear()
    accepted = review(client, legal, agreement, marco, submission.id, decision="accept")
    assert accepted.status_code == 200, accepted.get_json()
    body = accepted.get_json()
    assert body["submission"]["review_status"] == "accepted" and body["submission"]["reviewed_at"]
    assert body["signatory"]["status"] == "signed" and body["agreement"]["status"] == "partially_signed"
    db.session.expire_all()
    assert db.session.get(Signatory, marco.id).signed_file_sha256 == submission.sha256
    assert db.session.get(SignatureSubmission, submission.id).created_by_id is None  # still the link holder's
    trail = actions(agreement.id)
    assert trail.index("signature.review_accepted") < trail.index("signature.recorded")
    assert [d.event for d in db.session.scalars(select(WebhookDelivery))] == ["agreement.status_changed"]
    assert json.loads(db.session.scalars(select(WebhookDelivery)).one().body)["agreement"]["status"] == "partially_signed"
    assert set(by_recipient(smtp)) == {cast.legal.email, *firm_users}
    assert by_recipient(smtp)[cast.firm_it.email]["Subject"].startswith("Firmato")
    assert client.get("/api/v1/inbox", headers=legal).get_json()["scans_to_review"] == []

    # Legal recording a scan themselves counts at once: they are the reviewer.
    own = upload(client, legal, agreement.id, anna.id, scan(3), method="wet_ink", name="anna.png")
    assert own.status_code == 201, own.get_json()
    result = own.get_json()
    assert result["submission"]["review_status"] == "accepted"
    assert result["submission"]["reviewed_by_id"] == cast.legal.id and result["agreement"]["status"] == "executed"


def test_a_rejected_scan_is_mailed_with_the_reason_and_a_new_link(app, client, smtp, cast, token_for, login,
                                                                 out_for_signature):
    agreement, marco, anna = out_for_signature
    legal = token_for(cast.legal)
    browser, path = opened(app, client, smtp, legal, agreement, anna)
    assert post_file(browser, path, scan(1), "скан.png", "wet_ink").status_code == 200
    submission = db.session.scalars(select(SignatureSubmission)).one()

    # Through the agreement page: the pending scan first, beside the signature page, with both forms.
    staff = login(cast.legal)
    page = staff.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'id="scan-review"' in page and f'data-review="{submission.id}" data-review-status="pending"' in page
    assert "data-awaiting-review" in page and 'name="decision" value="reject"' in page
    inbox = staff.get("/inbox").get_data(as_text=True)
    assert 'id="scans-to-review" data-count="1"' in inbox and f"/agreements/{agreement.id}#scan-review" in inbox
    form_url = f"/agreements/{agreement.id}/signatures/{anna.id}/submissions/{submission.id}/review"
    before = state(agreement.id)
    refused = staff.post(form_url, data={"csrf_token": csrf_from(page), "decision": "reject", "reason": " "})
    assert refused.status_code == 422 and "Say why the scan is rejected" in refused.get_data(as_text=True)
    assert state(agreement.id) == before
    smtp.messages.clear()
    done = staff.post(form_url, data={"csrf_token": csrf_from(page), "decision": "reject",
                                      "reason": "The signature page is cut off at the bottom."})
    assert done.status_code == 302 and done.headers["Location"].endswith("#signatures")
    db.session.expire_all()
    rejected = db.session.get(SignatureSubmission, submission.id)
    assert (rejected.review_status, rejected.reviewed_by_id) == ("rejected", cast.legal.id)
    assert db.session.get(Signatory, anna.id).status == "pending"
    assert "signature.review_rejected" in actions(agreement.id)
    page = staff.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    assert 'data-review-status="rejected"' in page and "data-reviewed" in page and cast.legal.email in page

    # The mail: in Anna's language (Russian), with the reason and a fresh link that works.
    [message] = smtp.messages
    assert message["To"].addresses[0].addr_spec == "anna@example.ru" and message["Content-Language"] == "ru"
    assert message["Subject"].startswith("Ваш скан не принят")
    text = text_of(message)
    assert "The signature page is cut off at the bottom." in text
    new_path = LINK.search(text).group(1)
    assert new_path != path and browser.get(path).status_code == 410  # the old link was replaced
    again = app.test_client()
    assert enter_code(again, new_path, request_code(again, new_path, smtp)).status_code == 302
    assert post_file(again, new_path, scan(2), "скан2.png", "wet_ink").status_code == 200
    second = db.session.scalars(select(SignatureSubmission).order_by(SignatureSubmission.id.desc())).first()
    assert second.review_status == "pending" and second.id != submission.id
    assert review(client, legal, agreement, anna, second.id, decision="accept").status_code == 200
    db.session.expire_all()
    assert db.session.get(Signatory, anna.id).status == "signed"
    assert db.session.get(Agreement, agreement.id).status == "partially_signed"
    # Once executed, the evidence package holds the accepted scans only (the rejected one stays on record).
    assert upload(client, legal, agreement.id, marco.id, scan(5), method="wet_ink", name="m.png").status_code == 201
    package = client.get(f"/api/v1/agreements/{agreement.id}/evidence", headers=legal)
    assert package.status_code == 200
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        index = json.loads(archive.read("signatures/index.json"))["signatures"]
    assert [(e["signatory_id"], e["review_status"]) for e in index] == [(anna.id, "accepted"), (marco.id, "accepted")]
    assert index[0]["file_sha256"] == second.sha256 and index[0]["reviewed_by_id"] == cast.legal.id


def test_firm_users_scan_goes_to_review_and_the_refusals_change_nothing(app, client, cast, token_for, identity,
                                                                       out_for_signature):
    agreement, marco, anna = out_for_signature
    legal, firm_it = token_for(cast.legal), token_for(cast.firm_it)
    answer = upload(client, firm_it, agreement.id, marco.id, scan(1), method="wet_ink", name="firma.png")
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert body["submission"]["review_status"] == "pending" and body["signatory"]["status"] == "pending"
    assert "legal office will compare" in body["message"] and body["agreement"]["status"] == "out_for_signature"
    sub_id = body["submission"]["id"]
    # While it waits: no second scan of Marco's, and the same file is refused for Anna.
    second = upload(client, firm_it, agreement.id, marco.id, scan(2), method="wet_ink", name="again.png")
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "review_pending"
    duplicate = upload(client, legal, agreement.id, anna.id, scan(1), method="wet_ink", name="same.png")
    assert duplicate.status_code == 409
    assert duplicate.get_json()["error"]["code"] == "duplicate_signature_file"
    assert duplicate.get_json()["error"]["signatory_id"] == marco.id

    tokens = {user.id: token_for(user) for user in (cast.ministry, cast.firm_ru, cast.outsider)}
    tokens[cast.firm_it.id] = firm_it
    before = state(agreement.id)
    # The ministry sees the pending state, but reviews nothing; firm users neither; an outsider sees nothing.
    seen = client.get(f"/api/v1/agreements/{agreement.id}/signatures", headers=tokens[cast.ministry.id]).get_json()
    assert [s["review_status"] for s in seen["submissions"]] == ["pending"]
    for user, status in ((cast.ministry, 403), (cast.firm_it, 403), (cast.firm_ru, 403), (cast.outsider, 404)):
        refused = review(client, tokens[user.id], agreement, marco, sub_id, decision="accept")
        assert refused.status_code == status, (user.role, refused.get_json())
    # Wrong input: 422 with every wrong field named.
    for body_, field in (({"decision": "reject"}, "reason"), ({"decision": "reject", "reason": "x" * 2001}, "reason"),
                         ({"decision": "maybe"}, "decision"), ({}, "decision"), ({"decision": "accept", "x": 1}, "x")):
        refused = review(client, legal, agreement, marco, sub_id, **body_)
        assert refused.status_code == 422, (body_, refused.get_json())
        error = refused.get_json()["error"]
        # (a text over the app-wide limit is refused earlier by docmgr.request_limits, naming the field)
        assert field in error.get("fields", {}) or error.get("max_length") == 2000, (body_, error)
        assert error["field"] == field
    assert review(client, legal, agreement, marco, 99999, decision="accept").status_code == 404
    assert state(agreement.id) == before

    assert review(client, legal, agreement, marco, sub_id, decision="accept").status_code == 200
    after = state(agreement.id)
    twice = review(client, legal, agreement, marco, sub_id, decision="reject", reason="No.")
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "not_pending"
    # A digital signature is verified, never reviewed.
    digital = upload(client, legal, agreement.id, anna.id, sign_pdf(frozen_pdf(app, agreement), identity))
    assert digital.status_code == 201 and digital.get_json()["submission"]["review_status"] == "not_required"
    after = state(agreement.id)
    refused = review(client, legal, agreement, anna, digital.get_json()["submission"]["id"], decision="accept")
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "not_pending"
    assert state(agreement.id) == after


@pytest.mark.app_config(QUEUE_IMMEDIATE=False)
def test_a_pending_review_holds_the_deadline_and_the_reminders(app, smtp, clock, cast, sent_out, run_queue):  # noqa: F811
    from docmgr.signatures import services

    agreement, marco, anna = sent_out
    outcome = services.record_signature(db.session, cast.firm_it, agreement.id, marco.id,
                                        stream=io.BytesIO(scan(1)), filename="firma.png", method="wet_ink")
    db.session.commit()
    assert outcome.pending_review
    sub_id = outcome.submission.id
    run_queue()
    smtp.messages.clear()
    clock.now += timedelta(days=3, minutes=1)
    tick(app, run_queue)
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages] == ["anna@example.ru"]  # Marco is not chased
    clock.now = agreement.sign_by + timedelta(minutes=1)
    tick(app, run_queue)
    db.session.expire_all()
    assert db.session.get(Agreement, agreement.id).status == "out_for_signature"  # held by the review
    services.review_submission(db.session, cast.legal, agreement.id, marco.id, sub_id, "reject", "Unreadable.")
    db.session.commit()
    tick(app, run_queue)
    db.session.expire_all()
    assert db.session.get(Agreement, agreement.id).status == "expired"  # the next run after the rejection
