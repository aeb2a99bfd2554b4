"""Helpers shared by the HTML pages: template globals and filters, form parsing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, request
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_babel import lazy_gettext as _l

from docmgr.errors import DocmgrError

SECTOR_LABELS = {
    "energy": _l("Energy"),
    "construction": _l("Construction technology"),
    "mechanics": _l("Mechanics and mechatronics"),
    "nanotech": _l("Nanotechnology"),
    "biotech": _l("Biotechnology"),
    "other": _l("Other"),
}
KIND_LABELS = {
    "proposal": _l("Partnership proposal"),
    "agreement": _l("Agreement"),
    "annex": _l("Annex"),
    "other": _l("Other"),
}
LANGUAGE_LABELS = {"it": _l("Italian"), "ru": _l("Russian"), "bi": _l("Bilingual")}
ROLE_LABELS = {"admin": _l("Administrator"), "legal": _l("Legal staff"), "firm": _l("Firm"), "ministry": _l("Ministry")}
COUNTRY_LABELS = {"IT": _l("Italy"), "RU": _l("Russia")}
AGREEMENT_STATUS_LABELS = {
    "draft": _l("Draft"),
    "in_review": _l("In review"),
    "approved": _l("Approved"),
    "out_for_signature": _l("Out for signature"),
    "partially_signed": _l("Partially signed"),
    "executed": _l("Executed"),
    "withdrawn": _l("Withdrawn"),
    "declined": _l("Declined"),
    "expired": _l("Expired"),
}
_SIZE_UNITS = {"B": _l("%(size)s B"), "KB": _l("%(size)s KB"), "MB": _l("%(size)s MB"), "GB": _l("%(size)s GB")}
ORGANIZATION_KIND_LABELS = {"firm": _l("Firm"), "institution": _l("Institution"), "ministry": _l("Ministry")}  # i18n


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
    from flask_babel import gettext

    from docmgr.errors import Invalid

    if value in (None, ""):
        return None
    try:
        return int(value)
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
            "ROLE_LABELS": ROLE_LABELS,
            "COUNTRY_LABELS": COUNTRY_LABELS,
            "AGREEMENT_STATUS_LABELS": AGREEMENT_STATUS_LABELS,
            "ORGANIZATION_KIND_LABELS": ORGANIZATION_KIND_LABELS,
            "current_locale": str(get_locale() or "en"),
            "interface_languages": app.config["LANGUAGES"],
            "url_with_lang": _url_with_lang,
        }


def _url_with_lang(lang: str) -> str:
    args = request.args.to_dict(flat=False)
    args["lang"] = [lang]
    from urllib.parse import urlencode

    return request.path + "?" + urlencode(args, doseq=True)
