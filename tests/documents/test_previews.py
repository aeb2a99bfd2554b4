"""Page previews: thumbnails, page images and the viewer — real PDFs rendered by pdfium, decoded by Pillow."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from docmgr.documents import previews
from tests.conftest import CORPUS, api_upload, csrf_from

FOUR_PAGES = (CORPUS / "pdf" / "sample-files_pdflatex-4-pages.pdf").read_bytes()
DOCX = (CORPUS / "docx" / "python-docx_blk-paras-and-tables.docx").read_bytes()


def upload(client, headers, name: str, data: bytes, **fields) -> tuple[int, dict]:
    response = api_upload(client, headers, [(name, data)], **fields)
    assert response.status_code == 201, response.get_data(as_text=True)
    document = response.get_json()
    return document["id"], document["files"][0]


def png(response) -> Image.Image:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "private" in response.headers["Cache-Control"]
    image = Image.open(io.BytesIO(response.get_data()))
    assert image.format == "PNG"
    image.load()
    return image


def cache_file(app, sha256: str, name: str):
    return app.config["STORAGE_DIR"] / "previews" / sha256 / f"{name}.png"


def test_pdf_pages_are_real_pngs_of_every_page_and_cached(app, client, headers):
    document_id, file = upload(client, headers, "quattro.pdf", FOUR_PAGES)
    listing = client.get(f"/api/v1/documents/{document_id}/files/{file['id']}/pages", headers=headers)
    assert listing.status_code == 200
    body = listing.get_json()
    assert body["pages"] == 4 and body["total_pages"] == 4 and body["truncated"] is False
    assert body["urls"] == [f"/documents/{document_id}/files/{file['id']}/pages/{n}.png" for n in range(1, 5)]
    assert body["text_status"] == "ok"

    first = None
    for n, url in enumerate(body["urls"], start=1):
        response = client.get(url, headers=headers)
        image = png(response)
        assert response.headers["ETag"].strip('"') == f"{file['sha256']}-{n}"
        assert 850 <= image.width <= 950  # a Letter/A4 page at ~110 dpi
        assert cache_file(app, file["sha256"], str(n)).is_file()
        first = first or response.get_data()

    cached = cache_file(app, file["sha256"], "1")
    stamp = cached.stat().st_mtime_ns
    again = client.get(body["urls"][0], headers=headers)
    assert again.get_data() == first and cached.stat().st_mtime_ns == stamp  # served from the cache, not re-rendered
    not_modified = client.get(body["urls"][0], headers={**headers, "If-None-Match": again.headers["ETag"]})
    assert not_modified.status_code == 304 and not_modified.get_data() == b""
    # the pages differ: page 2 is not page 1 again
    assert client.get(body["urls"][1], headers=headers).get_data() != first


def test_thumbnail_is_200px_wide_and_cached(app, client, headers):
    document_id, file = upload(client, headers, "quattro.pdf", FOUR_PAGES)
    url = f"/documents/{document_id}/files/{file['id']}/thumbnail.png"
    image = png(client.get(url, headers=headers))
    assert image.width == 200 and 250 <= image.height <= 300
    cached = cache_file(app, file["sha256"], "thumb")
    assert cached.is_file()
    stamp = cached.stat().st_mtime_ns
    png(client.get(url, headers=headers))
    assert cached.stat().st_mtime_ns == stamp


def test_images_are_shown_downscaled(client, headers):
    big = Image.new("RGB", (3000, 2000), (200, 30, 30))
    data = io.BytesIO()
    big.save(data, "JPEG")
    document_id, file = upload(client, headers, "foto_firma.jpg", data.getvalue())
    body = client.get(f"/api/v1/documents/{document_id}/files/{file['id']}/pages", headers=headers).get_json()
    assert body["pages"] == 1
    page = png(client.get(body["urls"][0], headers=headers))
    assert page.size == (previews.PREVIEW_MAX_WIDTH, round(2000 * previews.PREVIEW_MAX_WIDTH / 3000))
    assert page.getpixel((10, 10))[0] > 150  # still the red scan
    thumb = png(client.get(body["thumbnail_url"], headers=headers))
    assert thumb.size == (200, 133)


def test_docx_has_no_page_images_and_the_viewer_shows_its_text(client, headers, firm, login):
    document_id, file = upload(client, headers, "proposta.docx", DOCX)
    body = client.get(f"/api/v1/documents/{document_id}/files/{file['id']}/pages", headers=headers).get_json()
    assert (body["pages"], body["urls"], body["thumbnail_url"]) == (0, [], None)
    for url in (f"/documents/{document_id}/files/{file['id']}/pages/1.png",
                f"/documents/{document_id}/files/{file['id']}/thumbnail.png"):
        assert client.get(url, headers=headers).status_code == 404
    page = login(firm).get(body["viewer_url"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<img" not in html.split('<main id="main">')[1]
    assert 'class="doc-text"' in html and "Lorem ipsum dolor sit amet" in html


def test_viewer_lists_every_page_with_alt_text_and_lazy_loading(client, headers, firm, login):
    document_id, file = upload(client, headers, "quattro.pdf", FOUR_PAGES)
    html = login(firm).get(f"/documents/{document_id}/files/{file['id']}/view").get_data(as_text=True)
    images = re.findall(r"<img [^>]*>", html.split('<main id="main">')[1])
    assert len(images) == 4
    for n, tag in enumerate(images, start=1):
        assert f'/pages/{n}.png"' in tag
        assert f'alt="Page {n} of 4 of quattro.pdf"' in tag
        assert ('loading="lazy"' in tag) == (n > 1)
    assert html.count('tabindex="0"') >= 4  # each page can be reached with the keyboard
    assert 'href="#page-4"' in html


def test_out_of_range_pages_are_404(client, headers):
    document_id, file = upload(client, headers, "quattro.pdf", FOUR_PAGES)
    for page in (0, 5, 999):
        response = client.get(f"/documents/{document_id}/files/{file['id']}/pages/{page}.png", headers=headers)
        assert response.status_code == 404


def test_another_firm_gets_404_on_every_preview_route(client, headers, make_user, token_for, login):
    document_id, file = upload(client, headers, "quattro.pdf", FOUR_PAGES)
    base = f"/documents/{document_id}/files/{file['id']}"
    other = make_user("firm")
    other_headers = token_for(other)
    for url in (f"{base}/thumbnail.png", f"{base}/pages/1.png", f"{base}/view",
                f"/api/v1{base}/pages", f"/api/v1/documents/{document_id}/files/999999/pages"):
        response = client.get(url, headers=other_headers)
        assert response.status_code == 404, url
        assert b"quattro" not in response.get_data()
    browser = login(other)
    for url in (f"{base}/thumbnail.png", f"{base}/pages/2.png", f"{base}/view"):
        assert browser.get(url).status_code == 404, url
    # a file id that exists, under a document id of the other firm's own
    own_id, own_file = upload(client, other_headers, "mio.pdf", FOUR_PAGES)
    assert client.get(f"/documents/{own_id}/files/{file['id']}/pages/1.png", headers=other_headers).status_code == 404


def test_ministry_and_legal_can_see_previews(client, headers, make_user, token_for):
    document_id, file = upload(client, headers, "quattro.pdf", FOUR_PAGES)
    for role in ("ministry", "legal", "admin"):
        png(client.get(f"/documents/{document_id}/files/{file['id']}/thumbnail.png", headers=token_for(make_user(role))))


def test_not_logged_in_gets_nothing(client, headers):
    document_id, file = upload(client, headers, "quattro.pdf", FOUR_PAGES)
    page = client.get(f"/documents/{document_id}/files/{file['id']}/pages/1.png")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    assert client.get(f"/api/v1/documents/{document_id}/files/{file['id']}/pages").status_code == 401


def test_a_huge_page_is_rendered_within_the_pixel_budget(client, headers):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=14_400, height=14_400)  # 200 x 200 inches: 22000 px square at 110 dpi
    out = io.BytesIO()
    writer.write(out)
    document_id, file = upload(client, headers, "enorme.pdf", out.getvalue())
    image = png(client.get(f"/documents/{document_id}/files/{file['id']}/pages/1.png", headers=headers))
    assert image.width * image.height <= previews.PREVIEW_MAX_PIXELS


@pytest.mark.app_config(PREVIEW_TIMEOUT=0.001)
def test_a_render_that_times_out_fails_cleanly_and_is_remembered(app, client, headers):
    document_id, file = upload(client, headers, "quattro.pdf", FOUR_PAGES)
    url = f"/documents/{document_id}/files/{file['id']}/pages/1.png"
    response = client.get(url, headers={**headers, "Accept": "application/json"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "preview_failed"
    marker = cache_file(app, file["sha256"], "1").with_suffix(".failed")
    assert marker.is_file() and "longer than" in marker.read_text()
    assert not cache_file(app, file["sha256"], "1").exists()
    app.config["PREVIEW_TIMEOUT"] = 30  # even with time enough now, the failure is remembered for a while
    assert client.get(url, headers={**headers, "Accept": "application/json"}).status_code == 422


def test_documents_index_shows_thumbnails(client, headers, firm, login):
    pdf_id, pdf_file = upload(client, headers, "quattro.pdf", FOUR_PAGES, title_it="Con anteprima")
    upload(client, headers, "proposta.docx", DOCX, title_it="Senza anteprima")
    html = login(firm).get("/").get_data(as_text=True)
    assert f'src="/documents/{pdf_id}/files/{pdf_file["id"]}/thumbnail.png"' in html
    assert 'alt="First page of quattro.pdf"' in html
    assert 'class="thumb thumb-text"' in html  # the DOCX gets a labelled placeholder


def test_detail_page_links_the_viewer(client, headers, firm, login):
    document_id, file = upload(client, headers, "quattro.pdf", FOUR_PAGES)
    html = login(firm).get(f"/documents/{document_id}").get_data(as_text=True)
    assert f'href="/documents/{document_id}/files/{file["id"]}/view"' in html


# --- upload comfort: several files at once, paired languages, the script -----------------------------------------


def test_upload_form_offers_multiple_files_and_its_script(client, firm, login):
    browser = login(firm)
    html = browser.get("/documents/new").get_data(as_text=True)
    assert re.search(r'<input id="more_files" type="file" name="file" multiple', html)
    assert '<script src="/static/js/upload.js" defer></script>' in html
    assert "<script>" not in html  # CSP: no inline scripts
    for label_for in ("file0", "file1", "more_files", "upload-picker", "upload-progress-bar"):
        assert f'<label for="{label_for}"' in html
    script = browser.get("/static/js/upload.js")
    assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
    assert b"XMLHttpRequest" in script.get_data()


def test_form_upload_pairs_languages_and_takes_more_files(client, firm, login):
    browser = login(firm)
    token = csrf_from(browser.get("/documents/new").get_data(as_text=True))
    italian = b"Proposta di collaborazione tra distretti industriali italiani e russi."
    russian = "Предложение о сотрудничестве промышленных округов Италии и России.".encode()
    response = browser.post(
        "/documents/new",
        data={
            "csrf_token": token, "title_it": "Proposta bilingue", "kind": "proposal",
            # slot 1 left empty, slot 2 Russian (declared), then two more files whose language is detected
            "file": [(io.BytesIO(b""), ""), (io.BytesIO(russian), "ru.txt"), (io.BytesIO(italian), "it.txt"),
                     (io.BytesIO(FOUR_PAGES), "allegato.pdf")],
            "language": ["", "ru"], "grouping": "versions",  # one document with every file
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    from docmgr.documents.models import Document
    from docmgr.extensions import db

    document = db.session.get(Document, int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1]))
    # the PDF is English ("Hello, here is some text without a meaning…"): detected as such, not as Italian
    assert sorted((f.filename, f.language) for f in document.files) == [
        ("allegato.pdf", "en"), ("it.txt", "it"), ("ru.txt", "ru")
    ]


def test_each_page_of_a_multi_page_tiff_is_shown(client, headers):
    frames = [Image.new("L", (400, 300), shade) for shade in (0, 128, 255)]
    data = io.BytesIO()
    frames[0].save(data, "TIFF", save_all=True, append_images=frames[1:])
    document_id, file = upload(client, headers, "tre.tif", data.getvalue())
    body = client.get(f"/api/v1/documents/{document_id}/files/{file['id']}/pages", headers=headers).get_json()
    assert body["pages"] == 3
    shades = [png(client.get(url, headers=headers)).convert("L").getpixel((5, 5)) for url in body["urls"]]
    assert shades == [0, 128, 255]
