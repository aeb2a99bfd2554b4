"""E-mail addresses as identities: one spelling per person, no look-alikes.

* NFKC first, so full-width and other compatibility forms become their plain letters (``ｌｅｇａｌ`` → ``legal``),
  then case-folded.
* Invisible characters (zero-width spaces and joiners, soft hyphens, bidi controls, fillers, combining marks
  left over after NFKC) are refused, not silently removed: the address shown must be the address stored.
* A local part (and each domain label) must be written in one script: ``lеgal`` with a Cyrillic ``е`` is
  refused as mixed-script (the Unicode script data comes from confusable-homoglyphs).
* Uniqueness goes by *skeleton*: every character that Unicode lists as confusable with an ASCII letter is
  replaced by it, so an all-Cyrillic ``сосо@…`` collides with ``coco@…``.
"""

from __future__ import annotations

import unicodedata

from confusable_homoglyphs import categories, confusables

from docmgr.vocab import EMAIL

EMAIL_MAX_LENGTH = 254
_SHAPE = EMAIL  # e-mail syntax: one definition, in docmgr.vocab
# Letters that render as blank space without being Unicode "format" characters.
_FILLERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u034f", "\u17b4", "\u17b5"}
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cn", "Co", "Cs", "Zs", "Zl", "Zp", "Mn", "Me"}


class IdentityError(ValueError):
    """Why an e-mail address cannot be an identity; ``code`` is the API's error code."""

    def __init__(self, code: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


def normalize_email(raw: str) -> str:
    """NFKC, trimmed, case-folded: the form that is stored and compared (no validation)."""
    return unicodedata.normalize("NFKC", raw or "").strip().casefold()


def invisible_characters(text: str) -> list[str]:
    return [c for c in text if c in _FILLERS or unicodedata.category(c) in _INVISIBLE_CATEGORIES]


def _scripts(text: str) -> set[str]:
    """The scripts of the letters in ``text`` (digits and punctuation belong to none)."""
    return {categories.alias(c) for c in text if c.isalpha()} - {"COMMON", "INHERITED"}


def checked_email(raw: str) -> str:
    """The normalised address, or ``IdentityError`` saying why it cannot identify anyone."""
    email = normalize_email(raw)
    hidden = invisible_characters(email)
    if hidden:
        names = ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(hidden))
        raise IdentityError("invisible_characters", f"The e-mail address contains invisible characters ({names}).", names)
    if len(email) > EMAIL_MAX_LENGTH or not _SHAPE.match(email):
        raise IdentityError("invalid_email", "Give a valid e-mail address.")
    local, domain = email.rsplit("@", 1)
    for part in (local, *domain.split(".")):
        if len(_scripts(part)) > 1:
            raise IdentityError("mixed_script", "Each part of the e-mail address must be written in one script "
                                                f"(letters of {' and '.join(sorted(_scripts(part)))} are mixed).")
    return email


def skeleton(email: str) -> str:
    """Two addresses with the same skeleton look the same: each character that Unicode lists as confusable
    with an ASCII character is replaced by it (UTS #39, restricted to ASCII prototypes)."""
    out = []
    for char in normalize_email(email):
        if not char.isascii():
            ascii_twins = sorted(h["c"].casefold() for h in confusables.confusables_data.get(char, [])
                                 if len(h["c"]) == 1 and h["c"].isascii())
            char = ascii_twins[0] if ascii_twins else char
        out.append(char)
    return "".join(out)
