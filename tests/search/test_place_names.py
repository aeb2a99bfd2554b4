"""Place names in the documents' text found in any script and spelling, also behind Russian adjectives."""

from __future__ import annotations

from datetime import date

import pytest

from docmgr.search.text import name_skeleton, place_adjective_names
from tests.search.conftest import ids, txt


@pytest.fixture
def legal(make_user):
    return make_user("legal")


@pytest.fixture
def firm_user(make_user, make_org):
    return make_user("firm", make_org(name="Officine Torinesi", country="IT"))


def test_italian_gli_and_gn_meet_their_russian_spellings():
    assert len({name_skeleton(n) for n in ("Togliatti", "Tolyatti", "Тольятти", "Tol'yatti")}) == 1
    assert name_skeleton("Bologna") == name_skeleton("Болонья")
    assert name_skeleton("Togliatti") != name_skeleton("Torino")


def test_place_adjectives_give_their_place_names():
    forms = place_adjective_names("Проект тольяттинского округа и новосибирской области.")
    assert "тольятти" in forms and "новосибирск" in forms
    assert place_adjective_names("Сотрудничество развивается.") == []


def test_tolyatti_finds_a_russian_text_about_the_tolyatti_district(legal, firm_user, make_document, search):
    russian = make_document(firm_user, title_it="Proposta", files=[txt(
        "Предложение о сотрудничестве предприятий тольяттинского автомобильного кластера.", language="ru")])
    italian = make_document(firm_user, title_it="Proposta", files=[txt(
        "Linee di assemblaggio per il distretto di Togliatti.", language="it")])
    make_document(firm_user, title_it="Proposta", files=[txt(
        "Предложение о сотрудничестве предприятий московского кластера.", language="ru")])
    for query in ("Tolyatti", "Togliatti", "Тольятти"):
        status, body = search(legal, query)
        assert status == 200
        assert sorted(ids(body)) == sorted([russian.id, italian.id]), query


def test_file_names_are_searchable_whole_and_by_their_words(legal, firm_user, make_document, search):
    doc = make_document(firm_user, files=[txt("Proposta di partenariato.", name="Proposta_Samara-Lada_2014.txt",
                                              language="it")])
    make_document(firm_user, files=[txt("Proposta di partenariato.", name="altro.txt", language="it")])
    for query in ("Samara", "Lada 2014", "Proposta_Samara", "Lada_2014.txt", "\"Proposta_Samara-Lada_2014.txt\""):
        _, body = search(legal, query)
        assert ids(body) == [doc.id], query


def test_the_year_facet_uses_the_documents_own_date(app, client, token_for, legal, firm_user, make_document, search):
    from docmgr.documents.services import create_task_force_session

    torino = create_task_force_session(app.extensions["sqlalchemy"].session, None, name="Torino 2013", place="Torino",
                                       country="IT", starts_on=date(2013, 10, 28), ends_on=date(2013, 10, 29))
    in_session = make_document(firm_user, session_id=torino.id, files=[txt("Cooperazione meccatronica.", language="it")])
    dated = make_document(firm_user, files=[txt("Cooperazione meccatronica.", language="it")])
    undated = make_document(firm_user, files=[txt("Cooperazione meccatronica.", language="it")])
    response = client.patch(f"/api/v1/documents/{dated.id}", json={"document_date": "2011-06-30"},
                            headers=token_for(firm_user))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["document_date"] == "2011-06-30"
    bad = client.patch(f"/api/v1/documents/{dated.id}", json={"document_date": "30/06/2011"},
                       headers=token_for(firm_user))
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "document_date"
    _, body = search(legal, "meccatronica")
    upload_year = str(undated.created_at.year)
    assert sorted(ids(body)) == sorted([in_session.id, dated.id, undated.id])
    assert body["facets"]["year"] == {"2013": 1, "2011": 1, upload_year: 1}
    _, only_2013 = search(legal, "meccatronica year:2013")
    assert ids(only_2013) == [in_session.id]
