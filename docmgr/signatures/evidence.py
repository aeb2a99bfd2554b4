"""The evidence package of an executed agreement: one ZIP a court or an auditor can check without docmgr.

Layout (every path is listed with its SHA-256 in ``manifest-sha256.txt``, the ``sha256sum -c`` format)::

    README.txt                      how to check each part, in Italian, Russian and English
    final-draft.pdf                 the frozen PDF every signature signs (or extends, for PAdES)
    executed/<file>                 the executed copy, as stored in the document register
    signatures/<n>-<file>           every accepted signed copy and detached signature, as received
    signatures/index.json           which file belongs to which signatory, with its format
    certificate.pdf                 the completion certificate
    audit/events.json               the agreement's audit entries, with the fields exactly as hashed
    audit/chain.json                the chain links (id, prev_hash, hash) from its first entry to the last
    manifest-sha256.txt

:func:`verify_package` checks a package (``docmgr verify-evidence ZIP``).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime
from typing import Any

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from docmgr.audit.models import AuditEvent
from docmgr.audit.services import compute_hash, event_dict
from docmgr.drafting.models import Agreement
from docmgr.errors import NotFound
from docmgr.signatures.cms import verify_cms
from docmgr.signatures.models import SignatureSubmission
from docmgr.signatures.verification import verify_digital
from docmgr.storage import current_store
from docmgr.vocab import COUNTING_REVIEW_STATUSES

MANIFEST = "manifest-sha256.txt"
MAX_PACKAGE_MEMBERS = 10_000

README = """\
PACCHETTO DI PROVA / ПАКЕТ ДОКАЗАТЕЛЬСТВ / EVIDENCE PACKAGE — {title} (#{agreement_id})

[IT] Questo archivio contiene il PDF definitivo (final-draft.pdf), la copia eseguita (executed/),
ogni file di firma così come ricevuto (signatures/), il certificato di completamento (certificate.pdf)
e le voci del registro di audit con i collegamenti della catena (audit/).
Verifiche con strumenti comuni:
  1. Impronte:  sha256sum -c manifest-sha256.txt
  2. CAdES (.p7m, firma incorporata):  openssl cms -verify -inform DER -in signatures/<file>.p7m -CAfile <CA>.pem -purpose any -out contenuto.pdf
     poi  cmp contenuto.pdf final-draft.pdf  (il contenuto firmato deve essere identico byte per byte).
     CAdES/GOST separata (.p7s, .sig):  openssl cms -verify -binary -inform DER -in signatures/<file>.p7s -content final-draft.pdf -CAfile <CA>.pem -purpose any
     (GOST richiede OpenSSL con il motore gost, o CryptoPro).
  3. PAdES (PDF firmato): pyHanko (pyhanko sign validate) o qualsiasi lettore PDF.
  4. Registro: in audit/events.json ogni "hash" è lo SHA-256 del JSON canonico (chiavi ordinate,
     separatori "," e ":", UTF-8) degli altri campi; "prev_hash" è l'hash della voce precedente
     (audit/chain.json elenca tutti i collegamenti).
  Oppure:  flask --app wsgi docmgr verify-evidence <questo file>.zip

[RU] Архив содержит окончательный PDF (final-draft.pdf), исполненный экземпляр (executed/), все
файлы подписей в полученном виде (signatures/), сертификат завершения (certificate.pdf) и записи
журнала аудита со звеньями цепочки (audit/).
Проверка общедоступными средствами:
  1. Хэши:  sha256sum -c manifest-sha256.txt
  2. CAdES (.p7m, присоединённая):  openssl cms -verify -inform DER -in signatures/<файл>.p7m -CAfile <УЦ>.pem -purpose any -out content.pdf
     затем  cmp content.pdf final-draft.pdf  (подписанное содержимое должно совпадать побайтно).
     Отсоединённая CAdES/ГОСТ (.p7s, .sig):  openssl cms -verify -binary -inform DER -in signatures/<файл>.sig -content final-draft.pdf -CAfile <УЦ>.pem -purpose any
     (для ГОСТ нужен OpenSSL с движком gost или КриптоПро).
  3. PAdES (подписанный PDF): pyHanko (pyhanko sign validate) или любая программа просмотра PDF.
  4. Журнал: в audit/events.json каждое "hash" — SHA-256 канонического JSON (ключи по алфавиту,
     разделители "," и ":", UTF-8) остальных полей; "prev_hash" — хэш предыдущей записи
     (audit/chain.json перечисляет все звенья).
  Или:  flask --app wsgi docmgr verify-evidence <этот файл>.zip

[EN] This archive holds the frozen final PDF (final-draft.pdf), the executed copy (executed/), every
signature file as received (signatures/), the completion certificate (certificate.pdf) and the
agreement's audit entries with the chain links (audit/).
Checking with common tools:
  1. Hashes:  sha256sum -c manifest-sha256.txt
  2. CAdES (.p7m, attached):  openssl cms -verify -inform DER -in signatures/<file>.p7m -CAfile <CA>.pem -purpose any -out content.pdf
     then  cmp content.pdf final-draft.pdf  (the signed content must be byte-identical).
     Detached CAdES/GOST (.p7s, .sig):  openssl cms -verify -binary -inform DER -in signatures/<file>.p7s -content final-draft.pdf -CAfile <CA>.pem -purpose any
     (GOST needs OpenSSL with the gost engine, or CryptoPro).
  3. PAdES (a signed PDF): pyHanko (pyhanko sign validate) or any PDF reader.
  4. Audit log: in audit/events.json each "hash" is the SHA-256 of the canonical JSON (sorted keys,
     separators "," and ":", UTF-8) of the other fields; "prev_hash" is the previous entry's hash
     (audit/chain.json lists every link).
  Or:  flask --app wsgi docmgr verify-evidence <this file>.zip
"""


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:120] or "file"


def build_package(session: Session, agreement: Agreement) -> bytes:
    """The ZIP of an executed agreement (the caller has checked that the actor may read it)."""
    if agreement.executed_document is None or not agreement.certificate_sha256:
        raise NotFound(gettext("The evidence package exists once the agreement is executed."), code="evidence_not_found")
    store = current_store()
    members: dict[str, bytes] = {"final-draft.pdf": store.read(agreement.frozen_pdf_sha256)}
    for stored in agreement.executed_document.files:
        members[f"executed/{_safe(stored.filename)}"] = store.read(stored.sha256)
    index = []
    accepted = session.scalars(
        select(SignatureSubmission).where(SignatureSubmission.agreement_id == agreement.id,
                                          SignatureSubmission.is_valid.is_(True),
                                          SignatureSubmission.review_status.in_(COUNTING_REVIEW_STATUSES))
        .order_by(SignatureSubmission.id)
    )
    for number, submission in enumerate(accepted, start=1):
        verification = json.loads(submission.verification_json or "{}")
        entry: dict[str, Any] = {
            "signatory_id": submission.signatory_id, "method": submission.method,
            "format": verification.get("format", "pades" if submission.method == "digital" else "wet_ink"),
            "file": f"signatures/{number}-{_safe(submission.filename or 'signed')}", "file_sha256": submission.sha256,
            "review_status": submission.review_status, "reviewed_by_id": submission.reviewed_by_id,
            "reviewed_at": submission.reviewed_at.isoformat() if submission.reviewed_at else None,
        }
        members[entry["file"]] = store.read(submission.sha256)
        if submission.signature_sha256:
            entry["signature"] = f"signatures/{number}-{_safe(submission.signature_filename or 'signature.p7s')}"
            entry["signature_sha256"] = submission.signature_sha256
            members[entry["signature"]] = store.read(submission.signature_sha256)
        index.append(entry)
    members["signatures/index.json"] = _json({"frozen_pdf_sha256": agreement.frozen_pdf_sha256, "signatures": index})
    members["certificate.pdf"] = store.read(agreement.certificate_sha256)
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.agreement_id == agreement.id).order_by(AuditEvent.id)))
    members["audit/events.json"] = _json([event_dict(e, raw_data=True) for e in events])
    links = session.execute(
        select(AuditEvent.id, AuditEvent.prev_hash, AuditEvent.hash)
        .where(AuditEvent.id >= events[0].id, AuditEvent.id <= events[-1].id).order_by(AuditEvent.id)
    ) if events else []
    members["audit/chain.json"] = _json([{"id": i, "prev_hash": p, "hash": h} for i, p, h in links])
    members["README.txt"] = README.format(title=agreement.title, agreement_id=agreement.id).encode()
    manifest = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(members.items()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(members.items()):
            archive.writestr(name, data)
        archive.writestr(MANIFEST, manifest)
    return out.getvalue()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode()


# --- checking a package ------------------------------------------------------------------------------


def verify_package(data: bytes, *, trust_roots: list[bytes] | None = None) -> tuple[list[str], list[str]]:
    """(what was checked, problems) for a package. Empty problems: it verifies."""
    checked: list[str] = []
    problems: list[str] = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        if len(infos) > MAX_PACKAGE_MEMBERS:
            return checked, [f"the archive has {len(infos)} members"]
        members = {info.filename: archive.read(info) for info in infos}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        return checked, [f"not a readable ZIP ({error.__class__.__name__})"]
    manifest = members.pop(MANIFEST, None)
    if manifest is None:
        return checked, [f"{MANIFEST} is missing"]
    listed: dict[str, str] = {}
    for line in manifest.decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    for name in sorted(set(listed) | set(members)):
        if name not in members:
            problems.append(f"{name}: listed in the manifest but missing")
        elif name not in listed:
            problems.append(f"{name}: not listed in the manifest")
        elif hashlib.sha256(members[name]).hexdigest() != listed[name]:
            problems.append(f"{name}: its SHA-256 does not match the manifest")
    checked.append(f"manifest: {len(listed)} files")
    problems.extend(_verify_audit(members, checked))
    problems.extend(_verify_signatures(members, checked, trust_roots or []))
    return checked, problems


def _verify_audit(members: dict[str, bytes], checked: list[str]) -> list[str]:
    problems: list[str] = []
    try:
        events = json.loads(members["audit/events.json"])
        links = json.loads(members["audit/chain.json"])
    except (KeyError, ValueError):
        return ["audit/events.json or audit/chain.json is missing or not JSON"]
    by_id = {link["id"]: link for link in links}
    previous = None
    for link in links:
        if previous is not None and link["prev_hash"] != previous["hash"]:
            problems.append(f"audit chain broken before entry {link['id']}")
        previous = link
    for raw in events:
        fields = {k: raw[k] for k in ("id", "actor_id", "actor_email", "action", "object_type", "object_id",
                                      "agreement_id", "data", "prev_hash")}
        event = AuditEvent(**fields, created_at=datetime.fromisoformat(raw["created_at"]))
        if compute_hash(event) != raw["hash"]:
            problems.append(f"audit entry {raw['id']} ({raw['action']}) does not match its hash")
        if by_id.get(raw["id"], {}).get("hash") != raw["hash"]:
            problems.append(f"audit entry {raw['id']} is not in the chain links")
    certificate = hashlib.sha256(members.get("certificate.pdf", b"")).hexdigest()
    issued = [json.loads(e["data"]).get("certificate_sha256") for e in events if e["action"] == "agreement.certificate_issued"]
    if certificate not in issued:
        problems.append("certificate.pdf is not the certificate recorded in the audit log")
    checked.append(f"audit: {len(events)} entries, {len(links)} chain links")
    return problems


def _verify_signatures(members: dict[str, bytes], checked: list[str], trust_roots: list[bytes]) -> list[str]:
    from asn1crypto import x509

    problems: list[str] = []
    try:
        index = json.loads(members["signatures/index.json"])
        frozen = members["final-draft.pdf"]
    except (KeyError, ValueError):
        return ["signatures/index.json or final-draft.pdf is missing"]
    if hashlib.sha256(frozen).hexdigest() != index.get("frozen_pdf_sha256"):
        problems.append("final-draft.pdf is not the frozen PDF the signatures were checked against")
    for entry in index.get("signatures", []):
        data = members.get(entry["file"], b"")
        if entry["method"] != "digital":
            checked.append(f"{entry['file']}: wet-ink scan (hash only)")
            continue
        if entry["format"] == "pades":
            report = verify_digital(data, frozen, trust_roots=[x509.Certificate.load(d) for d in trust_roots]).to_dict()
        elif "signature" in entry:
            report = verify_cms(members.get(entry["signature"], b""), frozen, detached_pdf=data, trust_roots=trust_roots)
        else:
            report = verify_cms(data, frozen, trust_roots=trust_roots)
        if report["valid"]:
            checked.append(f"{entry['file']}: {entry['format']} signature valid"
                           f" ({'trusted' if report['trusted'] else 'not trusted'})")
        else:
            problems.append(f"{entry['file']}: " + "; ".join(report["reasons"]))
    return problems
