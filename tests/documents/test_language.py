"""Language detection (py3langid): Italian, Russian, both, or the other language it really is — on the real
corpus files (tests/data) and on a French scan recognised by the real Tesseract."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from docmgr.documents import extraction
from docmgr.documents.extraction.language import detect_language
from docmgr.extensions import db
from docmgr.vocab import language_label
from tests.conftest import CORPUS, REPO_ROOT, api_upload, corpus_bytes


def corpus_text(relative: str) -> str:
    path = CORPUS / relative
    if path.suffix == ".txt" or path.suffix == ".tsv":
        return path.read_text(encoding="utf-8")
    return extraction.extract_file(path)[1].text


@pytest.mark.parametrize(("relative", "expected"), [
    ("odt/odfpy_serious_poem.odt", "en"),  # an English ODT was labelled Italian
    ("docx/tika_testWORD_various.docx", "en"),
    ("pdf/sample-files_crazyones-pdfa.pdf", "en"),
    ("pdf/pypdf_multilang_CYRILLIC.pdf", "en"),  # EN/AR/RU/ZH/TH/JA "Hello world": mostly English, was Italian
    ("odt/odfpy_Electra.odt", "el"),  # Greek, with an English Project Gutenberg header
    ("pdf/sample-files_002-trivial-libre-office-writer.pdf", "la"),  # lorem ipsum is Latin, not Italian
    ("pdf/pdfjs_issue20232_CYRILLIC.pdf", "ru"),  # a Russian drawing's title block: short, abbreviated
    ("text/udhr_ita.txt", "it"),
    ("text/udhr_rus.txt", "ru"),
    ("text/tika_langdetect_it_europarl.txt", "it"),
    ("text/PUD_it-ru_parallel.tsv", "bi"),
])
def test_corpus_languages(relative, expected):
    assert detect_language(corpus_text(relative)) == expected


def test_short_italian_and_russian_sentences_are_theirs():
    italian = (CORPUS / "text" / "PUD_it.txt").read_text(encoding="utf-8").splitlines()[:100]
    russian = (CORPUS / "text" / "PUD_ru.txt").read_text(encoding="utf-8").splitlines()[:100]
    assert sum(detect_language(line) == "it" for line in italian) >= 95
    assert sum(detect_language(line) == "ru" for line in russian) >= 95
    assert not any(detect_language(line) == "bi" for line in italian + russian)


def test_bilingual_needs_italian_and_russian_not_just_two_scripts():
    italian = (CORPUS / "text" / "udhr_ita.txt").read_text(encoding="utf-8")[:1500]
    russian = (CORPUS / "text" / "udhr_rus.txt").read_text(encoding="utf-8")[:1500]
    english = corpus_text("odt/odfpy_serious_poem.odt")
    assert detect_language(italian + "\n" + russian) == "bi"
    assert detect_language(english + "\n" + russian[:len(english)]) != "bi"  # English beside Russian: not IT+RU
    assert detect_language("Ciao") is None  # too few letters to say


def test_long_text_is_judged_on_samples_quickly():
    import time

    text = (CORPUS / "text" / "PUD_it.txt").read_text(encoding="utf-8") * 8  # ~1 MB
    detect_language("warm up the model")
    started = time.perf_counter()
    assert detect_language(text) == "it"
    assert time.perf_counter() - started < 5  # a generous bound against reading all of it; speed is in bench/


FRENCH = (
    "La Déclaration universelle des droits de l'homme a été adoptée par l'Assemblée générale des Nations unies.\n"
    "Tous les êtres humains naissent libres et égaux en dignité et en droits. Ils sont doués de raison\n"
    "et de conscience et doivent agir les uns envers les autres dans un esprit de fraternité.\n"
    "Chacun peut se prévaloir de tous les droits et de toutes les libertés proclamés dans la présente\n"
    "Déclaration, sans distinction aucune, notamment de race, de couleur, de sexe, de langue, de religion."
)


def french_scan_png() -> bytes:
    """A real scan-like image: the French text drawn in DejaVu Sans at 300 dpi-ish size, no text layer."""
    font = ImageFont.truetype(str(REPO_ROOT / "docmgr" / "static" / "fonts" / "DejaVuSans.ttf"), 34)
    image = Image.new("L", (2300, 520), "white")
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(FRENCH.splitlines()):
        draw.text((60, 60 + number * 80), line, font=font, fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is installed by scripts/setup.sh")
def test_french_scan_recognised_with_italian_and_russian_models_is_french(tmp_path):
    """The OCR runs with ita+rus (the service's setting): French comes out with a few misread letters, some
    possibly Cyrillic; that is French, not 'bilingual'."""
    png = tmp_path / "scan.png"
    png.write_bytes(french_scan_png())
    text = subprocess.run(["tesseract", str(png), "-", "-l", "ita+rus"], capture_output=True, text=True,
                          timeout=120, check=True).stdout
    assert len(text) > 200
    assert detect_language(text) == "fr"


def test_upload_records_the_detected_language_and_search_offers_it(app, client, make_user, token_for):
    firm = make_user("firm")
    headers = token_for(firm)
    response = api_upload(client, headers, [("poem.odt", corpus_bytes("odt/odfpy_serious_poem.odt"))],
                          title_it="Poesia", kind="other")
    assert response.status_code == 201, response.get_json()
    document = response.get_json()
    assert [f["language"] for f in document["files"]] == ["en"]
    assert document["languages"] == ["en"]

    found = client.get("/api/v1/search", query_string={"q": "burning deck"}, headers=headers).get_json()
    assert [hit["document_id"] for hit in found["hits"]] == [document["id"]]  # English text is searchable
    assert found["facets"]["language"] == {"en": 1}
    filtered = client.get("/api/v1/search", query_string={"language": "en"}, headers=headers).get_json()
    assert filtered["total"] == 1
    assert client.get("/api/v1/search", query_string={"language": "it"}, headers=headers).get_json()["total"] == 0
    listed = client.get("/api/v1/documents", query_string={"language": "en"}, headers=headers).get_json()
    assert [d["id"] for d in listed["items"]] == [document["id"]]

    bad = client.get("/api/v1/search", query_string={"language": "english"}, headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"]


@pytest.mark.parametrize(("locale", "label"), [("it", "Inglese"), ("ru", "Английский"), ("en", "English")])
def test_pages_name_other_languages_in_the_interface_language(app, client, make_user, login, make_document,
                                                             locale, label):
    firm = make_user("firm")
    document = make_document(firm, files=[("poem.odt", corpus_bytes("odt/odfpy_serious_poem.odt"), None)])
    login(firm)
    page = client.get(f"/documents/{document.id}?lang={locale}").get_data(as_text=True)
    assert label in page
    search = client.get(f"/search?q=&lang={locale}").get_data(as_text=True)
    assert '<option value="en"' in search and label in search
    listing = client.get(f"/?lang={locale}").get_data(as_text=True)
    assert '<option value="en"' in listing


def test_language_label_falls_back_to_the_code(app):
    with app.test_request_context("/?lang=it"):
        assert language_label("it") and language_label("qq") == "QQ"
        assert language_label("") == ""


def test_document_files_keep_what_detection_said(app, make_user, make_document):
    firm = make_user("firm")
    document = make_document(firm, files=[("x.pdf", corpus_bytes("pdf/pypdf_multilang_CYRILLIC.pdf"), None)])
    db.session.refresh(document)
    assert [(f.language, f.language_detected) for f in document.files] == [("en", "en")]
    assert Path(CORPUS).is_dir()
