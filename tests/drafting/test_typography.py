"""The generated MoU reads as a lawyer would write it: single full stops, amounts with two decimals and
the currency as each language writes it, and every bilingual part in its own language (or marked)."""

from __future__ import annotations

import re

from sqlalchemy import select

from docmgr.drafting import rendering
from docmgr.drafting.models import Agreement
from docmgr.extensions import db
from tests.drafting.test_rendering import SIMPLE_BODY, SIMPLE_SPECS, snapshot

CYRILLIC = re.compile(r"[\u0400-\u04FF]")
LATIN_WORD = re.compile(r"[A-Za-z\u00C0-\u024F]{2,}")


def test_amounts_have_two_decimals_and_the_currency_each_language_writes():
    assert rendering.format_amount(1250000.5, "it") == "1.250.000,50\u00a0EUR"
    assert rendering.format_amount(1250000.5, "ru") == "1\u00a0250\u00a0000,50\u00a0евро"
    assert rendering.format_amount(250000, "ru") == "250\u00a0000,00\u00a0евро"
    assert rendering.format_amount(None, "it") == ""


def test_a_value_ending_with_a_full_stop_gives_no_double_stop():
    assert rendering.single_full_stops("<p>energetica..</p>") == "<p>energetica.</p>"
    assert rendering.single_full_stops("S.p.A.. Altro") == "S.p.A. Altro"
    assert rendering.single_full_stops("e così via... fine; ../x") == "e così via... fine; ../x"
    rendered = rendering.render_agreement(
        SIMPLE_BODY, SIMPLE_SPECS, snapshot(subject="efficienza energetica.", amount=None)
    )
    clause = rendered.clauses[2]
    assert "Oggetto: efficienza energetica.;" in clause.it.text
    body = SIMPLE_BODY.replace("Oggetto: {{ fields.subject }};", "Oggetto: {{ fields.subject }}.")
    body = body.replace("Предмет: {{ fields.subject }};", "Предмет: {{ fields.subject }}.")
    rendered = rendering.render_agreement(body, SIMPLE_SPECS, snapshot(subject="энергоэффективность."))
    assert "энергоэффективность. дата" in rendered.clauses[2].ru.text
    assert ".." not in rendered.plain_text()


def test_a_part_given_in_one_language_only_is_a_marked_fallback():
    data = snapshot()
    data["title"], data["title_alt"] = "Accordo di prova", ""
    data["signatories"][0].update(title_it="Amministratore delegato", title_ru="")
    body = SIMPLE_BODY.replace("<h1>Accordo</h1>", "<h1>Accordo</h1><p>{{ title_it }}</p>").replace(
        "<h1>Соглашение</h1>", "<h1>Соглашение</h1><p>{{ title_ru }}</p>")
    rendered = rendering.render_agreement(body, SIMPLE_SPECS, data)
    title = rendered.clauses[0]
    assert title.it.html.endswith("<p>Accordo di prova</p>")
    assert '<em class="fallback" lang="it">Accordo di prova</em>' in title.ru.html
    signature = rendered.clauses[-2]
    assert "Amministratore delegato" in signature.it.text and "<em" not in signature.it.html
    assert '<em class="fallback">Amministratore delegato</em>' in signature.ru.html
    assert any(run.italic for p in signature.ru.paragraphs for run in p.runs)  # italics in Word too


def test_the_demo_mou_has_no_text_in_the_wrong_script(app):
    from docmgr.demo import load_demo

    load_demo()
    mou = db.session.scalars(select(Agreement)).one()
    clauses = mou.drafts[-1].clauses
    italian = "\n".join(c["heading_it"] + "\n" + c["text_it"] for c in clauses)
    russian = "\n".join(c["heading_ru"] + "\n" + c["text_ru"] for c in clauses)
    assert CYRILLIC.findall(italian) == []
    assert LATIN_WORD.findall(russian) == []
    assert "250.000,00\u00a0EUR" in italian and "250\u00a0000,00\u00a0евро" in russian
    assert "Mosca 2014" in italian or "Torino 2013" in italian  # the session, in Italian
    assert "Amministratore delegato" in italian and "Direttore generale" in italian
    assert "Генеральный директор" in russian
    assert ".." not in italian and ".." not in russian
