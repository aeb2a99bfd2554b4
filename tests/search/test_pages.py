"""The search page and the "similar proposals" box, through the browser session."""

from __future__ import annotations

from tests.search.conftest import docx, txt


def test_search_page_shows_escaped_highlights_facets_and_pager(app, make_user, make_document, login):
    user = make_user("legal")
    firm = make_user("firm")
    for i in range(22):
        make_document(firm, title_it=f"Accordo {i}", sectors=["energy"], files=[txt(f"Accordo numero {i}.", language="it")])
    make_document(firm, title_it="Accordo <script>alert(1)</script>",
                  files=[docx("L'accordo <script>alert(2)</script> è firmato.", language="it")])
    client = login(user)
    response = client.get("/search?q=accordi")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<mark>" in html
    assert "23 results" in html
    assert 'rel="next"' in html  # 20 per page
    assert "sector=energy" in html  # facet links keep the query and add the filter
    response = client.get("/search?q=accordi&page=2")
    assert response.status_code == 200 and "Page 2 of 2" in response.get_data(as_text=True)
    html = client.get("/search?q=alert").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the title
    assert "&lt;script&gt;<mark>alert</mark>(2)" in html  # the snippet


def test_search_page_answers_422_with_the_field_named(make_user, login):
    client = login(make_user("legal"))
    response = client.get("/search?q=accordo&date_from=31-12-2024")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="date_from-error"' in html
    response = client.get("/search?q=*a*")
    assert response.status_code == 422
    assert 'id="q-error"' in response.get_data(as_text=True)


def test_search_page_needs_login(client):
    response = client.get("/search?q=accordo")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_document_page_shows_similar_proposals_the_user_may_see(make_org, make_user, make_document, login):
    org_a, org_b, org_c = (make_org(name="Alfa", country="IT"), make_org(name="Бета", country="RU"),
                           make_org(name="Gamma", country="IT"))
    user_a = make_user("firm", org_a)
    text = "Turbine a gas per centrali elettriche e manutenzione delle turbine."
    mine = make_document(user_a, title_it="Turbine a gas", sectors=["energy"], files=[txt(text, language="it")])
    make_document(make_user("firm", org_b), title_it="Turbine per centrali (Beta)", sectors=["energy"],
                  files=[txt(text, language="it")])
    client = login(user_a)
    html = client.get(f"/documents/{mine.id}").get_data(as_text=True)
    assert "Similar proposals" not in html  # B's proposal is not A's to see
    from docmgr.documents.services import share_document
    from docmgr.extensions import db

    other = make_document(make_user("firm", org_c), title_it="Turbine per centrali (Gamma)", sectors=["energy"],
                          files=[txt(text, language="it")])
    share_document(db.session, None, other, [org_a.id])
    db.session.commit()
    html = client.get(f"/documents/{mine.id}").get_data(as_text=True)
    assert "Similar proposals" in html
    assert "Turbine per centrali (Gamma)" in html and "Turbine per centrali (Beta)" not in html


def test_search_hits_show_a_first_page_thumbnail_of_visible_documents(make_user, make_document, login):
    from docmgr.pdf import html_to_pdf

    legal = make_user("legal")
    firm = make_user("firm")
    pdf = html_to_pdf("<p>Proposta di cogenerazione per il distretto tessile.</p>")
    with_pdf = make_document(firm, title_it="Cogenerazione", files=[("cogenerazione.pdf", pdf, "it")])
    with_text = make_document(firm, title_it="Cogenerazione testo", files=[txt("Cogenerazione nel distretto.", language="it")])
    html = login(legal).get("/search?q=cogenerazione").get_data(as_text=True)
    pdf_file, text_file = with_pdf.files[0], with_text.files[0]
    assert f"/documents/{with_pdf.id}/files/{pdf_file.id}/thumbnail.png" in html
    assert f"/documents/{with_text.id}/files/{text_file.id}/thumbnail.png" not in html  # text: a labelled placeholder
    assert html.count('class="hit-thumb"') == 2
