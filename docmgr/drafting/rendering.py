"""Rendering agreement templates: a pure function from (template, data snapshot) to bilingual clauses,
and from clauses to HTML (preview and PDF) and DOCX.

Nothing here touches the database or Flask, so the same code serves the preview, the draft render,
template validation and the benchmark.

The contract a template body follows (see templates/README.md): the body is a Jinja template run in
an immutable sandbox with autoescaping and ``StrictUndefined``. It renders to a sequence of
``<section>`` elements, each holding exactly one ``<div lang="it">`` and one ``<div lang="ru">``; the
first ``<h1>``/``<h2>`` of each side is the clause heading. ``<section class="title">`` marks the
title rows. The parties block and the signature blocks are generated here, from the parties and
signatories, so every agreement shows them in both scripts the same way.
"""

from __future__ import annotations

import difflib
import html as html_lib
import io
import json
import marshal
import math
import re
import time
import traceback
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

from babel.dates import format_date as babel_format_date
from babel.numbers import format_decimal as babel_format_decimal
from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from docmgr.limits import ChildLimits, run_in_limited_child

FIELD_TYPES = ("text", "long_text", "date", "number", "organization", "list")
LANGS = ("it", "ru")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_RESERVED_FIELD_NAMES = {"items", "keys", "values", "get", "update", "pop"}  # dict methods shadow keys in Jinja


class TemplateError(Exception):
    """A template that does not compile, render or produce the expected structure."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


class FieldDeclarationError(Exception):
    """A template's field declarations are malformed; ``path`` names the offending entry."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.message = message
        self.path = path


# --- field declarations ------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label_it: str
    label_ru: str
    type: str
    required: bool = False
    help: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "label_it": self.label_it, "label_ru": self.label_ru, "type": self.type,
                "required": self.required}
        if self.help:
            data["help"] = self.help
        return data


def parse_field_declarations(raw: Any) -> list[FieldSpec]:
    """Check and normalise a template's field list (from a template file or an API request)."""
    if not isinstance(raw, list):
        raise FieldDeclarationError("Fields must be a list of objects.", "fields")
    specs: list[FieldSpec] = []
    seen: set[str] = set()
    allowed_keys = {"name", "label_it", "label_ru", "type", "required", "help"}
    for index, item in enumerate(raw):
        path = f"fields[{index}]"
        if not isinstance(item, dict):
            raise FieldDeclarationError(f"{path} must be an object.", path)
        unknown = sorted(set(item) - allowed_keys)
        if unknown:
            raise FieldDeclarationError(f"{path}: unknown key {unknown[0]!r}.", f"{path}.{unknown[0]}")
        name = item.get("name")
        if not isinstance(name, str) or not _FIELD_NAME.match(name) or name in _RESERVED_FIELD_NAMES:
            raise FieldDeclarationError(
                f"{path}.name must be lower-case letters, digits and underscores, starting with a letter.",
                f"{path}.name",
            )
        if name in seen:
            raise FieldDeclarationError(f"Field {name!r} is declared twice.", f"{path}.name")
        seen.add(name)
        field_type = item.get("type", "text")
        if field_type not in FIELD_TYPES:
            raise FieldDeclarationError(
                f"{path}.type must be one of {', '.join(FIELD_TYPES)}.", f"{path}.type"
            )
        labels = {}
        for key in ("label_it", "label_ru"):
            value = item.get(key, name)
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise FieldDeclarationError(f"{path}.{key} must be a text of 1 to 200 characters.", f"{path}.{key}")
            labels[key] = value.strip()
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise FieldDeclarationError(f"{path}.required must be true or false.", f"{path}.required")
        help_text = item.get("help", "")
        if not isinstance(help_text, str):
            raise FieldDeclarationError(f"{path}.help must be a text.", f"{path}.help")
        specs.append(FieldSpec(name, labels["label_it"], labels["label_ru"], field_type, required, help_text.strip()))
    return specs


# --- formatting per language --------------------------------------------------------------------


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def format_date(value: Any, lang: str, form: str = "long") -> str:
    """``25 novembre 2026`` / ``25 ноября 2026 г.``; strings that are not ISO dates pass through."""
    parsed = _as_date(value)
    if parsed is None:
        return "" if value is None else str(value)
    return babel_format_date(parsed, form if form in ("short", "medium", "long", "full") else "long", locale=lang)


def format_number(value: Any, lang: str, decimals: int | None = None) -> str:
    """``1.234,56`` / ``1 234,56`` (Babel's grouping for each language)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if decimals is not None:
        pattern = "#,##0" + ("." + "0" * int(decimals) if int(decimals) > 0 else "")
        return babel_format_decimal(value, format=pattern, locale=lang)
    return babel_format_decimal(value, locale=lang)


def _load_locale_data() -> None:
    """Babel loads a locale's data on first use (~20 ms for both). Done at import, so the render
    children of the fork server (which imports this module, see :mod:`docmgr.limits`) inherit it
    instead of each loading it again."""
    for lang in LANGS:
        format_date("2000-01-01", lang)
        format_number(1.5, lang)


_load_locale_data()


def split_scripts(primary: str | None, alternative: str | None) -> tuple[str, str]:
    """(Latin form, Cyrillic form) of a name given as a name and its form in the other script.

    Decided by the script of each text rather than by country, because users type either first.
    """
    primary, alternative = (primary or "").strip(), (alternative or "").strip()
    primary_is_cyrillic = bool(_CYRILLIC.search(primary))
    alternative_is_cyrillic = bool(_CYRILLIC.search(alternative))
    if primary_is_cyrillic and not alternative_is_cyrillic:
        return alternative or primary, primary
    if alternative_is_cyrillic and not primary_is_cyrillic:
        return primary or alternative, alternative
    return primary or alternative, alternative or primary


# --- the sandbox --------------------------------------------------------------------------------


MAX_REPEAT = 100_000  # the longest string or list a template may build with "*" (Jinja's own MAX_RANGE)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """Security (tests/security/test_templates_fetches.py): ``{{ 'x' * 10**9 }}`` or ``{{ 9**9**9 }}`` in a
    body would spend gigabytes or minutes of one worker before any other check runs."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        from jinja2.exceptions import SecurityError

        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(count, int):
                    if len(sequence) * max(count, 0) > MAX_REPEAT:
                        raise SecurityError(f"a repeated text or list longer than {MAX_REPEAT} items")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 100:
            raise SecurityError("an exponent above 100")
        return super().call_binop(context, operator, left, right)


def _make_environment() -> ImmutableSandboxedEnvironment:
    env = _BoundedSandbox(
        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False
    )
    env.filters["date"] = format_date
    env.filters["number"] = format_number
    return env


_ENV = _make_environment()


@lru_cache(maxsize=64)
def compile_body(body: str):
    """Compile once per distinct body (template versions never change, so the cache never lies)."""
    try:
        return _ENV.from_string(body)
    except TemplateSyntaxError as error:
        raise TemplateError(f"Syntax error: {error.message}", error.lineno) from None


@lru_cache(maxsize=64)
def _marshalled_body(body: str) -> bytes:
    """The compiled body as marshalled code (what Jinja's bytecode cache stores), for the render child:
    it rebuilds the template from it in well under a millisecond instead of compiling it again."""
    compile_body(body)  # syntax errors as TemplateError, with their line
    return marshal.dumps(_ENV.compile(body))


def _template_line(error: BaseException) -> int | None:
    """The template line an exception was raised from: Jinja rewrites tracebacks so that frames of
    template code carry the template's own line numbers under the file name ``<template>``."""
    line = getattr(error, "lineno", None)
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == "<template>":
            line = lineno
    return line


def _run_template(template: Any, context: dict[str, Any]) -> str:
    try:
        return template.render(context)
    except TemplateError:
        raise
    except TemplateSyntaxError as error:
        raise TemplateError(f"Syntax error: {error.message}", error.lineno) from None
    except Exception as error:  # any failure of template code is the author's to fix, with its line
        kind = type(error).__name__
        if kind == "SecurityError":
            message = f"Not allowed in templates: {error}"
        elif isinstance(error, MemoryError):
            message = "The template needed more memory than allowed to render; check its loops."
        elif kind == "UndefinedError":
            message = f"Undefined value: {error}"
        else:
            message = f"{kind}: {error}"
        raise TemplateError(message, _template_line(error)) from None


# A body is a few pages of agreement: 100 times that is not a contract but a loop gone wrong, and the
# parent would spend seconds parsing it into clauses.
MAX_RENDERED_CHARS = 5_000_000


@dataclass(frozen=True)
class RenderLimits(ChildLimits):
    """What rendering one template body may spend, in a child process (see :mod:`docmgr.limits`).

    ``memory_bytes`` is the child's whole address space; it starts from the small fork server, not from
    the web worker, so 1 GiB leaves several hundred megabytes for the template itself.
    """

    timeout_seconds: float = 10.0
    memory_bytes: int = 1024 * 1024 * 1024
    cpu_seconds: int = 10

    @classmethod
    def for_timeout(cls, timeout_seconds: float) -> RenderLimits:
        """A wall-clock limit, with a CPU limit to match (RLIMIT_CPU counts whole seconds)."""
        return cls(timeout_seconds=float(timeout_seconds), cpu_seconds=max(1, math.ceil(timeout_seconds)))


DEFAULT_RENDER_LIMITS = RenderLimits()


def _render_child(code: bytes, context: dict[str, Any], max_chars: int) -> tuple:
    """Runs in the limited child: ("ok", text) or ("error", message, line) (a TemplateError as data;
    exceptions do not survive the trip back with their attributes)."""
    try:
        template = _ENV.template_class.from_code(_ENV, marshal.loads(code), _ENV.make_globals(None), None)
        text = _run_template(template, context)
    except TemplateError as error:
        return ("error", error.message, error.line)
    except MemoryError:  # raised outside the template's own code (Jinja's output join, marshal)
        return ("error", "The template needed more memory than allowed to render; check its loops.", None)
    if len(text) > max_chars:
        return ("error", f"The template produced more than {max_chars:,} characters; check its loops.", None)
    return ("ok", text)


def _seconds(value: float) -> str:
    return f"{value:g}"


def render_body(body: str, context: dict[str, Any], limits: RenderLimits | None = DEFAULT_RENDER_LIMITS) -> str:
    """Render a body with its context (plain, picklable data: see :func:`build_context`).

    Under ``limits`` (the default) the template code runs in a child process with a wall-clock, CPU and
    memory limit: a body such as two nested ``range(100000)`` loops would otherwise hold the worker
    for hours. A child that runs out of time or dies gives a :class:`TemplateError`. ``limits=None``
    renders in this process, without limits (trusted bodies only).
    """
    if limits is None:
        return _run_template(compile_body(body), context)
    code = _marshalled_body(body)
    started = time.monotonic()
    message = run_in_limited_child(_render_child, (code, context, MAX_RENDERED_CHARS), limits, name="docmgr-render")
    if message is None:
        if time.monotonic() - started < limits.timeout_seconds * 0.9:
            raise TemplateError(
                "The template used more memory or processor time than allowed to render; check its loops."
            )
        raise TemplateError(
            f"The template took longer than {_seconds(limits.timeout_seconds)} seconds to render; check its loops."
        )
    if message[0] == "ok":
        return message[1]
    _, error_message, line = message
    raise TemplateError(error_message, line)


# --- parsing the rendered body into clauses -----------------------------------------------------

_VOID = {"br", "img", "hr", "wbr", "meta", "input", "col", "source"}
_ALLOWED_TAGS = {
    "section", "div", "p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "h1", "h2", "h3", "h4",
    "span", "img", "table", "thead", "tbody", "tr", "td", "th", "small", "sup", "sub", "blockquote", "hr",
}
_DROPPED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "svg", "math", "noscript",
                         "head", "title", "link", "base", "form", "textarea", "select", "button"}
_ALLOWED_ATTRS = {"lang", "class", "colspan", "rowspan"}
_IMG_ATTRS = {"src", "alt"}


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[_Node | str] = field(default_factory=list)

    def elements(self) -> list[_Node]:
        return [c for c in self.children if isinstance(c, _Node)]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class _TreeBuilder(HTMLParser):
    """A forgiving HTML tree builder (the stdlib parser; unclosed tags close at their parent's end)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {}, 1)
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: (v or "") for k, v in attrs}, self.getpos()[0])
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Node(tag, {k: (v or "") for k, v in attrs}, self.getpos()[0]))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _parse_html(text: str) -> _Node:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def _sanitized_html(nodes: list[_Node | str]) -> str:
    """Re-serialise author markup keeping an allow-list of tags and attributes; text is escaped again."""
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(html_lib.escape(node, quote=False))
            continue
        if node.tag in _DROPPED_WITH_CONTENT:
            continue
        if node.tag not in _ALLOWED_TAGS:
            out.append(_sanitized_html(node.children))
            continue
        allowed = _ALLOWED_ATTRS | (_IMG_ATTRS if node.tag == "img" else set())
        attrs = "".join(
            f' {name}="{html_lib.escape(value, quote=True)}"' for name, value in node.attrs.items() if name in allowed
        )
        if node.tag in _VOID:
            out.append(f"<{node.tag}{attrs}>")
        else:
            out.append(f"<{node.tag}{attrs}>{_sanitized_html(node.children)}</{node.tag}>")
    return "".join(out)


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


def _paragraphs(nodes: list[_Node | str]) -> list[Paragraph]:
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

    def inline(node: _Node | str, bold: bool, italic: bool, underline: bool, into: list[Run]) -> None:
        if isinstance(node, str):
            text = _ASCII_SPACE.sub(" ", node)
            if text:
                into.append(Run(text, bold, italic, underline))
            return
        if node.tag in _DROPPED_WITH_CONTENT or node.tag == "img":
            return
        if node.tag == "br":
            into.append(Run("\n"))
            return
        bold = bold or node.tag in ("strong", "b", "th")
        italic = italic or node.tag in ("em", "i")
        underline = underline or node.tag == "u"
        for child in node.children:
            inline(child, bold, italic, underline, into)

    def block(node: _Node | str, list_style: str | None = None) -> None:
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
                if isinstance(child, _Node) and child.tag in ("ul", "ol"):
                    flush(list_style or "List Bullet")
                    block(child)
                else:
                    inline(child, False, False, False, current)
            flush(list_style or "List Bullet")
        elif node.tag == "tr":
            cells = [_Node("span", {}, node.line, [c.text().strip() + " "]) for c in node.elements()]
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


def _side(node: _Node) -> Side:
    children = list(node.children)
    heading = ""
    for index, child in enumerate(children):
        if isinstance(child, str) and not child.strip():
            continue
        if isinstance(child, _Node) and child.tag in ("h1", "h2"):
            heading = _ASCII_SPACE.sub(" ", child.text()).strip(" ")
            children = children[index + 1:]
        break
    return Side(heading, _sanitized_html(children).strip(), _paragraphs(children))


def parse_clauses(rendered: str) -> list[Clause]:
    """Split a rendered body into bilingual clauses, or say where it breaks the contract."""
    root = _parse_html(rendered)
    clauses: list[Clause] = []
    for child in root.children:
        if isinstance(child, str):
            if child.strip():
                line = rendered[: rendered.find(child.strip())].count("\n") + 1
                raise TemplateError(
                    f"Text outside a <section>: {child.strip()[:60]!r} (line of the rendered text).", line
                )
            continue
        if child.tag in ("#comment",):
            continue
        if child.tag != "section":
            raise TemplateError(
                f"Expected <section> elements at the top level, found <{child.tag}> (line of the rendered text).",
                child.line,
            )
        sides: dict[str, _Node] = {}
        for part in child.children:
            if isinstance(part, str):
                if part.strip():
                    raise TemplateError("Text inside a <section> must be in its <div lang=\"it\"> or <div lang=\"ru\">.",
                                        child.line)
                continue
            lang = part.attrs.get("lang", "")
            if part.tag != "div" or lang not in LANGS:
                raise TemplateError(
                    f"A <section> holds only <div lang=\"it\"> and <div lang=\"ru\">, found <{part.tag}>.", part.line
                )
            if lang in sides:
                raise TemplateError(f"A <section> has two <div lang=\"{lang}\">.", part.line)
            sides[lang] = part
        missing = [lang for lang in LANGS if lang not in sides]
        if missing:
            raise TemplateError(f"A <section> has no <div lang=\"{missing[0]}\">.", child.line)
        kind = "title" if "title" in child.attrs.get("class", "").split() else "clause"
        clauses.append(Clause(kind, _side(sides["it"]), _side(sides["ru"])))
    if not any(c.kind == "clause" for c in clauses):
        raise TemplateError("The template produced no clause (no <section> with both languages).", None)
    return clauses


# --- the data a render uses ---------------------------------------------------------------------


def party_snapshot(organization: Any) -> dict[str, Any]:
    """A party in both scripts, from an Organization (name/name_alt, address/address_alt)."""
    name_it, name_ru = split_scripts(organization.name, organization.name_alt)
    address_it, address_ru = split_scripts(organization.address, organization.address_alt)
    return {
        "id": organization.id, "country": organization.country, "name_it": name_it, "name_ru": name_ru,
        "address_it": address_it, "address_ru": address_ru,
    }


def signatory_snapshot(signatory: Any) -> dict[str, Any]:
    name_it, name_ru = split_scripts(signatory.name, signatory.name_alt)
    return {
        "id": signatory.id, "name_it": name_it, "name_ru": name_ru, "title": signatory.title or "",
        "organization_id": signatory.organization_id, "email": signatory.email or "",
    }


_SAMPLE_TEXT = {"text": "Testo di esempio · Пример текста", "long_text": "Testo di esempio più lungo. Более длинный пример."}


def sample_snapshot(specs: list[FieldSpec], *, with_optional: bool = True) -> dict[str, Any]:
    """Plausible data for validating a template before it is saved."""
    parties = [
        {"id": 1, "country": "IT", "name_it": "Esempio S.r.l.", "name_ru": "Эсемпио", "address_it": "Via Roma 1, Torino",
         "address_ru": "Виа Рома 1, Турин"},
        {"id": 2, "country": "RU", "name_it": "OOO Primer", "name_ru": "ООО «Пример»", "address_it": "Mosca, via Tverskaja 1",
         "address_ru": "Москва, ул. Тверская 1"},
    ]
    values: dict[str, Any] = {}
    for spec in specs:
        if not spec.required and not with_optional:
            continue
        values[spec.name] = {
            "date": date.today().isoformat(), "number": 1234.5, "organization": 1, "list": ["uno · один", "due · два"],
        }.get(spec.type, _SAMPLE_TEXT.get(spec.type, "x"))
    return {
        "template": {"id": 0, "key": "sample", "version": 0}, "title": "Esempio · Пример", "fields": values,
        "parties": parties,
        "signatories": [
            {"id": 1, "name_it": "Mario Rossi", "name_ru": "Марио Росси", "title": "Amministratore", "organization_id": 1,
             "email": ""},
            {"id": 2, "name_it": "Ivan Ivanov", "name_ru": "Иван Иванов", "title": "Генеральный директор",
             "organization_id": 2, "email": ""},
        ],
        "session": {"name": "Torino 2026", "place": "Torino", "starts_on": date.today().isoformat(),
                    "ends_on": date.today().isoformat()},
        "date": date.today().isoformat(),
    }


def _placeholder(spec: FieldSpec, lang: str) -> str:
    return f"[{spec.label_it if lang == 'it' else spec.label_ru}]"


def build_context(specs: list[FieldSpec], snapshot: dict[str, Any], *, placeholders: bool = False) -> dict[str, Any]:
    """The variables a template sees. Every declared field is defined (None / "" when empty), so
    ``StrictUndefined`` only catches names that were never declared (typos)."""
    parties = snapshot["parties"]
    party_by_id = {p["id"]: p for p in parties}
    values = snapshot.get("fields", {})
    raw: dict[str, Any] = {}
    formatted: dict[str, dict[str, Any]] = {"it": {}, "ru": {}}
    for spec in specs:
        value = values.get(spec.name)
        if value in (None, "", []):
            raw[spec.name] = [] if spec.type == "list" else None
            for lang in LANGS:
                placeholder = _placeholder(spec, lang) if placeholders and spec.required else ""
                formatted[lang][spec.name] = [placeholder] if spec.type == "list" and placeholder else (
                    [] if spec.type == "list" else placeholder
                )
            if placeholders and spec.required and spec.type != "list":
                raw[spec.name] = _placeholder(spec, "it")
            continue
        if spec.type == "date":
            raw[spec.name] = _as_date(value)
            for lang in LANGS:
                formatted[lang][spec.name] = format_date(value, lang)
        elif spec.type == "number":
            raw[spec.name] = value
            for lang in LANGS:
                formatted[lang][spec.name] = format_number(value, lang)
        elif spec.type == "organization":
            party = party_by_id.get(value)
            raw[spec.name] = party
            for lang in LANGS:
                formatted[lang][spec.name] = party[f"name_{lang}"] if party else ""
        else:
            raw[spec.name] = value
            for lang in LANGS:
                formatted[lang][spec.name] = value
    forum_session = snapshot.get("session")
    if forum_session:
        forum_session = dict(forum_session, starts_on=_as_date(forum_session.get("starts_on")),
                             ends_on=_as_date(forum_session.get("ends_on")))
    signatories = []
    for signatory in snapshot["signatories"]:
        signatories.append(dict(signatory, organization=party_by_id.get(signatory["organization_id"])))
    return {
        "title": snapshot.get("title", ""), "fields": raw, "it": formatted["it"], "ru": formatted["ru"],
        "parties": parties, "signatories": signatories, "session": forum_session,
        "today": _as_date(snapshot.get("date")) or date.today(),
    }


# --- the whole agreement ------------------------------------------------------------------------


@dataclass
class RenderedAgreement:
    title: str
    clauses: list[Clause]
    parties: list[dict[str, Any]]
    signatories: list[dict[str, Any]]

    @property
    def heading_it(self) -> str:
        return next((c.it.heading for c in self.clauses if c.kind == "title" and c.it.heading), self.title)

    @property
    def heading_ru(self) -> str:
        return next((c.ru.heading for c in self.clauses if c.kind == "title" and c.ru.heading), self.title)

    def summaries(self) -> list[dict[str, str]]:
        return [c.summary() for c in self.clauses]

    def plain_text(self, lang: str | None = None) -> str:
        parts = []
        for clause in self.clauses:
            for side_lang in LANGS:
                if lang in (None, side_lang):
                    side = getattr(clause, side_lang)
                    parts.extend(p for p in (side.heading, side.text) if p)
        return "\n".join(parts)


_COUNTRY = {"IT": {"it": "Italia", "ru": "Италия"}, "RU": {"it": "Federazione Russa", "ru": "Российская Федерация"}}


def _plain_side(heading: str, paragraphs: list[Paragraph]) -> Side:
    html_parts = []
    for paragraph in paragraphs:
        inner = ""
        for run in paragraph.runs:
            text = escape(run.text) if run.text != "\n" else Markup("<br>")
            inner += f"<strong>{text}</strong>" if run.bold else str(text)
        html_parts.append(f"<p>{inner}</p>")
    return Side(heading, "".join(html_parts), paragraphs)


def _parties_clause(parties: list[dict[str, Any]]) -> Clause:
    sides = {}
    for lang, heading, seat in (("it", "Le Parti", "con sede in"), ("ru", "Стороны", "адрес:")):
        paragraphs = []
        for number, party in enumerate(parties, start=1):
            runs = [Run(f"{number}. "), Run(party[f"name_{lang}"], bold=True)]
            if party.get(f"address_{lang}"):
                runs.append(Run(f", {seat} {party[f'address_{lang}']}"))
            country = _COUNTRY.get(party.get("country", ""), {}).get(lang)
            if country:
                runs.append(Run(f" ({country})"))
            paragraphs.append(Paragraph("Normal", runs))
        sides[lang] = _plain_side(heading, paragraphs)
    return Clause("parties", sides["it"], sides["ru"])


def _signature_clauses(signatories: list[dict[str, Any]], parties: list[dict[str, Any]]) -> list[Clause]:
    party_by_id = {p["id"]: p for p in parties}
    clauses = []
    labels = {
        "it": ("Per", "Firma", "Data", "Firme"),
        "ru": ("От имени", "Подпись", "Дата", "Подписи"),
    }
    for index, signatory in enumerate(signatories):
        party = party_by_id.get(signatory["organization_id"], {})
        sides = {}
        for lang in LANGS:
            for_label, sign_label, date_label, heading = labels[lang]
            paragraphs = [
                Paragraph("Normal", [Run(f"{for_label} "), Run(party.get(f"name_{lang}", ""), bold=True)]),
                Paragraph("Normal", [Run(signatory[f"name_{lang}"])]),
            ]
            if signatory.get("title"):
                paragraphs.append(Paragraph("Normal", [Run(signatory["title"])]))
            paragraphs.append(Paragraph("Normal", [Run(f"{sign_label}: ______________________________")]))
            paragraphs.append(Paragraph("Normal", [Run(f"{date_label}: ____________________")]))
            sides[lang] = _plain_side(heading if index == 0 else "", paragraphs)
        clauses.append(Clause("signature", sides["it"], sides["ru"]))
    return clauses


def render_agreement(body: str, specs: list[FieldSpec], snapshot: dict[str, Any], *,
                     placeholders: bool = False,
                     limits: RenderLimits | None = DEFAULT_RENDER_LIMITS) -> RenderedAgreement:
    """The pure render: template body + data → clauses in both languages (raises TemplateError).
    The template code runs under ``limits`` (see :func:`render_body`)."""
    context = build_context(specs, snapshot, placeholders=placeholders)
    template_clauses = parse_clauses(render_body(body, context, limits))
    titles = [c for c in template_clauses if c.kind == "title"]
    others = [c for c in template_clauses if c.kind != "title"]
    clauses = [*titles, _parties_clause(snapshot["parties"]), *others,
               *_signature_clauses(snapshot["signatories"], snapshot["parties"])]
    return RenderedAgreement(snapshot.get("title", ""), clauses, snapshot["parties"], snapshot["signatories"])


def validate_template(body: str, specs: list[FieldSpec],
                      limits: RenderLimits | None = DEFAULT_RENDER_LIMITS) -> None:
    """Compile and render with sample values, with and without the optional fields (each render
    under ``limits``)."""
    if not body or not body.strip():
        raise TemplateError("The template body is empty.", 1)
    compile_body(body)
    render_agreement(body, specs, sample_snapshot(specs, with_optional=True), limits=limits)
    render_agreement(body, specs, sample_snapshot(specs, with_optional=False), limits=limits)


# --- HTML: the preview fragment and the PDF ------------------------------------------------------

PDF_CSS = """
@page {
  size: A4; margin: 20mm 16mm 20mm 16mm;
  font-family: "DejaVu Sans"; font-size: 7.5pt; color: #555;
  @bottom-center { content: "Pagina " counter(page) " di " counter(pages) "  ·  Страница " counter(page) " из " counter(pages); }
}
body { font-size: 9.5pt; line-height: 1.35; }
table.parallel { width: 100%; border-collapse: collapse; table-layout: fixed; margin: 0 0 5pt 0; }
table.parallel td { width: 50%; vertical-align: top; padding: 2pt 7pt; }
table.parallel td + td { border-left: 0.6pt solid #999; }
table.kind-title h1 { font-size: 13pt; text-align: center; margin: 0 0 4pt 0; }
table.kind-title { margin-bottom: 10pt; }
h2 { font-size: 10pt; margin: 4pt 0 3pt 0; }
h3 { font-size: 9.5pt; margin: 3pt 0 2pt 0; }
p { margin: 0 0 3pt 0; }
ul, ol { margin: 0 0 3pt 0; padding-left: 14pt; }
table.kind-signature { page-break-inside: avoid; margin-top: 8pt; }
img { max-width: 100%; }
"""


def _css_string(text: str) -> str:
    """A CSS string literal: quotes, backslashes and control characters escaped, so a title can
    never end the string and add rules of its own."""
    escaped = []
    for char in text:
        if char in ('"', "\\") or ord(char) < 32 or ord(char) == 127:
            escaped.append(f"\\{ord(char):x} ")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def clauses_html(rendered: RenderedAgreement) -> Markup:
    """The bilingual body: one two-column table per clause, Italian left, Russian right."""
    parts = []
    for clause in rendered.clauses:
        cells = []
        for lang in LANGS:
            side: Side = getattr(clause, lang)
            tag = "h1" if clause.kind == "title" else "h2"
            heading = f"<{tag}>{escape(side.heading)}</{tag}>" if side.heading else ""
            cells.append(f'<td lang="{lang}">{heading}{side.html}</td>')
        parts.append(f'<table class="parallel kind-{clause.kind}"><tr>{"".join(cells)}</tr></table>')
    return Markup("\n".join(parts))


def running_title(rendered: RenderedAgreement) -> str:
    return f"{rendered.heading_it} · {rendered.heading_ru}"


def document_html(rendered: RenderedAgreement) -> str:
    return (
        '<!doctype html><html lang="it"><head><meta charset="utf-8">'
        f"<title>{escape(running_title(rendered))}</title></head><body>"
        f"{clauses_html(rendered)}</body></html>"
    )


def build_pdf(rendered: RenderedAgreement) -> bytes:
    from docmgr.pdf import html_to_pdf

    header = f"@page {{ @top-center {{ content: {_css_string(running_title(rendered)[:200])}; }} }}"
    return html_to_pdf(document_html(rendered), PDF_CSS + header)


# --- DOCX ---------------------------------------------------------------------------------------

_WORD_LANG = {"it": "it-IT", "ru": "ru-RU"}
WORD_STYLES = ("Normal", "Heading 1", "Heading 2", "Heading 3", "List Bullet", "List Number")


def _set_run_language(run: Any, lang: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    rpr = run._r.get_or_add_rPr()
    element = OxmlElement("w:lang")
    element.set(qn("w:val"), _WORD_LANG[lang])
    rpr.append(element)


def _add_field(paragraph: Any, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES) as begin/instr/separate/result/end runs; Word and LibreOffice
    recompute the result when they lay the document out."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def fld_char(kind: str):
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        return element

    paragraph.add_run()._r.append(fld_char("begin"))
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    paragraph.add_run()._r.append(instr)
    paragraph.add_run()._r.append(fld_char("separate"))
    paragraph.add_run("1")
    paragraph.add_run()._r.append(fld_char("end"))


def _fill_cell(cell: Any, side: Side, lang: str, heading_style: str, styles: dict[str, Any]) -> None:
    first = cell.paragraphs[0]
    used_first = False
    if side.heading:
        first._p.style = styles[heading_style]
        _set_run_language(first.add_run(side.heading), lang)
        used_first = True
    for paragraph in side.paragraphs:
        target = cell.add_paragraph() if used_first else first
        used_first = True
        target._p.style = styles[paragraph.style]
        for run in paragraph.runs:
            if run.text == "\n":
                target.add_run().add_break()
                continue
            word_run = target.add_run(run.text)
            word_run.bold = run.bold or None
            word_run.italic = run.italic or None
            word_run.underline = run.underline or None
            _set_run_language(word_run, lang)


def build_docx(rendered: RenderedAgreement) -> bytes:
    """A real Word document: Heading 1/2, Normal and list styles, one 'Table Grid' table per clause,
    page numbers in the footer."""
    import docx
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt
    from docx.table import _Cell

    document = docx.Document()
    document.core_properties.title = f"{rendered.heading_it} / {rendered.heading_ru}"[:250]
    document.core_properties.subject = rendered.title[:250]
    document.core_properties.language = "it-IT, ru-RU"
    normal = document.styles["Normal"]
    normal.font.size = Pt(10)
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin = section.right_margin = Mm(16)
    section.top_margin = section.bottom_margin = Mm(20)

    header = section.header.paragraphs[0]
    header.text = f"{rendered.heading_it} · {rendered.heading_ru}"
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("Pagina ")
    _add_field(footer, "PAGE")
    footer.add_run(" di ")
    _add_field(footer, "NUMPAGES")
    footer.add_run(" · Страница ")
    _add_field(footer, "PAGE")
    footer.add_run(" из ")
    _add_field(footer, "NUMPAGES")

    # Assigning a style through python-docx scans every style twice per paragraph; we resolve the few
    # style ids we use once and set them on the paragraph directly (None means the default, Normal).
    styles = {name: (None if name == "Normal" else document.styles[name].style_id) for name in WORD_STYLES}
    column_width = (section.page_width - section.left_margin - section.right_margin) // 2
    first = True
    for clause in rendered.clauses:
        if not first:
            spacer = document.add_paragraph()
            spacer.paragraph_format.space_after = Pt(0)
        first = False
        table = document.add_table(rows=1, cols=2)
        table.style = document.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        # _Cell built from the row's <w:tc> directly: python-docx's Row.cells builds closures that form
        # reference cycles around lxml proxies, which only a full GC pass would free.
        row_tcs = table._tbl.tr_lst[0].tc_lst
        for index, lang in enumerate(LANGS):
            cell = _Cell(row_tcs[index], table)
            cell.width = column_width
            _fill_cell(cell, getattr(clause, lang), lang, "Heading 1" if clause.kind == "title" else "Heading 2", styles)
    document.add_paragraph()  # Word expects the body to end with a paragraph, not a table
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- comparing two drafts -----------------------------------------------------------------------

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


def json_dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
