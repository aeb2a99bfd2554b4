"""The drafting pages' forms: a new agreement, and a template (new, or a new version).

The page checks the shape of what was sent (ids from the lists, the field list as JSON); the
services check the rest and their refusals are shown beside the field they name.
"""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext
from wtforms import Field, StringField

from docmgr.errors import Invalid
from docmgr.forms import PageForm
from docmgr.web import form_int


class IdListField(Field):
    """Every id ticked in a list of checkboxes; a value that is not one of the list's is refused."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = []
        for raw in valuelist:
            try:
                value = form_int(raw, self.name)
            except Invalid as error:  # the shared "choose a value from the list" message
                self.data = []
                raise ValueError(error.message) from None
            if value is not None:
                self.data.append(value)


class OptionalIdField(Field):
    """One id from a select, or None for "—"."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        try:
            self.data = form_int(valuelist[0] if valuelist else None, self.name)
        except Invalid as error:
            raise ValueError(error.message) from None


class NewAgreementForm(PageForm):
    template = StringField(default="")
    title = StringField(default="")
    organization_ids = IdListField(default=list)
    proposal_ids = IdListField(default=list)
    session_id = OptionalIdField(default=None)


class FieldListField(Field):
    """The template's field declarations, typed as a JSON list; a syntax error names its line in the message."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        raw = (valuelist[0] if valuelist else "") or "[]"
        self.data = []
        try:
            self.data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(gettext(
                "The field list is not valid JSON (line %(line)s): %(message)s", line=exc.lineno, message=exc.msg,
            )) from None


class TemplateForm(PageForm):
    key = StringField(default="", filters=[lambda value: (value or "").strip()])
    name = StringField(default="")
    name_ru = StringField(default="")
    fields = FieldListField(default=list)
    body = StringField(default="")
