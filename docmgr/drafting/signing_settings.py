"""How an agreement is signed (issue 13): the signing order and each signatory's step, the sign-by date,
reminders and copied (CC) recipients — checked as a whole, so one answer names every wrong field and
nothing changes unless everything is right.

``PATCH /agreements/ID`` and the agreement page's form call :func:`check_signing_settings`, then
:func:`apply_signing_settings`. These settings change while the agreement is a draft or approved (they
are logistics, not the text: changing them needs no new approval); the rules that use them are in
``docmgr.signatures.lifecycle`` (whose turn it is, deadlines) and ``docmgr.signing`` (invitations,
reminders, notifications).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from flask_babel import gettext

from docmgr.database import utcnow
from docmgr.drafting.models import SIGNING_ORDERS, Agreement, AgreementStatus
from docmgr.errors import Conflict, Invalid
from docmgr.vocab import is_email

SETTING_NAMES = ("signing_order", "sign_by", "reminder_days", "cc")
EDITABLE_STATUSES = (AgreementStatus.DRAFT.value, AgreementStatus.APPROVED.value)
MAX_STEP = 100
REMINDER_DAYS_RANGE = (1, 60)
MAX_CC = 20
_ABSENT: Any = object()


@dataclass
class SigningSettings:
    """The checked values (only those given) and the per-signatory steps (signatory index → order)."""

    values: dict[str, Any] = field(default_factory=dict)
    orders: dict[int, int] = field(default_factory=dict)


def parse_sign_by(value: Any, now: datetime | None = None) -> datetime | None:
    """A date (``YYYY-MM-DD``: the end of that day, UTC) or an ISO date-time, in the future; None clears."""
    if value in (None, ""):
        return None
    message = gettext("'sign_by' must be a date (YYYY-MM-DD) or an ISO date-time.")
    if not isinstance(value, str):
        raise ValueError(message)
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), time(23, 59, 59), tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(message) from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if parsed <= (now or utcnow()):
        raise ValueError(gettext("The sign-by date has already passed: choose a later date."))
    return parsed.astimezone(UTC)


def _check_reminder_days(value: Any) -> int | None:
    if value is None or value == "":
        return None
    low, high = REMINDER_DAYS_RANGE
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(gettext("Reminders go out every %(low)s to %(high)s days.", low=low, high=high))
    return value


def _check_cc(value: Any, errors: dict[str, str]) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_CC:
        errors["cc"] = gettext("'cc' must be a list of at most %(num)s recipients.", num=MAX_CC)
        return []
    checked, seen = [], set()
    for index, item in enumerate(value):
        path = f"cc[{index}]"
        if not isinstance(item, dict) or set(item) - {"name", "email"}:
            errors[path] = gettext("Each copied recipient is an object with 'name' and 'email'.")
            continue
        name, email = item.get("name") or "", item.get("email") or ""
        if not isinstance(name, str) or len(name) > 200:
            errors[f"{path}.name"] = gettext("'%(field)s' must be a text of at most %(num)s characters.",
                                             field=f"{path}.name", num=200)
            continue
        if not isinstance(email, str) or not is_email(email.strip()) or len(email) > 320:
            errors[f"{path}.email"] = gettext("'%(address)s' is not an e-mail address.",
                                              address=str(email)[:100])
            continue
        if email.strip().lower() in seen:
            continue
        seen.add(email.strip().lower())
        checked.append({"name": name.strip(), "email": email.strip()})
    return checked


def check_signing_settings(given: dict[str, Any], signatories: Any = _ABSENT,
                           now: datetime | None = None) -> SigningSettings:
    """Check every given setting and the signatories' ``order``; 422 naming every wrong field at once."""
    errors: dict[str, str] = {}
    settings = SigningSettings()
    if "signing_order" in given:
        if given["signing_order"] not in SIGNING_ORDERS:
            errors["signing_order"] = gettext("The signing order is either parallel or sequential.")
        else:
            settings.values["signing_order"] = given["signing_order"]
    if "sign_by" in given:
        try:
            settings.values["sign_by"] = parse_sign_by(given["sign_by"], now)
        except ValueError as error:
            errors["sign_by"] = str(error)
    if "reminder_days" in given:
        try:
            settings.values["reminder_days"] = _check_reminder_days(given["reminder_days"])
        except ValueError as error:
            errors["reminder_days"] = str(error)
    if "cc" in given:
        settings.values["cc"] = _check_cc(given["cc"], errors)
    if isinstance(signatories, list):
        for index, item in enumerate(signatories):
            if not isinstance(item, dict) or "order" not in item:
                continue
            order = item["order"]
            if isinstance(order, str) and order.strip().isdigit():
                order = int(order.strip())
            if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= MAX_STEP:
                errors[f"signatories[{index}].order"] = gettext(
                    "A signatory's step ('order') is a whole number from 1 to %(num)s.", num=MAX_STEP)
            else:
                settings.orders[index] = order
    if errors:
        first = next(iter(errors))
        raise Invalid(errors[first] if len(errors) == 1 else gettext(
            "%(num)s fields are wrong: %(names)s.", num=len(errors), names=", ".join(errors)),
            field=first, fields=errors)
    return settings


def require_settings_editable(agreement: Agreement) -> None:
    if agreement.status not in EDITABLE_STATUSES:
        raise Conflict(gettext(
            "The agreement is '%(status)s': how it is signed can be changed only while it is a draft or approved.",
            status=agreement.status), code="not_editable")


def apply_signing_settings(agreement: Agreement, settings: SigningSettings) -> list[str]:
    """Store the checked values on the agreement; returns the names that changed."""
    changed = []
    for name, value in settings.values.items():
        if getattr(agreement, name) != value:
            setattr(agreement, name, value)
            changed.append(name)
    return changed


def apply_orders(agreement: Agreement, orders_by_id: dict[int, int]) -> bool:
    """Set the signatories' steps (by signatory id); True when any changed."""
    changed = False
    for signatory in agreement.signatories:
        order = orders_by_id.get(signatory.id)
        if order is not None and signatory.order != order:
            signatory.order = order
            changed = True
    return changed
