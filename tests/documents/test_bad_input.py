"""Bad uploads get a precise error and leave data, files and the index queue exactly as they were."""

from __future__ import annotations

import io
import os

import pytest

from tests.conftest import api_upload, corpus_bytes, multipart, stored_blob_count, table_counts

GOOD_TXT = corpus_bytes("text/udhr_ita.txt")
HTML = b"<!doctype html><html><body><script>alert(1)</script><p>Proposta</p></body></html>"
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 200
GIF = b"GIF89a" + b"\x00" * 200  # images other than scans (PNG/JPEG/TIFF) are refused


def _zip_of_notes() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "Appunti della riunione.")
    return out.getvalue()


ZIP = _zip_of_notes()  # a zip that is neither DOCX nor ODT
ENCRYPTED = [
    "pdf/opf_encryption_openpassword_ENCRYPTED.pdf",
    "pdf/pypdf_crazyones-encrypted-256_ENCRYPTED_pw-password.pdf",
    "docx/tika_testWORD_protected_ENCRYPTED_pw-tika.docx",
    "odt/tika_testODTEncrypted_ENCRYPTED.odt",
]
MALFORMED = ["docx/tika_testWORD_truncated_MALFORMED.docx"]


@pytest.fixture
def unchanged(app):
    """Call it once before the request (after logging in) and once after: asserts nothing changed."""
    state = {}

    def check():
        if "before" not in state:
            # A first request ends whatever the test's own setup left open, so the snapshot shows only what
            # the refused request does.
            app.test_client().get("/login")
        snapshot = (table_counts(), stored_blob_count(app), _files_under(app.config["STORAGE_DIR"]))
        if "before" not in state:
            state["before"] = snapshot
        else:
            assert snapshot == state["before"]

    return check


def _files_under(root) -> set[str]:
    found = set()
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found - {"secret_key"}


def _error(response, status: int, code: str, field: str | None = "file") -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    if field is not None:
        assert error.get("field") == field
    return error


# --- types -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, data",
    [("proposal.pdf", HTML), ("proposal.txt", HTML), ("tool.pdf", ELF), ("picture.pdf", GIF), ("archive.docx", ZIP)],
)
def test_disguised_or_unsupported_types_are_415(client, headers, unchanged, name, data):
    unchanged()
    error = _error(api_upload(client, headers, [(name, data)]), 415, "unsupported_file_type")
    assert name in error["message"]
    unchanged()


@pytest.mark.parametrize("path", ENCRYPTED)
def test_encrypted_files_are_refused(client, headers, unchanged, path):
    unchanged()
    _error(api_upload(client, headers, [(path.rsplit("/", 1)[-1], corpus_bytes(path))]), 422, "encrypted_file")
    unchanged()


@pytest.mark.parametrize("path", MALFORMED)
def test_malformed_files_are_refused(client, headers, unchanged, path):
    unchanged()
    _error(api_upload(client, headers, [(path.rsplit("/", 1)[-1], corpus_bytes(path))]), 422, "malformed_file")
    unchanged()


def test_empty_file_is_refused(client, headers, unchanged):
    unchanged()
    _error(api_upload(client, headers, [("empty.txt", b"")]), 422, "empty_file")
    unchanged()


# --- sizes -------------------------------------------------------------------------------------


@pytest.mark.app_config(MAX_UPLOAD_MB=1)
def test_one_oversized_part_is_413(client, headers, unchanged):
    unchanged()
    big = ("Proposta di partenariato industriale. " * 45_000).encode()  # ~1.7 MB, valid text
    assert len(big) > 1024 * 1024
    _error(api_upload(client, headers, [("big.txt", big)]), 413, "file_too_large")
    unchanged()


@pytest.mark.app_config(MAX_UPLOAD_MB=1)
def test_a_body_larger_than_the_limit_is_413(app, client, headers, unchanged):
    unchanged()
    body_limit = app.config["MAX_CONTENT_LENGTH"]
    parts = [(f"part{i}.txt", b"a" * (1024 * 1024 - 10)) for i in range(body_limit // (1024 * 1024) + 1)]
    response = api_upload(client, headers, parts)
    _error(response, 413, "file_too_large", field=None)
    assert "1 MB" in response.get_json()["error"]["message"]
    unchanged()


@pytest.mark.app_config(MAX_UPLOAD_MB=1)
def test_oversized_uploads_in_the_browser(app, firm, browser, unchanged):
    firm_client, csrf = browser(firm)
    unchanged()
    big = ("Proposta di partenariato industriale. " * 45_000).encode()
    page = firm_client.post(
        "/documents/new", data={"title_it": "Grande", "csrf_token": csrf, "file": (io.BytesIO(big), "big.txt")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 413
    html = page.get_data(as_text=True)
    assert 'data-code="file_too_large"' in html and "big.txt" in html and 'name="title_it"' in html
    huge = b"a" * (app.config["MAX_CONTENT_LENGTH"] + 1024)
    page = firm_client.post(
        "/documents/new", data={"title_it": "Enorme", "csrf_token": csrf, "file": (io.BytesIO(huge), "huge.txt")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 413 and "1 MB" in page.get_data(as_text=True)
    unchanged()


# --- fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, code, field",
    [
        ({"title_it": "", "title_ru": ""}, "missing_field", "title_it"),
        ({"title_it": "   "}, "missing_field", "title_it"),
        ({"title_it": "x" * 501}, "invalid_field", "title_it"),
        ({"kind": "letter"}, "invalid_field", "kind"),
        ({"sectors": "energy,fishing"}, "invalid_field", "sectors"),
        ({"language": "de"}, "invalid_field", "language"),
        ({"language": ["it", "ru", "bi"]}, "invalid_field", "language"),
        ({"session_id": "abc"}, "invalid_field", "session_id"),
        ({"session_id": "999"}, "invalid_field", "session_id"),
        ({"organization_id": "999"}, "invalid_field", "organization_id"),
        ({"colour": "red"}, "unknown_field", "colour"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(client, headers, unchanged, fields, code, field):
    unchanged()
    _error(api_upload(client, headers, [("a.txt", GOOD_TXT), ("b.txt", GOOD_TXT + b"!")], **fields), 422, code, field)
    unchanged()


def test_no_file_is_422(client, headers, unchanged):
    unchanged()
    _error(api_upload(client, headers, []), 422, "missing_field")
    response = client.post("/api/v1/documents", json={"title_it": "Senza file"}, headers=headers)
    _error(response, 422, "missing_field")
    response = client.post(
        "/api/v1/documents", data={"title_it": "x", "attachment": (io.BytesIO(GOOD_TXT), "a.txt")},
        headers=headers, content_type="multipart/form-data",
    )
    _error(response, 422, "unknown_field", "attachment")
    unchanged()


def test_add_file_refuses_bad_input_too(client, headers, make_document, firm, unchanged):
    document = make_document(firm)
    url = f"/api/v1/documents/{document.id}/files"
    unchanged()
    _error(client.post(url, data=multipart([("x.pdf", HTML)]), headers=headers, content_type="multipart/form-data"),
           415, "unsupported_file_type")
    _error(client.post(url, data=multipart([]), headers=headers, content_type="multipart/form-data"),
           422, "missing_field")
    _error(client.post(url, data=multipart([("a.txt", GOOD_TXT), ("b.txt", GOOD_TXT)]), headers=headers,
                       content_type="multipart/form-data"), 422, "invalid_field")
    _error(client.post(url, data=multipart([("a.txt", GOOD_TXT)], language="xx"), headers=headers,
                       content_type="multipart/form-data"), 422, "invalid_field", "language")
    _error(client.post(url, data=multipart([("a.txt", GOOD_TXT)], title_it="no"), headers=headers,
                       content_type="multipart/form-data"), 422, "unknown_field", "title_it")
    enc = "pdf/opf_encryption_openpassword_ENCRYPTED.pdf"
    _error(client.post(url, data=multipart([("e.pdf", corpus_bytes(enc))]), headers=headers,
                       content_type="multipart/form-data"), 422, "encrypted_file")
    unchanged()


def test_a_bad_second_file_stores_nothing_of_the_first(app, client, headers, unchanged):
    unchanged()
    first = corpus_bytes("docx/python-docx_blk-paras-and-tables.docx")
    _error(api_upload(client, headers, [("good.docx", first), ("bad.pdf", HTML)]), 415, "unsupported_file_type")
    unchanged()
    _error(
        api_upload(client, headers, [("good.docx", first), ("enc.pdf",
                                                              corpus_bytes("pdf/opf_encryption_openpassword_ENCRYPTED.pdf"))]),
        422, "encrypted_file",
    )
    unchanged()
    from docmgr.storage import sha256_bytes

    assert not app.extensions["docmgr.store"].exists(sha256_bytes(first))


def test_blobs_stored_by_a_transaction_that_rolls_back_are_removed(app):
    """The safety net behind every refusal that happens after bytes were stored."""
    from docmgr.extensions import db
    from docmgr.storage import current_store, store_bytes

    before = stored_blob_count(app)
    with app.test_request_context("/api/v1/documents", method="POST"):
        kept = store_bytes(b"bytes that were already committed elsewhere")
        db.session.commit()
        dropped = store_bytes(b"bytes stored by a request that then failed")
        again = store_bytes(b"bytes that were already committed elsewhere")
        assert dropped.is_new and not again.is_new
        db.session.rollback()
    # removed at the rollback, or at the latest when the request ends
    assert not current_store().exists(dropped.sha256)
    assert current_store().exists(kept.sha256)  # an older blob is never removed by someone else's rollback
    assert stored_blob_count(app) == before + 1


# --- file names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_name, shown",
    [("../../etc/passwd", "passwd"), ("a\x00b.pdf", "ab.pdf"), ("..\\..\\win.ini", "win.ini"), ("/abs/x.txt", "x.txt"),
     ("...", "file")],
)
def test_file_names_never_choose_where_bytes_land(app, client, headers, tmp_path, raw_name, shown):
    storage_before = _files_under(app.config["STORAGE_DIR"])
    data = f"Proposta numero {raw_name!r} per il distretto.".encode()
    response = api_upload(client, headers, [(raw_name, data)])
    assert response.status_code == 201, response.get_data(as_text=True)
    (file,) = response.get_json()["files"]
    assert file["filename"] == shown
    store = app.extensions["docmgr.store"]
    stored = store.path(file["sha256"])
    assert stored.read_bytes() == data
    assert stored.relative_to(store.objects).parts == (file["sha256"][:2], file["sha256"][2:4], file["sha256"])
    # the one new file in the store is the blob (the database's own files aside), named by its hash
    new_files = _files_under(app.config["STORAGE_DIR"]) - storage_before
    assert {f for f in new_files if not f.endswith(("-wal", "-shm", ".sqlite3"))} == {str(stored.relative_to(store.root))}
    everywhere = {p.name for p in tmp_path.rglob("*")}
    assert not {"passwd", "win.ini", "x.txt", "ab.pdf", "a\x00b.pdf"} & everywhere
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "etc").exists()
    assert not list(store.tmp.iterdir())  # no spooled upload left behind
    download = client.get(
        f"/api/v1/documents/{response.get_json()['id']}/files/{file['id']}/content", headers=headers
    )
    assert download.status_code == 200 and "/" not in download.headers["Content-Disposition"].split("filename", 1)[1]


# --- the browser form --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, files, status, message",
    [
        ({"title_it": ""}, [("a.txt", GOOD_TXT)], 422, "Give a title"),
        ({"title_it": "T", "kind": "letter"}, [("a.txt", GOOD_TXT)], 422, "Kind must be one of"),
        ({"title_it": "T", "sectors": "fishing"}, [("a.txt", GOOD_TXT)], 422, "Unknown sector"),
        ({"title_it": "T", "session_id": "abc"}, [("a.txt", GOOD_TXT)], 422, "Choose a value"),
        ({"title_it": "T", "session_id": "999"}, [("a.txt", GOOD_TXT)], 422, "No such task-force session"),
        ({"title_it": "T", "language": "de"}, [("a.txt", GOOD_TXT)], 422, "Language must be one of"),
        ({"title_it": "T"}, [], 422, "Attach at least one file"),
        ({"title_it": "T"}, [("fake.pdf", HTML)], 415, 'data-code="unsupported_file_type"'),
        ({"title_it": "T"}, [("a.txt", GOOD_TXT), ("fake.pdf", HTML)], 415, "fake.pdf"),
        ({"title_it": "T"}, [("e.pdf", corpus_bytes("pdf/opf_encryption_openpassword_ENCRYPTED.pdf"))], 422,
         "password"),
        ({"title_it": "T"}, [("m.docx", corpus_bytes("docx/tika_testWORD_truncated_MALFORMED.docx"))], 422, "m.docx"),
    ],
)
def test_browser_form_rerenders_with_the_message(firm, browser, unchanged, fields, files, status, message):
    firm_client, csrf = browser(firm)
    unchanged()
    data = {**fields, "csrf_token": csrf}
    if files:
        data["file"] = [(io.BytesIO(content), name) for name, content in files]
    page = firm_client.post("/documents/new", data=data, content_type="multipart/form-data")
    assert page.status_code == status
    html = page.get_data(as_text=True)
    assert message in html and 'class="flash error"' in html
    assert '<form method="post" enctype="multipart/form-data"' in html  # the form again, not an error page
    if fields.get("title_it") == "T":
        assert 'value="T"' in html  # what the user typed is kept
    unchanged()


def test_browser_add_file_shows_errors_on_the_detail_page(firm, browser, make_document, unchanged):
    document = make_document(firm)
    firm_client, csrf = browser(firm)
    unchanged()
    page = firm_client.post(
        f"/documents/{document.id}/files", data={"csrf_token": csrf, "file": (io.BytesIO(HTML), "x.pdf")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 415 and 'data-code="unsupported_file_type"' in page.get_data(as_text=True)
    page = firm_client.post(f"/documents/{document.id}/files", data={"csrf_token": csrf},
                            content_type="multipart/form-data")
    assert page.status_code == 422 and "Choose a file" in page.get_data(as_text=True)
    unchanged()
