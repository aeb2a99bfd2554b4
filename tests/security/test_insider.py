"""Attacks by an insider with write access to the database or to a backup archive, and look-alike identities
(issue 12, "Audit trail and backups that an insider cannot quietly rewrite").

* Deleting the last audit rows, or rewriting one and recomputing every hash after it, is found by
  `docmgr check` (seals with a key outside the database, heads appended to a file outside it).
* An archive whose database gained an admin, with its manifest recomputed, is refused at import; so is
  an unsigned one unless the operator says --trust-unsigned. Archives and the database file are 0600.
* E-mails that look like an existing one (Cyrillic е, zero-width characters, full-width letters) are
  refused; audit CSV cells cannot start a spreadsheet formula.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import stat
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from docmgr import create_app
from docmgr.audit.anchor import audit_key
from docmgr.audit.models import AuditEvent
from docmgr.audit.services import GENESIS, compute_hash, record
from docmgr.extensions import db
from tests import backends
from tests.conftest import PASSWORD


def _fill_chain(client, admin_headers, n: int = 20) -> None:
    """Real events: organisations created over HTTP, plus plain recorded events."""
    for i in range(3):
        response = client.post("/api/v1/organizations", json={"name": f"Ditta {i}", "country": "IT"}, headers=admin_headers)
        assert response.status_code == 201, response.get_json()
    for i in range(n):
        record(db.session, None, "test.event", object_type="Thing", object_id=i, value=i)
    db.session.commit()


def _check(app, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["docmgr", "check", *args])
    return result.exit_code, result.output


def _rehash_from(first_id: int) -> None:
    """What an insider with the code but not the key does: recompute every hash from ``first_id`` on."""
    db.session.expire_all()
    events = db.session.query(AuditEvent).order_by(AuditEvent.id).all()
    previous = GENESIS
    for event in events:
        if event.id >= first_id:
            event.prev_hash = f"parked-{event.id}"  # prev_hash and hash are unique: park, then rewrite
            event.hash = f"parked-hash-{event.id}"
    db.session.flush()
    for event in events:
        if event.id >= first_id:
            event.prev_hash = previous
            event.hash = compute_hash(event)
        previous = event.hash
    db.session.commit()


# --- the audit chain ---------------------------------------------------------------------------------------------


def test_intact_chain_passes_check_and_the_key_is_not_in_the_database(app, client, make_user, token_for):
    _fill_chain(client, token_for(make_user("admin")))
    code, output = _check(app)
    assert code == 0, output
    key = audit_key().decode()
    key_file = Path(app.config["STORAGE_DIR"]) / "audit_key"
    assert key_file.read_text().strip() == key and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    db.session.commit()
    if backends.uses_postgres():  # no file to read: every row of every table, as text
        for table in db.metadata.sorted_tables:
            assert key not in repr(db.session.execute(table.select()).all()), table.name
        db.session.rollback()
    else:
        database = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
        with sqlite3.connect(database) as conn:
            conn.execute("PRAGMA wal_checkpoint(FULL)")
        assert key.encode() not in database.read_bytes()
    heads = [json.loads(line) for line in Path(app.config["AUDIT_HEADS_PATH"]).read_text().splitlines()]
    last = db.session.query(AuditEvent).order_by(AuditEvent.id.desc()).first()
    assert heads[-1]["id"] == last.id and heads[-1]["hash"] == last.hash


def test_deleting_the_last_rows_is_detected(app, client, make_user, token_for):
    _fill_chain(client, token_for(make_user("admin")))
    last_id = db.session.scalar(text("SELECT MAX(id) FROM audit_events"))
    db.session.execute(text("DELETE FROM audit_events WHERE id > :cut"), {"cut": last_id - 12})
    db.session.commit()
    code, output = _check(app)
    assert code == 1, output
    assert f"the chain ends at entry {last_id - 12}, but entry {last_id} was recorded as its head" in output


def test_rewriting_a_row_and_recomputing_the_hashes_is_detected(app, client, make_user, token_for):
    _fill_chain(client, token_for(make_user("admin")))
    target = db.session.scalar(text("SELECT id FROM audit_events WHERE action='test.event' ORDER BY id LIMIT 1 OFFSET 4"))
    db.session.execute(text("UPDATE audit_events SET data=:d WHERE id=:i"), {"d": '{"value":999}', "i": target})
    db.session.commit()
    _rehash_from(target)
    code, output = _check(app)
    assert code == 1, output
    assert f"entry {target} has no valid seal" in output
    assert "the chain was rewritten" in output  # the recorded head is no longer the chain's


def test_rewriting_and_deleting_the_heads_file_is_still_detected(app, client, make_user, token_for):
    _fill_chain(client, token_for(make_user("admin")))
    target = db.session.scalar(text("SELECT MAX(id) FROM audit_events")) - 2
    db.session.execute(text("UPDATE audit_events SET actor_email='someone-else@example.org' WHERE id=:i"), {"i": target})
    db.session.commit()
    _rehash_from(target)
    Path(app.config["AUDIT_HEADS_PATH"]).unlink()
    code, output = _check(app)
    assert code == 1 and f"entry {target} has no valid seal" in output, output


def test_a_head_printed_in_an_export_is_checked_later(app, client, make_user, token_for):
    admin = make_user("admin")
    _fill_chain(client, token_for(admin))
    export = client.get("/api/v1/audit/export", headers=token_for(admin)).get_data(as_text=True).splitlines()
    head = json.loads(export[-1])["audit_head"]
    code, output = _check(app, "--head", head["hash"], "--head", f"{head['id']}:{head['hash']}")
    assert code == 0 and f"head {head['hash']} is in the chain" in output, output
    db.session.execute(text("DELETE FROM audit_events WHERE id >= :i"), {"i": head["id"] - 3})
    db.session.commit()
    Path(app.config["AUDIT_HEADS_PATH"]).unlink()  # the insider also removed the heads file
    code, output = _check(app, "--head", head["hash"])
    assert code == 1 and f"the head {head['hash']} seen earlier is not in the chain" in output, output


def _users() -> int:
    count = db.session.scalar(text("SELECT COUNT(*) FROM users"))
    db.session.rollback()  # outside a request a transaction holds the write lock: give it back to the CLI
    return count


# --- backups -----------------------------------------------------------------------------------------------------


def _instance(folder: Path):
    app = create_app({
        "TESTING": True, "STORAGE_DIR": str(folder / "storage"), "INDEX_DIR": str(folder / "index"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'db.sqlite3'}", "SECRET_KEY": "another-secret",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def fresh(tmp_path):
    apps = []

    def make(name: str):
        apps.append(_instance(tmp_path / name))
        return apps[-1]

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _rewrite(source: Path, target: Path, change) -> None:
    with tarfile.open(source) as old, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as new:
        for member in old.getmembers():
            data = change(member.name, old.extractfile(member).read())
            if data is None:
                continue
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))


def _with_backdoor_admin(archive: Path, forged: Path, workdir: Path) -> None:
    """Add an admin row to the archive's database, then make the manifest agree (sizes, hashes, counts)."""
    with tarfile.open(archive) as tar:
        database = tar.extractfile("database/docmgr.sqlite3").read()
    copy = workdir / "forged.sqlite3"
    copy.write_bytes(database)
    with sqlite3.connect(copy) as conn:  # a copy of the real admin's row, with the insider's e-mail and password
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM users WHERE role = 'admin' LIMIT 1").fetchone())
        row.update(id=None, email="backdoor@evil.example", name="Backdoor",
                   password_hash=generate_password_hash("backdoor-password"))
        conn.execute(f"INSERT INTO users ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    forged_db = copy.read_bytes()

    def change(name: str, data: bytes) -> bytes:
        if name == "database/docmgr.sqlite3":
            return forged_db
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["tables"]["users"] += 1
            for entry in manifest["files"]:
                if entry["path"] == "database/docmgr.sqlite3":
                    entry["size"], entry["sha256"] = len(forged_db), hashlib.sha256(forged_db).hexdigest()
            return json.dumps(manifest, indent=1, sort_keys=True).encode()
        return data

    _rewrite(archive, forged, change)


def test_archive_with_a_backdoor_admin_is_refused(app, client, make_user, token_for, fresh, tmp_path):
    _fill_chain(client, token_for(make_user("admin")), 3)
    archive, forged = tmp_path / "backup.tar", tmp_path / "forged.tar"
    result = app.test_cli_runner().invoke(args=["docmgr", "export", "--key", "shared-backup-key", str(archive)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    _with_backdoor_admin(archive, forged, tmp_path)

    target = fresh("target")
    with target.app_context():
        result = target.test_cli_runner().invoke(args=["docmgr", "import", "--key", "shared-backup-key", str(forged)])
        assert result.exit_code == 1, result.output
        assert "The archive's signature does not match" in result.output and "nothing was restored" in result.output
        assert _users() == 0
        login = target.test_client().post("/api/v1/auth/token",
                                          json={"email": "backdoor@evil.example", "password": "backdoor-password"})
        assert login.status_code == 401
        # The genuine archive, with the same key, imports; the restored chain is sealed with the new key.
        result = target.test_cli_runner().invoke(args=["docmgr", "import", "--key", "shared-backup-key", str(archive)])
        assert result.exit_code == 0, result.output
        code, output = _check(target)
        assert code == 0, output


def test_unsigned_archive_is_refused_unless_trusted(app, client, make_user, token_for, fresh, tmp_path):
    _fill_chain(client, token_for(make_user("admin")), 3)
    archive, unsigned = tmp_path / "backup.tar", tmp_path / "unsigned.tar"
    assert app.test_cli_runner().invoke(args=["docmgr", "export", str(archive)]).exit_code == 0  # the audit key
    _rewrite(archive, unsigned, lambda name, data: None if name == "manifest.sig" else data)
    target = fresh("target")
    with target.app_context():
        refused = target.test_cli_runner().invoke(args=["docmgr", "import", str(unsigned)])
        assert refused.exit_code == 1 and "The archive is not signed" in refused.output, refused.output
        other_key = target.test_cli_runner().invoke(args=["docmgr", "import", str(archive)])  # its own audit key
        assert other_key.exit_code == 1 and "signature does not match" in other_key.output, other_key.output
        assert _users() == 0
        trusted = target.test_cli_runner().invoke(args=["docmgr", "import", "--trust-unsigned", str(unsigned)])
        assert trusted.exit_code == 0, trusted.output
        assert _users() == 1


@pytest.mark.skipif(backends.uses_postgres(), reason="an SQLite file's permissions (PostgreSQL keeps its own files)")
def test_the_database_file_is_owner_only(app, tmp_path):
    database = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    exposed = tmp_path / "exposed"
    exposed.mkdir()
    (exposed / "db.sqlite3").write_bytes(b"")
    (exposed / "db.sqlite3").chmod(0o644)
    other = _instance(exposed)  # an existing file is narrowed at start
    try:
        assert stat.S_IMODE((exposed / "db.sqlite3").stat().st_mode) == 0o600
    finally:
        with other.app_context():
            db.engine.dispose()


# --- look-alike identities ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("email", "code"), [
    ("l\u0435gal@example.org", "mixed_script"),  # Cyrillic е
    ("leg\u0430l@example.org", "mixed_script"),  # Cyrillic а
    ("le\u200bgal@example.org", "invisible_characters"),  # zero-width space
    ("legal\u200d@example.org", "invisible_characters"),  # zero-width joiner
    ("\ufeffle\u2060gal@example.org", "invisible_characters"),  # BOM, word joiner
    ("le\u00adgal@example.org", "invisible_characters"),  # soft hyphen
    ("leg\u3164al@example.org", "invisible_characters"),  # Hangul filler
    ("\uff4c\uff45\uff47\uff41\uff4c@example.org", "duplicate"),  # full-width: NFKC makes it the same address
    ("LEGAL@Example.org", "duplicate"),
    ("\u0441\u043e\u0441\u043e@example.org", "duplicate"),  # all-Cyrillic сосо: the skeleton of coco
    ("legal@ex\u0430mple.org", "mixed_script"),  # the domain too
])
def test_look_alike_emails_are_refused(client, make_user, token_for, email, code):
    admin = token_for(make_user("admin"))
    for existing in ("legal@example.org", "coco@example.org"):
        response = client.post("/api/v1/users", json={"email": existing, "password": PASSWORD, "role": "legal"},
                               headers=admin)
        assert response.status_code == 201, response.get_json()
    before = _users()
    response = client.post("/api/v1/users", json={"email": email, "password": PASSWORD, "role": "legal"}, headers=admin)
    assert response.status_code == 422, response.get_json()
    assert (response.get_json()["error"]["code"], response.get_json()["error"]["field"]) == (code, "email")
    assert _users() == before


def test_real_cyrillic_and_full_width_addresses_work(client, make_user, token_for):
    admin = token_for(make_user("admin"))
    cyrillic = client.post("/api/v1/users", json={"email": "иван@пример.рф", "password": PASSWORD, "role": "legal"},
                           headers=admin)
    assert cyrillic.status_code == 201 and cyrillic.get_json()["email"] == "иван@пример.рф"
    wide = client.post("/api/v1/users", json={"email": "\uff4d\uff41\uff52\uff49\uff4f@example.org", "password": PASSWORD,
                                              "role": "legal"}, headers=admin)
    assert wide.status_code == 201 and wide.get_json()["email"] == "mario@example.org"
    login = client.post("/api/v1/auth/token", json={"email": "MARIO@example.org", "password": PASSWORD})
    assert login.status_code == 201


def test_csv_export_cells_cannot_start_a_formula(client, make_user, token_for):
    admin = token_for(make_user("admin"))
    hostile = ["=HYPERLINK(\"http://evil.example\")@example.org", "+1+2@example.org", "-2+3@example.org"]
    for email in hostile:
        response = client.post("/api/v1/users", json={"email": email, "password": PASSWORD, "role": "legal"},
                               headers=admin)
        assert response.status_code == 201, (email, response.get_json())
        assert client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD}).status_code == 201
    body = client.get("/api/v1/audit/export?format=csv", headers=admin).get_data(as_text=True)
    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert {f"'{email.lower()}" for email in hostile} <= set(cells)


def test_entries_from_before_seals_are_sealed_once_after_an_upgrade(app, client, make_user, token_for):
    _fill_chain(client, token_for(make_user("admin")), 4)
    db.session.execute(text("UPDATE audit_events SET mac = NULL"))  # as the 0002 migration leaves old entries
    db.session.commit()
    code, output = _check(app)
    assert code == 1 and "entry 1 has no valid seal" in output, output
    result = app.test_cli_runner().invoke(args=["docmgr", "seal-audit"])
    total = db.session.scalar(text("SELECT COUNT(*) FROM audit_events"))
    db.session.rollback()
    assert result.exit_code == 0 and f"OK: {total} entr(ies) sealed." in result.output, result.output
    assert _check(app)[0] == 0
    # A chain that does not verify is not blessed.
    db.session.execute(text("UPDATE audit_events SET mac = NULL, data = '{}' WHERE id = 2"))
    db.session.commit()
    refused = app.test_cli_runner().invoke(args=["docmgr", "seal-audit"])
    assert refused.exit_code == 1 and "entry 2 was altered" in refused.output, refused.output
    assert db.session.scalar(text("SELECT mac FROM audit_events WHERE id = 2")) is None
