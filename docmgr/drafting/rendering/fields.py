"""Field declarations: the typed list of values a template asks for, checked and normalised."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from docmgr.drafting.rendering.errors import N_, FieldDeclarationError

FIELD_TYPES = ("text", "long_text", "date", "number", "organization", "list")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_RESERVED_FIELD_NAMES = {"items", "keys", "values", "get", "update", "pop"}  # dict methods shadow keys in Jinja


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label_it: str
    label_ru: str
    type: str
    required: bool = False
    help: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "label_it": self.label_it, "label_ru": self.label_ru, "type": self.type,
                "required": self.required}
        if self.help:
            data["help"] = self.help
        return data


def parse_field_declarations(raw: Any) -> list[FieldSpec]:
    """Check and normalise a template's field list (from a template file or an API request)."""
    if not isinstance(raw, list):
        raise FieldDeclarationError(N_("Fields must be a list of objects."), "fields")
    specs: list[FieldSpec] = []
    seen: set[str] = set()
    allowed_keys = {"name", "label_it", "label_ru", "type", "required", "help"}
    for index, item in enumerate(raw):
        path = f"fields[{index}]"
        if not isinstance(item, dict):
            raise FieldDeclarationError(N_("%(path)s must be an object."), path)
        unknown = sorted(set(item) - allowed_keys)
        if unknown:
            raise FieldDeclarationError(N_("%(path)s: unknown key."), f"{path}.{unknown[0]}")
        name = item.get("name")
        if not isinstance(name, str) or not _FIELD_NAME.match(name) or name in _RESERVED_FIELD_NAMES:
            raise FieldDeclarationError(
                N_("%(path)s must be lower-case letters, digits and underscores, starting with a letter."), f"{path}.name",
            )
        if name in seen:
            raise FieldDeclarationError(N_("Field '%(name)s' is declared twice."), f"{path}.name", name=name)
        seen.add(name)
        field_type = item.get("type", "text")
        if field_type not in FIELD_TYPES:
            raise FieldDeclarationError(
                N_("%(path)s must be one of %(choices)s."), f"{path}.type", choices=", ".join(FIELD_TYPES)
            )
        labels = {}
        for key in ("label_it", "label_ru"):
            value = item.get(key, name)
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise FieldDeclarationError(N_("%(path)s must be a text of 1 to 200 characters."), f"{path}.{key}")
            labels[key] = value.strip()
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise FieldDeclarationError(N_("%(path)s must be true or false."), f"{path}.required")
        help_text = item.get("help", "")
        if not isinstance(help_text, str):
            raise FieldDeclarationError(N_("%(path)s must be a text."), f"{path}.help")
        specs.append(FieldSpec(name, labels["label_it"], labels["label_ru"], field_type, required, help_text.strip()))
    return specs


def is_finite_number(value: Any) -> bool:
    """A value a ``number`` field accepts: an int or float, not a bool, not NaN or infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
