"""Verification time per signature: PAdES, CAdES (RSA), and GOST R 34.10-2012 256/512 (pure Python).

    .venv/bin/python bench/signature_bench.py [--runs 5]

Everything is generated first (a test CA and signers, as in tests/signatures/pki.py), then each
format is verified ``--runs`` times in this process, the way the limited child does it (trust anchor
configured, so the GOST figures include checking the issuer's signature on the signer's certificate).
Prints a JSON summary: median and max seconds per signature, and the pure-Python Стрибог time per
100 KB of content (a GOST signature's cost grows with the signed PDF). Target: under 1 s each.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def _pades(pdf: bytes, party) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    signer = signers.SimpleSigner(signing_cert=party.certificate, signing_key=party.key,
                                  cert_registry=SimpleCertificateStore.from_certs([party.ca]))
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    return signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name="Signature1"), signer=signer).getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from docmgr.pdf import html_to_pdf
    from docmgr.signatures.cms import verify_cms
    from docmgr.signatures.verification import verify_digital
    from tests.signatures import pki

    pdf = html_to_pdf("<h1>Memorandum</h1><p>" + "Testo dell'accordo. " * 400 + "</p>")
    ca = pki.make_ca()
    rsa = pki.make_signer(ca, kind="rsa")
    gost256, gost512 = pki.make_gost_signer(256), pki.make_gost_signer(512)
    from asn1crypto import x509

    cases = {
        "pades_rsa": lambda signed=_pades(pdf, rsa): verify_digital(signed, pdf, trust_roots=[x509.Certificate.load(rsa.ca_der)]).is_valid,
        "cades_rsa_attached": lambda env=pki.cades(rsa, pdf).dump(): verify_cms(env, pdf, trust_roots=[rsa.ca_der])["valid"],
        "gost_256_detached": lambda sig=pki.gost_cms(gost256, pdf).dump(): verify_cms(
            sig, pdf, detached_pdf=pdf, trust_roots=[gost256.ca_der])["valid"],
        "gost_512_detached": lambda sig=pki.gost_cms(gost512, pdf).dump(): verify_cms(
            sig, pdf, detached_pdf=pdf, trust_roots=[gost512.ca_der])["valid"],
    }
    results = {}
    with tempfile.TemporaryDirectory():
        for name, run in cases.items():
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                assert run(), name
                times.append(time.perf_counter() - start)
            results[name] = {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}
    from docmgr.signatures.gost import streebog

    start = time.perf_counter()
    streebog(b"\x00" * 100_000, 256)
    hashing = round(time.perf_counter() - start, 3)  # the GOST digest of the content grows with the PDF's size
    print(json.dumps({"pdf_bytes": len(pdf), "runs": args.runs, "per_signature": results,
                      "streebog_s_per_100kb": hashing}, indent=1))


if __name__ == "__main__":
    main()
