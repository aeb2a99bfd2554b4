"""Helpers for the search tests: real sentences from tests/data, a search shortcut, and both backends.

Every test here that uses the ``app`` fixture runs twice: on Whoosh (SQLite app database), and on the
PostgreSQL backend (a fresh PostgreSQL database from ``postgres_url``, ``SEARCH_BACKEND=postgres``), with the
same expectations. With ``DOCMGR_TEST_SEARCH_BACKEND=postgres`` only the second runs; tests about one backend's own
machinery (generations on disk, file locks; rows, advisory locks) carry ``whoosh_only`` / ``postgres_only``.
"""

from __future__ import annotations

import csv
import os
from functools import cache

import pytest

from tests.conftest import CORPUS


def _backends() -> list[str]:
    if os.environ.get("DOCMGR_TEST_SEARCH_BACKEND", "").lower() == "postgres":
        return ["postgres"]
    return ["whoosh", "postgres"]


def pytest_configure(config):
    config.addinivalue_line("markers", "whoosh_only: a test of the Whoosh backend's own machinery")
    config.addinivalue_line("markers", "postgres_only: a test of the PostgreSQL backend's own machinery")


def pytest_generate_tests(metafunc):
    if "app" in metafunc.fixturenames and "search_backend" in metafunc.fixturenames:
        backends = _backends()
        if metafunc.definition.get_closest_marker("whoosh_only") is not None:
            backends = [b for b in backends if b == "whoosh"]
        if metafunc.definition.get_closest_marker("postgres_only") is not None:
            backends = ["postgres"]
        metafunc.parametrize("search_backend", backends or ["whoosh"], indirect=True)


@pytest.fixture
def search_backend(request) -> str:
    return getattr(request, "param", "whoosh")


@pytest.fixture(autouse=True)
def _search_backend_config(request, search_backend):
    """The app of the postgres variant: its database on PostgreSQL and the PostgreSQL search backend
    (tests/conftest.py's ``app`` reads these ``app_config`` overrides)."""
    if "app" not in request.fixturenames:
        return
    if search_backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        request.node.add_marker(pytest.mark.app_config(SQLALCHEMY_DATABASE_URI=url, SEARCH_BACKEND="postgres"))
    else:  # also in CI's second pass, where a whoosh_only test keeps Whoosh (on that pass's database)
        request.node.add_marker(pytest.mark.app_config(SEARCH_BACKEND="whoosh"))


@cache
def parallel() -> dict[str, tuple[str, str]]:
    """sent_id → (Italian, Russian) from the PUD parallel treebank sentences."""
    rows = {}
    with (CORPUS / "text" / "PUD_it-ru_parallel.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            rows[row["sent_id"]] = (row["it"], row["ru"])
    return rows


def corpus_line(name: str, number: int) -> str:
    """Line ``number`` (1-based) of a corpus text file."""
    return (CORPUS / "text" / name).read_text(encoding="utf-8").splitlines()[number - 1]


def txt(text: str, name: str = "file.txt", language: str | None = None) -> tuple[str, bytes, str | None]:
    return (name, text.encode("utf-8"), language)


def docx(text: str, name: str = "file.docx", language: str | None = None) -> tuple[str, bytes, str | None]:
    """A real Word file (plain-text uploads that look like HTML are refused by the upload rules)."""
    import io

    from docx import Document

    document = Document()
    for paragraph in text.split("\n"):
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return (name, out.getvalue(), language)


@pytest.fixture
def search(client, token_for):
    """search(user, q, **params) → (status, json) through the real API."""
    headers: dict[int, dict[str, str]] = {}

    def run(user, q: str = "", **params):
        if user.id not in headers:
            headers[user.id] = token_for(user)
        response = client.get("/api/v1/search", query_string={"q": q, **params}, headers=headers[user.id])
        return response.status_code, response.get_json()

    return run


def ids(body: dict) -> list[int]:
    return [hit["document_id"] for hit in body["hits"]]
