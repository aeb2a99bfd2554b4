"""Matching rules through the real API, with real Italian and Russian sentences."""

from __future__ import annotations

import pytest

from tests.search.conftest import corpus_line, docx, ids, parallel, txt


@pytest.fixture
def legal(make_user):
    return make_user("legal")


@pytest.fixture
def firm_user(make_user, make_org):
    return make_user("firm", make_org(name="Officine Torinesi", country="IT"))


def test_italian_singular_finds_plural_and_back(legal, firm_user, make_document, search):
    singular = make_document(firm_user, files=[txt(parallel()["n01022010"][0], language="it")])  # "l'Accordo di Parigi"
    plural = make_document(firm_user, files=[txt("Gli accordi firmati dalle imprese del distretto.", language="it")])
    make_document(firm_user, files=[txt("Un testo che non parla di questo.", language="it")])
    status, body = search(legal, "accordi")
    assert status == 200
    assert sorted(ids(body)) == sorted([singular.id, plural.id])
    assert body["total"] == 2
    _, body = search(legal, "accordo")
    assert sorted(ids(body)) == sorted([singular.id, plural.id])


def test_russian_singular_finds_plural_and_back(legal, firm_user, make_document, search):
    plural = make_document(firm_user, files=[txt(parallel()["n01022010"][1], language="ru")])  # "Парижские соглашения"
    genitive = make_document(firm_user, files=[txt(parallel()["n01038025"][1], language="ru")])  # "соглашения" (gen. sg.)
    make_document(firm_user, files=[txt(parallel()["n01029011"][1], language="ru")])
    _, body = search(legal, "соглашение")
    assert sorted(ids(body)) == sorted([plural.id, genitive.id])
    _, body = search(legal, "соглашений")
    assert sorted(ids(body)) == sorted([plural.id, genitive.id])


def test_accents_are_optional(legal, firm_user, make_document, search):
    doc = make_document(firm_user, files=[txt(parallel()["n01029011"][0], language="it")])  # "città all'estremo est"
    _, body = search(legal, "citta")
    assert ids(body) == [doc.id]
    assert "<mark>città</mark>" in body["hits"][0]["highlights"][0]
    _, body = search(legal, "città")
    assert ids(body) == [doc.id]


def test_yo_and_ye_match_each_other(legal, firm_user, make_document, search):
    with_yo = make_document(firm_user, files=[txt(corpus_line("PUD_ru.txt", 18), language="ru")])  # "растёт"
    with_ye = make_document(firm_user, files=[txt("Производство растет каждый год.", language="ru")])
    for query in ("растет", "растёт"):
        _, body = search(legal, query)
        assert sorted(ids(body)) == sorted([with_yo.id, with_ye.id]), query


def test_query_language_need_not_be_said(legal, firm_user, make_document, search):
    """One query box: each word is analysed by both languages' analyzers, OR-ed."""
    it, ru = parallel()["n01022010"]
    doc = make_document(firm_user, title_it="Clima", files=[txt(it, "it.txt", "it"), txt(ru, "ru.txt", "ru")])
    for query in ("Parigi", "Парижские", "Парижское", "cambiamenti climatici"):
        _, body = search(legal, query)
        assert ids(body) == [doc.id], query


def test_russian_organisation_found_by_latin_spellings(legal, make_org, make_user, make_document, search):
    org = make_org(name="ООО «Сибирские Технологии»", country="RU")
    other = make_org(name="ООО «Уральские Машины»", country="RU")
    doc = make_document(make_user("firm", org), title_ru="Предложение о партнерстве")
    make_document(make_user("firm", other), title_ru="Предложение о партнерстве")
    for query in ("Sibirskie", "Sibirskiye", "Sibirskije", "sibirskie tekhnologii", "Сибирские"):
        status, body = search(legal, query)
        assert status == 200
        assert ids(body) == [doc.id], query


def test_person_names_in_text_found_across_scripts(legal, firm_user, make_document, search):
    doc = make_document(firm_user, files=[txt("Il contratto è stato firmato dal direttore Кузнецов a Mosca.", language="it")])
    make_document(firm_user, files=[txt("Il contratto è stato firmato dal direttore Rossi a Milano.", language="it")])
    for query in ("Kuznetsov", "Kuznecov", "Kuznetsoff", "Кузнецов"):
        _, body = search(legal, query)
        assert ids(body) == [doc.id], query


def test_latin_name_found_by_its_cyrillic_transliteration(legal, make_org, make_user, make_document, search):
    pirelli = make_org(name="Pirelli Costruzioni", country="IT")
    doc = make_document(make_user("firm", pirelli), title_it="Proposta")
    make_document(make_user("firm", make_org(name="Ferraro Meccanica", country="IT")), title_it="Proposta")
    _, body = search(legal, "Пирелли")
    assert ids(body) == [doc.id]


def test_phrase_or_and_exclusion(legal, firm_user, make_document, search):
    paris = make_document(firm_user, files=[txt(parallel()["n01022010"][0], language="it")])  # ... direttore del Programma ...
    youtube = make_document(firm_user, files=[txt(parallel()["n02081019"][0], language="it")])  # un accordo con YouTube
    _, body = search(legal, '"accordo di Parigi"')
    assert ids(body) == [paris.id]
    _, body = search(legal, '"Parigi accordo"')
    assert ids(body) == []
    _, body = search(legal, "Kigali OR YouTube")
    assert sorted(ids(body)) == sorted([paris.id, youtube.id])
    _, body = search(legal, "accordo -YouTube")
    assert ids(body) == [paris.id]
    _, body = search(legal, "accordo YouTube")  # all words must match by default
    assert ids(body) == [youtube.id]


def test_field_filters(legal, make_org, make_user, make_document, search):
    org_it = make_org(name="Energia Piemonte", country="IT")
    org_ru = make_org(name="Томская Энергия", country="RU", name_alt="Tomskaya Energiya")
    user_it, user_ru = make_user("firm", org_it), make_user("firm", org_ru)
    proposal = make_document(user_it, title_it="Accordo quadro energia", sectors=["energy"],
                             files=[txt("Accordo per la rete elettrica.", language="it")])
    annex = make_document(user_it, title_it="Allegato tecnico", kind="annex", sectors=["mechanics"],
                          files=[txt("Accordo: specifiche delle turbine.", language="it")])
    russian = make_document(user_ru, title_ru="Соглашение об энергетике", sectors=["energy"],
                            files=[txt("Соглашение о поставках энергии.", language="ru")])
    cases = {
        "kind:annex": [annex.id],
        "accordo kind:proposal": [proposal.id],
        "sector:energy": sorted([proposal.id, russian.id]),
        "lang:ru": [russian.id],
        "org:tomskaya": [russian.id],
        "org:Томская": [russian.id],
        f"org:{org_it.id}": sorted([proposal.id, annex.id]),
        "title:accordi": [proposal.id],
        "title:соглашения": [russian.id],
        "accordo -kind:annex": [proposal.id],
        # text: is the files' text only, not titles or labels (organisation names, sessions)
        "text:accordi": sorted([proposal.id, annex.id]),
        "text:quadro": [],
        "title:quadro": [proposal.id],
        "quadro": [proposal.id],  # plain words search titles too
        "text:energia": [],
        "text:энергия": [russian.id],
        'text:"rete elettrica"': [proposal.id],
        'text:"elettrica rete"': [],
        "text:turbin*": [annex.id],
        "text:allegat*": [],
        "text:energia OR text:turbine": [annex.id],
    }
    for query, expected in cases.items():
        status, body = search(legal, query)
        assert status == 200, (query, body)
        assert sorted(ids(body)) == expected, query


def test_unparseable_queries_fall_back_to_plain_words(legal, firm_user, make_document, search):
    make_document(firm_user, files=[txt("Accordo sulle turbine e sulle reti.", language="it")])
    for query in ['"unclosed', "((((", "AND OR", "accordo AND", "OR", ")))accordo(((", "NOT", "title:", ":::"]:
        status, body = search(legal, query)
        assert status == 200, (query, body)
        assert set(body) >= {"total", "hits", "facets"}


def test_unclosed_phrase_still_searches_its_words(legal, firm_user, make_document, search):
    doc = make_document(firm_user, files=[txt("Accordo sulle turbine e sulle reti.", language="it")])
    _, body = search(legal, '"accordo turbine')
    assert ids(body) == [doc.id]
    _, body = search(legal, "((((accordo")
    assert ids(body) == [doc.id]


def test_hostile_queries_are_refused_with_a_code(legal, firm_user, make_document, search):
    make_document(firm_user, files=[txt("Accordo sulle turbine.", language="it")])
    cases = [("*a*", "wildcard_too_broad"), ("a*", "wildcard_too_broad"), ("?ccordo", "wildcard_too_broad"),
             ("x" * 100_000, "query_too_long"), (" ".join(f"w{i}" for i in range(5000))[:499], "too_many_terms")]
    for query, code in cases:
        status, body = search(legal, query)
        assert status == 422, query[:30]
        assert body["error"]["code"] == code
        assert body["error"]["field"] == "q"


def test_hostile_queries_that_are_answered(legal, firm_user, make_document, search):
    """Each gets its own exact answer: a hit count, or a 422 with the code that names the limit."""
    make_document(firm_user, files=[txt("Accordo sulle turbine.", language="it")])
    cases = [
        ("(" * 400 + "accordo" + ")" * 400, "query_too_long"),
        ("(" * 240 + "accordo" + ")" * 240, 1),  # deep nesting under the length limit is parsed, not a crash
        ("accordo " + "OR " * 200, "query_too_long"),
        ("accordo " + "OR " * 160, "too_many_terms"),
        ("accordo " + "OR " * 30, 1),
        ('"' * 300, 0),
        ("-" * 400, 0),
        ("title:" * 60, "too_many_terms"),
        ("accordo~2", 0),  # no fuzzy syntax: "accordo" and "2", and no document has "2"
        ("[a TO z]", 0),  # no range syntax
        ("*:*", "search_too_costly"),  # availability: a wildcard with nothing to anchor it
        ("\x00accordo", 1),
    ]
    for query, expected in cases:
        status, body = search(legal, query)
        if isinstance(expected, int):
            assert (status, body["total"]) == (200, expected), (query[:30], status, body)
        else:
            assert status == 422, (query[:30], status, body)
            assert (body["error"]["code"], body["error"]["field"]) == (expected, "q"), query[:30]


def test_wildcard_expansion_is_bounded_by_the_index(legal, firm_user, make_document, search):
    words = " ".join(f"turbina{i:03d}x" for i in range(260))
    make_document(firm_user, files=[txt(words, language="it")])
    status, body = search(legal, "turbina0*")  # 100 terms: fine
    assert status == 200 and body["total"] == 1
    status, body = search(legal, "turbina*")  # 260 terms: refused
    assert status == 422 and body["error"]["code"] == "wildcard_too_broad"


def test_highlights_escape_html_in_titles_and_texts(legal, firm_user, make_document, search):
    make_document(
        firm_user, title_it="Accordo <script>alert(1)</script>",
        files=[docx("Il partner <script>alert('x')</script> firma l'accordo <b>oggi</b>.", language="it")],
    )
    _, body = search(legal, "accordo")
    snippet = body["hits"][0]["highlights"][0]
    assert "<script>" not in snippet and "<b>" not in snippet
    assert "&lt;script&gt;" in snippet
    assert "<mark>accordo</mark>" in snippet
    assert body["hits"][0]["title_it"] == "Accordo <script>alert(1)</script>"  # JSON carries data, not markup
    _, body = search(legal, "script")
    assert "<script>" not in " ".join(body["hits"][0]["highlights"])


def test_highlight_names_the_matching_file_and_language(legal, firm_user, make_document, search):
    it, ru = parallel()["n01022010"]
    doc = make_document(firm_user, files=[txt(it, "it.txt", "it"), txt(ru, "ru.txt", "ru")])
    files = {f.language: f.id for f in doc.files}
    _, body = search(legal, "соглашения")
    assert body["hits"][0]["file_id"] == files["ru"]
    assert body["hits"][0]["snippet_language"] == "ru"
    assert "<mark>соглашения</mark>" in body["hits"][0]["highlights"][0]
    _, body = search(legal, "Parigi")
    assert body["hits"][0]["file_id"] == files["it"]


def test_ranking_pagination_sort_and_facets(legal, make_org, make_user, make_document, search):
    org = make_org(name="Distretto Meccanico", country="IT")
    user = make_user("firm", org)
    strong = make_document(user, title_it="Turbine eoliche", sectors=["energy"],
                           files=[txt("Turbine, turbine e ancora turbine per il distretto.", language="it")])
    weak = [make_document(user, title_it=f"Relazione {i}", sectors=["mechanics"],
                          files=[txt(f"Relazione numero {i} che cita una turbina una volta.", language="it")])
            for i in range(4)]
    status, body = search(legal, "turbina", per_page=2)
    assert status == 200
    assert body["total"] == 5 and len(body["hits"]) == 2
    assert body["hits"][0]["document_id"] == strong.id
    assert body["hits"][0]["score"] >= body["hits"][1]["score"]
    assert body["facets"]["sector"] == {"mechanics": 4, "energy": 1}
    assert body["facets"]["kind"] == {"proposal": 5}
    assert body["facets"]["organization"] == {str(org.id): 5}
    assert body["facet_labels"]["organization"][str(org.id)] == "Distretto Meccanico"
    _, page3 = search(legal, "turbina", per_page=2, page=3)
    assert len(page3["hits"]) == 1
    seen = {h["document_id"] for p in (1, 2, 3) for h in search(legal, "turbina", per_page=2, page=p)[1]["hits"]}
    assert seen == {strong.id, *(d.id for d in weak)}
    _, by_date = search(legal, "turbina", sort="date")
    assert ids(by_date) == [d.id for d in reversed([strong, *weak])]


def test_filters_narrow_results_and_facets_together(legal, make_org, make_user, make_document, search):
    user = make_user("firm", make_org(country="IT"))
    energy = make_document(user, sectors=["energy"], files=[txt("Turbina a gas.", language="it")])
    make_document(user, sectors=["mechanics"], files=[txt("Turbina a vapore.", language="it")])
    make_document(user, sectors=["mechanics"], files=[txt("Турбина паровая.", language="ru")])
    _, body = search(legal, "turbina", sector="energy")
    assert ids(body) == [energy.id]
    assert body["facets"]["sector"] == {"energy": 1}
    assert body["facets"]["language"] == {"it": 1}
    _, body = search(legal, "", language="ru")
    assert body["total"] == 1 and body["facets"]["language"] == {"ru": 1}
    today = energy.created_at.date().isoformat()
    _, body = search(legal, "turbina", date_from=today, date_to=today)
    assert body["total"] == 3
    _, body = search(legal, "turbina", date_to="2001-01-01")
    assert body["total"] == 0 and body["facets"]["sector"] == {}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"kind": "memo"}, "kind"), ({"sector": "space"}, "sector"), ({"language": "german"}, "language"),
     ({"date_from": "2024-13-01"}, "date_from"), ({"date_to": "yesterday"}, "date_to"),
     ({"date_from": "2024-05-02", "date_to": "2024-05-01"}, "date_to"), ({"per_page": "101"}, "per_page"),
     ({"page": "0"}, "page"), ({"organization_id": "abc"}, "organization_id"), ({"sort": "random"}, "sort")],
)
def test_bad_filter_values_are_422_naming_the_field(legal, search, params, field):
    status, body = search(legal, "accordo", **params)
    assert status == 422
    assert body["error"]["field"] == field
