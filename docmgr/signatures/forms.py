"""The signature panel's forms: lifecycle transitions, signatures and declines.

The services check the values (allowed transitions, methods, reasons); these forms read them from
the page and refuse what a page sends in the wrong shape (a due date that is not a date).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext
from wtforms import Field, StringField

from docmgr.forms import PageForm


class _DueDateField(Field):
    """An optional date (the HTML date input) as the start of that day in UTC."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        raw = (valuelist[0] if valuelist else "") or ""
        self.data = None
        if raw:
            try:
                self.data = datetime.fromisoformat(raw).replace(tzinfo=UTC)
            except ValueError:
                raise ValueError(gettext("Give the due date as a date.")) from None


class TransitionForm(PageForm):
    to = StringField(default="")
    reason = StringField(default=None)
    due_at = _DueDateField(default=None)


class SignatureForm(PageForm):
    method = StringField(default=None)
    signed_at = StringField(default=None, filters=[lambda value: value or None])
    shared_counterpart = StringField(default=None)


class DeclineForm(PageForm):
    reason = StringField(default=None)
