"""Page forms on WTForms: every field checked at once, with the services' own rules and messages.

A page form lists its fields with ``Check`` validators that call the same per-field checks the
services run (so a rule and its message live in one place, the service), and shows every failing
field at once. The service still checks everything again when it is called (the API goes straight
there), and a refusal it raises (a duplicate name, say) is shown beside its field the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from flask_wtf import FlaskForm
from wtforms.validators import ValidationError

from docmgr.errors import DocmgrError


class Check:
    """A WTForms validator running one of the services' field checks; its ``Invalid`` becomes the
    field's error, with the service's message."""

    def __init__(self, check: Callable[[Any], Any]):
        self.check = check

    def __call__(self, form: FlaskForm, field: Any) -> None:
        try:
            self.check(field.data)
        except DocmgrError as error:
            raise ValidationError(error.message) from None


class FormErrors(list):
    """Every error of one submitted form, as ``{"field", "message", "code"}`` items.

    The page macros show each beside its field (``for_field``) and all of them in the summary;
    ``field``, ``message`` and ``code`` answer for the first, like the single error of old.
    """

    def for_field(self, name: str) -> dict[str, Any] | None:
        return next((item for item in self if item["field"] == name), None)

    @property
    def field(self) -> str | None:
        return self[0]["field"] if self else None

    @property
    def message(self) -> str:
        return self[0]["message"] if self else ""

    @property
    def code(self) -> str:
        return self[0]["code"] if self else ""

    def __getattr__(self, name: str) -> Any:
        """Details of the first error (e.g. ``line`` of a template error), None when it has none."""
        if name.startswith("_"):
            raise AttributeError(name)
        return self[0].get(name) if self else None


class FormInvalid(Exception):
    """Raised by a view when its form did not validate, to share the path of a service's refusal."""


class PageForm(FlaskForm):
    """Base of the page forms. CSRF is checked once for every unsafe request by the app
    (``docmgr._csrf_unless_bearer``), so the form does not check it a second time."""

    class Meta:
        csrf = False

    # Where the page shows a field's error when it is not the field's own name (e.g. "org").
    error_fields: ClassVar[dict[str, str]] = {}

    def page_errors(self, refusal: DocmgrError | None = None) -> FormErrors:
        """The form's validation errors, then the service's refusal (if any), one per field."""
        errors = FormErrors()
        for name, messages in self.errors.items():
            field = self.error_fields.get(name, name)
            errors.extend({"field": field, "message": str(m), "code": "invalid_field"} for m in messages[:1])
        if refusal is not None and not errors.for_field(refusal.field or ""):
            errors.append({**refusal.details, "field": refusal.field, "message": refusal.message, "code": refusal.code})
        return errors

    def refusal(self, error: Exception) -> tuple[FormErrors, int]:
        """The page's errors and status after ``FormInvalid`` (422) or a service's refusal."""
        if isinstance(error, DocmgrError):
            return self.page_errors(error), error.status
        return self.page_errors(), 422
