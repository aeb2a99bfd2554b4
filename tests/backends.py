"""Which database, search backend and queue broker the tests run on (scripts/test.sh's two passes).

Pass 1 (nothing set): SQLite + Whoosh + the embedded queue. Pass 2 sets
``DOCMGR_TEST_DATABASE=postgres`` (a fresh database of the shared PostgreSQL cluster per app),
``DOCMGR_TEST_SEARCH_BACKEND=postgres`` and ``DOCMGR_TEST_QUEUE=redis`` (a queue name of its own per app
on the shared Redis), with DOCMGR_TEST_POSTGRES_URL / DOCMGR_TEST_REDIS_URL naming the servers
(``python -m tests.servers`` starts them). The in-process ``app`` fixture and the real-process tests (e2e
``live_server``, crash and cluster tests) take their settings from here, so both kinds run on the same
backends.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest


def uses_postgres() -> bool:
    return os.environ.get("DOCMGR_TEST_DATABASE", "sqlite") == "postgres"


def uses_redis() -> bool:
    return os.environ.get("DOCMGR_TEST_QUEUE", "embedded") == "redis"


def search_backend() -> str:
    return os.environ.get("DOCMGR_TEST_SEARCH_BACKEND", "")


def database_url(request: pytest.FixtureRequest, folder: Path) -> str:
    """A new empty database for one app: a PostgreSQL database of the session's cluster, else an SQLite file."""
    if uses_postgres():
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{folder / 'test.sqlite3'}"


def app_overrides(request: pytest.FixtureRequest, folder: Path) -> dict:
    """create_app settings of the selected backends (the ``app`` fixture)."""
    overrides: dict = {"SQLALCHEMY_DATABASE_URI": database_url(request, folder)}
    if uses_redis():
        overrides["QUEUE_URL"] = request.getfixturevalue("redis_server").url
        overrides["QUEUE_NAME"] = f"docmgr-test-{uuid.uuid4().hex[:12]}"
    if search_backend():
        overrides["SEARCH_BACKEND"] = search_backend()
    return overrides


def server_env(request: pytest.FixtureRequest, folder: Path) -> dict[str, str]:
    """DOCMGR_* variables of the selected backends for real server and worker processes (any fixture scope: a
    PostgreSQL database of its own, kept until the session's cluster stops)."""
    if uses_postgres():
        url = request.getfixturevalue("postgres_server").create_database("srv")
    else:
        url = f"sqlite:///{folder / 'docmgr.sqlite3'}"
    env = {"DOCMGR_DATABASE_URL": url}
    if uses_redis():
        env["DOCMGR_QUEUE_URL"] = request.getfixturevalue("redis_server").url
        env["DOCMGR_QUEUE_NAME"] = f"docmgr-test-{uuid.uuid4().hex[:12]}"
    if search_backend():
        env["DOCMGR_SEARCH_BACKEND"] = search_backend()
    return env
