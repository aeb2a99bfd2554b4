"""The data a render uses: a snapshot of parties, signatories and field values (plain JSON-able data),
sample data for validating a template, and the context a template body sees."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from docmgr.drafting.rendering.fields import FieldSpec
from docmgr.drafting.rendering.formatting import (
    LANGS,
    as_date,
    bilingual,
    format_date,
    format_number,
    has_cyrillic,
    marked,
    split_scripts,
)


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
    job_title = bilingual(signatory.title, getattr(signatory, "title_alt", ""))
    return {
        "id": signatory.id, "name_it": name_it, "name_ru": name_ru, "title": signatory.title or "",
        "title_it": job_title["it"], "title_ru": job_title["ru"],
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
        "template": {"id": 0, "key": "sample", "version": 0}, "title": "Esempio", "title_alt": "Пример",
        "fields": values,
        "parties": parties,
        "signatories": [
            {"id": 1, "name_it": "Mario Rossi", "name_ru": "Марио Росси", "title": "Amministratore", "title_it": "Amministratore",
             "title_ru": "Администратор", "organization_id": 1,
             "email": ""},
            {"id": 2, "name_it": "Ivan Ivanov", "name_ru": "Иван Иванов", "title": "Генеральный директор", "title_it": "",
             "title_ru": "Генеральный директор", "organization_id": 2, "email": ""},
        ],
        "session": {"name": "Torino 2026", "name_alt": "Турин 2026", "place": "Torino", "place_alt": "Турин",
                    "starts_on": date.today().isoformat(),
                    "ends_on": date.today().isoformat()},
        "date": date.today().isoformat(),
    }


def list_item_in(item: Any, lang: str) -> Any:
    """A list item written as a pair ("Energia / Энергетика", the form's convention) gives each
    language its own half; any other item is shown as written."""
    if not isinstance(item, str) or item.count(" / ") != 1:
        return item
    first, second = item.split(" / ")
    values = bilingual(first, second)
    if values["it"] and values["ru"] and has_cyrillic(values["it"]) != has_cyrillic(values["ru"]):
        return values[lang]
    return item


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
            raw[spec.name] = as_date(value)
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
        elif spec.type == "list":
            raw[spec.name] = value
            for lang in LANGS:
                formatted[lang][spec.name] = [list_item_in(item, lang) for item in value]
        else:
            raw[spec.name] = value
            for lang in LANGS:
                formatted[lang][spec.name] = value
    forum_session = snapshot.get("session")
    if forum_session:
        names = bilingual(forum_session.get("name"), forum_session.get("name_alt"))
        places = bilingual(forum_session.get("place"), forum_session.get("place_alt"))
        forum_session = dict(
            forum_session, starts_on=as_date(forum_session.get("starts_on")), ends_on=as_date(forum_session.get("ends_on")),
            **{f"name_{lang}": marked(names, lang) for lang in LANGS},
            **{f"place_{lang}": marked(places, lang) for lang in LANGS},
        )
    titles = bilingual(snapshot.get("title", ""), snapshot.get("title_alt", ""))
    signatories = []
    for signatory in snapshot["signatories"]:
        signatories.append(dict(signatory, organization=party_by_id.get(signatory["organization_id"])))
    return {
        "title": snapshot.get("title", ""), "title_it": marked(titles, "it"), "title_ru": marked(titles, "ru"),
        "fields": raw, "it": formatted["it"], "ru": formatted["ru"],
        "parties": parties, "signatories": signatories, "session": forum_session,
        "today": as_date(snapshot.get("date")) or date.today(),
    }


def json_dumps(data: Any) -> str:
    """A snapshot or clause summaries as stored: UTF-8 text, keys sorted, dates as ISO text."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
