"""Which status mails each user receives (issue 13): one row per user who changed anything; no row means
every notification. ``GET|PATCH /api/v1/me/notifications`` and the page ``/account/notifications``."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from docmgr.accounts.models import User
from docmgr.audit.services import record
from docmgr.errors import Invalid
from docmgr.mail.models import NotificationPreference

# The events a user may choose (the names of the API's fields and the model's columns), with their labels.
EVENTS: dict[str, Any] = {
    "signature_recorded": _l("A signature is recorded"),
    "declined": _l("A signatory declines (with the reason)"),
    "executed": _l("An agreement is executed (with the executed copy and the certificate)"),
    "expired": _l("An agreement expires at its deadline"),
}


def preferences(session: Session, user: User) -> dict[str, bool]:
    row = session.get(NotificationPreference, user.id)
    return {event: bool(getattr(row, event)) if row is not None else True for event in EVENTS}


def wants(session: Session, user: User, event: str) -> bool:
    """Whether ``user`` receives mails about ``event`` (events outside the choice always go out)."""
    if event not in EVENTS:
        return True
    row = session.get(NotificationPreference, user.id)
    return row is None or bool(getattr(row, event))


def update_preferences(session: Session, user: User, changes: dict[str, Any]) -> dict[str, bool]:
    """Set some events on or off (true/false); an unknown event or a non-boolean is refused, nothing changes."""
    errors = {}
    for name, value in changes.items():
        if name not in EVENTS:
            errors[name] = gettext("Unknown notification: %(name)s.", name=name[:50])
        elif not isinstance(value, bool):
            errors[name] = gettext("'%(field)s' must be true or false.", field=name)
    if errors:
        first = next(iter(errors))
        raise Invalid(errors[first], field=first, fields=errors)
    row = session.get(NotificationPreference, user.id)
    if row is None:
        row = NotificationPreference(user_id=user.id, **dict.fromkeys(EVENTS, True))
        session.add(row)
    before = preferences(session, user)
    for name, value in changes.items():
        setattr(row, name, value)
    session.flush()
    after = preferences(session, user)
    if after != before:
        record(session, user, "account.notifications_changed", user, **after)
    return after
