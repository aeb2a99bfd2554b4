"""Nobody finds what is not theirs: results, totals and facet counts are filtered inside the query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from docmgr.extensions import db
from docmgr.search.indexers import enqueue_index, register_indexer
from tests.search.conftest import corpus_line, ids, txt


@pytest.fixture
def two_firms(make_org, make_user, make_document):
    org_a = make_org(name="Alfa Meccanica", country="IT")
    org_b = make_org(name="ООО «Бета»", country="RU", name_alt="OOO Beta")
    user_a, user_b = make_user("firm", org_a), make_user("firm", org_b)
    secret = make_document(user_a, title_it="Piano riservato", sectors=["nanotech"], session_id=None,
                           files=[txt("Il progetto Zanzibarite usa nanotubi di carbonio.", language="it")])
    public_b = make_document(user_b, title_ru="Открытое предложение", sectors=["energy"],
                             files=[txt("Проект Занзибарит и наноматериалы для энергетики.", language="ru")])
    return {"org_a": org_a, "org_b": org_b, "user_a": user_a, "user_b": user_b, "secret": secret, "public_b": public_b}


def test_firm_b_does_not_find_firm_a_secret_in_hits_totals_or_facets(two_firms, search):
    status, body = search(two_firms["user_b"], "Zanzibarite")
    assert status == 200
    assert body["total"] == 0 and body["hits"] == []
    assert all(not counts for counts in body["facets"].values())
    # A query both match: only B's own document is counted anywhere.
    _, body = search(two_firms["user_b"], "nanotubi OR наноматериалы")
    assert ids(body) == [two_firms["public_b"].id]
    assert body["total"] == 1
    assert body["facets"]["organization"] == {str(two_firms["org_b"].id): 1}
    assert "nanotech" not in body["facets"]["sector"]
    assert str(two_firms["org_a"].id) not in body.get("facet_labels", {}).get("organization", {})
    # Browsing (no words) shows the same: nothing of A's.
    _, body = search(two_firms["user_b"], "")
    assert ids(body) == [two_firms["public_b"].id]
    assert body["facets"]["sector"] == {"energy": 1}


def test_query_syntax_cannot_widen_what_a_firm_sees(two_firms, search):
    org_a = two_firms["org_a"].id
    for query in (f"org:{org_a}", f"readers:{org_a}", "Zanzibarite OR Занзибарит", f"organization_id:{org_a}",
                  "uid:document", "kind:proposal"):
        _, body = search(two_firms["user_b"], query)
        assert two_firms["secret"].id not in ids(body), query
    _, body = search(two_firms["user_b"], "", organization_id=org_a)
    assert body["total"] == 0 and body["hits"] == []


def test_owner_legal_admin_and_ministry_find_it(two_firms, make_user, search):
    for user in (two_firms["user_a"], make_user("legal"), make_user("admin"), make_user("ministry")):
        _, body = search(user, "Zanzibarite")
        assert ids(body) == [two_firms["secret"].id], user.role


def test_sharing_a_document_makes_it_findable_by_the_other_party(app, two_firms, search):
    from docmgr.documents.services import share_document

    share_document(db.session, None, two_firms["secret"], [two_firms["org_b"].id])
    db.session.commit()
    _, body = search(two_firms["user_b"], "Zanzibarite")
    assert ids(body) == [two_firms["secret"].id]


def test_firm_user_without_organisation_sees_nothing(app, two_firms, make_user, search):
    legal = make_user("legal")
    legal.role, legal.organization_id = "firm", None  # an inconsistent account must not see everything
    db.session.commit()
    _, body = search(legal, "Zanzibarite")
    assert body["total"] == 0


def test_similar_documents_respect_permissions(two_firms, make_document, make_user, client, token_for):
    user_b = two_firms["user_b"]
    mine = make_document(user_b, title_ru="Наноматериалы", sectors=["nanotech"],
                         files=[txt("Проект Занзибарит: наноматериалы, нанотрубки, углерод.", language="ru")])
    headers_b = token_for(user_b)
    # Firm A's document: 404 for B, exactly like a missing one.
    response = client.get(f"/api/v1/documents/{two_firms['secret'].id}/similar", headers=headers_b)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "document_not_found"
    assert client.get("/api/v1/documents/999999/similar", headers=headers_b).status_code == 404
    # B's own: A's proposal never suggested to B, even though its text is alike.
    response = client.get(f"/api/v1/documents/{mine.id}/similar", headers=headers_b)
    assert response.status_code == 200
    suggested = [item["document_id"] for item in response.get_json()["items"]]
    assert two_firms["secret"].id not in suggested and mine.id not in suggested
    assert suggested == [two_firms["public_b"].id]


def test_similar_prefers_other_organisations_in_the_same_sector(make_org, make_user, make_document, client, token_for):
    legal = make_user("legal")
    org_it, org_ru, org_other = (make_org(name="Turbine Italia", country="IT"), make_org(name="Турбины Урала", country="RU"),
                                 make_org(name="Altro Srl", country="IT"))
    text = "Turbine a gas per centrali elettriche, manutenzione delle turbine e ricambi. Турбины для электростанций."
    seed = make_document(make_user("firm", org_it), title_it="Turbine a gas", sectors=["energy"],
                         files=[txt(text, language="bi")])
    partner = make_document(make_user("firm", org_ru), title_ru="Газовые турбины", sectors=["energy"],
                            files=[txt("Турбины для электростанций и turbine a gas: ремонт и запчасти.", language="bi")])
    same_org = make_document(make_user("firm", org_it), title_it="Turbine a gas (2)", sectors=["energy"],
                             files=[txt(text, language="bi")])
    other_sector = make_document(make_user("firm", org_other), title_it="Turbine", sectors=["mechanics"],
                                 files=[txt(text, language="bi")])
    annex = make_document(make_user("firm", org_ru), title_it="Allegato turbine", kind="annex", sectors=["energy"],
                          files=[txt(text, language="bi")])
    response = client.get(f"/api/v1/documents/{seed.id}/similar", headers=token_for(legal))
    items = response.get_json()["items"]
    found = [item["document_id"] for item in items]
    assert seed.id not in found and annex.id not in found  # never itself; proposals only
    # Partners first: another organisation in the same sector, then another sector, then the same firm.
    assert found == [partner.id, other_sector.id, same_org.id]
    assert items[0]["same_sector"] and items[0]["other_organization"]


@pytest.fixture
def rare_and_common(make_org, make_user, make_document):
    """A seed proposal, a partner that shares its rare words, and decoys that share only a word found in
    almost every document (many times each)."""
    orgs = [make_org(name=f"Ditta {n}", country="IT") for n in range(3)]
    common = " ".join(["progetto"] * 6)
    seed = make_document(make_user("firm", orgs[0]), title_it="Nanotubi", sectors=["nanotech"],
                         files=[txt(f"Zanzibarite e nanotubi di grafene per filtri. {common}", language="it")])
    partner = make_document(make_user("firm", orgs[1]), title_it="Filtri", sectors=["nanotech"],
                            files=[txt("Filtri di grafene con Zanzibarite e nanotubi. Un progetto.", language="it")])
    decoys = [make_document(make_user("firm", orgs[2]), title_it=f"Decoy {n}", sectors=["nanotech"],
                            files=[txt(f"{common} {common} di cantiere numero {n}.", language="it")])
              for n in range(8)]
    return {"seed": seed, "partner": partner, "decoys": decoys}


def test_similar_ranks_shared_rare_words_above_a_common_word_repeated(rare_and_common, make_user, client, token_for):
    response = client.get(f"/api/v1/documents/{rare_and_common['seed'].id}/similar?limit=5",
                          headers=token_for(make_user("ministry")))
    found = [item["document_id"] for item in response.get_json()["items"]]
    assert found[0] == rare_and_common["partner"].id


@pytest.mark.postgres_only
def test_similar_on_postgres_passes_over_words_too_common_for_its_budget(rare_and_common, make_user, client,
                                                                        token_for, monkeypatch):
    """The cost of "similar documents" is bounded by MLT_POSTINGS (word, document) pairs, whatever the
    archive's size: a key word found in more documents than the rest of the budget is not used."""
    from docmgr.search import pgengine

    monkeypatch.setattr(pgengine, "MLT_POSTINGS", 6)  # the rare words fit; "progetto" (10 documents) does not
    response = client.get(f"/api/v1/documents/{rare_and_common['seed'].id}/similar?limit=5",
                          headers=token_for(make_user("ministry")))
    assert [item["document_id"] for item in response.get_json()["items"]] == [rare_and_common["partner"].id]
    monkeypatch.setattr(pgengine, "MLT_POSTINGS", 100)
    response = client.get(f"/api/v1/documents/{rare_and_common['seed'].id}/similar?limit=5",
                          headers=token_for(make_user("ministry")))
    found = [item["document_id"] for item in response.get_json()["items"]]
    assert found[0] == rare_and_common["partner"].id and len(found) == 5


# Four topics of the task force's sectors, a few sentences each (Italian; the words of one topic are its own).
_TOPICS = {
    "wind": ["Le turbine eoliche hanno pale di vetroresina e un rotore a tre pale.",
             "Il parco eolico offshore misura la ventosità con anemometri sulle navicelle.",
             "La manutenzione del rotore e delle pale eoliche si fa con gru e funi.",
             "Gli aerogeneratori eolici producono corrente quando la ventosità supera la soglia."],
    "nano": ["I nanotubi di carbonio rinforzano i polimeri compositi.",
             "Il grafene depositato per vaporizzazione forma membrane sottili per filtrazione.",
             "Le nanoparticelle d'argento rendono antibatteriche le superfici dei filtri.",
             "La microscopia elettronica misura il diametro dei nanotubi e dei fogli di grafene."],
    "build": ["I pannelli prefabbricati in calcestruzzo armato accelerano il cantiere.",
              "Il cappotto termico e i serramenti isolanti riducono la dispersione degli edifici.",
              "Le travi lamellari di legno reggono le coperture dei capannoni.",
              "La gru a torre solleva i moduli prefabbricati sulle fondazioni del cantiere."],
    "robot": ["I bracci robotici saldano le scocche sulla linea di montaggio.",
              "Gli attuatori servoelettrici e i riduttori muovono le pinze dei manipolatori.",
              "Il controllore programmabile coordina i nastri trasportatori e i robot.",
              "I sensori di visione guidano i manipolatori robotici nel prelievo dei pezzi."],
}


@pytest.fixture
def topics(make_org, make_user, make_document):
    """Four proposals per topic, each a different mix of its topic's sentences, and two long proposals that
    hold every topic's sentences among many pages of general text (a catalogue, a chamber of commerce's yearbook)."""
    seeker, others = make_user("firm", make_org(name="Cercatore Srl")), make_user("firm", make_org(name="Altri Spa"))
    docs: dict[str, list] = {}
    for topic, sentences in _TOPICS.items():
        for n in range(4):
            body = " ".join(sentences[(n + i) % 4] for i in range(3)) + " Proposta di partenariato."
            docs.setdefault(topic, []).append(make_document(seeker if n == 0 else others, title_it=f"{topic} {n}",
                                                            sectors=["energy"], files=[txt(body, language="it")]))
    general = " ".join(corpus_line("PUD_it.txt", n) for n in range(1, 400))
    every_topic = " ".join(" ".join(sentences) for sentences in _TOPICS.values())
    docs["long"] = [make_document(others, title_it=f"Annuario {n}", sectors=["energy"],
                                  files=[txt(f"{general} {every_topic} Proposta di partenariato.", language="it")])
                    for n in range(2)]
    return docs


def test_similar_prefers_proposals_on_the_same_topic_to_long_ones_that_touch_every_topic(topics, make_user, client,
                                                                                        token_for):
    headers = token_for(make_user("ministry"))
    for topic in _TOPICS:
        seed, partners = topics[topic][0], topics[topic][1:]
        response = client.get(f"/api/v1/documents/{seed.id}/similar?limit=3", headers=headers)
        found = [item["document_id"] for item in response.get_json()["items"]]
        assert sorted(found) == sorted(p.id for p in partners), (topic, found)


@pytest.fixture
def fake_drafts(app):
    """Agreement drafts through the registry: a test indexer for "draft" objects (the real one is
    restored afterwards), so the search side of drafts is tested without rendering PDFs."""
    indexers = app.extensions["docmgr.search"].indexers
    saved = indexers.get("draft")
    drafts: dict[int, dict] = {}
    register_indexer(app, "draft", lambda session, draft_id: drafts.get(draft_id), lambda session: list(drafts))
    yield drafts
    if saved is None:
        indexers.pop("draft", None)
    else:
        indexers["draft"] = saved


def _draft(agreement_id: int, parties: list[int], text: str) -> dict:
    return {"title": "Memorandum d'intesa", "text_it": text, "text_ru": "Меморандум о взаимопонимании",
            "organization_names": ["Alfa Meccanica", "ООО «Бета»"], "person_names": ["Иван Кузнецов"],
            "reader_org_ids": parties, "agreement_id": agreement_id, "created_at": datetime.now(UTC)}


def test_agreement_drafts_are_found_by_parties_only_and_only_the_latest(app, two_firms, make_org, make_user,
                                                                       fake_drafts, search):
    parties = [two_firms["org_a"].id, two_firms["org_b"].id]
    fake_drafts[11] = _draft(7, parties, "Prima versione: clausola Ornitottero.")
    enqueue_index(db.session, "draft", 11)
    db.session.commit()  # (unit-test apps run the index task right after the commit)
    fake_drafts[12] = _draft(7, parties, "Seconda versione: clausola Elicottero.")
    enqueue_index(db.session, "draft", 12)
    enqueue_index(db.session, "draft", 11)  # an old draft's task run later never wins
    db.session.commit()
    outsider = make_user("firm", make_org(name="Gamma", country="IT"))
    _, body = search(two_firms["user_b"], "Elicottero")
    assert body["total"] == 1
    hit = body["hits"][0]
    assert hit["doctype"] == "draft" and hit["agreement_id"] == 7 and hit["draft_id"] == 12
    assert hit["document_id"] is None
    _, body = search(two_firms["user_b"], "Ornitottero")
    assert body["total"] == 0  # superseded
    _, body = search(outsider, "Elicottero")
    assert body["total"] == 0 and not body["facets"]["kind"]
    _, body = search(two_firms["user_a"], "Kuznetsov")
    assert [h["agreement_id"] for h in body["hits"]] == [7]


def test_a_task_without_an_indexer_fails_and_waits_for_its_retry(app, fake_drafts, make_user, make_document):
    from sqlalchemy import select

    from docmgr.tasks.models import OutboxTask

    app.extensions["docmgr.search"].indexers.pop("draft")
    enqueue_index(db.session, "draft", 5)
    db.session.commit()
    document = make_document(make_user("firm"))
    left = db.session.execute(select(OutboxTask.args, OutboxTask.status, OutboxTask.attempts, OutboxTask.last_error)
                              .order_by(OutboxTask.id)).all()
    assert [(args, status, attempts) for args, status, attempts, _ in left] == [
        ({"object_type": "draft", "object_id": 5}, "pending", 1),
        ({"object_type": "document", "object_id": document.id}, "done", 1),
    ]
    assert "No indexer is registered for 'draft'" in left[0][3]
