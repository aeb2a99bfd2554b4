"""One hit per executed agreement, and the year facet from the agreement's own date (issue 16)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from docmgr.documents.services import Upload, create_document
from docmgr.drafting.models import Agreement
from docmgr.extensions import db
from docmgr.search.indexers import enqueue_index, get_engine


def _search(client, token, q: str) -> dict:
    response = client.get("/api/v1/search", query_string={"q": q}, headers=token)
    assert response.status_code == 200
    return response.get_json()


def test_an_executed_agreement_and_its_executed_copy_are_one_hit(app, client, token_for, world, create_mou):
    created = create_mou(fields={"subject_it": "turbine idroelettriche alpine", "subject_ru": "гидротурбины",
                                 "effective_date": "2026-11-25", "duration_years": 2})
    assert client.post(f"/api/v1/agreements/{created['id']}/drafts",
                       headers=token_for(world.legal)).status_code == 201
    copy = create_document(db.session, world.firm_it, title_it="Accordo firmato turbine idroelettriche", kind="agreement",
                           uploads=[Upload(io.BytesIO(b"Accordo firmato: turbine idroelettriche alpine."),
                                           "MoU_firmato-idro_2015.txt", "it")])
    db.session.commit()
    token = token_for(world.legal)
    before = _search(client, token, "idroelettriche")
    assert before["total"] == 2  # the agreement and the still separate copy

    agreement = db.session.get(Agreement, created["id"])
    agreement.executed_document_id, agreement.executed_at = copy.id, datetime(2015, 3, 2, 10, 0, tzinfo=UTC)
    enqueue_index(db.session, "document", copy.id)  # indexing the copy re-indexes the agreement
    db.session.commit()

    after = _search(client, token, "idroelettriche")
    assert after["total"] == 1 and after["hits"][0]["agreement_id"] == agreement.id, after
    assert f"document:{copy.id}" not in get_engine(app).doc_ids()
    # The executed copy's file name still finds the agreement; its year is the signature's.
    by_name = _search(client, token, '"MoU_firmato-idro_2015.txt"')
    assert [hit["agreement_id"] for hit in by_name["hits"]] == [agreement.id]
    assert _search(client, token, "firmato idro")["total"] == 1
    by_copy_text = _search(client, token, "firmato")  # words only the executed copy holds
    assert [hit["agreement_id"] for hit in by_copy_text["hits"]] == [agreement.id]
    assert after["facets"]["year"] == {"2015": 1}
    assert date.today().year != 2015
