"""Fixtures for the signature tests: agreements with real rendered PDFs, real PAdES signatures."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import itertools
from dataclasses import dataclass

import pytest

from docmgr.extensions import db
from tests.signatures import pki

_counter = itertools.count(1)


class Cast:
    """The people of one agreement: two parties (org_it, org_ru), their firm users (firm_it, firm_ru),
    the author (legal) and a second legal officer (legal2), an admin, the ministry, and an outsider
    (a firm user of an organisation that is not a party). Users are created on first use: each one
    costs a real password hash."""

    _ROLES = {"legal": "legal", "legal2": "legal", "admin": "admin", "ministry": "ministry"}

    def __init__(self, make_org, make_user):
        self._make_user = make_user
        self.org_it = make_org(country="IT")
        self.org_ru = make_org(country="RU")
        self._users: dict[str, object] = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._users:
            if name in self._ROLES:
                self._users[name] = self._make_user(self._ROLES[name])
            elif name in ("firm_it", "firm_ru"):
                self._users[name] = self._make_user("firm", self.org_it if name == "firm_it" else self.org_ru)
            elif name == "outsider":
                self._users[name] = self._make_user("firm")
            else:
                raise AttributeError(name)
        return self._users[name]


@pytest.fixture
def cast(app, make_org, make_user) -> Cast:
    return Cast(make_org, make_user)


@functools.lru_cache(maxsize=64)
def render_agreement_pdf(title: str, text: str) -> bytes:
    """Real WeasyPrint output; cached because every test database numbers its agreements from 1."""
    from docmgr.pdf import html_to_pdf

    return html_to_pdf(f"<h1>{title}</h1><p>{text}</p>")


@pytest.fixture
def make_agreement(app, cast):
    """An agreement in `draft` with a real rendered draft (PDF + DOCX in the store) and one signatory
    per party. Built from the models directly (the drafting services are another module's work)."""
    from docmgr.demo import render_docx
    from docmgr.drafting.models import Agreement, Draft, Signatory, Template
    from docmgr.storage import store_bytes

    def make(*, author=None, parties=None, signatories=None, render: bool = True, drafts: int = 1, session_id=None,
             title: str | None = None):
        author = author or cast.legal
        parties = parties if parties is not None else [cast.org_it, cast.org_ru]
        n = next(_counter)
        body = "{{ title }}"
        template = Template(key=f"mou{n}", version=1, name="Memorandum of understanding", body=body,
                            source_sha256=hashlib.sha256(body.encode()).hexdigest(), fields=[])
        agreement = Agreement(title=title or f"Memorandum {n}", template=template, created_by_id=author.id,
                              session_id=session_id, fields={})
        agreement.parties = list(parties)
        if signatories is None:
            signatories = [(f"Signatory {org.name}", org) for org in parties]
        agreement.signatories = [Signatory(name=name, title="Director", organization_id=org.id) for name, org in signatories]
        db.session.add(agreement)
        db.session.flush()
        if render:
            for version in range(1, drafts + 1):
                pdf = store_bytes(render_agreement_pdf(agreement.title, f"Version {version} of agreement {agreement.id}."))
                docx = store_bytes(render_docx(agreement.title, f"Version {version}."))
                db.session.add(Draft(agreement_id=agreement.id, version=version, template_id=template.id, fields={},
                                     pdf_sha256=pdf.sha256, pdf_size=pdf.size, docx_sha256=docx.sha256,
                                     docx_size=docx.size, created_by_id=author.id))
        db.session.commit()
        db.session.refresh(agreement)
        return agreement

    return make


@pytest.fixture
def advance(app, cast):
    """Move an agreement through the lifecycle with the real service, author then second legal officer."""
    from docmgr.signatures import services

    path = ["in_review", "approved", "out_for_signature"]

    def go(agreement, to: str, due_at: dt.datetime | None = None):
        for status in path[: path.index(to) + 1]:
            if agreement.status == status:
                continue
            actor = cast.legal2 if status == "approved" else cast.legal
            services.transition(db.session, actor, agreement.id, status,
                                due_at=due_at if status == "out_for_signature" else None)
            db.session.commit()
        return agreement

    return go


@dataclass
class Identity:
    key_path: str
    cert_path: str
    subject_cn: str


def _make_identity(directory, cn: str) -> Identity:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.COUNTRY_NAME, "IT")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{cn}-key.pem", directory / f"{cn}-cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Identity(str(key_path), str(cert_path), cn)


@pytest.fixture(scope="session")
def identity(tmp_path_factory) -> Identity:
    """A self-signed signing certificate (generated once per test run, never fetched)."""
    return _make_identity(tmp_path_factory.mktemp("pki"), "Mario Rossi")


def sign_pdf(pdf: bytes, who: Identity, field_name: str = "Signature1") -> bytes:
    """Sign ``pdf`` as an incremental update (PAdES), the way a party's signing tool would."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    signer = signers.SimpleSigner.load(who.key_path, who.cert_path)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    return signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name=field_name), signer=signer).getvalue()


def frozen_pdf(app, agreement) -> bytes:
    return app.extensions["docmgr.store"].read(agreement.frozen_pdf_sha256)


def png_scan() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 120), "white")
    ImageDraw.Draw(image).line((10, 100, 280, 20), fill="black", width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def upload(client, headers, agreement_id, signatory_id, data: bytes, *, method="digital", name="signed.pdf", **form):
    fields = {"method": method, **form, "file": (io.BytesIO(data), name)}
    return client.post(
        f"/api/v1/agreements/{agreement_id}/signatories/{signatory_id}/signature", headers=headers, data=fields,
        content_type="multipart/form-data",
    )


def upload_detached(client, headers, agreement_id, signatory_id, pdf: bytes, signature: bytes, name="contratto.pdf.sig"):
    return client.post(
        f"/api/v1/agreements/{agreement_id}/signatories/{signatory_id}/signature", headers=headers,
        data={"method": "digital", "file": (io.BytesIO(pdf), "contratto.pdf"), "signature": (io.BytesIO(signature), name)},
        content_type="multipart/form-data",
    )


# --- qualified signatures (CAdES, GOST): parties whose keys and certificates are generated once per run ---
CODICE_FISCALE = "RSSMRA80A01H501U"


@pytest.fixture(scope="session")
def ca():
    return pki.make_ca()


@pytest.fixture(scope="session")
def rossi(ca):
    return pki.make_signer(ca, attributes={"2.5.4.5": f"TINIT-{CODICE_FISCALE}", "2.5.4.10": "Comune di Roma",
                                           "2.5.4.12": "Sindaco"})


@pytest.fixture(scope="session")
def bianchi(ca):
    return pki.make_signer(ca, kind="ec", cn="Anna Bianchi", attributes={"2.5.4.10": "Regione Lazio"})


@pytest.fixture(scope="session")
def ivanov():
    return pki.make_gost_signer(256, attributes={pki.INN: "007712345678", pki.OGRN: "1027700132195",
                                                 pki.SNILS: "11223344595", "2.5.4.10": "ООО Ромашка", "2.5.4.12": "Директор"})


@pytest.fixture(scope="session")
def petrov():
    return pki.make_gost_signer(512, cn="Петров Пётр", attributes={pki.INN: "500100732259"})
