"""The legal staff's inbox (page and GET /api/v1/inbox): what waits, who sees it, and the landing page."""

from __future__ import annotations

import datetime as dt

from docmgr.database import utcnow
from docmgr.drafting.models import Agreement
from docmgr.extensions import db
from docmgr.signatures import services
from tests.conftest import csrf_from


def _ids(items: list[dict]) -> list[int]:
    return [item["agreement_id"] for item in items]


def test_inbox_sorts_agreements_into_what_waits(client, cast, make_agreement, advance, token_for):
    in_review = advance(make_agreement(title="Accordo in revisione"), "in_review")
    approved = advance(make_agreement(), "approved")
    overdue = advance(make_agreement(), "out_for_signature", due_at=utcnow() + dt.timedelta(days=3))
    fresh = advance(make_agreement(), "out_for_signature")
    declined = advance(make_agreement(), "out_for_signature")
    make_agreement()  # a plain draft: nothing waits
    # The sign-by date passes; the decline is recorded through the real service.
    for signatory in db.session.get(Agreement, overdue.id).signatories:
        signatory.due_at = utcnow() - dt.timedelta(days=1)
    services.decline(db.session, cast.legal, declined.id, declined.signatories[0].id, "Le cifre non tornano.")
    db.session.commit()

    # legal wrote the drafts: for legal they wait for a colleague; legal2 (no edits) is the one to review.
    author = client.get("/api/v1/inbox", headers=token_for(cast.legal)).get_json()
    reviewer = client.get("/api/v1/inbox", headers=token_for(cast.legal2)).get_json()
    assert _ids(reviewer["drafts_to_review"]) == [in_review.id] and author["drafts_to_review"] == []
    assert in_review.id in _ids(author["approvals_waiting"]) and approved.id in _ids(author["approvals_waiting"])
    assert {i["reason"] for i in author["approvals_waiting"]} == {"waiting_approval", "ready_to_send"}
    assert _ids(author["signatures_overdue"]) == [overdue.id, overdue.id]
    assert {i["reason"] for i in author["signatures_overdue"]} == {"sign_by_passed"}
    assert fresh.id not in _ids(author["signatures_overdue"])
    assert [(i["agreement_id"], i["decline_reason"]) for i in author["declines"]] == [(declined.id, "Le cifre non tornano.")]
    assert author["total"] == 2 + 2 + 1


def test_signature_overdue_after_waiting_days(app, client, cast, make_agreement, advance, token_for):
    agreement = advance(make_agreement(), "out_for_signature")
    headers = token_for(cast.legal)
    assert client.get("/api/v1/inbox", headers=headers).get_json()["signatures_overdue"] == []
    db.session.get(Agreement, agreement.id).sent_for_signature_at = utcnow() - dt.timedelta(days=8)
    db.session.commit()
    overdue = client.get("/api/v1/inbox", headers=headers).get_json()["signatures_overdue"]
    assert {i["reason"] for i in overdue} == {"waiting_too_long"} and len(overdue) == 2


def test_inbox_is_for_staff_only(client, cast, token_for):
    assert client.get("/api/v1/inbox", headers=token_for(cast.admin)).status_code == 200
    for user in (cast.ministry, cast.firm_it):
        response = client.get("/api/v1/inbox", headers=token_for(user))
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden_role"
    assert client.get("/api/v1/inbox").status_code == 401


def test_inbox_page_links_each_item_and_is_the_landing_page_of_legal(client, cast, make_agreement, advance):
    agreement = advance(make_agreement(title="Accordo da rivedere"), "in_review")
    page = client.get("/login")
    response = client.post("/login", data={"email": cast.legal2.email, "password": "correct horse battery",
                                           "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox")
    html = client.get("/inbox").get_data(as_text=True)
    assert f'href="/agreements/{agreement.id}"' in html and "Accordo da rivedere" in html
    assert 'id="drafts-to-review" data-count="1"' in html


def test_inbox_page_in_russian(client, cast, make_agreement, advance, login):
    advance(make_agreement(), "in_review")
    login(cast.legal2)
    html = client.get("/inbox?lang=ru").get_data(as_text=True)
    assert "Входящие" in html and "Drafts to review" not in html


def test_the_agreements_sign_by_date_counts_too(client, cast, make_agreement, advance, token_for):
    agreement = advance(make_agreement(), "out_for_signature")
    row = db.session.get(Agreement, agreement.id)
    row.sign_by = utcnow() - dt.timedelta(hours=1)
    db.session.commit()
    overdue = client.get("/api/v1/inbox", headers=token_for(cast.legal)).get_json()["signatures_overdue"]
    assert {(i["agreement_id"], i["reason"]) for i in overdue} == {(agreement.id, "sign_by_passed")} and len(overdue) == 2
