"""The pure rendering layer: formatting, the sandbox, the clause structure, DOCX/PDF output, diffs."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import docx
import pytest

from docmgr.drafting import rendering
from tests.drafting.conftest import pdf_text, squash

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

SIMPLE_BODY = """<section class="title">
<div lang="it"><h1>Accordo</h1></div>
<div lang="ru"><h1>Соглашение</h1></div>
</section>
<section>
<div lang="it"><h2>Art. 1</h2><p>Oggetto: {{ fields.subject }}; data {{ it.start }}; importo {{ it.amount }}.</p></div>
<div lang="ru"><h2>Статья 1</h2><p>Предмет: {{ fields.subject }}; дата {{ ru.start }}; сумма {{ ru.amount }}.</p></div>
</section>
"""
SIMPLE_SPECS = rendering.parse_field_declarations([
    {"name": "subject", "label_it": "Oggetto", "label_ru": "Предмет", "type": "text", "required": True},
    {"name": "start", "label_it": "Inizio", "label_ru": "Начало", "type": "date", "required": True},
    {"name": "amount", "label_it": "Importo", "label_ru": "Сумма", "type": "number"},
])


def snapshot(**fields) -> dict:
    data = rendering.sample_snapshot(SIMPLE_SPECS)
    data["fields"] = {"subject": "cooperazione", "start": "2026-11-25", "amount": 1234.56, **fields}
    return data


def test_dates_and_numbers_are_formatted_per_language():
    assert rendering.format_date(date(2026, 11, 25), "it") == "25 novembre 2026"
    # Babel's (CLDR's) own spacing: a narrow no-break space before "г.", a no-break space in 1 234,56
    assert rendering.format_date("2026-11-25", "ru") == "25 ноября 2026\u202fг."
    assert rendering.format_number(1234.56, "it") == "1.234,56"
    assert rendering.format_number(1234.56, "ru") == "1\u00a0234,56"
    assert rendering.format_number(3, "ru", 2) == "3,00"


def test_names_are_split_by_script_not_by_country():
    assert rendering.split_scripts("ООО «Пример»", "OOO Primer") == ("OOO Primer", "ООО «Пример»")
    assert rendering.split_scripts("Esempio S.r.l.", "Эсемпио") == ("Esempio S.r.l.", "Эсемпио")
    assert rendering.split_scripts("Esempio S.r.l.", None) == ("Esempio S.r.l.", "Esempio S.r.l.")


def test_clauses_come_out_in_both_languages_with_the_generated_parties_and_signatures():
    rendered = rendering.render_agreement(SIMPLE_BODY, SIMPLE_SPECS, snapshot())
    kinds = [c.kind for c in rendered.clauses]
    assert kinds == ["title", "parties", "clause", "signature", "signature"]
    clause = rendered.clauses[2]
    assert clause.it.heading == "Art. 1" and clause.ru.heading == "Статья 1"
    assert "data 25 novembre 2026; importo 1.234,56" in clause.it.text
    assert "дата 25 ноября 2026\u202fг.; сумма 1\u00a0234,56" in clause.ru.text
    parties = rendered.clauses[1]
    assert "Esempio S.r.l." in parties.it.text and "ООО «Пример»" in parties.ru.text


def test_field_values_are_data_never_template_code():
    rendered = rendering.render_agreement(
        SIMPLE_BODY, SIMPLE_SPECS, snapshot(subject="{{ 7*7 }} <img src=\"file:///etc/passwd\"> {% if 1 %}x{% endif %}")
    )
    clause = rendered.clauses[2]
    assert '{{ 7*7 }} <img src="file:///etc/passwd"> {% if 1 %}x{% endif %}' in clause.it.text
    assert "49" not in clause.it.text
    # escaped in HTML: no <img> element comes out of a field value
    assert "<img" not in clause.it.html and "&lt;img" in clause.it.html


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("<section>\n<div lang=\"it\">{{ ''.__class__.__mro__ }}</div>\n<div lang=\"ru\">x</div></section>", 2, "unsafe"),
        ("<section>\n<div lang=\"it\">x</div>\n\n<div lang=\"ru\">{{ cycler.__init__.__globals__ }}</div></section>", 4,
         "unsafe"),
        ("<section>\n<div lang=\"it\">{{ undeclared_name }}</div><div lang=\"ru\">x</div></section>", 2, "undefined"),
        ("<section>\n<div lang=\"it\">\n{% if %}</div><div lang=\"ru\">x</div></section>", 3, "syntax"),
        ("<section>\n<div lang=\"it\">{{ fields.subject.no_such_method() }}</div><div lang=\"ru\">x</div></section>", 2,
         "undefined"),
        ("<section>\n<div lang=\"it\">x</div></section>", 1, "lang=\"ru\""),
        ("<p>loose</p>", 1, "section"),
    ],
)
def test_template_errors_name_the_line(body, line, words):
    with pytest.raises(rendering.TemplateError) as caught:
        rendering.validate_template(body, SIMPLE_SPECS)
    assert caught.value.line == line
    assert words in str(caught.value).lower()
    assert str(caught.value).startswith(f"Line {line}:")


def test_field_declarations_are_checked():
    with pytest.raises(rendering.FieldDeclarationError) as caught:
        rendering.parse_field_declarations([{"name": "x", "type": "colour"}])
    assert caught.value.path == "fields[0].type"
    with pytest.raises(rendering.FieldDeclarationError) as caught:
        rendering.parse_field_declarations([{"name": "a"}, {"name": "a"}])
    assert caught.value.path == "fields[1].name"
    with pytest.raises(rendering.FieldDeclarationError):
        rendering.parse_field_declarations([{"name": "Bad Name"}])


def test_author_markup_is_kept_to_an_allow_list():
    body = (
        '<section><div lang="it"><p onclick="x()">a <script>alert(1)</script><b>b</b></p><iframe src="x"></iframe>'
        '</div><div lang="ru"><p style="color:red">в</p></div></section>'
    )
    clause = rendering.render_agreement(body, [], rendering.sample_snapshot([])).clauses[1]
    assert clause.it.html == "<p>a <b>b</b></p>"
    assert clause.ru.html == "<p>в</p>"


def test_docx_uses_real_styles_tables_and_a_page_number_field():
    rendered = rendering.render_agreement(SIMPLE_BODY, SIMPLE_SPECS, snapshot())
    document = docx.Document(io.BytesIO(rendering.build_docx(rendered)))
    assert len(document.tables) == len(rendered.clauses)
    title_cells = document.tables[0].rows[0].cells
    assert title_cells[0].paragraphs[0].style.name == "Heading 1"
    assert title_cells[1].paragraphs[0].text == "Соглашение"
    clause_cells = document.tables[2].rows[0].cells
    assert clause_cells[0].paragraphs[0].style.name == "Heading 2"
    assert clause_cells[1].paragraphs[1].style.name == "Normal"
    assert document.tables[0].style.name == "Table Grid"
    footer_xml = document.sections[0].footer._element.xml
    assert "PAGE" in footer_xml and "NUMPAGES" in footer_xml and 'w:fldCharType="begin"' in footer_xml
    assert document.sections[0].page_width.mm == pytest.approx(210, abs=0.5)


def test_pdf_embeds_fonts_and_has_selectable_text_in_both_scripts():
    rendered = rendering.render_agreement(SIMPLE_BODY, SIMPLE_SPECS, snapshot())
    data = rendering.build_pdf(rendered)
    text = squash(pdf_text(data))
    assert "Oggetto: cooperazione" in text and "Предмет: cooperazione" in text
    assert "Pagina 1 di 1" in text and "Страница 1 из 1" in text
    from pypdf import PdfReader

    fonts = PdfReader(io.BytesIO(data)).pages[0]["/Resources"]["/Font"]
    descriptors = []
    for font in (f.get_object() for f in fonts.values()):
        if "/DescendantFonts" in font:  # Type0 (CID) fonts keep their descriptor one level down
            font = font["/DescendantFonts"][0].get_object()
        descriptors.append(font["/FontDescriptor"].get_object())
    assert descriptors and all("/FontFile2" in d for d in descriptors)  # embedded TrueType subsets
    assert all("DejaVu" in str(d["/FontName"]) for d in descriptors)


def test_the_pdf_renderer_fetches_nothing_from_outside(monkeypatch):
    """A template author's <img src=file:…/http:…> reaches WeasyPrint, which asks our fetcher, which refuses."""
    import docmgr.pdf

    calls: list[tuple[str, str]] = []
    original = docmgr.pdf.restricted_url_fetcher

    def recording(url, *args, **kwargs):
        try:
            result = original(url, *args, **kwargs)
        except docmgr.pdf.FetchRefused:
            calls.append((url, "refused"))
            raise
        calls.append((url, "served"))
        return result

    monkeypatch.setattr(docmgr.pdf, "restricted_url_fetcher", recording)
    body = (
        '<section><div lang="it"><p>Logo <img src="file:///etc/passwd"> <img src="http://example.invalid/x.png">'
        '</p></div><div lang="ru"><p>Логотип <img src="/etc/hostname"></p></div></section>'
    )
    data = rendering.build_pdf(rendering.render_agreement(body, [], rendering.sample_snapshot([])))
    refused = {url for url, outcome in calls if outcome == "refused"}
    assert "file:///etc/passwd" in refused and "http://example.invalid/x.png" in refused
    assert any(url.endswith("/etc/hostname") for url in refused)
    assert all(url.startswith("docmgr-static:/fonts/") for url, outcome in calls if outcome == "served")
    assert b"root:" not in data and "root:" not in pdf_text(data)


def test_compare_aligns_clauses_and_diffs_words_in_both_languages():
    old = [
        {"kind": "clause", "heading_it": "Art. 1", "heading_ru": "Ст. 1", "text_it": "durata di tre anni",
         "text_ru": "срок три года"},
        {"kind": "clause", "heading_it": "Art. 2", "heading_ru": "Ст. 2", "text_it": "uguale", "text_ru": "то же"},
        {"kind": "clause", "heading_it": "Art. 3", "heading_ru": "Ст. 3", "text_it": "tolto", "text_ru": "удалено"},
    ]
    new = [
        {**old[0], "text_it": "durata di cinque anni", "text_ru": "срок пять лет"},
        old[1],
        {"kind": "clause", "heading_it": "Art. 4", "heading_ru": "Ст. 4", "text_it": "nuovo", "text_ru": "новое"},
    ]
    result = rendering.compare_clauses(old, new)
    assert [c["status"] for c in result] == ["changed", "unchanged", "changed"]
    first = result[0]
    assert {"op": "delete", "text": "tre"} in first["it"] and {"op": "insert", "text": "cinque"} in first["it"]
    assert {"op": "delete", "text": "три"} in first["ru"] and {"op": "insert", "text": "пять"} in first["ru"]
    assert {"op": "delete", "text": "года"} in first["ru"] and {"op": "insert", "text": "лет"} in first["ru"]
    only_added = rendering.compare_clauses(old[:1], old)
    assert [c["status"] for c in only_added] == ["unchanged", "added", "added"]


def test_the_shipped_templates_are_valid_and_the_mou_fills_four_pages():
    for meta_path in sorted(TEMPLATES_DIR.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        specs = rendering.parse_field_declarations(meta["fields"])
        rendering.validate_template(meta_path.with_name(meta_path.stem + ".html.j2").read_text(), specs)
    meta = json.loads((TEMPLATES_DIR / "mou.json").read_text())
    specs = rendering.parse_field_declarations(meta["fields"])
    rendered = rendering.render_agreement((TEMPLATES_DIR / "mou.html.j2").read_text(), specs,
                                          rendering.sample_snapshot(specs))
    from pypdf import PdfReader

    assert len(PdfReader(io.BytesIO(rendering.build_pdf(rendered))).pages) >= 4


# No database, search backend or queue here: CI's second pass (PostgreSQL + Redis) does not run these again.
pytestmark = pytest.mark.backend_independent
