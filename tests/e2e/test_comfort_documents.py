"""Issue 16 journeys in Chromium: edit a document's details; trash and restore; a three-file upload giving three
documents; explicit pairing of an Italian and a Russian file; bulk assign and the ZIP of selected documents;
internal notes (legal writes, the firm never sees them); the admins' retention periods. Screenshots of each new page.

Each journey works on documents it uploads itself (unique titles), so the demo data other journeys rely on stays."""

from __future__ import annotations

import io
import re
import uuid
import zipfile

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TEXTS = {
    "turbine.txt": b"Proponiamo turbine idrauliche di piccola taglia per i distretti industriali.",
    "compressori.txt": b"Compressori a basso consumo per le officine meccaniche del distretto.",
    "pompe.txt": b"Pompe di calore per gli edifici industriali e la rete di teleriscaldamento.",
}
TEXT_IT = b"Proposta di collaborazione per la manutenzione predittiva delle linee di assemblaggio meccatroniche."
TEXT_RU = ("Предложение о сотрудничестве в области предиктивного обслуживания мехатронных сборочных линий "
           "на предприятиях округа.").encode()


def _tag() -> str:
    return uuid.uuid4().hex[:6]


def _upload(session, title: str, files: dict[str, bytes], grouping: str | None = None) -> None:
    """The upload page's JavaScript path: files in the drop-zone list, then one XMLHttpRequest."""
    page = session.page
    session.goto("/documents/new")
    page.get_by_label("Title in Italian").fill(title)
    page.get_by_label("Add files").set_input_files(
        [{"name": name, "mimeType": "text/plain", "buffer": data} for name, data in files.items()])
    expect(page.locator("[data-upload-list] tr:not([data-empty-row])")).to_have_count(len(files))
    if grouping:
        page.get_by_label(grouping).check()
    page.get_by_role("button", name="Upload", exact=True).click()


def test_three_files_give_three_documents_and_pairing_is_explicit(open_browser, shot):
    firm = open_browser("firm_it")
    page = firm.page
    title = f"Lotto {_tag()}"
    _upload(firm, title, TEXTS)
    page.wait_for_url(re.compile(r"/$"))
    # The message names the three documents: the script goes to the list itself, so the list shows it (an
    # XMLHttpRequest following a redirect would have spent it).
    message = page.locator("main .flash.success")
    expect(message).to_contain_text("3 documents were uploaded, one per file")
    listing = page.locator("main table")
    for name in ("turbine", "compressori", "pompe"):
        expect(message).to_contain_text(f"{title} – {name}")
        expect(listing).to_contain_text(f"{title} – {name}")
    shot(page, "1-three-documents")

    paired = f"Coppia {_tag()}"
    firm.goto("/documents/new")
    expect(page.get_by_label("Each file is its own document")).to_be_checked()  # the default
    shot(page, "2-upload-choices")
    _upload(firm, paired, {"manutenzione-it.txt": TEXT_IT, "obsluzhivanie-ru.txt": TEXT_RU},
            grouping="Two files: the Italian and the Russian version of one document")
    page.wait_for_url(re.compile(r"/documents/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(paired)
    files = page.locator("main table").first
    expect(files).to_contain_text("manutenzione-it.txt")
    expect(files).to_contain_text("obsluzhivanie-ru.txt")
    expect(files).to_contain_text("Russian")
    shot(page, "3-paired")

    # Pairing two Italian files is refused, saying why.
    _upload(firm, f"Coppia sbagliata {_tag()}", {"uno.txt": TEXT_IT, "due.txt": TEXTS["turbine.txt"]},
            grouping="Two files: the Italian and the Russian version of one document")
    firm.guard.expect_console_error("422")
    expect(page.locator("[data-upload-error]")).to_contain_text("one Italian and one Russian file", timeout=60_000)
    shot(page, "4-pairing-refused")


def test_edit_then_trash_and_restore(open_browser, shot):
    firm = open_browser("firm_it")
    page = firm.page
    title = f"Da correggere {_tag()}"
    _upload(firm, title, {"correggere.txt": TEXTS["pompe.txt"]})
    page.wait_for_url(re.compile(r"/documents/\d+$"))
    document_url = page.url
    # The page says "processing" until the worker is done, then reloads once: the upload's message stays.
    expect(page.locator("[data-processing-url]")).to_have_count(0, timeout=60_000)  # reloaded
    page.wait_for_load_state()
    expect(page.locator("main .flash.success")).to_have_text("The document was uploaded.")

    page.get_by_role("link", name="Edit details").click()
    page.wait_for_url(re.compile(r"/documents/\d+/edit$"))
    page.get_by_label("Title in Italian").fill("")
    firm.guard.expect_console_error("422")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#title_it-error")).to_be_visible()  # a title in one language at least
    shot(page, "1-edit-errors")
    fixed = f"Corretto {_tag()}"
    page.get_by_label("Title in Italian").fill(fixed)
    page.get_by_label("Title in Russian").fill("Исправленное название")
    page.get_by_role("checkbox", name="Energy").check()
    page.get_by_label("Document date").fill("2013-05-06")
    shot(page, "2-edit")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(document_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text(fixed)
    expect(page.locator("main")).to_contain_text("Исправленное название")

    page.get_by_role("button", name="Move to the trash").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.get_by_text("The document was moved to the trash.")).to_be_visible()
    expect(page.locator("main table")).not_to_contain_text(fixed)
    assert firm.goto(document_url.removeprefix(firm.server.url)).status == 404
    firm.guard.expect_console_error("404")
    firm.goto("/trash")
    row = page.locator("tr", has_text=fixed)
    expect(row).to_be_visible()
    shot(page, "3-trash")
    row.get_by_role("button", name=re.compile("^Restore")).click()
    page.wait_for_url(document_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text(fixed)
    expect(page.locator("[data-processing-url]")).to_have_count(0, timeout=60_000)  # reloaded
    expect(page.locator("main .flash.success")).to_have_text("The document was restored.")  # kept over the reload
    shot(page, "4-restored")


def test_bulk_assign_and_zip_download(open_browser, shot):
    firm = open_browser("firm_it")
    page = firm.page
    title = f"Massa {_tag()}"
    _upload(firm, title, {"uno.txt": TEXTS["turbine.txt"], "due.txt": TEXTS["compressori.txt"]})
    page.wait_for_url(re.compile(r"/$"))

    legal = open_browser("legal")
    lp = legal.page
    legal.goto(f"/?q={title}")
    for name in ("uno", "due"):
        lp.get_by_label(f"Select {title} – {name}").check()
    lp.get_by_label("Task-force session").select_option(index=2)  # the first real session
    chosen = lp.get_by_label("Task-force session").evaluate("s => s.options[s.selectedIndex].text")
    lp.get_by_role("checkbox", name="Biotechnology").check()
    shot(lp, "1-selection")
    lp.get_by_role("button", name="Assign").click()
    lp.wait_for_url(re.compile(r"/$"))
    expect(lp.get_by_text("2 documents were updated.")).to_be_visible()
    legal.goto(f"/?q={title}&sector=biotech")
    expect(lp.locator("main table tbody tr")).to_have_count(2)
    lp.get_by_role("link", name=f"{title} – uno").click()
    expect(lp.locator("main")).to_contain_text(chosen)
    shot(lp, "2-assigned")

    legal.goto(f"/?q={title}")
    for name in ("uno", "due"):
        lp.get_by_label(f"Select {title} – {name}").check()
    with lp.expect_download() as download:
        lp.get_by_role("button", name="Download as ZIP").click()
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert sorted(n.rsplit("/", 1)[1] for n in archive.namelist()) == ["due.txt", "uno.txt"]
    assert TEXTS["turbine.txt"] in [archive.read(n) for n in archive.namelist()]


def test_notes_for_legal_never_for_the_firm(open_browser, shot):
    firm = open_browser("firm_it")
    title = f"Con nota {_tag()}"
    _upload(firm, title, {"nota.txt": TEXTS["pompe.txt"]})
    firm.page.wait_for_url(re.compile(r"/documents/\d+$"))
    document_path = firm.page.url.removeprefix(firm.server.url)

    legal = open_browser("legal")
    legal.goto(document_path)
    note = f"Verificare il preventivo prima della sessione ({_tag()})."
    legal.page.get_by_label("New note").fill(note)
    legal.page.get_by_role("button", name="Add note").click()
    expect(legal.page.locator("#notes")).to_contain_text(note)
    shot(legal.page, "1-note")

    ministry = open_browser("ministry")
    ministry.goto(document_path)
    expect(ministry.page.locator("#notes")).to_contain_text(note)
    expect(ministry.page.get_by_role("button", name="Add note")).to_have_count(0)

    firm.goto(document_path)
    expect(firm.page.locator("main")).not_to_contain_text(note)
    expect(firm.page.locator("#notes")).to_have_count(0)
    shot(firm.page, "2-firm-sees-no-notes")


def test_admin_sets_retention_periods(open_browser, shot):
    admin = open_browser("admin")
    page = admin.page
    admin.goto("/documents/retention")
    page.get_by_label("Annex – days").fill("-1")
    page.get_by_label("Other – days").fill("many")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#days_annex-error")).to_be_visible()
    expect(page.locator("#days_other-error")).to_be_visible()  # every wrong value at once
    admin.guard.expect_console_error("422")
    shot(page, "1-errors")
    page.get_by_label("Annex – days").fill("0")
    page.get_by_label("Other – days").fill("0")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("The retention periods were saved.")).to_be_visible()
    shot(page, "2-saved")
