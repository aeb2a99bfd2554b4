"""docmgr's vocabularies, each defined once: roles, organisation kinds, countries, document kinds,
sectors, languages, agreement statuses and their labels; "is this Cyrillic", e-mail syntax, whole
and decimal number parsing, ISO-8601 formatting.

Models, services, forms, page templates, search and the API import from here, so adding a sector
(say) is one line. A leaf module: it imports nothing of docmgr.
"""

from __future__ import annotations

import enum
import re
from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.numbers import NumberFormatError, parse_decimal
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

# --- roles and organisations ---------------------------------------------------------------------


class Role(str, enum.Enum):  # noqa: UP042 - values compared as plain strings everywhere
    ADMIN = "admin"
    LEGAL = "legal"
    FIRM = "firm"
    MINISTRY = "ministry"


ROLES: tuple[str, ...] = tuple(r.value for r in Role)
# Which roles do what; the rules built on these sets live in docmgr.accounts.permissions.
READS_EVERYTHING_ROLES = frozenset({Role.ADMIN.value, Role.LEGAL.value, Role.MINISTRY.value})  # firms read their own
WRITER_ROLES = frozenset({Role.ADMIN.value, Role.LEGAL.value, Role.FIRM.value})  # the ministry reads only
STAFF_ROLES = frozenset({Role.ADMIN.value, Role.LEGAL.value})  # draft agreements, move them, sign for anyone
ROLE_LABELS = {"admin": _l("Administrator"), "legal": _l("Legal staff"), "firm": _l("Firm"), "ministry": _l("Ministry")}


class OrganizationKind(str, enum.Enum):  # noqa: UP042
    FIRM = "firm"
    INSTITUTION = "institution"
    MINISTRY = "ministry"


ORGANIZATION_KINDS: tuple[str, ...] = tuple(k.value for k in OrganizationKind)
ORGANIZATION_KIND_LABELS = {"firm": _l("Firm"), "institution": _l("Institution"), "ministry": _l("Ministry")}  # i18n

COUNTRIES: tuple[str, ...] = ("IT", "RU")
COUNTRY_LABELS = {"IT": _l("Italy"), "RU": _l("Russia")}

# --- documents -----------------------------------------------------------------------------------


class DocumentKind(str, enum.Enum):  # noqa: UP042 - values compared as plain strings everywhere
    PROPOSAL = "proposal"
    AGREEMENT = "agreement"
    ANNEX = "annex"
    OTHER = "other"


KINDS: tuple[str, ...] = tuple(k.value for k in DocumentKind)
KIND_LABELS = {
    "proposal": _l("Partnership proposal"),
    "agreement": _l("Agreement"),
    "annex": _l("Annex"),
    "other": _l("Other"),
}

SECTORS: tuple[str, ...] = ("energy", "construction", "mechanics", "nanotech", "biotech", "other")
SECTOR_LABELS = {
    "energy": _l("Energy"),
    "construction": _l("Construction technology"),
    "mechanics": _l("Mechanics and mechatronics"),
    "nanotech": _l("Nanotechnology"),
    "biotech": _l("Biotechnology"),
    "other": _l("Other"),
}
# Bilingual sector names written into agreements (both languages at once, never translated by locale).
SECTOR_NAMES = {
    "energy": "Energia / Энергетика",
    "construction": "Tecnologie per l'edilizia / Строительные технологии",
    "mechanics": "Meccanica e meccatronica / Механика и мехатроника",
    "nanotech": "Nanotecnologie / Нанотехнологии",
    "biotech": "Biotecnologie / Биотехнологии",
    "other": "Altro / Другое",
}


class Grouping(str, enum.Enum):  # noqa: UP042 - values compared as plain strings everywhere
    """What several files uploaded together mean."""

    SEPARATE = "separate"  # each file is its own document (the default)
    PAIR = "pair"  # an Italian and a Russian file: the two language versions of one document
    VERSIONS = "versions"  # every file belongs to one document (same language: successive versions)


GROUPINGS: tuple[str, ...] = tuple(g.value for g in Grouping)

# Languages of a document's files ("bi": one file holding both). An uploader chooses among LANGUAGES; detection
# may also record any other ISO 639-1 code ("en", "fr", "ar"…), so a file's language is LANGUAGES or a LANGUAGE_CODE.
LANGUAGES: tuple[str, ...] = ("it", "ru", "bi")
TEXT_LANGUAGES: tuple[str, ...] = ("it", "ru")
LANGUAGE_LABELS = {"it": _l("Italian"), "ru": _l("Russian"), "bi": _l("Bilingual")}
LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")
LANGUAGE_CODE_PATTERN = LANGUAGE_CODE.pattern  # for the API's schemas


def is_language_code(value: str | None) -> bool:
    """Whether ``value`` can be a file's language: 'it', 'ru', 'bi' or another two-letter ISO 639-1 code."""
    return isinstance(value, str) and LANGUAGE_CODE.match(value) is not None


class LanguageSource(str, enum.Enum):  # noqa: UP042 - values compared as plain strings everywhere
    """Who said which language a file is in. An upload's language select (or the API's ``language``) left empty
    ('' or absent) means "detect"; any value there, or a change in the edit form / PATCH, is the uploader's."""

    UPLOADER = "uploader"  # chosen by a person: detection (OCR included) never replaces it
    DETECTED = "detected"  # detected from the text, or guessed from the title until OCR has read a scan


LANGUAGE_SOURCES: tuple[str, ...] = tuple(s.value for s in LanguageSource)


def is_known_language(value: str | None) -> bool:
    """Whether a person may label a file with ``value``: 'it', 'ru', 'bi' or an ISO 639-1 code CLDR names
    (so a detected 'en' can be kept or set in the edit form, and 'zz' cannot)."""
    return value in LANGUAGES or (is_language_code(value) and value in Locale("en").languages)


def language_label(code: str | None) -> str:
    """A file language's name in the interface's language: ours from the catalogs ('it', 'ru', 'bi'), any
    other from Babel's CLDR data ('en' is "inglese" in Italian, "английский" in Russian), else the code."""
    if not code:
        return ""
    if code in LANGUAGE_LABELS:
        return str(LANGUAGE_LABELS[code])
    try:
        locale = get_locale() or Locale("en")
    except (RuntimeError, AttributeError):  # outside a request or app context
        locale = Locale("en")
    name = locale.languages.get(code) if LANGUAGE_CODE.match(code) else None
    return name[:1].upper() + name[1:] if name else code.upper()

# --- agreements ----------------------------------------------------------------------------------


class AgreementStatus(str, enum.Enum):  # noqa: UP042 - values compared as plain strings everywhere
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    OUT_FOR_SIGNATURE = "out_for_signature"
    PARTIALLY_SIGNED = "partially_signed"
    EXECUTED = "executed"
    WITHDRAWN = "withdrawn"
    DECLINED = "declined"
    EXPIRED = "expired"


AGREEMENT_STATUS_LABELS = {
    "draft": _l("Draft"),
    "in_review": _l("In review"),
    "approved": _l("Approved"),
    "out_for_signature": _l("Out for signature"),
    "partially_signed": _l("Partially signed"),
    "executed": _l("Executed"),
    "withdrawn": _l("Withdrawn"),
    "declined": _l("Declined"),
    "expired": _l("Expired"),
}

# --- the review of a wet-ink scan before it counts (signatures.services.review_submission) ------------------


class ReviewStatus(str, enum.Enum):  # noqa: UP042 - values compared as plain strings everywhere
    NOT_REQUIRED = "not_required"  # digital and electronic signatures: verified, no review
    PENDING = "pending"  # a scan from a link holder or a firm user, waiting for legal staff
    ACCEPTED = "accepted"  # legal accepted it (or recorded it themselves): it counts
    REJECTED = "rejected"  # legal refused it, with a reason; the signatory may upload again


REVIEW_STATUSES = tuple(s.value for s in ReviewStatus)
# A valid submission in one of these counts (or counted) as a signature; pending and rejected scans never did.
COUNTING_REVIEW_STATUSES = (ReviewStatus.NOT_REQUIRED.value, ReviewStatus.ACCEPTED.value)
REVIEW_DECISIONS = ("accept", "reject")
REVIEW_STATUS_LABELS = {
    "not_required": _l("no review needed"),
    "pending": _l("awaiting review by legal"),
    "accepted": _l("accepted by legal"),
    "rejected": _l("rejected by legal"),
}

# --- the audit log: what each recorded action is called (every ``audit.record`` action has a label here) ----

AUDIT_ACTION_LABELS = {
    "account.notifications_changed": _l("Notification choices changed"),
    "agreement.certificate_issued": _l("Completion certificate issued"),
    "agreement.signing_settings": _l("Signing settings changed"),
    "agreement.created": _l("Agreement created"),
    "agreement.draft_rendered": _l("Draft rendered"),
    "agreement.executed": _l("Agreement executed"),
    "agreement.transition": _l("Agreement status changed"),
    "agreement.updated": _l("Agreement edited"),
    "document.created": _l("Document uploaded"),
    "document.file_added": _l("File added to a document"),
    "document.language_changed": _l("File language changed"),
    "document.ocr_done": _l("Text recognised (OCR)"),
    "document.ocr_failed": _l("Text recognition (OCR) failed"),
    "document.sealed": _l("Document sealed as executed copy"),
    "document.shared": _l("Document shared"),
    "document.updated": _l("Document edited"),
    "document.trashed": _l("Document moved to the trash"),
    "document.restored": _l("Document restored from the trash"),
    "document.purged": _l("Document purged from the trash"),
    "note.created": _l("Note added"),
    "note.deleted": _l("Note deleted"),
    "retention.updated": _l("Retention period changed"),
    "login.throttle_lifted": _l("Login throttle lifted"),
    "organization.created": _l("Organisation created"),
    "organization.updated": _l("Organisation edited"),
    "queue.retry": _l("Queued task retried"),
    "saved_search.created": _l("Saved search created"),
    "saved_search.deleted": _l("Saved search deleted"),
    "saved_search.digest_sent": _l("Saved search digest sent"),
    "saved_search.updated": _l("Saved search changed"),
    "session.created": _l("Task-force session created"),
    "session.updated": _l("Task-force session edited"),
    "signature.declined": _l("Signature declined"),
    "signature.electronic_refused": _l("Signing in the browser refused"),
    "signature.recorded": _l("Signature recorded"),
    "signature.rejected": _l("Signature rejected"),
    "signature.submitted_for_review": _l("Scan submitted for review"),
    "signature.review_accepted": _l("Scan accepted by legal"),
    "signature.review_rejected": _l("Scan rejected by legal"),
    "signing.code_refused": _l("Signing code refused"),
    "signing.code_sent": _l("Signing code sent"),
    "signing.code_verified": _l("Signing code confirmed"),
    "signing.executed_mailed": _l("Executed copy mailed"),
    "signing.invited": _l("Signing link sent"),
    "signing.reminded": _l("Signing reminder sent"),
    "signing.revoked": _l("Signing link revoked"),
    "signing.via_link": _l("Signed through a signing link"),
    "template.created": _l("Template created"),
    "template.version_created": _l("Template version created"),
    "token.issued": _l("API token issued"),
    "token.revoked": _l("API token revoked"),
    "token.revoked_all": _l("All API tokens revoked"),
    "webhook.created": _l("Webhook created"),
    "webhook.deleted": _l("Webhook deleted"),
    "webhook.disabled": _l("Webhook disabled"),
    "webhook.enabled": _l("Webhook enabled"),
    "user.activated": _l("User activated"),
    "user.created": _l("User created"),
    "user.deactivated": _l("User deactivated"),
    "user.login": _l("Logged in"),
    "user.login_failed": _l("Failed login"),
    "user.logout": _l("Logged out"),
    "user.updated": _l("User edited"),
    "user.password_reset": _l("Password reset by an administrator"),
    "user.password_reset_requested": _l("Password reset link requested"),
    "user.password_changed": _l("Password changed through a reset link"),
}
# The kinds of object an audit entry can name (the model class names ``audit.record`` stores).
AUDIT_OBJECT_LABELS = {
    "Agreement": _l("Agreement"), "ApiToken": _l("API token"), "Document": _l("Document"),
    "Organization": _l("Organisation"), "Signatory": _l("Signatory"), "TaskForceSession": _l("Task-force session"),
    "Template": _l("Template"), "User": _l("User"), "DocumentFile": _l("File"),
    "Webhook": _l("Webhook"), "SavedSearch": _l("Saved search"),
}

# --- scripts, e-mail -----------------------------------------------------------------------------

# Cyrillic, Cyrillic Supplement, Extended-A/B/C.
CYRILLIC = re.compile("[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_cyrillic(text: str | None) -> bool:
    """Whether ``text`` has at least one Cyrillic letter."""
    return bool(text) and CYRILLIC.search(text) is not None


def is_email(text: str | None) -> bool:
    """Whether ``text`` looks like one e-mail address (``name@host.tld``, no spaces)."""
    return bool(text) and EMAIL.match(text) is not None


# --- numbers and dates ---------------------------------------------------------------------------


def parse_int(value: str | int | None) -> int | None:
    """A whole number from a form, query or JSON value; '' and None are None. ValueError otherwise
    (callers turn it into an error naming their field)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("not a whole number")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"[+-]?\d+", text, flags=re.ASCII):
        raise ValueError(f"{value!r} is not a whole number")
    return int(text)


_SPACES = str.maketrans("", "", "\u00a0\u202f \t")


def parse_number(value: str) -> int | float:
    """A number typed by a person in Italian, Russian or English style: 1234.5, 1234,5, 1.234,5 and
    1 234,5 all read as 1234.5. A comma marks decimals (Italian/Russian conventions, parsed by Babel
    with the Italian locale, whose group separator is a dot); otherwise the dot does (English).
    ValueError when it is not a number."""
    text = value.translate(_SPACES)
    locale = "it" if "," in text else "en"
    try:
        number: Decimal = parse_decimal(text, locale=locale, strict=False)
    except NumberFormatError:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a number")
    if number == number.to_integral_value() and "." not in text and "," not in text:
        return int(number)
    return float(number)


def iso(value: date | datetime | None) -> str | None:
    """ISO 8601 for the API: UTC times end in ``Z`` rather than ``+00:00``."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")
