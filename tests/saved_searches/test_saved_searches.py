"""Saved searches: each user's own list through the real API and pages, and the daily digest mailed through the
queue to a real SMTP server (aiosmtpd on loopback), listing only what the owner may read."""

from __future__ import annotations

import io
import time

import pytest
from sqlalchemy import select

from docmgr.documents.services import Upload, create_document
from docmgr.extensions import db
from docmgr.saved_searches.models import SavedSearch
from docmgr.saved_searches.services import DIGEST_TASK
from docmgr.tasks import enqueue
from docmgr.tasks.worker import run_due
from tests.conftest import csrf_from, table_counts
from tests.mail.conftest import smtp  # noqa: F401  (fixture: a real SMTP server on loopback)


def test_save_list_rename_delete_through_the_api(client, firm, headers, make_user, token_for):
    body = {"name": "Energia a Togliatti", "q": "energia", "filters": {"sector": "energy", "language": "it"},
            "digest": True}
    created = client.post("/api/v1/saved-searches", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    saved = created.get_json()
    assert saved["name"] == "Energia a Togliatti" and saved["q"] == "energia" and saved["digest"] is True
    assert saved["filters"] == {"sector": "energy", "language": "it"}
    assert saved["search_url"].startswith("/search?") and "sector=energy" in saved["search_url"]

    listed = client.get("/api/v1/saved-searches", headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [saved["id"]]

    other = token_for(make_user("firm"))
    assert client.get("/api/v1/saved-searches", headers=other).get_json() == {"items": []}  # nobody sees others'
    before = table_counts()
    assert client.patch(f"/api/v1/saved-searches/{saved['id']}", json={"name": "x"}, headers=other).status_code == 404
    assert client.delete(f"/api/v1/saved-searches/{saved['id']}", headers=other).status_code == 404
    assert table_counts() == before

    renamed = client.patch(f"/api/v1/saved-searches/{saved['id']}", json={"name": "  Energia  ", "digest": False},
                           headers=headers)
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Energia"
    assert renamed.get_json()["digest"] is False
    assert client.delete(f"/api/v1/saved-searches/{saved['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/saved-searches", headers=headers).get_json() == {"items": []}


@pytest.mark.parametrize(("body", "field"), [
    ({"q": "energia"}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "x", "q": "y" * 501}, "q"),
    ({"name": "x", "q": ["energia"]}, "q"),
    ({"name": "x", "filters": {"language": "english"}}, "language"),
    ({"name": "x", "filters": {"sector": "space"}}, "sector"),
    ({"name": "x", "filters": {"colour": "red"}}, "colour"),
    ({"name": "x", "filters": {"date_from": "yesterday"}}, "date_from"),
    ({"name": "x", "filters": {"session_id": "abc"}}, "session_id"),
    ({"name": "x", "filters": "sector=energy"}, "filters"),
    ({"name": "x", "digest": "sometimes"}, "digest"),
    ({"name": "x", "owner": 1}, "owner"),
])
def test_bad_input_is_422_naming_the_field_and_changes_nothing(client, headers, body, field):
    before = table_counts()
    response = client.post("/api/v1/saved-searches", json=body, headers=headers)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == field and error["code"] and error["message"]
    assert table_counts() == before


def test_saving_from_the_search_page_then_renaming_and_deleting(client, firm, login):
    login(firm)
    page = client.get("/search?q=energia&sector=energy").get_data(as_text=True)
    assert 'action="/saved-searches"' in page and 'name="sector" value="energy"' in page
    token = csrf_from(page)
    saved = client.post("/saved-searches", data={"csrf_token": token, "name": "Mia ricerca", "q": "energia",
                                                 "sector": "energy", "digest": "1"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/saved-searches")
    row = db.session.scalar(select(SavedSearch))
    assert (row.name, row.query, row.filters, row.digest) == ("Mia ricerca", "energia", {"sector": "energy"}, True)

    listing = client.get("/saved-searches").get_data(as_text=True)
    assert "Mia ricerca" in listing and "/search?q=energia&amp;sector=energy" in listing
    token = csrf_from(listing)
    assert client.post(f"/saved-searches/{row.id}/edit", data={"csrf_token": token, "name": "Energia"}).status_code == 302
    db.session.expire_all()
    assert (row.name, row.digest) == ("Energia", False)  # the unticked box turns the digest off

    refused = client.post(f"/saved-searches/{row.id}/edit", data={"csrf_token": token, "name": ""})
    assert refused.status_code == 422 and 'data-code="missing_field"' in refused.get_data(as_text=True)
    assert client.post(f"/saved-searches/{row.id}/delete", data={"csrf_token": token}).status_code == 302
    assert db.session.scalar(select(SavedSearch)) is None


def _document(user, title: str, text: str):
    document = create_document(db.session, user, title_it=title, kind="proposal", sectors=["energy"],
                               uploads=[Upload(io.BytesIO(text.encode()), "p.txt", "it")])
    db.session.commit()
    return document


def _run_worker(app) -> None:
    db.session.commit()  # the worker's transactions must not wait for this test's
    run_due(app)
    db.session.commit()


@pytest.mark.app_config(QUEUE_IMMEDIATE=False)
def test_digest_mails_only_new_matches_the_owner_may_read(app, client, firm, headers, make_user, smtp):  # noqa: F811
    other_firm = make_user("firm")
    old = _document(firm, "Vecchia proposta", "Efficienza energetica negli stabilimenti di Togliatti.")
    _run_worker(app)
    time.sleep(0.01)
    response = client.post("/api/v1/saved-searches", headers=headers,
                           json={"name": "Togliatti", "q": "Togliatti", "digest": True})
    assert response.status_code == 201
    quiet = client.post("/api/v1/saved-searches", headers=headers, json={"name": "Senza e-mail", "q": "Togliatti"})
    assert quiet.status_code == 201
    time.sleep(0.01)
    new = _document(firm, "Nuova proposta per Togliatti", "Rete di teleriscaldamento a Togliatti.")
    hidden = _document(other_firm, "Proposta riservata BETA", "Un altro progetto a Togliatti.")
    _run_worker(app)  # indexing

    enqueue(db.session, DIGEST_TASK)
    _run_worker(app)  # the digest, then the mail.send task it queued

    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"].addresses[0].addr_spec == firm.email
    text = message.get_body(("plain",)).get_content()
    assert "Togliatti" in message["Subject"]
    assert f"/documents/{new.id}" in text and "Nuova proposta per Togliatti" in text
    assert f"/documents/{old.id}" not in text  # not new
    assert f"/documents/{hidden.id}" not in text and "BETA" not in text  # not the owner's to read
    html = message.get_body(("html",)).get_content()
    assert "Nuova proposta per Togliatti" in html and "BETA" not in html

    enqueue(db.session, DIGEST_TASK)  # again: nothing new since the last digest
    _run_worker(app)
    assert len(smtp.messages) == 1


@pytest.mark.app_config(QUEUE_IMMEDIATE=False)
def test_the_daily_job_queues_the_digest_task_in_the_outbox(app):
    from datetime import datetime

    from docmgr.tasks.models import OutboxTask

    huey = app.extensions["docmgr.tasks"].huey
    due = [task for task in huey.read_periodic(datetime(2026, 12, 2, 6, 30)) if task.name == "docmgr.saved_search_digests"]
    assert len(due) == 1
    assert not [t for t in huey.read_periodic(datetime(2026, 12, 2, 7, 30)) if t.name == "docmgr.saved_search_digests"]
    db.session.commit()
    huey.execute(due[0])
    assert db.session.scalar(select(OutboxTask.task).where(OutboxTask.task == DIGEST_TASK)) == DIGEST_TASK
