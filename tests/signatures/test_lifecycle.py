"""The agreement lifecycle through the API: every (from, to) pair, guards, four eyes, freezing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from docmgr.audit.models import AuditEvent
from docmgr.database import utcnow
from docmgr.drafting.models import AgreementStatus, Draft
from docmgr.extensions import db
from docmgr.signatures.lifecycle import STATUSES, TRANSITIONS
from tests.conftest import stored_blob_count, table_counts

FINAL = {"executed", "withdrawn", "declined", "expired"}
# What a legal officer (not the author) may request, given every guard is satisfied.
ALLOWED_MANUAL = {
    ("draft", "in_review"), ("in_review", "draft"), ("in_review", "approved"), ("approved", "draft"),
    ("approved", "out_for_signature"), ("out_for_signature", "expired"), ("partially_signed", "expired"),
    *{(s, "withdrawn") for s in STATUSES if s not in FINAL},
}


def _put_in(agreement, status: str) -> None:
    """Put an agreement in ``status`` with everything that status implies (frozen PDF, a signature…)."""
    from docmgr.signatures.lifecycle import latest_draft

    agreement.status = status
    if status in ("approved", "out_for_signature", "partially_signed", "executed"):
        agreement.approved_by_id = agreement.created_by_id
    if status in ("out_for_signature", "partially_signed", "executed", "declined", "expired"):
        draft = latest_draft(agreement)
        agreement.frozen_draft_id, agreement.frozen_pdf_sha256 = draft.id, draft.pdf_sha256
        agreement.sent_for_signature_at = utcnow() - dt.timedelta(days=30)
    sent = status not in ("draft", "in_review", "approved")
    for signatory in agreement.signatories:  # once sent, overdue (so that it may expire); before, no date yet
        signatory.status, signatory.signed_at = "pending", None
        signatory.due_at = utcnow() - dt.timedelta(days=1) if sent else None
    if status == "partially_signed":
        agreement.signatories[0].status = "signed"
    db.session.commit()


@pytest.mark.parametrize("source", STATUSES)
def test_every_transition_pair(client, cast, make_agreement, token_for, source):
    agreement = make_agreement()
    headers = token_for(cast.legal2)  # not the author: four eyes are satisfied
    for target in STATUSES:
        _put_in(agreement, source)
        response = client.post(f"/api/v1/agreements/{agreement.id}/transitions", json={"to": target}, headers=headers)
        body = response.get_json()
        db.session.expire_all()
        if (source, target) in ALLOWED_MANUAL:
            assert response.status_code == 200, (source, target, body)
            assert body["status"] == target
            assert agreement.status == target
        else:
            assert response.status_code == 409, (source, target, body)
            assert body["error"]["code"] == "transition_not_allowed"
            assert body["error"]["message"]
            assert agreement.status == source


def test_table_has_no_exit_from_final_statuses():
    assert not [pair for pair in TRANSITIONS if pair[0] in FINAL]
    automatic = {pair for pair, rule in TRANSITIONS.items() if rule.automatic}
    assert ("partially_signed", "executed") in automatic and ("out_for_signature", "declined") in automatic


@pytest.mark.parametrize("target", ["partially_signed", "executed", "declined"])
def test_signature_driven_statuses_cannot_be_requested(client, cast, make_agreement, advance, token_for, target):
    agreement = advance(make_agreement(), "out_for_signature")
    response = client.post(f"/api/v1/agreements/{agreement.id}/transitions", json={"to": target},
                           headers=token_for(cast.legal))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "transition_not_allowed"
    assert "automatically" in response.get_json()["error"]["message"]


def test_four_eyes_author_cannot_approve(client, cast, make_agreement, token_for, make_user):
    admin_author = make_user("admin")
    for author in (cast.legal, admin_author):
        agreement = make_agreement(author=author)
        headers = token_for(author)
        assert client.post(f"/api/v1/agreements/{agreement.id}/transitions", json={"to": "in_review"},
                           headers=headers).status_code == 200
        refused = client.post(f"/api/v1/agreements/{agreement.id}/transitions", json={"to": "approved"}, headers=headers)
        assert refused.status_code == 409
        assert refused.get_json()["error"]["code"] == "four_eyes_required"
        ok = client.post(f"/api/v1/agreements/{agreement.id}/transitions", json={"to": "approved"},
                         headers=token_for(cast.legal2))
        assert ok.status_code == 200, ok.get_json()
        assert ok.get_json()["approved_by_id"] == cast.legal2.id


def test_review_needs_a_rendered_draft(client, cast, make_agreement, token_for):
    agreement = make_agreement(render=False)
    response = client.post(f"/api/v1/agreements/{agreement.id}/transitions", json={"to": "in_review"},
                           headers=token_for(cast.legal))
    assert response.status_code == 409
    assert "draft" in response.get_json()["error"]["message"].lower()


def test_review_needs_a_signatory_for_every_party(client, cast, make_agreement, make_org, token_for):
    headers = token_for(cast.legal)
    one_sided = make_agreement(signatories=[("Only Italian", cast.org_it)])
    response = client.post(f"/api/v1/agreements/{one_sided.id}/transitions", json={"to": "in_review"}, headers=headers)
    assert response.status_code == 409 and cast.org_ru.name in response.get_json()["error"]["message"]

    stranger_org = make_org(country="RU")
    stranger = make_agreement(signatories=[("A", cast.org_it), ("B", cast.org_ru), ("Stranger", stranger_org)])
    response = client.post(f"/api/v1/agreements/{stranger.id}/transitions", json={"to": "in_review"}, headers=headers)
    assert response.status_code == 409 and "Stranger" in response.get_json()["error"]["message"]

    single_party = make_agreement(parties=[cast.org_it])
    response = client.post(f"/api/v1/agreements/{single_party.id}/transitions", json={"to": "in_review"}, headers=headers)
    assert response.status_code == 409 and "two parties" in response.get_json()["error"]["message"]


def test_out_for_signature_freezes_the_latest_draft(client, cast, make_agreement, advance, token_for):
    agreement = advance(make_agreement(drafts=2), "approved")
    due = (utcnow() + dt.timedelta(days=14)).replace(microsecond=0)
    response = client.post(
        f"/api/v1/agreements/{agreement.id}/transitions",
        json={"to": "out_for_signature", "due_at": due.isoformat()}, headers=token_for(cast.legal),
    )
    assert response.status_code == 200, response.get_json()
    latest = db.session.scalar(select(Draft).where(Draft.agreement_id == agreement.id, Draft.version == 2))
    body = response.get_json()
    assert body["frozen_pdf_sha256"] == latest.pdf_sha256
    assert body["frozen_draft_id"] == latest.id
    assert all(s["due_at"] == due.isoformat().replace("+00:00", "Z") for s in body["signatories"])
    db.session.expire_all()
    assert agreement.sent_for_signature_at is not None


def test_fields_cannot_change_after_freezing(client, cast, make_agreement, advance, token_for):
    """The drafting module's PATCH answers 409 once the agreement left `draft`."""
    if not any(rule.rule == "/api/v1/agreements/<int:agreement_id>" and "PATCH" in rule.methods
               for rule in client.application.url_map.iter_rules()):
        pytest.skip("PATCH /agreements/ID (drafting module) is not available in this checkout")
    agreement = advance(make_agreement(), "out_for_signature")
    response = client.patch(f"/api/v1/agreements/{agreement.id}", json={"title": "Changed"}, headers=token_for(cast.legal))
    assert response.status_code == 409


def test_expiry_needs_an_overdue_signature(client, cast, make_agreement, advance, token_for):
    agreement = advance(make_agreement(), "out_for_signature")
    headers = token_for(cast.legal)
    refused = client.post(f"/api/v1/agreements/{agreement.id}/transitions", json={"to": "expired"}, headers=headers)
    assert refused.status_code == 409 and "overdue" in refused.get_json()["error"]["message"]
    agreement.signatories[0].due_at = utcnow() - dt.timedelta(hours=1)
    db.session.commit()
    ok = client.post(f"/api/v1/agreements/{agreement.id}/transitions", json={"to": "expired", "reason": "late"},
                     headers=headers)
    assert ok.status_code == 200 and ok.get_json()["status"] == "expired"


def test_transitions_are_audited(client, cast, make_agreement, advance):
    agreement = advance(make_agreement(), "out_for_signature")
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.agreement_id == agreement.id, AuditEvent.action == "agreement.transition")
        .order_by(AuditEvent.id)
    ).all()
    import json

    moves = [(json.loads(e.data)["from_status"], json.loads(e.data)["to_status"]) for e in events]
    assert moves == [("draft", "in_review"), ("in_review", "approved"), ("approved", "out_for_signature")]
    assert [e.actor_id for e in events] == [cast.legal.id, cast.legal2.id, cast.legal.id]


@pytest.mark.parametrize(
    "body, status, code, field",
    [
        ({"to": "finished"}, 422, "invalid_field", "to"),
        ({}, 422, "missing_field", "to"),
        ({"to": "in_review", "colour": "red"}, 422, "unknown_field", "colour"),
        ({"to": 3}, 422, "invalid_field", "to"),
        ({"to": "in_review", "due_at": "2030-01-01T00:00:00Z"}, 422, "invalid_field", "due_at"),
        ({"to": "in_review", "reason": "x" * 2001}, 422, "invalid_field", "reason"),
    ],
)
def test_bad_transition_requests_change_nothing(app, client, cast, make_agreement, token_for, body, status, code, field):
    agreement = make_agreement()
    headers = token_for(cast.legal)
    before, blobs = table_counts(), stored_blob_count(app)
    response = client.post(f"/api/v1/agreements/{agreement.id}/transitions", json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["field"] == field
    assert table_counts() == before and stored_blob_count(app) == blobs
    db.session.expire_all()
    assert agreement.status == AgreementStatus.DRAFT.value


def test_who_may_move_an_agreement(client, cast, make_agreement, token_for):
    agreement = make_agreement()
    url = f"/api/v1/agreements/{agreement.id}/transitions"
    assert client.post(url, json={"to": "in_review"}).status_code == 401
    for user, status in ((cast.ministry, 403), (cast.firm_it, 403), (cast.firm_ru, 403), (cast.outsider, 404)):
        response = client.post(url, json={"to": "in_review"}, headers=token_for(user))
        assert response.status_code == status, (user.role, response.get_json())
    missing = client.post("/api/v1/agreements/99999/transitions", json={"to": "in_review"}, headers=token_for(cast.legal))
    assert missing.status_code == 404
    assert client.post(url, json={"to": "in_review"}, headers=token_for(cast.admin)).status_code == 200
