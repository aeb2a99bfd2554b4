"""Helpers for the search tests: real sentences from tests/data and a search shortcut."""

from __future__ import annotations

import csv
from functools import cache

import pytest

from tests.conftest import CORPUS


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
