"""Content-addressed file store: every blob lives at objects/ab/cd/<sha256>, written once.

Writes go to a temporary file in the same file system, are fsynced, then linked into place with
``os.link``, which fails rather than replace an existing name: a stored blob is never overwritten
and a reader never sees a half-written one. The original file name is kept in the database only;
it never takes part in a path.

The rest of the code sees a :class:`BlobStore` (``app.extensions["docmgr.store"]``); :class:`FileStore`, a
folder, is the one implementation. The same folder can be a volume shared by several nodes (NFS v3/v4 or
any POSIX file system mounted on each): blobs are immutable and named by their hash, so writers need no
lock — ``os.link`` is atomic on the server (two nodes storing the same bytes: one link wins, the other gets
EEXIST and finds identical bytes), the temporary file is in ``tmp/`` on the same volume (so the link is
not a cross-device copy), and a reader only ever opens a name that was linked after its fsync. See the
README ("A cluster") for mount options. An S3-API store would implement the same protocol.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

CHUNK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    is_new: bool  # False when identical bytes were already stored


class BlobTooLarge(Exception):
    pass


@runtime_checkable
class BlobStore(Protocol):
    """Where file bytes live, addressed by their SHA-256 (see the module docstring)."""

    def ensure(self) -> None: ...  # create what the store needs (idempotent)
    def put(self, stream: BinaryIO, max_size: int | None = None) -> StoredBlob: ...  # atomic; never overwrites
    def put_bytes(self, data: bytes) -> StoredBlob: ...
    def open(self, sha256: str) -> BinaryIO: ...  # FileNotFoundError when absent
    def read(self, sha256: str) -> bytes: ...
    def exists(self, sha256: str) -> bool: ...
    def delete(self, sha256: str) -> None: ...  # only for a blob no row points at
    def delete_unused(self, hashes: Iterable[str], in_use: Callable[[], set[str]],
                      grace: float) -> tuple[list[str], list[str]]: ...  # a purge, safe beside concurrent uploads
    def verify(self, sha256: str) -> str | None: ...  # None, "missing" or "corrupted"
    def iter_hashes(self) -> Iterator[str]: ...  # every stored blob (check, backup)
    def path(self, sha256: str) -> Path: ...  # a local file with the bytes (tools that need a path: OCR, backup)


class FileStore:
    """The :class:`BlobStore` in a local (or shared, NFS-mounted) folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"

    def ensure(self) -> None:
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256 or ""):
            raise ValueError("not a SHA-256 hex digest")
        return self.objects / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def put_bytes(self, data: bytes) -> StoredBlob:
        import io

        return self.put(io.BytesIO(data))

    def put(self, stream: BinaryIO, max_size: int | None = None) -> StoredBlob:
        """Store a stream's bytes; returns its hash. Raises BlobTooLarge past ``max_size``."""
        self.ensure()
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise BlobTooLarge()
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            target = self.path(sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            is_new = self._link(tmp_name, target)
            return StoredBlob(sha256=sha256, size=size, is_new=is_new)
        finally:
            os.unlink(tmp_name)

    @staticmethod
    def _link(tmp_name: str, target: Path) -> bool:
        """Put the spooled file in place; False when the blob was stored already. Then it is marked as just
        used, so that a purge racing with this upload (whose row is not committed yet) leaves it alone
        (documents.trash.delete_unreferenced_blobs); if the purge removed it meanwhile, it is linked anew."""
        for _ in range(3):
            try:
                os.link(tmp_name, target)
            except FileExistsError:
                try:
                    os.utime(target)
                    return False
                except FileNotFoundError:
                    continue
            os.chmod(target, 0o444)
            fsync_dir(target.parent)
            return True
        raise OSError(f"could not store {target.name}")

    def delete(self, sha256: str) -> None:
        """Only for blobs no row points at (a rolled-back upload); see documents.services."""
        self.path(sha256).unlink(missing_ok=True)

    _HOLD = "purge-"  # a blob moved aside by delete_unused: tmp/purge-<sha256>-<unique>

    def delete_unused(self, hashes: Iterable[str], in_use: Callable[[], set[str]],
                      grace: float) -> tuple[list[str], list[str]]:
        """Remove the blobs of ``hashes`` that nothing uses, also when another node stores the same bytes at
        the same moment (a shared volume). A stat-then-unlink could miss that upload: its touch may come
        between the two, and NFS clients cache a file's attributes for up to a minute. So each blob is first
        moved aside (``rename`` is atomic on the server: an upload from then on stores it anew), then
        ``in_use()`` (the hashes rows refer to, read afresh) is asked, then the held file's modification
        time is read through a fresh ``open`` (close-to-open consistency). A blob used by then, or stored
        again within ``grace`` seconds (an upload whose row has not committed yet), is linked back.
        Blobs held by a purge that was killed midway are found in ``tmp/`` and decided the same way.
        Returns (removed, kept because stored again recently)."""
        self.ensure()
        held: list[tuple[str, Path]] = []
        for leftover in self.tmp.glob(self._HOLD + "*"):
            sha = leftover.name[len(self._HOLD):].split("-", 1)[0]
            if _SHA256.match(sha):
                held.append((sha, leftover))
        for sha in dict.fromkeys(hashes):
            hold = self.tmp / f"{self._HOLD}{sha}-{uuid.uuid4().hex}"
            try:
                os.rename(self.path(sha), hold)
            except FileNotFoundError:
                continue
            held.append((sha, hold))
        if not held:
            return [], []
        fsync_dir(self.tmp)
        used = in_use()
        removed, recent = [], []
        for sha, hold in held:
            fd = os.open(hold, os.O_RDONLY)
            try:
                young = time.time() - os.fstat(fd).st_mtime < grace
            finally:
                os.close(fd)
            if young or sha in used:
                target = self.path(sha)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(hold, target)
                except FileExistsError:
                    pass  # stored anew meanwhile: the same bytes
                fsync_dir(target.parent)
                if young:
                    recent.append(sha)
            else:
                removed.append(sha)
            os.unlink(hold)
        fsync_dir(self.tmp)
        return removed, recent

    def verify(self, sha256: str) -> str | None:
        """None when the blob is intact, else 'missing' or 'corrupted'."""
        path = self.path(sha256)
        if not path.is_file():
            return "missing"
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        return None if digest.hexdigest() == sha256 else "corrupted"

    def iter_hashes(self) -> Iterator[str]:
        if not self.objects.is_dir():
            return
        for path in self.objects.glob("*/*/*"):
            if _SHA256.match(path.name):
                yield path.name


def fsync_dir(path: Path) -> None:
    """Make a rename or link inside ``path`` durable (the directory entry itself is fsynced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the store of the running app, and blobs stored by a transaction that has not committed yet ---


def open_store(config: dict) -> BlobStore:
    """The store the configuration names: today always the folder STORAGE_DIR (local or a shared volume)."""
    return FileStore(Path(config["STORAGE_DIR"]))


def current_store() -> BlobStore:
    from flask import current_app

    return current_app.extensions["docmgr.store"]


def store_stream(stream: BinaryIO, max_size: int | None = None) -> StoredBlob:
    """Store bytes for a row about to be written. If the transaction never commits, the blob is
    removed again at the end of the request (when it was new), so a failed upload leaves nothing."""
    from flask import g, has_app_context

    blob = current_store().put(stream, max_size=max_size)
    if blob.is_new and has_app_context():
        g.setdefault("uncommitted_blobs", []).append(blob.sha256)
    return blob


def store_bytes(data: bytes) -> StoredBlob:
    import io

    return store_stream(io.BytesIO(data))


def mark_committed() -> None:
    from flask import g, has_app_context

    if has_app_context():
        g.pop("uncommitted_blobs", None)


def discard_uncommitted() -> None:
    from flask import g, has_app_context

    if not has_app_context():
        return
    for sha256 in g.pop("uncommitted_blobs", []):
        current_store().delete(sha256)


def _install_commit_hook() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    @event.listens_for(Session, "after_commit")
    def _after_commit(session):  # noqa: ARG001
        mark_committed()

    @event.listens_for(Session, "after_rollback")
    def _after_rollback(session):  # noqa: ARG001
        discard_uncommitted()


_install_commit_hook()
