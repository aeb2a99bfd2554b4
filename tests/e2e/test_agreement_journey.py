"""Journey 2: legal drafts a bilingual MoU, previews it, renders a draft (PDF + DOCX), submits it for review;
a second legal officer approves it (four-eyes) and sends it out for signature."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TITLE = "MoU Energia Alpina – Uralskiy zavod (e2e)"
SUBJECT_IT = "Cooperazione nella costruzione di piccole centrali idroelettriche negli Urali."
SUBJECT_RU = "Сотрудничество в строительстве малых гидроэлектростанций на Урале."


def _status(page) -> str:
    return page.locator("[data-status]").first.get_attribute("data-status")


def test_legal_drafts_reviews_and_sends_out_an_mou(open_browser, shot):
    legal = open_browser("legal")
    page = legal.page
    legal.goto("/agreements")
    page.get_by_role("link", name="New agreement").click()
    page.wait_for_url("**/agreements/new")
    page.get_by_label("Template").select_option("mou")
    page.get_by_label("Title", exact=True).fill(TITLE)
    page.get_by_role("checkbox", name=re.compile(r"^Energia Alpina S\.p\.A\.")).check()
    page.get_by_role("checkbox", name=re.compile(r"^АО «Уральский механический завод»")).check()
    page.get_by_role("checkbox", name=re.compile(r"Impianti idroelettrici")).check()
    shot(page, "1-new")
    page.get_by_role("button", name="Create and fill in").click()
    page.wait_for_url(re.compile(r"/agreements/\d+/edit$"))
    agreement_id = int(page.url.split("/")[-2])

    # The form generated from the template's fields (labels in Italian with an English interface).
    page.get_by_label("Oggetto della cooperazione (italiano)").fill(SUBJECT_IT)
    page.get_by_label("Oggetto della cooperazione (russo)").fill(SUBJECT_RU)
    page.get_by_label("Data di entrata in vigore").fill("2026-03-01")
    page.get_by_label("Durata (anni)").fill("3")
    page.get_by_label("Parte coordinatrice").select_option(label="Energia Alpina S.p.A.")
    page.get_by_label("Luogo di firma (italiano)").fill("Torino")
    page.get_by_label("Luogo di firma (russo)").fill("Турин")
    signatories = [
        ("Laura Verdi", "Лаура Верди", "Amministratrice delegata", "Energia Alpina S.p.A.", "laura.verdi@example.org"),
        ("Сергей Кузнецов", "Sergej Kuznecov", "Генеральный директор", "АО «Уральский механический завод»",
         "s.kuznetsov@example.org"),
    ]
    for index, (name, name_alt, title, org, email) in enumerate(signatories):
        page.locator(f"input[name='sig-{index}-name']").fill(name)
        page.locator(f"input[name='sig-{index}-name_alt']").fill(name_alt)
        page.locator(f"input[name='sig-{index}-title']").fill(title)
        page.locator(f"select[name='sig-{index}-organization_id']").select_option(label=org)
        page.locator(f"input[name='sig-{index}-email']").fill(email)
    shot(page, "2-edit")
    page.get_by_role("button", name="Save and preview").click()
    page.wait_for_url(f"**/agreements/{agreement_id}/preview")

    # The HTML preview: Italian and Russian side by side, clause by clause.
    expect(page.locator("[role=alert]")).to_have_count(0)
    italian = page.locator(".agreement-preview table.parallel td[lang=it]")
    russian = page.locator(".agreement-preview table.parallel td[lang=ru]")
    expect(italian.nth(2)).to_be_visible()  # at least three clauses
    expect(russian).to_have_count(italian.count())
    it_box, ru_box = italian.first.bounding_box(), russian.first.bounding_box()
    assert it_box["x"] + it_box["width"] <= ru_box["x"] + 1 and abs(it_box["y"] - ru_box["y"]) < 2
    expect(page.locator(".agreement-preview")).to_contain_text(SUBJECT_IT)
    expect(page.locator(".agreement-preview")).to_contain_text(SUBJECT_RU)
    shot(page, "3-preview")

    page.get_by_role("button", name="Render a draft (PDF and DOCX)").click()
    page.wait_for_url(f"**/agreements/{agreement_id}")
    pdf_link = page.get_by_role("link", name="PDF", exact=True)
    docx_link = page.get_by_role("link", name="DOCX", exact=True)
    expect(pdf_link).to_have_count(1)
    expect(docx_link).to_have_count(1)
    pdf = legal.context.request.get(pdf_link.get_attribute("href"))
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    docx = legal.context.request.get(docx_link.get_attribute("href"))
    assert docx.status == 200 and docx.body().startswith(b"PK")
    shot(page, "4-rendered")

    with page.expect_navigation():  # the form posts and is redirected back to this same page
        page.get_by_role("button", name="Submit for review").click()
    assert _status(page) == "in_review"
    # Four eyes: the author is offered no Approve button (no dead button either), and is told why in words.
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    expect(page.locator("#why-approved")).to_contain_text("Four-eyes")
    shot(page, "5-in-review-author")
    legal.guard.assert_clean()

    reviewer = open_browser("legal2")
    page2 = reviewer.page
    reviewer.goto(f"/agreements/{agreement_id}")
    with page2.expect_navigation():
        page2.get_by_role("button", name="Approve", exact=True).click()
    assert _status(page2) == "approved"
    expect(page2.locator("#signatures")).to_contain_text("legal2@demo.docmgr.test")  # "Approved by"
    shot(page2, "6-approved")
    with page2.expect_navigation():
        page2.get_by_role("button", name="Send out for signature").click()
    assert _status(page2) == "out_for_signature"
    # Each party's signatory can now have a signed copy recorded.
    expect(page2.get_by_role("button", name="Record signature")).to_have_count(2)
    shot(page2, "7-out-for-signature")
    reviewer.guard.assert_clean()
