"""The drafting pages' forms: a new agreement, and a template (new, or a new version).

The page checks the shape of what was sent (ids from the lists, the field list as JSON); the
services check the rest and their refusals are shown beside the field they name.
"""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext
from wtforms import Field, StringField
from wtforms.validators import ValidationError

from docmgr.drafting import rendering
from docmgr.drafting.services import check_field_value
from docmgr.errors import Invalid
from docmgr.forms import PageForm
from docmgr.vocab import parse_number
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


class TemplateValueField(Field):
    """One field the agreement's template declares, read as the service expects it: a list from
    one item per line, a number typed in any style (``vocab.parse_number``), an organisation id
    from its select; an empty input clears the value (None)."""

    def __init__(self, *args: Any, spec: rendering.FieldSpec, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.spec = spec

    def process_formdata(self, valuelist: list[Any]) -> None:
        raw = str(valuelist[0]) if valuelist else ""
        self.data = None
        if self.spec.type == "list":
            self.data = [line.strip() for line in raw.splitlines() if line.strip()]
        elif not raw.strip():
            self.data = None
        elif self.spec.type == "number":
            try:
                self.data = parse_number(raw.strip())
            except ValueError:
                self.data = raw  # the service's check names the field
        elif self.spec.type == "organization":
            try:
                self.data = form_int(raw, f"fields.{self.spec.name}")
            except Invalid as error:
                raise ValueError(error.message) from None
        else:
            self.data = raw


class _ValueCheck:
    """The service's check of one template field, against the parties ticked in the same form."""

    def __call__(self, form: AgreementForm, field: TemplateValueField) -> None:
        if field.data in (None, "", []):
            return
        try:
            check_field_value(field.spec, field.data, set(form.organization_ids.data or []))
        except Invalid as error:
            raise ValidationError(error.message) from None


class AgreementForm(PageForm):
    """The edit form of an agreement; ``for_template`` adds one field per declared template field."""

    title = StringField(default="")
    organization_ids = IdListField(default=list)
    proposal_ids = IdListField(default=list)
    session_id = OptionalIdField(default=None)
    specs: list[rendering.FieldSpec] = []

    @classmethod
    def for_template(cls, specs: list[rendering.FieldSpec]) -> AgreementForm:
        fields = {f"field_{spec.name}": TemplateValueField(spec=spec, validators=[_ValueCheck()]) for spec in specs}
        error_fields = {f"field_{spec.name}": f"fields.{spec.name}" for spec in specs}
        form_class = type("TemplateAgreementForm", (cls,), {**fields, "error_fields": error_fields, "specs": specs})
        return form_class()

    def template_values(self) -> dict[str, Any]:
        return {spec.name: self[f"field_{spec.name}"].data for spec in self.specs}
