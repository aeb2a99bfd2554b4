"""The instance's PDF seal: its certificate and key, and sealing a PDF signed in the browser.

* :func:`ensure_seal` makes a self-signed certificate and its key (``cryptography``; the key file 0600,
  written atomically) where ``SEAL_CERT``/``SEAL_KEY`` point when they are missing, and loads nothing.
  ``docmgr init`` calls it; sealing calls it too, so an instance that skipped ``init`` still works.
* :func:`seal_pdf` adds one incremental revision to the frozen PDF: a PAdES signature (pyHanko, with the
  seal's key) whose visible widget on the signature page (the last page) is the signature block — the
  signatory's name, the date, "signed electronically via docmgr", and the typed name or the drawn image.
  Being the signature's own widget, the block is exactly what the verification rules allow a signing
  revision to add (:mod:`docmgr.signatures.verification`), so the sealed PDF verifies like any other.
* :func:`drawn_signature` checks a drawn signature (a PNG of bounded size and dimensions).

No Flask here; pyHanko is imported only when sealing (it must not slow the web workers' start or the
upload children, see :mod:`docmgr.limits`).
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from docmgr.drafting.rendering.pdf import (
    PAGE_MARGIN_BOTTOM_PT,
    SIGNATURE_BLOCK_GAP_PT,
    SIGNATURE_BLOCK_HEIGHT_PT,
    SIGNATURE_BLOCK_WIDTH_PT,
)

FONT = Path(__file__).resolve().parent.parent / "static" / "fonts" / "DejaVuSans.ttf"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_DRAWING_PIXELS = (2000, 1000)
BLOCK_WIDTH, BLOCK_HEIGHT, MARGIN = SIGNATURE_BLOCK_WIDTH_PT, SIGNATURE_BLOCK_HEIGHT_PT, 36.0


class SealError(ValueError):
    """A drawn signature docmgr cannot use; ``code`` names why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SealFiles:
    cert: Path
    key: Path
    created: bool


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically with ``mode`` from the start (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_seal(cert_path: str | Path, key_path: str | Path, *, common_name: str = "docmgr instance seal") -> SealFiles:
    """The seal's files; when either is missing, a new self-signed certificate (RSA 3072, ten years) and key."""
    cert, key = Path(cert_path), Path(key_path)
    if cert.exists() and key.exists():
        return SealFiles(cert, key, False)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    # RSA, not EC: pyHanko marks a P-256 signature with the ISO 32002 extension, which raises the PDF to 2.0 and
    # adds XMP metadata to the catalog — a change to the frozen PDF beyond the signature, refused on verification.
    private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "docmgr")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
        .sign(private, hashes.SHA256())
    )
    _write_private(key, private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), 0o600)
    _write_private(cert, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return SealFiles(cert, key, True)


def certificate_der(cert_path: str | Path) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509.load_pem_x509_certificate(Path(cert_path).read_bytes()).public_bytes(serialization.Encoding.DER)


def drawn_signature(data: bytes, max_bytes: int) -> bytes:
    """The drawn signature as a PNG flattened on white, or :class:`SealError` (not a PNG, too big, unreadable)."""
    from PIL import Image

    if len(data) > max_bytes:
        raise SealError("drawing_too_large", f"the drawn signature is larger than {max_bytes // 1024} KB")
    if not data.startswith(PNG_MAGIC):
        raise SealError("drawing_not_png", "the drawn signature is not a PNG image")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format != "PNG":
                raise SealError("drawing_not_png", "the drawn signature is not a PNG image")
            if probe.width > MAX_DRAWING_PIXELS[0] or probe.height > MAX_DRAWING_PIXELS[1] or not probe.width or not probe.height:
                raise SealError("drawing_too_large", "the drawn signature is larger than {}x{} pixels".format(*MAX_DRAWING_PIXELS))
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            rgba = image.convert("RGBA")
    except SealError:
        raise
    except Exception:  # noqa: BLE001 - any decoder error: an unusable drawing, said in words
        raise SealError("drawing_unreadable", "the drawn signature cannot be read as an image") from None
    if rgba.getextrema()[3][1] == 0:
        raise SealError("drawing_empty", "the drawn signature is empty")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, "PNG")
    return out.getvalue()


@dataclass(frozen=True)
class SealRequest:
    frozen_pdf: bytes
    field_name: str  # unique per signatory
    slot: int  # the signatory's position: where the block goes on the page
    name: str
    signed_at: datetime
    caption: str  # "Signed electronically via docmgr" in the page's languages
    typed: str = ""  # the typed signature, or
    drawing_png: bytes | None = None  # the drawn one (from drawn_signature)
    reason: str = ""
    location: str = ""


def _block_box(page_width: float, slot: int) -> tuple[float, float, float, float]:
    """Blocks fill the foot of the page from the left, two per row, rows going up from the bottom margin:
    the space a rendered agreement keeps free there (:func:`docmgr.drafting.rendering.pdf.build_pdf`), above
    the page numbers."""
    per_row = max(1, int((page_width - MARGIN) // (BLOCK_WIDTH + MARGIN / 2)))
    column, row = slot % per_row, slot // per_row
    x = MARGIN + column * (BLOCK_WIDTH + MARGIN / 2)
    y = PAGE_MARGIN_BOTTOM_PT + row * (BLOCK_HEIGHT + SIGNATURE_BLOCK_GAP_PT)
    return (x, y, x + BLOCK_WIDTH, y + BLOCK_HEIGHT)


def seal_pdf(request: SealRequest, cert_path: str | Path, key_path: str | Path) -> bytes:
    """The frozen PDF plus one revision: the visible signature block and the seal (PAdES, SHA-256)."""
    from pyhanko.pdf_utils import layout
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.images import PdfImage
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    signer = signers.SimpleSigner.load(str(key_path), str(cert_path))
    if signer is None:
        raise RuntimeError("the seal's key or certificate cannot be loaded")
    writer = IncrementalPdfFileWriter(io.BytesIO(request.frozen_pdf), strict=False)
    pages = int(writer.root["/Pages"]["/Count"])
    box = [float(v) for v in writer.find_page_for_modification(pages - 1)[0].get_object()["/MediaBox"]]
    rect = _block_box(box[2] - box[0], request.slot)
    lines = [request.caption, request.name, request.signed_at.strftime("%Y-%m-%d %H:%M UTC")]
    background = None
    if request.drawing_png is not None:
        from PIL import Image

        background = PdfImage(Image.open(io.BytesIO(request.drawing_png)))
    elif request.typed:
        lines.append(f"/{request.typed}/")
    style = TextStampStyle(
        stamp_text="\n".join(line.replace("%", "%%") for line in lines),
        text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(FONT), font_size=8), font_size=8, leading=11),
        border_width=1,
        background=background,
        background_opacity=1.0,
        # the drawing above, the words below
        background_layout=layout.SimpleBoxLayoutRule(x_align=layout.AxisAlignment.ALIGN_MID,
                                                     y_align=layout.AxisAlignment.ALIGN_MAX,
                                                     margins=layout.Margins(left=6, right=6, top=4, bottom=50)),
        inner_content_layout=layout.SimpleBoxLayoutRule(x_align=layout.AxisAlignment.ALIGN_MIN,
                                                        y_align=layout.AxisAlignment.ALIGN_MIN,
                                                        margins=layout.Margins.uniform(5),
                                                        inner_content_scaling=layout.InnerScaling.SHRINK_TO_FIT),
    )
    metadata = signers.PdfSignatureMetadata(
        field_name=request.field_name, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        name=request.name, reason=request.reason or None, location=request.location or None,
    )
    pdf_signer = signers.PdfSigner(
        metadata, signer=signer, stamp_style=style,
        new_field_spec=fields.SigFieldSpec(sig_field_name=request.field_name, on_page=pages - 1, box=rect),
    )
    out = io.BytesIO()
    pdf_signer.sign_pdf(writer, output=out)
    return out.getvalue()
