"""Drafts are indexed for search through the search module's registered "draft" indexer."""

from __future__ import annotations

from sqlalchemy import select

from docmgr.drafting.models import Draft
from docmgr.drafting.services import draft_index_fields
from docmgr.extensions import db
from docmgr.search.indexers import INDEX_TASK, get_engine, registered_types
from docmgr.tasks.models import OutboxTask


def test_rendering_a_draft_queues_it_and_the_indexer_describes_it(app, client, token_for, world, create_mou):
    agreement = create_mou()
    app.config["INDEX_SYNC"] = False  # leave the render's task in the queue, to look at it
    response = client.post(f"/api/v1/agreements/{agreement['id']}/drafts", headers=token_for(world.legal))
    assert response.status_code == 201
    draft = db.session.get(Draft, response.get_json()["id"])
    fields = draft_index_fields(db.session, draft)
    assert fields["agreement_id"] == agreement["id"]
    assert fields["reader_org_ids"] == sorted([world.org_it.id, world.org_ru.id])
    assert "Мекатроника Пьемонтезе" in fields["organization_names"] and "OOO Sibirskie tekhnologii" in fields[
        "organization_names"]
    assert "Articolo 1 – Oggetto" in fields["text_it"] and "Статья 1. Предмет" in fields["text_ru"]
    assert "Анна Смирнова" in fields["person_names"]
    assert "draft" in registered_types(app)
    # Queued in the render's transaction, and run right after its commit (unit-test apps run tasks at once).
    tasks = db.session.scalars(select(OutboxTask).where(OutboxTask.task == INDEX_TASK)).all()
    drafts = [t for t in tasks if t.args["object_type"] == "draft"]
    assert [(t.args["object_id"], t.status) for t in drafts] == [(draft.id, "done")]
    assert f"agreement:{agreement['id']}" in get_engine(app).doc_ids()


def test_search_finds_a_draft_for_its_parties_only(app, client, token_for, world, create_mou):
    agreement = create_mou(fields={"subject_it": "turbine idroelettriche alpine", "subject_ru": "гидротурбины",
                                   "effective_date": "2026-11-25", "duration_years": 2})
    assert client.post(f"/api/v1/agreements/{agreement['id']}/drafts", headers=token_for(world.legal)).status_code == 201
    party = client.get("/api/v1/search?q=idroelettriche", headers=token_for(world.firm_ru)).get_json()
    assert party["total"] == 1, party
    outsider = client.get("/api/v1/search?q=idroelettriche", headers=token_for(world.firm_other)).get_json()
    assert outsider["total"] == 0
