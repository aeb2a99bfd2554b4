"""Helpers shared by the HTML pages: template globals and filters, form parsing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask, request
from flask_babel import format_date, format_datetime, format_decimal, get_locale, gettext
from flask_babel import lazy_gettext as _l

from docmgr.accounts import permissions
from docmgr.errors import DocmgrError, Invalid
from docmgr.vocab import (
    AGREEMENT_STATUS_LABELS,
    COUNTRY_LABELS,
    KIND_LABELS,
    LANGUAGE_LABELS,
    ORGANIZATION_KIND_LABELS,
    ROLE_LABELS,
    SECTOR_LABELS,
    language_label,
    parse_int,
)

_SIZE_UNITS = {"B": _l("%(size)s B"), "KB": _l("%(size)s KB"), "MB": _l("%(size)s MB"), "GB": _l("%(size)s GB")}


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            number = format_decimal(round(value, 1)) if unit != "B" else str(int(value))
            return str(_SIZE_UNITS[unit]) % {"size": number}  # i18n: unit symbols differ (КБ, МБ)
        value /= 1024
    return str(size)


def local_datetime(value: datetime | None) -> str:
    return format_datetime(value, "medium") if value else ""


def local_date(value: date | datetime | None) -> str:
    return format_date(value, "medium") if value else ""


def form_int(value: str | None, field: str) -> int | None:
    """A whole number from a form or query value ('' is None); anything else is a 422 naming the field."""
    try:
        return parse_int(value)
    except ValueError:
        raise Invalid(gettext("Choose a value from the list."), field=field) from None


def form_error(error: DocmgrError) -> dict[str, Any]:
    """What a form template needs to show an error beside the right field."""
    return {"field": error.field, "message": error.message, "code": error.code}


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters.update(
        human_size=human_size, local_datetime=local_datetime, local_date=local_date,
    )

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "SECTOR_LABELS": SECTOR_LABELS,
            "KIND_LABELS": KIND_LABELS,
            "LANGUAGE_LABELS": LANGUAGE_LABELS,
            "language_label": language_label,
            "ROLE_LABELS": ROLE_LABELS,
            "COUNTRY_LABELS": COUNTRY_LABELS,
            "AGREEMENT_STATUS_LABELS": AGREEMENT_STATUS_LABELS,
            "ORGANIZATION_KIND_LABELS": ORGANIZATION_KIND_LABELS,
            "permissions": permissions,
            "current_locale": str(get_locale() or "en"),
            "interface_languages": app.config["LANGUAGES"],
            "url_with_lang": _url_with_lang,
        }


def _url_with_lang(lang: str) -> str:
    args = request.args.to_dict(flat=False)
    args["lang"] = [lang]
    return request.path + "?" + urlencode(args, doseq=True)
