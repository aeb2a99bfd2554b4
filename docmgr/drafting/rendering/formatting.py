"""Formatting per language: dates and numbers the Italian and the Russian way (Babel), names in both scripts."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency as babel_format_currency
from babel.numbers import format_decimal as babel_format_decimal
from markupsafe import Markup, escape

LANGS = ("it", "ru")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")


def as_date(value: Any) -> date | None:
    """A date from a ``date`` or an ISO-8601 text; None for anything else."""
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
    parsed = as_date(value)
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


# How each language writes an amount: Italian legal texts put the ISO code after the number
# ("1.250.000,50 EUR"), Russian ones the currency's name in words ("1 250 000,50 евро").
_AMOUNT_PATTERNS = {"it": "#,##0.00\u00a0\u00a4\u00a4", "ru": "#,##0.00\u00a0\u00a4\u00a4\u00a4"}


def format_amount(value: Any, lang: str, currency: str = "EUR") -> str:
    """``1.250.000,50 EUR`` / ``1 250 000,50 евро``: always two decimals (Babel's currency data)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    pattern = _AMOUNT_PATTERNS.get(lang, _AMOUNT_PATTERNS["it"])
    return babel_format_currency(value, currency, format=pattern, locale=lang, currency_digits=False)


# Two full stops where a value that ends with one ("energetica.", "S.p.A.") meets the template's own
# full stop. An ellipsis ("...") and paths ("../") are left alone.
_DOUBLE_STOP = re.compile(r"(?<=[^\s./])\.\.(?=[\s<\u00a0]|$)")


def single_full_stops(text: str) -> str:
    """The rendered text with each doubled sentence-ending full stop written once."""
    return _DOUBLE_STOP.sub(".", text)


def _load_locale_data() -> None:
    """Babel loads a locale's data on first use (~20 ms for both). Done at import, so the render
    children of the fork server (which imports this module, see :mod:`docmgr.limits`) inherit it
    instead of each loading it again."""
    for lang in LANGS:
        format_date("2000-01-01", lang)
        format_number(1.5, lang)
        format_amount(1.5, lang)


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


def has_cyrillic(text: str) -> bool:
    return bool(_CYRILLIC.search(text))


def bilingual(primary: str | None, alternative: str | None) -> dict[str, str]:
    """``{"it": …, "ru": …}`` from a value and its form in the other language, as given ("" when
    missing): a Cyrillic text is the Russian one, the other the Italian one (users type either first)."""
    primary, alternative = (primary or "").strip(), (alternative or "").strip()
    if _CYRILLIC.search(primary) and not _CYRILLIC.search(alternative):
        return {"it": alternative, "ru": primary}
    return {"it": primary, "ru": alternative}


def in_language(values: dict[str, str], lang: str) -> tuple[str, str | None]:
    """The value for ``lang``, else the other language's as a fallback: (text, the fallback's language or None)."""
    if values.get(lang):
        return values[lang], None
    other = next((code for code in LANGS if code != lang and values.get(code)), None)
    return (values[other], other) if other else ("", None)


def marked(values: dict[str, str], lang: str) -> Markup:
    """The value for ``lang`` as HTML; a fallback in the other language is set in italics with its
    ``lang`` and the class ``fallback``, so a reader (and a check) sees it was not translated."""
    text, fallback = in_language(values, lang)
    if fallback is None:
        return escape(text)
    return Markup('<em class="fallback" lang="{}">{}</em>').format(fallback, text)
