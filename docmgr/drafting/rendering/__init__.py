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

One module per step, each importing only the ones before it:

- ``errors``: TemplateError, FieldDeclarationError;
- ``fields``: field declarations (FieldSpec) and their checks;
- ``formatting``: dates, numbers, amounts and names per language (Babel), bilingual values with a
  marked fallback, single full stops;
- ``sandbox``: the Jinja sandbox and the limited render child;
- ``markup``, ``sanitize``, ``clauses``: the rendered body as a tree, the HTML allow-list (nh3), clauses;
- ``context``: snapshots, sample data and the variables a template sees;
- ``agreement``: the whole agreement (parties and signature blocks), render and validation;
- ``pdf``, ``docx``: the two output formats; ``diff``: comparing two drafts.

The names below are this package's interface; callers import them from here.
"""

from docmgr.drafting.rendering.agreement import RenderedAgreement, render_agreement, validate_template
from docmgr.drafting.rendering.clauses import Clause, Paragraph, Run, Side, parse_clauses
from docmgr.drafting.rendering.context import (
    build_context,
    json_dumps,
    party_snapshot,
    sample_snapshot,
    signatory_snapshot,
)
from docmgr.drafting.rendering.diff import compare_clauses
from docmgr.drafting.rendering.docx import WORD_STYLES, build_docx
from docmgr.drafting.rendering.errors import FieldDeclarationError, TemplateError
from docmgr.drafting.rendering.fields import FIELD_TYPES, FieldSpec, is_finite_number, parse_field_declarations
from docmgr.drafting.rendering.formatting import (
    LANGS,
    bilingual,
    format_amount,
    format_date,
    format_number,
    single_full_stops,
    split_scripts,
)
from docmgr.drafting.rendering.pdf import PDF_CSS, build_pdf, clauses_html, document_html, running_title
from docmgr.drafting.rendering.sandbox import (
    DEFAULT_RENDER_LIMITS,
    MAX_RENDERED_CHARS,
    MAX_REPEAT,
    RenderLimits,
    compile_body,
    render_body,
)

__all__ = [
    "bilingual",
    "DEFAULT_RENDER_LIMITS",
    "FIELD_TYPES",
    "LANGS",
    "MAX_RENDERED_CHARS",
    "MAX_REPEAT",
    "PDF_CSS",
    "WORD_STYLES",
    "Clause",
    "FieldDeclarationError",
    "FieldSpec",
    "Paragraph",
    "RenderLimits",
    "RenderedAgreement",
    "Run",
    "Side",
    "TemplateError",
    "build_context",
    "build_docx",
    "build_pdf",
    "clauses_html",
    "compare_clauses",
    "compile_body",
    "document_html",
    "format_date",
    "format_amount",
    "format_number",
    "is_finite_number",
    "json_dumps",
    "parse_clauses",
    "parse_field_declarations",
    "party_snapshot",
    "render_agreement",
    "render_body",
    "running_title",
    "sample_snapshot",
    "signatory_snapshot",
    "single_full_stops",
    "split_scripts",
    "validate_template",
]
