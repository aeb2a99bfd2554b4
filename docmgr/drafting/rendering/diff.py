"""Comparing two drafts: clauses aligned on their headings, then a word diff of each language."""

from __future__ import annotations

import difflib
import re
from typing import Any

from docmgr.drafting.rendering.formatting import LANGS

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def _word_diff(old: str, new: str) -> list[dict[str, str]]:
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    segments: list[dict[str, str]] = []

    def add(op: str, text: str) -> None:
        if not text:
            return
        if segments and segments[-1]["op"] == op:
            segments[-1]["text"] += text
        else:
            segments.append({"op": op, "text": text})

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            add("equal", "".join(a[i1:i2]))
        else:
            add("delete", "".join(a[i1:i2]))
            add("insert", "".join(b[j1:j2]))
    return segments


def _clause_key(summary: dict[str, str]) -> str:
    return f"{summary.get('kind')}|{summary.get('heading_it')}|{summary.get('heading_ru')}"


def _clause_text(summary: dict[str, str], lang: str) -> str:
    heading = summary.get(f"heading_{lang}", "")
    body = summary.get(f"text_{lang}", "")
    return f"{heading}\n{body}" if heading else body


def compare_clauses(old: list[dict[str, str]], new: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Clause by clause, both languages: aligned on headings, then a word diff of each text."""
    result: list[dict[str, Any]] = []

    def pair(a: dict[str, str] | None, b: dict[str, str] | None) -> None:
        entry: dict[str, Any] = {
            "kind": (b or a or {}).get("kind", "clause"),
            "heading_it": (b or a or {}).get("heading_it", ""), "heading_ru": (b or a or {}).get("heading_ru", ""),
        }
        for lang in LANGS:
            before = _clause_text(a, lang) if a else ""
            after = _clause_text(b, lang) if b else ""
            entry[lang] = _word_diff(before, after)
        if a is None:
            entry["status"] = "added"
        elif b is None:
            entry["status"] = "removed"
        else:
            same = all(_clause_text(a, lang) == _clause_text(b, lang) for lang in LANGS)
            entry["status"] = "unchanged" if same else "changed"
        result.append(entry)

    matcher = difflib.SequenceMatcher(None, [_clause_key(s) for s in old], [_clause_key(s) for s in new], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for a, b in zip(old[i1:i2], new[j1:j2], strict=True):
                pair(a, b)
        else:
            olds, news = old[i1:i2], new[j1:j2]
            for index in range(max(len(olds), len(news))):
                pair(olds[index] if index < len(olds) else None, news[index] if index < len(news) else None)
    return result
