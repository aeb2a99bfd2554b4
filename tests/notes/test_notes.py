"""Internal notes (issue 16): legal staff, the ministry and admins only; never firms, never in the API or search."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from docmgr.audit.models import AuditEvent
from docmgr.drafting.services import create_agreement, sync_templates
from docmgr.extensions import db
from docmgr.notes.models import Note
from tests.conftest import table_counts
from tests.security.conftest import mou_fields

SECRET_NOTE = "Nota riservata Gelsomino: la firma non ha ancora pagato."


@pytest.fixture
def document(firm, make_document):
    return make_document(firm, title_it="Proposta con note")


def _add(client, csrf, document_id, body=SECRET_NOTE):
    return client.post(f"/documents/{document_id}/notes", data={"csrf_token": csrf, "body": body})


def test_legal_adds_a_note_the_ministry_reads_the_firm_never_sees(app, document, firm, browser, make_user,
                                                                   token_for, client):
    legal, csrf = browser(make_user("legal"))
    response = _add(legal, csrf, document.id)
    assert response.status_code == 302
    assert SECRET_NOTE in legal.get(f"/documents/{document.id}").get_data(as_text=True)
    ministry, _ = browser(make_user("ministry"))
    html = ministry.get(f"/documents/{document.id}").get_data(as_text=True)
    assert SECRET_NOTE in html and "Add note" not in html  # the ministry reads only

    firm_client, firm_csrf = browser(firm)
    assert SECRET_NOTE not in firm_client.get(f"/documents/{document.id}").get_data(as_text=True)
    assert "Internal notes" not in firm_client.get(f"/documents/{document.id}").get_data(as_text=True)
    headers = token_for(firm)
    for url in (f"/api/v1/documents/{document.id}", "/api/v1/documents", "/api/v1/search?q=Gelsomino"):
        assert "Gelsomino" not in client.get(url, headers=headers).get_data(as_text=True), url
    assert client.get("/api/v1/search?q=Gelsomino", headers=token_for(make_user("legal"))).get_json()["total"] == 0
    ministry_client, ministry_csrf = browser(make_user("ministry"))
    before = table_counts()
    assert _add(firm_client, firm_csrf, document.id).status_code == 403
    assert _add(ministry_client, ministry_csrf, document.id).status_code == 403
    assert table_counts() == before
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "note.created"))
    assert event is not None and event.agreement_id is None and "Gelsomino" not in event.data


def test_empty_note_is_refused_and_only_author_or_admin_removes(app, document, browser, make_user):
    author, csrf = browser(make_user("legal"))
    before = table_counts()
    response = _add(author, csrf, document.id, "   ")
    assert response.status_code == 422 and 'id="body-error"' in response.get_data(as_text=True)
    assert table_counts() == before
    assert _add(author, csrf, document.id).status_code == 302
    note_id = db.session.scalar(select(Note.id))
    other, other_csrf = browser(make_user("legal"))
    assert other.post(f"/notes/{note_id}/delete", data={"csrf_token": other_csrf}).status_code == 403
    admin, admin_csrf = browser(make_user("admin"))
    assert admin.post(f"/notes/{note_id}/delete", data={"csrf_token": admin_csrf}).status_code == 302
    assert db.session.scalar(select(Note.id)) is None
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "note.deleted")) is not None


def test_notes_on_agreements(app, browser, make_user, make_org):
    sync_templates(db.session)
    db.session.commit()
    org_it, org_ru = make_org(country="IT"), make_org(country="RU")
    legal_user = make_user("legal")
    legal, csrf = browser(legal_user)
    agreement = create_agreement(db.session, legal_user, template_key="mou", title="MoU con note",
                                 organization_ids=[org_it.id, org_ru.id], fields=mou_fields(org_it.id))
    db.session.commit()
    response = legal.post(f"/agreements/{agreement.id}/notes", data={"csrf_token": csrf, "body": SECRET_NOTE})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/agreements/{agreement.id}#notes")
    assert SECRET_NOTE in legal.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    party, _ = browser(make_user("firm", org_it))
    assert SECRET_NOTE not in party.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    trail = party.get(f"/api/v1/agreements/{agreement.id}/audit").get_data(as_text=True)
    assert "note." not in trail
