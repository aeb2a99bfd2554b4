"""The upload page's form: every wrong field named at once, by the services' own checks.

The files themselves are checked by the service (sniffing, sandboxed parsing), after the fields.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext
from wtforms import Field, StringField
from wtforms.validators import ValidationError

from docmgr.documents.services import check_grouping, check_kind, check_title, check_titles, parse_sectors
from docmgr.errors import Invalid
from docmgr.forms import Check, PageForm
from docmgr.vocab import DocumentKind
from docmgr.web import form_int


class ListField(Field):
    """Every value sent under the field's name (checkboxes), as a list of strings."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = [str(value) for value in valuelist]

    def _value(self) -> str:
        return ",".join(self.data or [])


def _id_from_list(name: str) -> Check:
    return Check(lambda value: form_int(value, name))


class NewDocumentForm(PageForm):
    grouping = StringField(default="separate", validators=[Check(check_grouping)])
    title_it = StringField(default="", validators=[Check(lambda value: check_title(value, "title_it"))])
    title_ru = StringField(default="", validators=[Check(lambda value: check_title(value, "title_ru"))])
    kind = StringField(default=DocumentKind.PROPOSAL.value, validators=[Check(check_kind)])
    sectors = ListField(default=list, validators=[Check(parse_sectors)])
    organization_id = StringField(default="", validators=[_id_from_list("organization_id")])
    session_id = StringField(default="", validators=[_id_from_list("session_id")])

    def validate_title_it(self, field: StringField) -> None:
        """A title in at least one language (the service's rule, shown beside the Italian title)."""
        try:
            check_titles(field.data, self.title_ru.data)
        except Invalid as error:
            if error.field == field.name:
                raise ValidationError(error.message) from None


def check_document_date(value: str | None) -> date | None:
    """'' clears the date; anything else must be YYYY-MM-DD."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(gettext("Give the date as YYYY-MM-DD."), field="document_date") from None


class EditDocumentForm(PageForm):
    """The metadata a writer may change after upload (the PATCH API's rules, every wrong field at once)."""

    title_it = StringField(default="", validators=[Check(lambda value: check_title(value, "title_it"))])
    title_ru = StringField(default="", validators=[Check(lambda value: check_title(value, "title_ru"))])
    sectors = ListField(default=list, validators=[Check(parse_sectors)])
    session_id = StringField(default="", validators=[_id_from_list("session_id")])
    document_date = StringField(default="", validators=[Check(check_document_date)])

    validate_title_it = NewDocumentForm.validate_title_it
