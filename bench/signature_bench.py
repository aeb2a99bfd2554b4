"""Verification time per signature on the service's real path: PAdES, CAdES (RSA), GOST R 34.10-2012 256/512.

    .venv/bin/python bench/signature_bench.py [--runs 5]

A throw-away instance (temp dir, real SQLite, the demo data) gives the demo MoU's frozen PDF, the file
signatories actually sign. A test CA and signers are generated (as in tests/signatures/pki.py). Each
format is then verified ``--runs`` times through :func:`docmgr.signatures.checking.verify`, the function
the upload and verification services call, with the service's limits and a trust anchor configured (so
the GOST figures include checking the issuer's signature on the signer's certificate):

* ``warm``: in a child of the verification template (the service's path; its first call starts the
  template, which imports pyHanko/gostcrypto and builds the curves once: ``first_call_s``);
* ``cold``: in a child of the uploads' fork server that imports the signature libraries itself (the path
  before the template, for comparison);
* ``in_process``: the same verification without a child.

Prints a JSON summary: median and max seconds per signature, and the pure-Python Стрибог time per 100 KB
of content (a GOST signature's cost grows with the signed PDF). Target: under 1 s each, warm.
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


def demo_mou_pdf(directory: Path) -> bytes:
    """The demo MoU's frozen PDF (else its last draft) from a fresh demo instance in ``directory``."""
    from sqlalchemy import select

    from docmgr import create_app
    from docmgr.demo import load_demo
    from docmgr.drafting.demo import DEMO_TITLE
    from docmgr.drafting.models import Agreement, Draft
    from docmgr.extensions import db

    app = create_app({
        "STORAGE_DIR": str(directory / "storage"), "INDEX_DIR": str(directory / "index"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{directory / 'demo.sqlite3'}", "SECRET_KEY": "bench",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    with app.app_context():
        db.create_all()
        load_demo()
        agreement = db.session.scalar(select(Agreement).where(Agreement.title == DEMO_TITLE))
        store = app.extensions["docmgr.store"]
        if agreement.frozen_pdf_sha256:
            return store.read(agreement.frozen_pdf_sha256)
        draft = db.session.scalars(select(Draft).where(Draft.agreement_id == agreement.id).order_by(Draft.version.desc())).first()
        return store.read(draft.pdf_sha256)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from docmgr.documents.sandbox import SandboxLimits
    from docmgr.limits import run_in_limited_child
    from docmgr.signatures import checking
    from docmgr.signatures.gost import streebog
    from tests.signatures import pki

    with tempfile.TemporaryDirectory(prefix="docmgr-signature-bench-") as temp:
        directory = Path(temp)
        pdf = demo_mou_pdf(directory)
        frozen = directory / "frozen.pdf"
        frozen.write_bytes(pdf)
        ca = pki.make_ca()
        rsa = pki.make_signer(ca, kind="rsa")
        gost256, gost512 = pki.make_gost_signer(256), pki.make_gost_signer(512)
        files = {
            "pades_rsa": ("pdf", _pades(pdf, rsa), None, rsa.ca_der),
            "cades_rsa_attached": (checking.CMS, pki.cades(rsa, pdf).dump(), None, rsa.ca_der),
            "gost_256_detached": (checking.CMS, pki.gost_cms(gost256, pdf).dump(), frozen, gost256.ca_der),
            "gost_512_detached": (checking.CMS, pki.gost_cms(gost512, pdf).dump(), frozen, gost512.ca_der),
        }
        limits = SandboxLimits()  # the service's defaults (DOCMGR_EXTRACTION_*)
        tasks = {}
        for name, (kind, data, pdf_path, anchor) in files.items():
            path = directory / name
            path.write_bytes(data)
            tasks[name] = dict(kind=kind, path=path, frozen_path=frozen, pdf_path=pdf_path, trust_roots=[anchor],
                               require_trusted=True, allow_fetching=False, limits=limits)

        def warm(task: dict) -> dict:
            return checking.verify(**task)

        def cold(task: dict) -> dict:  # the previous path: a fresh child of the uploads' fork server
            child_task = {**task, "path": str(task["path"]), "frozen_path": str(task["frozen_path"]),
                          "pdf_path": str(task["pdf_path"]) if task["pdf_path"] else None}
            del child_task["limits"]
            return run_in_limited_child(checking._verify_child, (child_task,), limits) or {}  # noqa: SLF001

        def in_process(task: dict) -> dict:
            return checking.verify(**task, in_child=False)

        start = time.perf_counter()
        first = warm(tasks["gost_512_detached"])
        first_call = time.perf_counter() - start
        assert first["valid"], first
        results: dict[str, dict] = {}
        for mode, run in (("warm", warm), ("cold", cold), ("in_process", in_process)):
            for name, task in tasks.items():
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    report = run(task)
                    times.append(time.perf_counter() - start)
                    assert report.get("valid") and report.get("trusted"), (mode, name, report)
                results.setdefault(name, {})[mode] = {"median_s": round(statistics.median(times), 3),
                                                      "max_s": round(max(times), 3)}
        checking.VERIFIER.close()
    start = time.perf_counter()
    streebog(b"\x00" * 100_000, 256)
    hashing = round(time.perf_counter() - start, 3)  # the GOST digest of the content grows with the PDF's size
    print(json.dumps({"pdf": "demo MoU (frozen)", "pdf_bytes": len(pdf), "runs": args.runs,
                      "first_call_s (template start + GOST-512)": round(first_call, 3),
                      "per_signature": results, "streebog_s_per_100kb": hashing}, indent=1))


if __name__ == "__main__":
    main()
