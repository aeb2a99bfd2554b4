"""Who signed, in the terms each country uses, read from the signer's X.509 certificate.

* Italy (AgID qualified certificates): the *codice fiscale* is the subject's ``serialNumber``
  ``TINIT-<codice fiscale>``; the organisation is ``O``.
* Russia (qualified certificates, Приказ ФСБ № 795): ИНН (1.2.643.3.131.1.1), ИНН ЮЛ (1.2.643.100.4),
  ОГРН (1.2.643.100.1), ОГРНИП (1.2.643.100.5), СНИЛС (1.2.643.100.3); position is ``title``.

No Flask here; runs in the limited child that parses the signature.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import x509

_RUSSIAN_IDS = {
    "1.2.643.3.131.1.1": "inn",
    "1.2.643.100.4": "inn_le",
    "1.2.643.100.1": "ogrn",
    "1.2.643.100.5": "ogrnip",
    "1.2.643.100.3": "snils",
}
_NAMED = {
    "2.5.4.3": "common_name", "2.5.4.4": "surname", "2.5.4.42": "given_name", "2.5.4.10": "organisation",
    "2.5.4.11": "organisational_unit", "2.5.4.12": "position", "2.5.4.5": "serial_number", "2.5.4.6": "country",
    "2.5.4.97": "organisation_identifier",
}
# The keys a report shows for each signer, in this order (the API names them in API.md).
IDENTITY_KEYS = ("name", "organisation", "position", "country", "codice_fiscale", "inn", "inn_le", "ogrn", "ogrnip", "snils")


def _text(value: Any) -> str | None:
    try:
        native = value.native
    except (ValueError, TypeError):
        return None
    if isinstance(native, bytes):  # an attribute type asn1crypto does not know: parse the universal type
        try:
            native = value.parse().native
        except (ValueError, TypeError):
            return None
    return str(native).strip() if native is not None else None


def signer_identity(certificate: x509.Certificate) -> dict[str, str | None]:
    """The signer's name, organisation, position and national identifiers (absent ones are None)."""
    found: dict[str, str] = {}
    for rdn in certificate.subject.chosen:
        for attribute in rdn:
            oid = attribute["type"].dotted
            key = _RUSSIAN_IDS.get(oid) or _NAMED.get(oid)
            value = _text(attribute["value"])
            if key and value and key not in found:
                found[key] = value
    serial = found.get("serial_number", "")
    identity: dict[str, str | None] = dict.fromkeys(IDENTITY_KEYS)
    identity["name"] = found.get("common_name") or " ".join(
        part for part in (found.get("given_name"), found.get("surname")) if part
    ) or None
    for key in ("organisation", "position", "country", "inn", "inn_le", "ogrn", "ogrnip", "snils"):
        identity[key] = found.get(key)
    if serial.upper().startswith("TINIT-"):
        identity["codice_fiscale"] = serial[6:].upper()
    return identity
