"""The account pages' forms: log in, and the administration of users, organisations and sessions.

Field names are those of the HTML forms; each ``Check`` runs the service's own rule for that field.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext
from wtforms import DateField, StringField
from wtforms.validators import ValidationError

from docmgr.accounts import services
from docmgr.accounts.models import Organization
from docmgr.documents.services import check_session_name, check_session_place
from docmgr.errors import Invalid
from docmgr.extensions import db
from docmgr.forms import Check, PageForm
from docmgr.vocab import OrganizationKind, parse_int


class LoginForm(PageForm):
    email = StringField(default="")
    password = StringField(default="")


def _existing_organization(value: str | None) -> Any:
    """An organisation from the list, or None for "none chosen"; anything else is refused."""
    try:
        org_id = parse_int(value)
    except ValueError:
        org_id = 0
    if org_id is None:
        return None
    org = db.session.get(Organization, org_id) if org_id > 0 else None
    if org is None:  # a value not from the list: say so beside the field, as for other fields
        raise Invalid(gettext("No such organisation."), field="org")
    return org


class NewUserForm(PageForm):
    error_fields = {"organization_id": "org"}

    email = StringField(default="", validators=[Check(services.check_email)])
    name = StringField(default="")
    password = StringField(default="", validators=[Check(services.check_password)])
    role = StringField(default="", validators=[Check(services.check_role)])
    organization_id = StringField(default="", validators=[Check(_existing_organization)])

    @property
    def organization(self) -> Any:
        return _existing_organization(self.organization_id.data)


class NewOrganizationForm(PageForm):
    name = StringField(default="", validators=[Check(services.check_organization_name)])
    country = StringField(default="", validators=[Check(services.check_country)])
    kind = StringField(default=OrganizationKind.FIRM.value, validators=[Check(services.check_organization_kind)])
    name_alt = StringField()
    address = StringField()
    address_alt = StringField()


class _IsoDateField(DateField):
    """A date as YYYY-MM-DD (the HTML date input), with the page's own message when it is not one."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            self.data = date.fromisoformat(valuelist[0] if valuelist else "")
        except ValueError:
            self.data = None
            raise ValueError(gettext("Give a date as YYYY-MM-DD.")) from None


class NewSessionForm(PageForm):
    name = StringField(default="", validators=[Check(check_session_name)])
    place = StringField(default="", validators=[Check(check_session_place)])
    country = StringField(default="", validators=[Check(services.check_country)])
    starts_on = _IsoDateField()
    ends_on = _IsoDateField()


class EditUserForm(PageForm):
    """An admin's edit of a user: the new-user form without the password (reset apart)."""

    error_fields = {"organization_id": "org"}

    email = StringField(default="", validators=[Check(services.check_email)])
    name = StringField(default="")
    role = StringField(default="", validators=[Check(services.check_role)])
    organization_id = StringField(default="", validators=[Check(_existing_organization)])

    @property
    def organization(self) -> Any:
        return _existing_organization(self.organization_id.data)


class EditSessionForm(NewSessionForm):
    name_alt = StringField(default="")
    place_alt = StringField(default="")


def _passwords_match(form: PageForm, field: Any) -> None:
    if (field.data or "") != (form.password.data or ""):
        raise ValidationError(gettext("The two passwords differ."))


class NewPasswordForm(PageForm):
    """A new password, typed twice (the reset link's page)."""

    password = StringField(default="", validators=[Check(services.check_password)])
    password_confirm = StringField(default="", validators=[_passwords_match])


class ChangePasswordForm(NewPasswordForm):
    current_password = StringField(default="")


class ForgotPasswordForm(PageForm):
    email = StringField(default="")
