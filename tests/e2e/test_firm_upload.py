"""Journey 1: a firm uploads a bilingual proposal through the upload page's JavaScript path (drop zone list,
one language per file, XMLHttpRequest with a progress bar) and sees only its own organisation's documents."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

OTHER_FIRMS_PROPOSALS = [
    "Impianti idroelettrici di piccola taglia e edifici a basso consumo",  # Energia Alpina (another Italian firm)
    "Nanomateriali per la diagnostica biomedica",  # Sibirskie tekhnologii
    "Ammodernamento delle turbine a gas",  # Uralskiy zavod
]
OWN_DEMO_PROPOSAL = "Linee di assemblaggio meccatroniche per il distretto di Togliatti"
TITLE_IT = "Stampi per pressofusione dell'alluminio"
TITLE_RU = "Пресс-формы для литья алюминия под давлением"
TEXT_IT = (
    b"Proponiamo una collaborazione per la progettazione di stampi per la pressofusione dell'alluminio, "
    b"con formazione dei tecnici e assistenza alla messa in servizio delle presse."
)
TEXT_RU = (
    "Мы предлагаем сотрудничество в проектировании пресс-форм для литья алюминия под давлением, "
    "с обучением специалистов и помощью при вводе прессов в эксплуатацию."
).encode()

DROP_FILE = """
([name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, {type: "text/plain"}));
  const zone = document.querySelector("[data-drop-zone]");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
  }
}
"""
# The progress panel's texts, kept in sessionStorage so that they survive the navigation to the new document.
RECORD_PROGRESS = """
() => {
  const panel = document.querySelector("[data-progress]");
  const text = panel.querySelector("[data-progress-text]");
  new MutationObserver(() => {
    if (panel.hidden || !text.textContent) { return; }
    const seen = JSON.parse(sessionStorage.getItem("e2e-progress") || "[]");
    seen.push(text.textContent);
    sessionStorage.setItem("e2e-progress", JSON.stringify(seen));
  }).observe(panel, {attributes: true, childList: true, subtree: true, characterData: true});
}
"""


def test_firm_uploads_bilingual_proposal_and_sees_only_its_own(open_browser, shot, admin_api):
    firm = open_browser("firm_it")
    page = firm.page
    firm.goto("/documents/new")

    # The script replaced the plain file slots with the drop zone panel.
    enhanced = page.locator("[data-upload-enhanced]")
    expect(enhanced).to_be_visible()
    expect(page.locator("[data-upload-slots]")).to_be_hidden()

    page.get_by_label("Title in Italian").fill(TITLE_IT)
    page.get_by_label("Title in Russian").fill(TITLE_RU)
    page.get_by_label("Kind").select_option("proposal")
    page.get_by_role("checkbox", name="Mechanics").check()
    # One file through the picker, the other dropped on the drop zone (a real DataTransfer with a File in it).
    page.get_by_label("Add files").set_input_files(
        {"name": "pressofusione-it.txt", "mimeType": "text/plain", "buffer": TEXT_IT}
    )
    page.evaluate(DROP_FILE, ["litjo-pod-davleniem-ru.txt", TEXT_RU.decode()])
    rows = page.locator("[data-upload-list] tr:not([data-empty-row])")
    expect(rows).to_have_count(2)
    # One language per file, guessed from the names (and the texts), each select labelled with its file's name.
    expect(page.get_by_label("Language of pressofusione-it.txt")).to_have_value("it")
    expect(page.get_by_label("Language of litjo-pod-davleniem-ru.txt")).to_have_value("ru")
    # Two files are two documents unless the uploader says they are the two language versions of one.
    page.get_by_label("Two files: the Italian and the Russian version of one document").check()
    shot(page, "1-files-chosen")

    page.evaluate(RECORD_PROGRESS)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/documents/new")) as sent:
        page.get_by_role("button", name="Upload", exact=True).click()
    assert sent.value.resource_type == "xhr", "the upload must go through upload.js (XMLHttpRequest + progress)"
    page.wait_for_url(re.compile(r"/documents/\d+$"))
    progress = page.evaluate("() => JSON.parse(sessionStorage.getItem('e2e-progress') || '[]')")
    assert any(text.startswith("Uploading…") for text in progress), progress  # the progress bar was shown
    document_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE_IT)
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE_RU)
    expect(page.get_by_text("pressofusione-it.txt").first).to_be_visible()
    expect(page.get_by_text("litjo-pod-davleniem-ru.txt").first).to_be_visible()
    shot(page, "2-uploaded")

    stored = admin_api(f"/documents/{document_id}")
    assert stored["title_it"] == TITLE_IT and stored["title_ru"] == TITLE_RU
    assert sorted(f["language"] for f in stored["files"]) == ["it", "ru"]

    # The list: its own documents, none of the other firms' proposals.
    firm.goto("/")
    listing = page.locator("main table")
    expect(listing).to_contain_text(TITLE_IT)
    expect(listing).to_contain_text(OWN_DEMO_PROPOSAL)
    for title in OTHER_FIRMS_PROPOSALS:
        expect(listing).not_to_contain_text(title)
    shot(page, "3-list")

    # Another firm's document, opened by its URL: the 404 page, as if it did not exist.
    others = {d["title_it"]: d for d in admin_api("/documents?kind=proposal&per_page=100")["items"]}
    assert stored["organization_id"] == others[OWN_DEMO_PROPOSAL]["organization_id"]  # filed under its own firm
    foreign = admin_api(f"/documents/{others['Nanomateriali per la diagnostica biomedica']['id']}")
    foreign_file = foreign["files"][0]
    for path in (
        f"/documents/{foreign['id']}",
        f"/documents/{foreign['id']}/files/{foreign_file['id']}/view",
        f"/documents/{foreign['id']}/files/{foreign_file['id']}/download",
    ):
        firm.guard.expect_console_error(f"status of 404 (NOT FOUND) @ {firm.server.url}{path}")
        response = firm.goto(path)
        assert response.status == 404, path
        assert "Nanomateriali" not in page.content()
    expect(page.locator("main .error-page")).to_be_visible()
    shot(page, "4-foreign-404")
    firm.guard.assert_clean()
