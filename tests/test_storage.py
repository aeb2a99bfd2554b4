"""The content-addressed store's purge beside uploads of the same bytes (a shared volume, several nodes).

Each test plays one interleaving of a purge (FileStore.delete_unused) and an upload (FileStore.put) on a real
folder: the upload's steps run inside ``in_use``, the moment between the purge moving a blob aside and deciding.
"""

from __future__ import annotations

import os

from docmgr.storage import FileStore

BYTES = b"Protocollo d'intesa, allegato tecnico: the same bytes on two nodes."
OLD = 1_000_000_000  # 2001: stored long ago


def stored_long_ago(store: FileStore, data: bytes = BYTES) -> str:
    sha = store.put_bytes(data).sha256
    os.utime(store.path(sha), (OLD, OLD))
    return sha


def held(store: FileStore) -> list[str]:
    return sorted(p.name for p in store.tmp.glob("purge-*"))


def test_an_unused_blob_stored_long_ago_is_removed(tmp_path):
    store = FileStore(tmp_path)
    sha = stored_long_ago(store)
    kept = stored_long_ago(store, b"another file a row still points at")
    assert store.delete_unused([sha, kept], lambda: {kept}, grace=60) == ([sha], [])
    assert not store.exists(sha) and store.read(kept) == b"another file a row still points at"
    assert held(store) == []


def test_an_upload_that_found_the_blob_just_before_the_purge_keeps_it(tmp_path):
    """The upload touched the blob (EEXIST then utime) before the purge moved it aside; its row is not committed."""
    store = FileStore(tmp_path)
    sha = stored_long_ago(store)
    assert store.put_bytes(BYTES).is_new is False  # the touch
    assert store.delete_unused([sha], set, grace=60) == ([], [sha])
    assert store.read(sha) == BYTES and held(store) == []


def test_an_upload_while_the_blob_is_moved_aside_stores_it_anew(tmp_path):
    store = FileStore(tmp_path)
    sha = stored_long_ago(store)
    uploads = []

    def upload_meanwhile() -> set[str]:
        assert not store.exists(sha), "moved aside"
        uploads.append(store.put_bytes(BYTES))
        return {sha}  # and its row committed before the purge looked again

    assert store.delete_unused([sha], upload_meanwhile, grace=60) == ([], [])
    assert uploads[0].is_new is True, "the upload saw no blob and stored its own"
    assert store.read(sha) == BYTES and store.verify(sha) is None and held(store) == []


def test_a_row_committed_on_another_node_meanwhile_keeps_the_blob(tmp_path):
    """The row points at the blob; the upload that stored it was long ago (a restore from backup, a copy)."""
    store = FileStore(tmp_path)
    sha = stored_long_ago(store)
    assert store.delete_unused([sha], lambda: {sha}, grace=60) == ([], [])
    assert store.read(sha) == BYTES and held(store) == []


def test_blobs_held_by_a_purge_killed_midway_are_decided_by_the_next(tmp_path):
    store = FileStore(tmp_path)
    used, unused = stored_long_ago(store), stored_long_ago(store, b"nobody wants this one")
    store.ensure()
    for sha in (used, unused):  # what a purge killed between the rename and its decision leaves behind
        os.rename(store.path(sha), store.tmp / f"purge-{sha}-{'0' * 32}")
    assert not store.exists(used)
    assert store.delete_unused([], lambda: {used}, grace=60) == ([unused], [])
    assert store.read(used) == BYTES and not store.exists(unused) and held(store) == []


def test_hashes_already_gone_are_skipped(tmp_path):
    store = FileStore(tmp_path)
    asked = []
    assert store.delete_unused(["0" * 64], lambda: asked.append(1) or set(), grace=60) == ([], [])
    assert asked == [], "nothing held: no need to ask the database"
