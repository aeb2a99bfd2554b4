"""Clauses: the rendered body split into bilingual clauses, each side as sanitised HTML and as Word paragraphs.

The contract (see templates/README.md): a sequence of ``<section>`` elements, each holding exactly one
``<div lang="it">`` and one ``<div lang="ru">``; the first ``<h1>``/``<h2>`` of each side is the clause
heading; ``<section class="title">`` marks the title rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docmgr.drafting.rendering.errors import N_, TemplateError
from docmgr.drafting.rendering.formatting import LANGS
from docmgr.drafting.rendering.markup import Node, parse_html
from docmgr.drafting.rendering.sanitize import DROPPED_WITH_CONTENT, sanitized_html


@dataclass
class Run:
    text: str
    bold: bool = False
    italic: bool = False
    underline: bool = False


@dataclass
class Paragraph:
    style: str  # a Word style name: Normal, List Bullet, List Number, Heading 3
    runs: list[Run]

    @property
    def text(self) -> str:
        return "".join(run.text for run in self.runs)


# Markup indentation collapses to one space; no-break spaces (Babel's "1 234,56", "2026 г.") stay.
_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_BLOCK_TAGS = {"p", "div", "ul", "ol", "li", "h1", "h2", "h3", "h4", "table", "thead", "tbody", "tr", "blockquote",
               "section", "hr"}


def _paragraphs(nodes: list[Node | str]) -> list[Paragraph]:
    """Flatten author markup into Word paragraphs with bold/italic/underline runs."""
    paragraphs: list[Paragraph] = []
    current: list[Run] = []

    def flush(style: str = "Normal") -> None:
        nonlocal current
        while current and current[-1].text == "\n":
            current.pop()
        if any(run.text.strip() for run in current):
            paragraphs.append(Paragraph(style, current))
        current = []

    def inline(node: Node | str, bold: bool, italic: bool, underline: bool, into: list[Run]) -> None:
        if isinstance(node, str):
            text = _ASCII_SPACE.sub(" ", node)
            if text:
                into.append(Run(text, bold, italic, underline))
            return
        if node.tag in DROPPED_WITH_CONTENT or node.tag == "img":
            return
        if node.tag == "br":
            into.append(Run("\n"))
            return
        bold = bold or node.tag in ("strong", "b", "th")
        italic = italic or node.tag in ("em", "i")
        underline = underline or node.tag == "u"
        for child in node.children:
            inline(child, bold, italic, underline, into)

    def block(node: Node | str, list_style: str | None = None) -> None:
        if isinstance(node, str) or node.tag not in _BLOCK_TAGS:
            inline(node, False, False, False, current)
            return
        flush()
        if node.tag in ("p", "h1", "h2", "h3", "h4", "td", "th"):
            for child in node.children:
                inline(child, node.tag.startswith("h"), False, False, current)
            flush("Heading 3" if node.tag.startswith("h") else "Normal")
        elif node.tag in ("ul", "ol"):
            style = "List Bullet" if node.tag == "ul" else "List Number"
            for child in node.children:
                block(child, style)
        elif node.tag == "li":
            for child in node.children:
                if isinstance(child, Node) and child.tag in ("ul", "ol"):
                    flush(list_style or "List Bullet")
                    block(child)
                else:
                    inline(child, False, False, False, current)
            flush(list_style or "List Bullet")
        elif node.tag == "tr":
            cells = [Node("span", {}, node.line, [c.text().strip() + " "]) for c in node.elements()]
            for cell in cells:
                inline(cell, False, False, False, current)
            flush()
        else:
            for child in node.children:
                block(child, list_style)
            flush()

    for node in nodes:
        block(node)
    flush()
    for paragraph in paragraphs:  # trim the whitespace that markup indentation leaves at the edges
        paragraph.runs[0].text = paragraph.runs[0].text.lstrip(" ")
        paragraph.runs[-1].text = paragraph.runs[-1].text.rstrip(" ")
    return paragraphs


@dataclass
class Side:
    heading: str
    html: str  # sanitised inner HTML (without the heading)
    paragraphs: list[Paragraph]

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.paragraphs)


@dataclass
class Clause:
    kind: str  # "title", "parties", "clause", "signature"
    it: Side
    ru: Side

    def summary(self) -> dict[str, str]:
        """What diffs and search need: headings and plain text of both languages."""
        return {
            "kind": self.kind, "heading_it": self.it.heading, "heading_ru": self.ru.heading,
            "text_it": self.it.text, "text_ru": self.ru.text,
        }


def _side(node: Node) -> Side:
    children = list(node.children)
    heading = ""
    for index, child in enumerate(children):
        if isinstance(child, str) and not child.strip():
            continue
        if isinstance(child, Node) and child.tag in ("h1", "h2"):
            heading = _ASCII_SPACE.sub(" ", child.text()).strip(" ")
            children = children[index + 1:]
        break
    return Side(heading, sanitized_html(children).strip(), _paragraphs(children))


def parse_clauses(rendered: str) -> list[Clause]:
    """Split a rendered body into bilingual clauses, or say where it breaks the contract."""
    root = parse_html(rendered)
    clauses: list[Clause] = []
    for child in root.children:
        if isinstance(child, str):
            if child.strip():
                line = rendered[: rendered.find(child.strip())].count("\n") + 1
                raise TemplateError(
                    N_("Text outside a <section>: '%(text)s' (line of the rendered text)."), line, text=child.strip()[:60]
                )
            continue
        if child.tag in ("#comment",):
            continue
        if child.tag != "section":
            raise TemplateError(
                N_("Expected <section> elements at the top level, found <%(tag)s> (line of the rendered text)."),
                child.line, tag=child.tag,
            )
        sides: dict[str, Node] = {}
        for part in child.children:
            if isinstance(part, str):
                if part.strip():
                    raise TemplateError(N_("Text inside a <section> must be in its <div lang=\"it\"> or <div lang=\"ru\">."),
                                        child.line)
                continue
            lang = part.attrs.get("lang", "")
            if part.tag != "div" or lang not in LANGS:
                raise TemplateError(
                    N_("A <section> holds only <div lang=\"it\"> and <div lang=\"ru\">, found <%(tag)s>."), part.line,
                    tag=part.tag,
                )
            if lang in sides:
                raise TemplateError(N_("A <section> has two <div lang=\"%(lang)s\">."), part.line, lang=lang)
            sides[lang] = part
        missing = [lang for lang in LANGS if lang not in sides]
        if missing:
            raise TemplateError(N_("A <section> has no <div lang=\"%(lang)s\">."), child.line, lang=missing[0])
        kind = "title" if "title" in child.attrs.get("class", "").split() else "clause"
        clauses.append(Clause(kind, _side(sides["it"]), _side(sides["ru"])))
    if not any(c.kind == "clause" for c in clauses):
        raise TemplateError(N_("The template produced no clause (no <section> with both languages)."), None)
    return clauses
