"""Backups: `docmgr export` while the service runs, `docmgr import` into a new instance, and refusals."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from docmgr import create_app
from docmgr.extensions import db
from tests.conftest import CORPUS, api_upload, corpus_bytes, stored_blob_count, table_counts

BACKUP_KEY = "backup-test-key"  # both instances of a test are told the key the archive is signed with
CORPUS_FILES = [
    "pdf/pypdf_multilang_CYRILLIC.pdf",
    "docx/python-docx_blk-paras-and-tables.docx",
    "odt/odfpy_simpletable.odt",
]


def new_instance(folder: Path):
    """A second, separate instance: its own database, storage and index folders."""
    app = create_app({
        "TESTING": True,
        "STORAGE_DIR": str(folder / "storage"),
        "INDEX_DIR": str(folder / "index"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'db.sqlite3'}",
        "SECRET_KEY": "another-test-secret",
    })
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def instances(tmp_path):
    created = []

    def make(name: str):
        app = new_instance(tmp_path / name)
        created.append(app)
        return app

    yield make
    for app in created:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def cli(app, *args: str):
    return app.test_cli_runner().invoke(args=["docmgr", *args], catch_exceptions=False)


def png_scan() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 120), "white")
    ImageDraw.Draw(image).line((10, 100, 280, 20), fill="black", width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def populated(app, make_org, make_user, make_document):
    """Real documents (corpus files), an agreement with a rendered draft, signed by both parties (scans),
    executed, with its certificate: every kind of stored file the database can refer to."""
    from docmgr.drafting.services import create_agreement, render_draft, sync_templates, update_agreement
    from docmgr.signatures import services as signatures

    org_it, org_ru = make_org(country="IT"), make_org(country="RU")
    firm_it, firm_ru = make_user("firm", org_it), make_user("firm", org_ru)
    legal, legal2 = make_user("legal"), make_user("legal")
    make_document(firm_it, files=[("proposta.pdf", corpus_bytes(CORPUS_FILES[0]), None),
                                  ("proposta.docx", corpus_bytes(CORPUS_FILES[1]), "it")])
    make_document(firm_ru, files=[("предложение.odt", corpus_bytes(CORPUS_FILES[2]), "ru")], sectors=["energy"])
    sync_templates(db.session)
    agreement = create_agreement(
        db.session, legal, template_key="mou", title="MoU di prova", organization_ids=[org_it.id, org_ru.id],
        fields={"effective_date": "2014-05-15", "duration_years": 3, "notice_days": 60, "budget_eur": 250000,
                "coordinator": org_it.id, "signing_place_it": "Torino", "signing_place_ru": "Турин",
                "subject_it": "linee di assemblaggio", "subject_ru": "сборочные линии"},
        signatories=[{"name": "Marco Bianchi", "title": "Amministratore", "organization_id": org_it.id},
                     {"name": "Анна Смирнова", "title": "Директор", "organization_id": org_ru.id}],
    )
    db.session.commit()
    update_agreement(db.session, legal, agreement.id, title="MoU di prova (rev.)")
    render_draft(db.session, legal, agreement.id)
    db.session.commit()
    for status, actor in (("in_review", legal), ("approved", legal2), ("out_for_signature", legal)):
        signatures.transition(db.session, actor, agreement.id, status)
        db.session.commit()
    ordered = sorted(agreement.signatories, key=lambda s: s.organization_id)
    for index, (signatory, firm) in enumerate(zip(ordered, (firm_it, legal), strict=True)):
        with app.test_request_context():  # the completion certificate is rendered from a page template
            # The same scan for both: legal records it as one counterpart signed by both (else 409).
            outcome = signatures.record_signature(
                db.session, firm, agreement.id, signatory.id, stream=io.BytesIO(png_scan()), filename="firma.png",
                method="wet_ink", shared_counterpart=index == 1)
            db.session.commit()
            if outcome.pending_review:  # the firm's own scan counts once legal accepted it
                signatures.review_submission(db.session, legal, agreement.id, signatory.id, outcome.submission.id,
                                             "accept")
                db.session.commit()
    db.session.refresh(agreement)
    assert agreement.status == "executed"
    assert agreement.certificate_sha256 and agreement.frozen_pdf_sha256
    # Plain values: ORM objects of this app must not be touched inside another app's context.
    return {"agreement_id": agreement.id, "firm_email": firm_it.email}


def snapshot_of_instance(app) -> dict:
    """Everything import must bring back: row counts, every stored file's bytes, rows that point at them."""
    from docmgr.audit.services import verify_chain
    from docmgr.documents.models import DocumentFile
    from docmgr.drafting.models import Agreement, Draft, Signatory

    store = app.extensions["docmgr.store"]
    files = {sha: store.read(sha) for sha in store.iter_hashes()}
    chain = verify_chain(db.session)
    snapshot = {
        "counts": table_counts(),
        "files": {sha: hashlib.sha256(data).hexdigest() for sha, data in files.items()},
        "document_files": sorted(db.session.execute(
            select(DocumentFile.id, DocumentFile.document_id, DocumentFile.sha256, DocumentFile.filename,
                   DocumentFile.text)).all()),
        "drafts": sorted(db.session.execute(select(Draft.id, Draft.pdf_sha256, Draft.docx_sha256)).all()),
        "signatories": sorted(db.session.execute(
            select(Signatory.id, Signatory.status, Signatory.signed_file_sha256, Signatory.signed_at)).all()),
        "agreements": sorted(db.session.execute(
            select(Agreement.id, Agreement.status, Agreement.frozen_pdf_sha256, Agreement.certificate_sha256)).all()),
        "audit": (chain.ok, chain.events),
    }
    db.session.rollback()  # outside a request every transaction takes the write lock: release it
    return snapshot


def test_export_then_import_into_a_new_instance_restores_everything(app, populated, instances, tmp_path):
    archive = tmp_path / "backup.tar"
    before = snapshot_of_instance(app)
    assert before["drafts"] and before["signatories"] and len(before["files"]) >= 8

    result = cli(app, "export", "--key", BACKUP_KEY, str(archive))

    assert result.exit_code == 0, result.output
    assert archive.is_file() and not Path(f"{archive}.tmp").exists()
    assert snapshot_of_instance(app) == before  # exporting changes nothing
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        names = set(tar.getnames())
    assert manifest["tables"] == {**manifest["tables"], **before["counts"]}
    assert {f["path"] for f in manifest["files"]} | {"manifest.json", "manifest.sig"} == names
    assert {f["sha256"] for f in manifest["files"] if f["path"].startswith("blobs/")} == set(before["files"])
    assert manifest["audit"]["chain_ok"] and manifest["audit"]["events"] == before["audit"][1]
    assert manifest["docmgr_version"] and manifest["created_at"].endswith("Z") and manifest["problems"] == []

    target = instances("restored")
    with target.app_context():
        result = cli(target, "import", "--key", BACKUP_KEY, str(archive))
        assert result.exit_code == 0, result.output
        after = snapshot_of_instance(target)
        check = cli(target, "check")
        assert check.exit_code == 0, check.output
        # The audit log in the archive is the chain itself, re-verifiable line by line.
        with tarfile.open(archive) as tar:
            lines = tar.extractfile("audit/audit_log.jsonl").read().decode().splitlines()
        assert json.loads(lines[-2])["hash"] == json.loads(lines[-1])["audit_head"]["hash"] == manifest["audit"]["head_hash"]

    assert after == before  # counts, bytes of every file, rows pointing at them, audit chain

    # The restored instance works: its users log in, see their documents, download the same bytes, and search.
    client = target.test_client()
    with target.app_context():
        token = client.post("/api/v1/auth/token", json={"email": populated["firm_email"],
                                                        "password": "correct horse battery"})
        headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
        listing = client.get("/api/v1/documents?kind=proposal", headers=headers).get_json()
        assert listing["total"] == 1  # its own proposal; the other firm's stays invisible
        document = client.get(f"/api/v1/documents/{listing['items'][0]['id']}", headers=headers).get_json()
        pdf = next(f for f in document["files"] if f["filename"] == "proposta.pdf")
        content = client.get(f"/api/v1/documents/{document['id']}/files/{pdf['id']}/content", headers=headers)
        assert content.data == corpus_bytes(CORPUS_FILES[0])
        hits = client.get("/api/v1/search?q=proposta", headers=headers)
        if hits.status_code == 200:  # the search API answers in this checkout
            assert document["id"] in [h["document_id"] for h in hits.get_json()["hits"]]


def test_import_is_refused_into_an_instance_in_use(app, populated, instances, tmp_path, make_document):
    archive = tmp_path / "backup.tar"
    assert cli(app, "export", "--key", BACKUP_KEY, str(archive)).exit_code == 0

    target = instances("busy")
    with target.app_context():
        from docmgr.accounts.services import create_user

        create_user(db.session, None, email="someone@example.org", password="long enough", role="legal")
        db.session.commit()
        before, blobs_before = table_counts(), stored_blob_count(target)
        db.session.rollback()  # release the write lock our reads took: the command runs in its own session

        result = cli(target, "import", "--key", BACKUP_KEY, str(archive))

        assert result.exit_code == 1
        assert "not empty" in result.output and "users" in result.output
        assert table_counts() == before and stored_blob_count(target) == blobs_before


def test_import_is_refused_when_the_storage_holds_other_files(app, populated, instances, tmp_path):
    archive = tmp_path / "backup.tar"
    assert cli(app, "export", "--key", BACKUP_KEY, str(archive)).exit_code == 0

    target = instances("files")
    with target.app_context():
        target.extensions["docmgr.store"].put_bytes(b"a file from another life")
        before = table_counts()
        db.session.rollback()

        result = cli(target, "import", "--key", BACKUP_KEY, str(archive))

        assert result.exit_code == 1 and "storage is not empty" in result.output
        assert table_counts() == before and stored_blob_count(target) == 1


def _rewrite_archive(source: Path, target: Path, change) -> None:
    """Copy a tar member by member, letting ``change(name, data)`` alter one member's bytes."""
    with tarfile.open(source) as old, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as new:
        for member in old.getmembers():
            data = change(member.name, old.extractfile(member).read())
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))


def test_a_corrupted_file_in_the_archive_restores_nothing(app, populated, instances, tmp_path):
    archive, damaged = tmp_path / "backup.tar", tmp_path / "damaged.tar"
    assert cli(app, "export", "--key", BACKUP_KEY, str(archive)).exit_code == 0
    with tarfile.open(archive) as tar:
        victim = sorted(n for n in tar.getnames() if n.startswith("blobs/"))[-1]

    def flip_one_byte(name: str, data: bytes) -> bytes:
        if name != victim:
            return data
        return data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]

    _rewrite_archive(archive, damaged, flip_one_byte)

    target = instances("fresh")
    with target.app_context():
        before = table_counts()
        db.session.rollback()

        result = cli(target, "import", "--key", BACKUP_KEY, str(damaged))

        assert result.exit_code == 1
        assert victim in result.output and "nothing was restored" in result.output
        assert table_counts() == before
        assert stored_blob_count(target) == 0


def test_a_tampered_manifest_is_refused_too(app, populated, instances, tmp_path):
    """Changing a file *and* its manifest entry still fails: a stored file must hash to its own name."""
    archive, forged = tmp_path / "backup.tar", tmp_path / "forged.tar"
    assert cli(app, "export", "--key", BACKUP_KEY, str(archive)).exit_code == 0
    with tarfile.open(archive) as tar:
        victim = sorted(n for n in tar.getnames() if n.startswith("blobs/"))[0]
    replacement = b"not the original content"

    def forge(name: str, data: bytes) -> bytes:
        if name == victim:
            return replacement
        if name == "manifest.json":
            manifest = json.loads(data)
            for entry in manifest["files"]:
                if entry["path"] == victim:
                    entry["size"], entry["sha256"] = len(replacement), hashlib.sha256(replacement).hexdigest()
            return json.dumps(manifest).encode()
        return data

    _rewrite_archive(archive, forged, forge)
    target = instances("fresh")
    with target.app_context():
        result = cli(target, "import", "--trust-unsigned", str(forged))  # past the signature: the names
        assert result.exit_code == 1 and "does not hold the file its name promises" in result.output
        assert stored_blob_count(target) == 0 and table_counts()["documents"] == 0


def test_export_refuses_to_overwrite_an_archive(app, tmp_path):
    archive = tmp_path / "backup.tar"
    archive.write_bytes(b"yesterday's backup")

    result = cli(app, "export", "--key", BACKUP_KEY, str(archive))

    assert result.exit_code == 1 and "already exists" in result.output
    assert archive.read_bytes() == b"yesterday's backup"


def test_a_file_that_is_not_an_archive_is_refused(app, tmp_path):
    bogus = tmp_path / "notes.tar"
    bogus.write_bytes(b"just some text")

    result = cli(app, "import", "--key", BACKUP_KEY, str(bogus))

    assert result.exit_code == 1 and "not a docmgr backup archive" in result.output


def test_export_while_uploads_continue_is_consistent(app, client, make_user, token_for, instances, tmp_path):
    """Another thread keeps uploading through the API while the archive is written: every row in the
    archive has its file, and the archive restores into an instance that passes `check`."""
    headers = token_for(make_user("firm"))
    pdf = (CORPUS / CORPUS_FILES[0]).read_bytes()
    stop = threading.Event()
    answers: list[int] = []

    def keep_uploading():
        number = 0
        while not stop.is_set() and number < 200:
            number += 1
            text = f"Proposta numero {number} per la cooperazione industriale.".encode()
            files = [(f"p{number}.txt", text)] + ([("p.pdf", pdf + f"%{number}\n".encode())] if number % 3 == 0 else [])
            with app.app_context():
                answers.append(api_upload(client, headers, files, title_it=f"Proposta {number}",
                                          grouping="versions").status_code)  # one document per upload

    db.session.rollback()  # the fixtures' reads hold the write lock outside a request: let the uploader in
    uploader = threading.Thread(target=keep_uploading)
    uploader.start()
    try:
        wait_until = time.monotonic() + 60  # bounded: a stuck uploader fails the test instead of hanging it
        while len(answers) < 3 and time.monotonic() < wait_until:
            time.sleep(0.02)
        archive = tmp_path / "live.tar"
        result = cli(app, "export", "--key", BACKUP_KEY, str(archive))
        uploaded_during_export = len(answers)
        while len(answers) < uploaded_during_export + 3 and uploader.is_alive() and time.monotonic() < wait_until:
            time.sleep(0.02)  # uploads carry on after the snapshot too
    finally:
        stop.set()
        uploader.join()

    assert result.exit_code == 0, result.output
    assert set(answers) == {201}
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    archived_documents = manifest["tables"]["documents"]
    assert 3 <= archived_documents < len(answers)  # a snapshot from the middle of the uploads

    target = instances("restored")
    with target.app_context():
        assert cli(target, "import", "--key", BACKUP_KEY, str(archive)).exit_code == 0
        check = cli(target, "check")
        assert check.exit_code == 0, check.output
        from docmgr.documents.models import DocumentFile

        store = target.extensions["docmgr.store"]
        for (sha,) in db.session.execute(select(DocumentFile.sha256)):
            assert store.verify(sha) is None
        assert table_counts()["documents"] == archived_documents
