"""Backups: one consistent archive of the database, the stored files and the audit log, written while
the service runs, and its restoration into an empty instance.

The archive is an uncompressed POSIX **tar** (the stored files are PDFs and zips already; tar streams
files of any size and is read by every system's tools)::

    manifest.json                  what follows, each file with its size and SHA-256 (see below)
    manifest.sig                   HMAC-SHA256 of manifest.json's bytes (the key: see "Authenticity")
    database/docmgr.sqlite3        the database: an SQLite snapshot, whatever the instance runs on
    audit/audit_log.jsonl          the audit chain as JSON lines, re-verifiable outside docmgr
    blobs/ab/cd/<sha256>           every stored file the snapshot refers to

Consistency without stopping the service:

1. the database snapshot is taken in one step of SQLite's online backup API (one read transaction;
   under WAL, writers carry on meanwhile);
2. the files to copy are the ones *that snapshot* refers to. A row is committed only after its file is
   stored, and stored files are immutable and content-addressed, so every file the snapshot names
   already exists and can be copied afterwards at leisure;
3. the archive is written to ``PATH.tmp``, fsynced, and renamed to ``PATH``: a reader never sees half
   an archive under the final name.

For another database (PostgreSQL…) the snapshot is made by copying every table, in one REPEATABLE
READ transaction, into a fresh SQLite file with the same schema; the archive looks the same. Only the
SQLite path is exercised by the tests.

Authenticity: the manifest is signed with a key given at export (``--key`` / ``DOCMGR_BACKUP_KEY``) or else
the instance's audit key, which is never in the archive. Import refuses an archive without a signature, or
whose signature does not match under the key it is given (or its own audit key), unless told
``--trust-unsigned``: an archive whose database gained a row, with the manifest's hashes recomputed, is
refused. The archive is written owner-only (0600): it holds password hashes. The restored audit entries
are sealed again with the importing instance's key once the archive has been authenticated (or trusted).

Import verifies every file of the archive against the manifest before it changes anything, restores
the files into the store, copies the rows in one transaction, checks the row counts and the audit
chain against the manifest before committing, and finally rebuilds the search index.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, Integer, Table, create_engine, func, inspect, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from docmgr.audit.anchor import audit_key, reseal_all, set_heads_aside
from docmgr.audit.models import AuditEvent
from docmgr.audit.services import export_lines, verify_chain
from docmgr.config import REPO_ROOT
from docmgr.errors import Conflict, Invalid
from docmgr.extensions import db
from docmgr.security_log import log_security_event
from docmgr.storage import CHUNK, current_store, fsync_dir

FORMAT = "docmgr-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
DATABASE_MEMBER = "database/docmgr.sqlite3"
AUDIT_MEMBER = "audit/audit_log.jsonl"
BLOB_PREFIX = "blobs/"
ROW_BATCH = 500

# Columns holding a SHA-256 that is *not* a stored file: a template's source hash names its text.
NOT_BLOB_COLUMNS = {("templates", "source_sha256")}
# Any of these holding a row means the instance is in use: importing would mix or destroy data.
IN_USE_TABLES = ("users", "organizations", "documents", "agreements")

Echo = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


@dataclass
class ExportResult:
    path: Path
    manifest: dict[str, Any]
    problems: list[str] = field(default_factory=list)  # referenced files missing or damaged in the store


@dataclass
class ImportResult:
    manifest: dict[str, Any]
    restored_blobs: int
    restored_rows: int
    index: str  # how the search index was brought up to date


# --- small helpers -----------------------------------------------------------------------------


def docmgr_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("docmgr")
    except PackageNotFoundError:
        import tomllib

        try:
            return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
        except (OSError, KeyError, ValueError):
            return "unknown"


def _sha256_of(stream: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class _HashingReader:
    """Passes a file through while hashing it, so a blob is read once to be both archived and checked."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


def _snapshot_engine(path: Path, *, read_only: bool) -> Engine:
    url = f"sqlite:///file:{path}?mode=ro&uri=true" if read_only else f"sqlite:///{path}"
    return create_engine(url, poolclass=NullPool)


def _snapshot_tables(engine: Engine) -> list[str]:
    return [name for name in inspect(engine).get_table_names() if not name.startswith("sqlite_")]


def _schema_revision(engine: Engine) -> str | None:
    if "alembic_version" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        return conn.scalar(text("SELECT version_num FROM alembic_version"))


def _blob_columns() -> list[tuple[Table, str]]:
    """Every column that names a stored file by its hash, found by name so new modules are covered."""
    columns = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if (column.name == "sha256" or column.name.endswith("_sha256")) and (
                (table.name, column.name) not in NOT_BLOB_COLUMNS
            ):
                columns.append((table, column.name))
    return columns


def _referenced_blobs(engine: Engine) -> dict[str, str]:
    """sha256 → one "table.column" naming it, for every stored file the snapshot refers to."""
    present = set(_snapshot_tables(engine))
    refs: dict[str, str] = {}
    with engine.connect() as conn:
        for table, column in _blob_columns():
            if table.name not in present:
                continue
            query = select(table.c[column]).where(table.c[column].is_not(None)).distinct()
            for (sha,) in conn.execute(query):
                refs.setdefault(sha, f"{table.name}.{column}")
    return refs


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.scalar(text(f'SELECT COUNT(*) FROM "{name}"')) or 0 for name in sorted(_snapshot_tables(engine))
        }


def _audit_summary(session: Session, *, seals: bool = True) -> dict[str, Any]:
    # A snapshot is checked link by link, not against this instance's heads file (which runs ahead of it).
    report = verify_chain(session, seals=seals, heads=False)
    head = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return {"events": report.events, "head_hash": head, "chain_ok": report.ok}


# --- export ------------------------------------------------------------------------------------


def _snapshot_sqlite(target: Path) -> None:
    """SQLite's online backup API, all pages in one step: one read transaction, so one consistent state."""
    engine = db.engine
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)  # pages=-1: everything at once
            destination.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
        finally:
            destination.close()
    finally:
        raw.close()


def _snapshot_any(target: Path) -> None:
    """Any other database: copy every table into an SQLite file inside one REPEATABLE READ transaction."""
    snapshot = _snapshot_engine(target, read_only=False)
    try:
        db.metadata.create_all(snapshot)
        with db.engine.connect() as source_conn:
            source_conn = source_conn.execution_options(isolation_level="REPEATABLE READ")
            with source_conn.begin(), snapshot.begin() as target_conn:
                for table in db.metadata.sorted_tables:
                    _copy_table(source_conn, target_conn, table)
                revision = None
                if "alembic_version" in inspect(source_conn).get_table_names():
                    revision = source_conn.scalar(text("SELECT version_num FROM alembic_version"))
                if revision:
                    target_conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
                    target_conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": revision})
    finally:
        snapshot.dispose()


def _cycle_columns(table: Table) -> list:
    """Columns whose foreign key closes a cycle between tables (``use_alter``, e.g. an agreement's frozen draft):
    copied as NULL first and filled in once every table is there, because PostgreSQL checks foreign keys at
    once (SQLite's are deferred during the import)."""
    return [fk.parent for fk in table.foreign_keys if fk.constraint is not None and fk.constraint.use_alter]


def _copy_table(source_conn, target_conn, table: Table) -> int:
    """Rows go through the columns' types both ways, so dates and JSON survive a change of database."""
    copied = 0
    later = {column.name for column in _cycle_columns(table)}
    ordered = select(table).order_by(*table.primary_key.columns)  # parents before children of the same table
    result = source_conn.execution_options(yield_per=ROW_BATCH).execute(ordered)
    for rows in result.mappings().partitions(ROW_BATCH):
        target_conn.execute(table.insert(), [{**row, **dict.fromkeys(later)} for row in rows])
        copied += len(rows)
    return copied


def _fill_cycle_columns(source_conn, target_conn, table: Table) -> None:
    from sqlalchemy import bindparam

    key = list(table.primary_key.columns)
    for column in _cycle_columns(table):
        rows = source_conn.execute(select(*key, column).where(column.is_not(None))).mappings().all()
        if rows:
            update = table.update().where(*(k == bindparam(f"k_{k.name}") for k in key)).values(
                {column.name: bindparam(f"v_{column.name}")})
            target_conn.execute(update, [{**{f"k_{k.name}": row[k.name] for k in key},
                                          f"v_{column.name}": row[column.name]} for row in rows])


def _add_file(tar: tarfile.TarFile, name: str, stream: BinaryIO, size: int) -> tuple[str, int]:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o444
    info.mtime = int(datetime.now(UTC).timestamp())
    reader = _HashingReader(stream)
    tar.addfile(info, reader)
    if reader.size != size:
        raise OSError(f"{name} changed size while it was archived")
    return reader.digest.hexdigest(), reader.size


def backup_key(key: str | None = None) -> bytes:
    """The key that signs (and authenticates) archives: the one given, ``DOCMGR_BACKUP_KEY``, or the audit key."""
    chosen = key or os.environ.get("DOCMGR_BACKUP_KEY")
    return chosen.encode("utf-8") if chosen else audit_key()


def sign_manifest(data: bytes, key: bytes) -> bytes:
    return json.dumps({"algorithm": "HMAC-SHA256", "mac": hmac.new(key, data, hashlib.sha256).hexdigest()}).encode()


def _signature_matches(signature: bytes, data: bytes, key: bytes) -> bool:
    try:
        mac = json.loads(signature)["mac"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(mac, str) and hmac.compare_digest(mac, hmac.new(key, data, hashlib.sha256).hexdigest())


def export_backup(path: Path | str, echo: Echo = _quiet, key: str | None = None) -> ExportResult:
    """Write a consistent archive of this instance to ``path`` (see the module docstring).

    Refuses to replace an existing file. Files the database refers to but the store lacks (or holds
    damaged) are left out and listed in the manifest and in ``problems``: the archive restores the
    instance exactly as it is, and ``docmgr check`` will name the same problems after the import.
    """
    path = Path(path).resolve()
    if path.exists():
        raise Conflict(f"{path} already exists; choose a new name for the archive.", field="path", code="file_exists")
    if not path.parent.is_dir():
        raise Invalid(f"The folder {path.parent} does not exist.", field="path")
    store = current_store()
    dialect = db.engine.dialect.name
    tmp_path = path.with_name(path.name + ".tmp")
    files: list[dict[str, Any]] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".docmgr-export-") as workdir:
        snapshot_path = Path(workdir) / "docmgr.sqlite3"
        echo(f"database: snapshot of {dialect} database")
        if dialect == "sqlite":
            _snapshot_sqlite(snapshot_path)
        else:
            _snapshot_any(snapshot_path)
        snapshot = _snapshot_engine(snapshot_path, read_only=True)
        try:
            tables = _row_counts(snapshot)
            revision = _schema_revision(snapshot)
            references = _referenced_blobs(snapshot)
            with Session(snapshot) as session:
                audit = _audit_summary(session)
                audit_path = Path(workdir) / "audit_log.jsonl"
                with audit_path.open("w", encoding="utf-8") as out:
                    for line in export_lines(session, "jsonl"):
                        out.write(line)
        finally:
            snapshot.dispose()

        blobs_bytes = 0
        with os.fdopen(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as raw_out:
            with tarfile.open(fileobj=raw_out, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for member, source in ((DATABASE_MEMBER, snapshot_path), (AUDIT_MEMBER, audit_path)):
                    with source.open("rb") as fh:
                        sha, size = _add_file(tar, member, fh, source.stat().st_size)
                    files.append({"path": member, "size": size, "sha256": sha})
                echo(f"files: copying {len(references)} stored file(s)")
                for sha in sorted(references):
                    blob_path = store.path(sha)
                    try:
                        fh = blob_path.open("rb")
                    except FileNotFoundError:
                        problems.append(f"missing: {sha} ({references[sha]})")
                        continue
                    with fh:
                        size = os.fstat(fh.fileno()).st_size
                        # Check before archiving: a damaged file would make the archive unrestorable.
                        actual, _ = _sha256_of(fh)
                        if actual != sha:
                            problems.append(f"corrupted: {sha} ({references[sha]})")
                            continue
                        fh.seek(0)
                        member = f"{BLOB_PREFIX}{sha[:2]}/{sha[2:4]}/{sha}"
                        archived_sha, size = _add_file(tar, member, fh, size)
                    files.append({"path": member, "size": size, "sha256": archived_sha})
                    blobs_bytes += size
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "archive": "tar",
                    "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "docmgr_version": docmgr_version(),
                    "schema_revision": revision,
                    "source_dialect": dialect,
                    "tables": tables,
                    "audit": audit,
                    "blobs": {"count": sum(1 for f in files if f["path"].startswith(BLOB_PREFIX)), "bytes": blobs_bytes},
                    "problems": problems,
                    "files": files,
                }
                data = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
                _add_file(tar, MANIFEST, io.BytesIO(data), len(data))
                signature = sign_manifest(data, backup_key(key))
                _add_file(tar, SIGNATURE, io.BytesIO(signature), len(signature))
            raw_out.flush()
            os.fsync(raw_out.fileno())
    os.replace(tmp_path, path)
    fsync_dir(path.parent)
    log_security_event("backup_exported", archive=str(path), files=len(files), problems=len(problems))
    echo(f"archive: {path} ({path.stat().st_size} bytes, {len(files)} file(s))")
    return ExportResult(path=path, manifest=manifest, problems=problems)


# --- reading and verifying an archive ----------------------------------------------------------


def _archive_error(message: str) -> Invalid:
    return Invalid(message, field="archive", code="archive_invalid")


@contextmanager
def _open_archive(path: Path) -> Iterator[tuple[tarfile.TarFile, dict[str, Any], dict[str, tarfile.TarInfo]]]:
    try:
        tar = tarfile.open(path, mode="r:")
    except (OSError, tarfile.TarError) as error:
        raise _archive_error(f"{path} is not a docmgr backup archive (a tar file): {error}") from None
    with tar:
        members: dict[str, tarfile.TarInfo] = {}
        for member in tar.getmembers():
            if not member.isfile():
                raise _archive_error(f"The archive holds {member.name!r}, which is not a regular file.")
            if member.name in members:
                raise _archive_error(f"The archive holds {member.name!r} twice.")
            members[member.name] = member
        if MANIFEST not in members:
            raise _archive_error("The archive has no manifest.json.")
        try:
            manifest = json.loads(tar.extractfile(members[MANIFEST]).read())  # type: ignore[union-attr]
        except (ValueError, AttributeError) as error:
            raise _archive_error(f"manifest.json cannot be read: {error}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _archive_error("manifest.json is not a docmgr backup manifest.")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise _archive_error(f"Backup format version {manifest.get('format_version')} is not supported.")
        yield tar, manifest, members


def _authenticate(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], key: bytes, trust_unsigned: bool,
                  echo: Echo) -> bool:
    """True when manifest.json carries a valid signature under ``key``. Refuses otherwise (code
    ``archive_unsigned``), unless ``trust_unsigned``."""
    data = tar.extractfile(members[MANIFEST]).read()  # type: ignore[union-attr]
    if SIGNATURE not in members:
        problem = "The archive is not signed"
    else:
        signature = tar.extractfile(members[SIGNATURE]).read()  # type: ignore[union-attr]
        if _signature_matches(signature, data, key):
            echo("archive: signature verified")
            return True
        problem = "The archive's signature does not match (altered, or signed with another key)"
    if trust_unsigned:
        echo(f"archive: {problem.lower()}; imported anyway (--trust-unsigned)")
        return False
    raise Invalid(f"{problem}: nothing was restored. Give the key it was exported with (--key), or "
                  "--trust-unsigned if you know where it comes from.", field="archive", code="archive_unsigned")


def verify_archive(path: Path | str, echo: Echo = _quiet, *, key: bytes | None = None,
                   trust_unsigned: bool = True) -> dict[str, Any]:
    """Check every file of the archive against the manifest (and each stored file against its name), and,
    when ``key`` is given, the manifest's signature. Returns the manifest (``manifest["_authenticated"]`` says
    whether the signature was verified); raises ``Invalid`` (field "archive") naming the first problem."""
    path = Path(path)
    with _open_archive(path) as (tar, manifest, members):
        manifest["_authenticated"] = key is not None and _authenticate(tar, members, key, trust_unsigned, echo)
        listed = {entry["path"]: entry for entry in manifest.get("files", [])}
        for name in listed:
            if name not in members:
                raise _archive_error(f"{name} is listed in the manifest but missing from the archive.")
        for name in members:
            if name not in (MANIFEST, SIGNATURE) and name not in listed:
                raise _archive_error(f"{name} is in the archive but not in the manifest.")
        if DATABASE_MEMBER not in listed:
            raise _archive_error("The archive holds no database.")
        for name, entry in listed.items():
            with tar.extractfile(members[name]) as fh:  # type: ignore[union-attr]
                sha, size = _sha256_of(fh)
            if size != entry["size"] or sha != entry["sha256"]:
                raise _archive_error(f"{name} does not match the manifest (damaged archive): nothing was restored.")
            if name.startswith(BLOB_PREFIX) and sha != name.rsplit("/", 1)[-1]:
                raise _archive_error(f"{name} does not hold the file its name promises: nothing was restored.")
        echo(f"archive: {len(listed)} file(s) match the manifest")
        return manifest


# --- import ------------------------------------------------------------------------------------


def _require_empty_instance(archive_blobs: set[str]) -> None:
    """Refuse an instance in use. Stored files already present are accepted only if the archive holds
    the same (an import interrupted after restoring files, run again): content-addressed, so identical."""
    inspector = inspect(db.engine)
    existing = set(inspector.get_table_names())
    missing = [t.name for t in db.metadata.sorted_tables if t.name not in existing]
    if missing:
        raise Conflict(
            f"The database has no schema yet (no table {missing[0]!r}); run `docmgr init` first.",
            field="database", code="schema_missing",
        )
    for name in IN_USE_TABLES:
        count = db.session.scalar(text(f'SELECT COUNT(*) FROM "{name}"'))
        if count:
            raise Conflict(
                f"The target instance is not empty: table {name!r} has {count} row(s). Import only into a new instance.",
                field="database", code="instance_not_empty",
            )
    store = current_store()
    for sha in store.iter_hashes():
        if sha not in archive_blobs or store.verify(sha) is not None:
            raise Conflict(
                f"The target storage is not empty (it holds the file {sha}). Import only into a new instance.",
                field="storage", code="instance_not_empty",
            )
    db.session.rollback()


def _check_schema(snapshot: Engine, manifest: dict[str, Any]) -> None:
    target_revision = _schema_revision(db.engine)
    revision = manifest.get("schema_revision")
    if revision and target_revision and revision != target_revision:
        raise Conflict(
            f"The archive has schema revision {revision}, this instance {target_revision}: "
            "upgrade both to the same version first.", field="schema", code="schema_mismatch",
        )
    snapshot_inspector = inspect(snapshot)
    snapshot_tables = set(_snapshot_tables(snapshot)) - {"alembic_version"}
    known = {t.name for t in db.metadata.sorted_tables}
    unknown = sorted(snapshot_tables - known)
    if unknown:
        raise Conflict(
            f"The archive holds table {unknown[0]!r}, which this version of docmgr does not know.",
            field="schema", code="schema_mismatch",
        )
    for table in db.metadata.sorted_tables:
        if table.name not in snapshot_tables:
            continue
        have = {c["name"] for c in snapshot_inspector.get_columns(table.name)}
        want = {c.name for c in table.columns}
        if have != want:
            difference = sorted(have ^ want)[0]
            raise Conflict(
                f"Table {table.name!r} differs between the archive and this instance (column {difference!r}).",
                field="schema", code="schema_mismatch",
            )


def _restore_blobs(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], echo: Echo) -> list[str]:
    """Copy the archive's files into the store; returns the hashes that were new (to undo on failure)."""
    store = current_store()
    added: list[str] = []
    names = sorted(name for name in members if name.startswith(BLOB_PREFIX))
    try:
        for name in names:
            expected = name.rsplit("/", 1)[-1]
            with tar.extractfile(members[name]) as fh:  # type: ignore[union-attr]
                blob = store.put(fh)
            if blob.is_new:
                added.append(blob.sha256)
            if blob.sha256 != expected:  # verified before; a disk changing under us
                raise _archive_error(f"{name} changed while it was restored: nothing was restored.")
    except BaseException:
        for sha in added:
            store.delete(sha)
        raise
    echo(f"files: {len(names)} stored file(s) restored")
    return added


def _restore_rows(snapshot: Engine, manifest: dict[str, Any], echo: Echo) -> int:
    """Replace every table's rows by the archive's, in the current transaction (not committed here)."""
    present = set(_snapshot_tables(snapshot))
    tables = db.metadata.sorted_tables
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    for table in reversed(tables):
        connection.execute(table.delete())  # what `init` put there (templates, their audit events)
    copied = 0
    with snapshot.connect() as source:
        for table in tables:
            if table.name in present:
                copied += _copy_table(source, connection, table)
        for table in tables:
            if table.name in present:
                _fill_cycle_columns(source, connection, table)
    if connection.dialect.name == "postgresql":
        _advance_sequences(connection, tables)
    expected = manifest.get("tables", {})
    for table in tables:
        count = db.session.scalar(select(func.count()).select_from(table)) or 0
        if count != expected.get(table.name, 0):
            raise _archive_error(f"Table {table.name!r} has {count} row(s) after the import, the archive "
                                 f"{expected.get(table.name, 0)}: nothing was restored.")
    echo(f"database: {copied} row(s) restored into {len(tables)} table(s)")
    return copied


def _advance_sequences(connection, tables: list[Table]) -> None:
    """PostgreSQL: rows were copied with their ids, which leaves each table's id sequence behind; move it past
    the largest id so the next insert does not collide (SQLite takes max(id) + 1 by itself)."""
    for table in tables:
        for column in table.primary_key.columns:
            if not column.autoincrement or not isinstance(column.type, Integer):
                continue
            sequence = connection.scalar(text("SELECT pg_get_serial_sequence(:table, :column)"),
                                         {"table": table.name, "column": column.name})
            if sequence:
                connection.execute(text(
                    f'SELECT setval(:sequence, COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, false)'
                ), {"sequence": sequence})


def _verify_restored_audit(manifest: dict[str, Any]) -> None:
    summary = _audit_summary(db.session, seals=False)  # sealed with the exporting instance's key
    expected = manifest.get("audit", {})
    if (summary["events"], summary["head_hash"]) != (expected.get("events"), expected.get("head_hash")):
        raise _archive_error("The restored audit chain does not end where the archive's did: nothing was restored.")
    if expected.get("chain_ok") and not summary["chain_ok"]:
        raise _archive_error("The restored audit chain does not verify: nothing was restored.")


def _rebuild_search_index() -> str:
    """Rebuild the search index from the restored database."""
    from docmgr.search.rebuild import reindex

    return f"rebuilt ({reindex()} entries)"


def import_backup(path: Path | str, echo: Echo = _quiet, *, key: str | None = None,
                  trust_unsigned: bool = False) -> ImportResult:
    """Restore an archive made by :func:`export_backup` into this instance, which must be new.

    Nothing changes unless every file of the archive matches the manifest, the instance is empty and
    the schema matches. The rows are copied in one transaction that commits only if the row counts and
    the audit chain's head equal the manifest's; if it does not commit, the files it stored are removed.
    """
    path = Path(path)
    manifest = verify_archive(path, echo, key=backup_key(key), trust_unsigned=trust_unsigned)
    archive_blobs = {entry["path"].rsplit("/", 1)[-1] for entry in manifest["files"]
                     if entry["path"].startswith(BLOB_PREFIX)}
    _require_empty_instance(archive_blobs)
    with tempfile.TemporaryDirectory(prefix="docmgr-import-") as workdir, _open_archive(path) as (tar, _, members):
        snapshot_path = Path(workdir) / "docmgr.sqlite3"
        with tar.extractfile(members[DATABASE_MEMBER]) as fh, snapshot_path.open("wb") as out:  # type: ignore[union-attr]
            while chunk := fh.read(CHUNK):
                out.write(chunk)
        expected_sha = next(f["sha256"] for f in manifest["files"] if f["path"] == DATABASE_MEMBER)
        with snapshot_path.open("rb") as fh:
            if _sha256_of(fh)[0] != expected_sha:
                raise _archive_error("The database changed while it was read: nothing was restored.")
        snapshot = _snapshot_engine(snapshot_path, read_only=True)
        try:
            _check_schema(snapshot, manifest)
            added = _restore_blobs(tar, members, echo)
            try:
                rows = _restore_rows(snapshot, manifest, echo)
                _verify_restored_audit(manifest)
                echo(f"audit: {reseal_all(db.session)} entr(ies) sealed with this instance's key")
                set_heads_aside()
                db.session.commit()
            except BaseException:
                db.session.rollback()
                store = current_store()
                for sha in added:
                    store.delete(sha)
                raise
        finally:
            snapshot.dispose()
    index = _rebuild_search_index()
    echo(f"index: {index}")
    log_security_event("backup_imported", archive=str(path.resolve()), rows=rows, files=len(archive_blobs),
                       authenticated=manifest["_authenticated"])
    return ImportResult(manifest=manifest, restored_blobs=len(archive_blobs), restored_rows=rows, index=index)
