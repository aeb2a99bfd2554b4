"""The whole agreement: the template's clauses with the parties block and the signature blocks, which
are generated here from the parties and signatories so every agreement shows them in both scripts the
same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from docmgr.drafting.rendering.clauses import Clause, Paragraph, Run, Side, parse_clauses
from docmgr.drafting.rendering.context import build_context, sample_snapshot
from docmgr.drafting.rendering.errors import N_, TemplateError
from docmgr.drafting.rendering.fields import FieldSpec
from docmgr.drafting.rendering.formatting import LANGS, bilingual, in_language, single_full_stops
from docmgr.drafting.rendering.sandbox import DEFAULT_RENDER_LIMITS, RenderLimits, compile_body, render_body


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
            if run.italic:
                text = Markup('<em class="fallback">{}</em>').format(text)
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


def _job_titles(signatory: dict[str, Any]) -> dict[str, str]:
    """The job title in each language (snapshots older than ``title_it``/``title_ru`` have ``title`` only)."""
    if "title_it" in signatory or "title_ru" in signatory:
        return {"it": signatory.get("title_it") or "", "ru": signatory.get("title_ru") or ""}
    return bilingual(signatory.get("title"), "")


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
            job_title, fallback = in_language(_job_titles(signatory), lang)
            if job_title:  # a title in the other language only is set in italics: not translated yet
                paragraphs.append(Paragraph("Normal", [Run(job_title, italic=fallback is not None)]))
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
    template_clauses = parse_clauses(single_full_stops(render_body(body, context, limits)))
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
        raise TemplateError(N_("The template body is empty."), 1)
    compile_body(body)
    render_agreement(body, specs, sample_snapshot(specs, with_optional=True), limits=limits)
    render_agreement(body, specs, sample_snapshot(specs, with_optional=False), limits=limits)
