"""Upload throughput: documents per second through the real API (HTTP via Flask's test client),
text extraction, hashing, atomic storage and the database included, for text PDFs and DOCX files of
1 to 20 pages; then the time the worker takes for the work they queued (indexing, thumbnails). Prints
a JSON summary.

    .venv/bin/python bench/upload_bench.py [--per-size 10] [--pages 1,5,20]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CORPUS_TEXT = REPO / "tests" / "data" / "text"
FALLBACK_IT = "La cooperazione industriale tra i distretti italiani e le imprese russe cresce ogni anno."
FALLBACK_RU = "Промышленное сотрудничество между итальянскими округами и российскими предприятиями растёт."


def sentences() -> tuple[list[str], list[str]]:
    def load(name: str, fallback: str) -> list[str]:
        path = CORPUS_TEXT / name
        if path.exists():
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if len(line.strip()) > 40]
            if lines:
                return lines
        return [fallback]

    return load("PUD_it.txt", FALLBACK_IT), load("PUD_ru.txt", FALLBACK_RU)


def paragraphs_for(pages: int, pool: list[str], rng: random.Random) -> list[str]:
    # About 330 words a page in 10.5 pt: 5 paragraphs of 3 sentences.
    return [" ".join(rng.choice(pool) for _ in range(3)) for _ in range(pages * 5)]


def make_pdf(pages: int, pool: list[str], rng: random.Random) -> bytes:
    from markupsafe import escape

    from docmgr.pdf import html_to_pdf

    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs_for(pages, pool, rng))
    return html_to_pdf(f"<html><body><h1>Proposta</h1>{body}</body></html>")


def make_docx(pages: int, pool: list[str], rng: random.Random) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Proposta di partenariato", level=1)
    for paragraph in paragraphs_for(pages, pool, rng):
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-size", type=int, default=10, help="uploads per (type, page count)")
    parser.add_argument("--pages", default="1,5,20")
    args = parser.parse_args()

    from docmgr import create_app
    from docmgr.accounts.services import create_organization, create_user
    from docmgr.extensions import db

    rng = random.Random(42)
    pool_it, pool_ru = sentences()
    page_counts = [int(p) for p in args.pages.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="docmgr-bench-"))
    app = create_app({
        "STORAGE_DIR": str(tmp / "storage"), "INDEX_DIR": str(tmp / "index"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite3'}", "SECRET_KEY": "bench",
    })
    results = []
    with app.app_context():
        db.create_all()
        org = create_organization(db.session, None, name="Bench S.r.l.", country="IT")
        create_user(db.session, None, email="bench@example.org", password="bench-password", role="legal")
        db.session.commit()
        client = app.test_client()
        token = client.post("/api/v1/auth/token", json={"email": "bench@example.org", "password": "bench-password"}).get_json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        for kind, maker in (("pdf", make_pdf), ("docx", make_docx)):
            for pages in page_counts:
                files = [maker(pages, pool_it if i % 2 == 0 else pool_ru, rng) for i in range(args.per_size)]
                timings = []
                for i, data in enumerate(files):
                    start = time.perf_counter()
                    response = client.post(
                        "/api/v1/documents", headers=headers, content_type="multipart/form-data",
                        data={"title_it": f"Bench {kind} {pages}p {i}", "kind": "proposal", "sectors": "energy",
                              "organization_id": str(org.id), "file": (io.BytesIO(data), f"bench.{kind}")},
                    )
                    timings.append(time.perf_counter() - start)
                    if response.status_code != 201:
                        raise SystemExit(f"upload failed: {response.status_code} {response.get_data(as_text=True)}")
                results.append({
                    "type": kind, "pages": pages, "uploads": len(files),
                    "mean_bytes": int(statistics.mean(len(f) for f in files)),
                    "docs_per_second": round(len(timings) / sum(timings), 1),
                    "median_ms": round(statistics.median(timings) * 1000, 1),
                    "max_ms": round(max(timings) * 1000, 1),
                })
        # The follow-up work the uploads queued (indexing; thumbnails of the PDFs), run as `docmgr worker --once`.
        from docmgr.tasks.worker import run_due

        db.session.rollback()
        start = time.perf_counter()
        done = run_due(app)
        worker = {"tasks_done": done, "seconds": round(time.perf_counter() - start, 2)}
    print(json.dumps({"benchmark": "upload", "results": results, "worker": worker}, indent=2))


if __name__ == "__main__":
    main()
