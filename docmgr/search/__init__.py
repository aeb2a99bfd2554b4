"""search: the Whoosh index (engine, text analysis, queries), its single writer and the search services."""

from __future__ import annotations

from flask import Flask

from docmgr.maintenance import register_check, register_init_step
from docmgr.search import indexers, rebuild


def _rebuild_outdated_index() -> str | None:
    count = rebuild.reindex_if_outdated()
    return None if count is None else f"index:    built by an older version, rebuilt ({count} entries)"


def init_app(app: Flask) -> None:
    """The index engine, the ``search.index`` task, the index check and the rebuild at `init`."""
    indexers.register(app)
    register_check(app, rebuild.check_index)
    register_init_step(app, _rebuild_outdated_index)
