"""Editing agreement templates without pasting JSON: the two files of a template read from an upload,
syntax errors located by line, a preview with sample values by the real renderer, and the differences
between two versions (difflib).

The rules of a template's content stay in ``docmgr.drafting.services`` (``create_template``…); this module
reads what the editor sends and shows what a version would give, and saves nothing.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.drafting import rendering
from docmgr.drafting.services import (
    MAX_BODY,
    check_template_content,
    get_template,
    render_limits,
    require_drafter,
    template_error,
)
from docmgr.errors import Invalid

MAX_FIELDS_FILE = 200_000


def read_upload(data: bytes, field: str, *, limit: int = MAX_BODY) -> str:
    """One uploaded template file as text: UTF-8 (a byte-order mark is dropped), within ``limit``."""
    if len(data) > limit:
        raise Invalid(gettext("The file is larger than %(num)s bytes.", num=limit), field=field)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise Invalid(gettext("The file is not UTF-8 text (line %(line)s).", line=line), field=field, line=line) from None


def parse_fields_json(raw: str) -> Any:
    """The field list typed or uploaded as JSON; a syntax error names its line."""
    try:
        return json.loads(raw or "[]")
    except json.JSONDecodeError as error:
        raise Invalid(
            gettext("The field list is not valid JSON (line %(line)s): %(message)s", line=error.lineno, message=error.msg),
            field="fields", line=error.lineno,
        ) from None


def element_lines(raw: str) -> list[int]:
    """The line on which each element of a JSON list starts (empty when ``raw`` is not a list), so an error
    about ``fields[2]`` can name the line of the third field."""
    decoder = json.JSONDecoder()
    text = raw or ""
    index = text.find("[")
    if index < 0 or text[:index].strip():
        return []
    lines, index = [], index + 1
    while True:
        while index < len(text) and text[index] in " \t\r\n,":
            index += 1
        if index >= len(text) or text[index] == "]":
            return lines
        lines.append(text.count("\n", 0, index) + 1)
        try:
            _value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            return lines


def line_of_field_error(field: str | None, raw_fields: str) -> int | None:
    """``fields[2].type`` → the line where the third declaration starts in the JSON as typed."""
    if not field or not field.startswith("fields["):
        return None
    try:
        position = int(field[len("fields["):field.index("]")])
    except ValueError:
        return None
    lines = element_lines(raw_fields)
    return lines[position] if position < len(lines) else None


@dataclass
class TemplatePreview:
    rendered: rendering.RenderedAgreement
    html: str
    sample_values: dict[str, Any]


def preview_template(actor: User, *, name: Any, name_ru: Any, fields: Any, body: Any) -> TemplatePreview:
    """What a template would render with sample values, through the same checks and renderer as a saved one
    (``Invalid`` with the line of the body or of the field list when it fails). Nothing is stored."""
    require_drafter(actor)
    name, _name_ru, specs, body = check_template_content(name=name, name_ru=name_ru, fields=fields, body=body)
    snapshot = rendering.sample_snapshot(specs, with_optional=True)
    snapshot["title"] = name
    try:
        rendered = rendering.render_agreement(body, specs, snapshot, limits=render_limits())
    except rendering.TemplateError as error:
        raise template_error(error) from None
    return TemplatePreview(rendered, str(rendering.clauses_html(rendered)), snapshot["fields"])


def preview_pdf(preview: TemplatePreview) -> bytes:
    return rendering.build_pdf(preview.rendered)


@dataclass
class VersionDiff:
    key: str
    version_a: int
    version_b: int
    body: list[tuple[str, str]]  # (kind, line): kind is "add", "remove", "context" or "hunk"
    fields: list[tuple[str, str]]
    names: list[tuple[str, str, str]]  # (what, in a, in b) for the names that changed


def _diff_lines(a: str, b: str, label_a: str, label_b: str) -> list[tuple[str, str]]:
    lines = []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), label_a, label_b, n=3, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        kind = "hunk" if line.startswith("@@") else "add" if line.startswith("+") else "remove" if line.startswith("-") else "context"
        lines.append((kind, line))
    return lines


def diff_versions(session: Session, key: str, version_a: int, version_b: int) -> VersionDiff:
    """The differences of body and field list between two versions of a template (404 for a missing one)."""
    a, b = get_template(session, key, version_a), get_template(session, key, version_b)
    fields_a = json.dumps(a.fields or [], ensure_ascii=False, indent=2)
    fields_b = json.dumps(b.fields or [], ensure_ascii=False, indent=2)
    names = [(what, getattr(a, attr), getattr(b, attr)) for what, attr in (("name", "name"), ("name_ru", "name_ru"))
             if getattr(a, attr) != getattr(b, attr)]
    return VersionDiff(
        key, a.version, b.version, _diff_lines(a.body, b.body, f"v{a.version}", f"v{b.version}"),
        _diff_lines(fields_a, fields_b, f"v{a.version}", f"v{b.version}"), names,
    )
