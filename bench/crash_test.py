#!/usr/bin/env python
"""Load-and-fault test: gunicorn and the queue worker under concurrent uploads (scans among them),
searches and draft renders, both killed with SIGKILL (master, workers and the queue worker) in the middle,
restarted; then every upload that was answered 201 must be intact (same bytes, same SHA-256), searchable
and (scans) OCR'd, no stored object may have a wrong hash, and `docmgr check` must pass (nothing overdue
or dead in the queue, the index equal to the database). Prints a JSON summary (requests per second, errors; connection errors while
the server was down are counted apart). Loopback only; every loop is bounded; the script stops by itself.

    .venv/bin/python bench/crash_test.py                    # the full run (about a minute)
    .venv/bin/python bench/crash_test.py --quick            # the reduced run tests/test_crash.py uses
    .venv/bin/python bench/crash_test.py --keep DIR         # keep the data folder for inspection

Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import random
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
HOST = "127.0.0.1"
PASSWORD = "crash-test-password"


@dataclass
class Settings:
    workers: int = 3
    upload_threads: int = 4
    search_threads: int = 1
    render_threads: int = 1
    scan_threads: int = 1  # uploads of image-only scans (PNG) that the worker must OCR
    seconds_before_kill: float = 12.0
    seconds_after_restart: float = 10.0
    drain_seconds: float = 60.0  # how long the worker may take to catch up after the load (index, OCR)
    request_timeout: float = 60.0
    hostile_upload: bool = True  # one crafted PDF that would stall a worker without the extraction sandbox

    @classmethod
    def quick(cls) -> Settings:
        return cls(upload_threads=3, seconds_before_kill=5.0, seconds_after_restart=4.0, drain_seconds=60.0)


# --- payloads: real small PDF, DOCX and TXT files, each with a word no other file has ---------------


def unique_word() -> str:
    return "zq" + "".join(random.choices(string.ascii_lowercase, k=10))


def serialise_pdf(objects: list[bytes], header: bytes) -> bytes:
    """Number the objects from 1 (object 1 is the catalog), write them, the xref table and the trailer."""
    out = bytearray(header)
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def text_payload(word: str) -> tuple[str, bytes]:
    return f"{word}.txt", f"Proposta di cooperazione industriale {word} nel distretto.\n".encode()


def pdf_payload(word: str) -> tuple[str, bytes]:
    """A one-page PDF with real text (Helvetica), written by hand: no renderer needed per upload."""
    content = zlib.compress(f"BT /F1 14 Tf 72 720 Td (Accordo di partenariato {word}) Tj ET".encode())
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    return f"{word}.pdf", serialise_pdf(objects, header=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")


def docx_payload(word: str) -> tuple[str, bytes]:
    import docx

    document = docx.Document()
    document.add_paragraph(f"Memorandum d'intesa {word} tra le imprese del distretto.")
    out = io.BytesIO()
    document.save(out)
    return f"{word}.docx", out.getvalue()


def scan_payload(word: str) -> tuple[str, bytes]:
    """An image-only page (PNG, no text layer): the upload queues OCR; the title carries the unique word."""
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("L", (1240, 400), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(REPO / "docmgr" / "static" / "fonts" / "DejaVuSans.ttf"), 48)
    draw.text((60, 80), "Accordo di collaborazione", font=font, fill=0)
    draw.text((60, 200), "tra distretti industriali", font=font, fill=0)
    out = io.BytesIO()
    page.save(out, "PNG")
    return f"{word}.png", out.getvalue()


def hostile_pdf(pages: int = 50) -> bytes:
    """Pages sharing one content stream of ~2 million operators: minutes of parsing, within pypdf's limits."""
    content = zlib.compress(b"BT /F1 12 Tf (x) Tj ET\n" + b"q Q\n" * 990_000, 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R "
          b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + pages) for _ in range(pages)],
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return serialise_pdf(objects, header=b"%PDF-1.7\n")


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for filename, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# --- the server and the command line ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn in its own session (process group), so one killpg reaches the master and every worker."""

    def __init__(self, env: dict[str, str], port: int, workers: int, log_path: Path) -> None:
        self.env, self.port, self.workers, self.log_path = env, port, workers, log_path
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout: float = 60.0) -> float:
        started = time.monotonic()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--workers", str(self.workers), "--bind", f"{HOST}:{self.port}",
             "--timeout", "120", "wsgi:app"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = started + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                status, _ = request(self.port, "GET", "/api/v1/openapi.json", timeout=2)
                if status == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer in time")

    def kill(self) -> None:
        """SIGKILL to the whole group: master, workers and their extraction children, mid-request."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass


class Worker:
    """`docmgr worker` (the queue consumer and relay) in its own session, killed and restarted like gunicorn."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "flask"), "--app", "wsgi", "docmgr", "worker"], cwd=REPO, env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL to its group: the worker and the rendering/Tesseract children it may be running."""
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass


def run_cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "docmgr", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docmgr {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result


def init_schema(env: dict[str, str]) -> str:
    """`docmgr init` once the Alembic migration exists; until then create_all (and the data folders)."""
    if any((REPO / "docmgr" / "migrations" / "versions").glob("*.py")):
        run_cli(env, "init")
        return "docmgr init"
    code = "from docmgr import create_app\nfrom docmgr.extensions import db\napp = create_app()\n" \
           "with app.app_context():\n    db.create_all()\n"
    subprocess.run([str(BIN / "python"), "-c", code], cwd=REPO, env=env, check=True, capture_output=True, timeout=120)
    return "create_all"


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 60.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- the load ------------------------------------------------------------------------------------------------


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    ok: Counter = field(default_factory=Counter)  # kind -> answered as expected
    http_errors: Counter = field(default_factory=Counter)  # "kind:status"
    busy: Counter = field(default_factory=Counter)  # kind -> 503 "busy" answers, each sent again
    connection_errors_outage: Counter = field(default_factory=Counter)  # while the server was down
    connection_errors_other: Counter = field(default_factory=Counter)
    uploads: list[dict] = field(default_factory=list)  # every 201: what we sent and what came back
    scans: list[dict] = field(default_factory=list)  # the 201 scans among them
    drafts: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    def __init__(self, port: int, settings: Settings, firm_token: str, legal_token: str,
                 agreement_id: int | None, search_path: str) -> None:
        self.port, self.settings = port, settings
        self.firm = {"Authorization": f"Bearer {firm_token}"}
        self.legal = {"Authorization": f"Bearer {legal_token}"}
        self.agreement_id, self.search_path = agreement_id, search_path
        self.stats = Stats()
        self.stop = threading.Event()
        self.server_down = threading.Event()

    def _count_connection_error(self, kind: str) -> None:
        with self.stats.lock:
            target = self.stats.connection_errors_outage if self.server_down.is_set() else \
                self.stats.connection_errors_other
            target[kind] += 1

    def _call(self, kind: str, method: str, path: str, body=None, headers=None, expect=(200,)):
        for _attempt in range(3):
            try:
                status, data = request(self.port, method, path, body, headers, timeout=self.settings.request_timeout)
            except (OSError, http.client.HTTPException):
                self._count_connection_error(kind)
                time.sleep(0.05)
                return None, None
            if status != 503 or b'"busy"' not in data:
                break
            # SQLite's write lock was not free within the busy timeout: the contract's answer is 503 "busy"
            # with Retry-After, nothing saved; a client sends the request again. Counted, and reported.
            with self.stats.lock:
                self.stats.busy[kind] += 1
            time.sleep(1.0)
        with self.stats.lock:
            if status in expect:
                self.stats.ok[kind] += 1
            else:
                self.stats.http_errors[f"{kind}:{status}"] += 1
        return status, data

    def uploader(self, number: int, makers=(text_payload, pdf_payload, docx_payload), pause: float = 0.0) -> None:
        iteration = 0
        while not self.stop.is_set() and iteration < 100_000:
            iteration += 1
            word = unique_word()
            filename, data = makers[(number + iteration) % len(makers)](word)
            time.sleep(pause)
            body, content_type = multipart({"title_it": f"Proposta {word}", "kind": "proposal"}, [(filename, data)])
            status, answer = self._call("upload", "POST", "/api/v1/documents", body,
                                        {**self.firm, "Content-Type": content_type}, expect=(201,))
            if status == 201:
                document = json.loads(answer)
                with self.stats.lock:
                    self.stats.uploads.append({
                        "word": word, "document_id": document["id"], "file_id": document["files"][0]["id"],
                        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                        "answered_sha256": document["files"][0]["sha256"], "data": data,
                    })
                    if filename.endswith(".png"):
                        self.stats.scans.append(self.stats.uploads[-1])

    def searcher(self) -> None:
        iteration = 0
        while not self.stop.is_set() and iteration < 100_000:
            iteration += 1
            with self.stats.lock:
                word = random.choice(self.stats.uploads)["word"] if self.stats.uploads else "proposta"
            path = f"/api/v1/search?q={word}" if self.search_path == "search" else "/api/v1/documents?per_page=20"
            self._call("search", "GET", path, headers=self.firm)

    def renderer(self) -> None:
        iteration = 0
        while not self.stop.is_set() and iteration < 10_000:
            iteration += 1
            status, answer = self._call("render", "POST", f"/api/v1/agreements/{self.agreement_id}/drafts", b"{}",
                                        {**self.legal, "Content-Type": "application/json"}, expect=(201,))
            if status == 201:
                with self.stats.lock:
                    self.stats.drafts.append(json.loads(answer))

    def threads(self) -> list[threading.Thread]:
        workers = [threading.Thread(target=self.uploader, args=(i,), daemon=True)
                   for i in range(self.settings.upload_threads)]
        workers += [threading.Thread(target=self.uploader, args=(i, (scan_payload,), 1.0), daemon=True)
                    for i in range(self.settings.scan_threads)]
        workers += [threading.Thread(target=self.searcher, daemon=True) for _ in range(self.settings.search_threads)]
        if self.agreement_id is not None:
            workers += [threading.Thread(target=self.renderer, daemon=True) for _ in range(self.settings.render_threads)]
        return workers


def token(port: int, email: str) -> str:
    status, data = request(port, "POST", "/api/v1/auth/token",
                           json.dumps({"email": email, "password": PASSWORD}).encode(),
                           {"Content-Type": "application/json"})
    if status != 201:
        raise RuntimeError(f"login of {email} failed: {status} {data[:200]!r}")
    return json.loads(data)["token"]


def create_agreement(port: int, legal: dict, org_ids: list[int]) -> int | None:
    """A draft MoU whose drafts the renderers render, if the drafting API and its templates are there."""
    status, data = request(port, "GET", "/api/v1/templates", headers=legal)
    if status != 200 or not any(t.get("key") == "mou" for t in json.loads(data)):
        return None
    payload = {
        "template": "mou", "title": "MoU crash test", "organization_ids": org_ids,
        "fields": {"effective_date": "2014-05-15", "duration_years": 3, "notice_days": 60, "budget_eur": 250000,
                   "coordinator": org_ids[0], "signing_place_it": "Torino", "signing_place_ru": "Турин",
                   "subject_it": "linee di assemblaggio", "subject_ru": "сборочные линии"},
        "signatories": [{"name": "Marco Bianchi", "title": "Amministratore", "organization_id": org_ids[0]},
                        {"name": "Анна Смирнова", "title": "Директор", "organization_id": org_ids[1]}],
    }
    status, data = request(port, "POST", "/api/v1/agreements", json.dumps(payload).encode(),
                           {**legal, "Content-Type": "application/json"})
    return json.loads(data)["id"] if status == 201 else None


# --- verification ----------------------------------------------------------------------------------------------


def verify_uploads(port: int, firm: dict, uploads: list[dict]) -> dict:
    intact = damaged = missing = 0
    problems = []
    for upload in uploads:
        path = f"/api/v1/documents/{upload['document_id']}/files/{upload['file_id']}/content"
        status, data = request(port, "GET", path, headers=firm)
        if status != 200:
            missing += 1
            problems.append(f"{path}: {status}")
        elif data != upload["data"] or hashlib.sha256(data).hexdigest() != upload["sha256"] \
                or upload["answered_sha256"] != upload["sha256"]:
            damaged += 1
            problems.append(f"{path}: bytes differ")
        else:
            intact += 1
    return {"checked": len(uploads), "intact": intact, "damaged": damaged, "missing": missing,
            "problems": problems[:20]}


def verify_search(port: int, firm: dict, uploads: list[dict], drain_seconds: float) -> dict:
    """Every 201 upload is found by its unique word, once the index queue has drained (bounded wait)."""
    pending = {u["word"]: u["document_id"] for u in uploads}
    deadline = time.monotonic() + drain_seconds
    rounds = 0
    while pending and time.monotonic() < deadline:
        rounds += 1
        for word, document_id in list(pending.items()):
            status, data = request(port, "GET", f"/api/v1/search?q={word}", headers=firm)
            if status == 200 and document_id in [hit["document_id"] for hit in json.loads(data)["hits"]]:
                del pending[word]
        if pending:
            time.sleep(1.0)
    return {"checked": len(uploads), "found": len(uploads) - len(pending), "not_found": sorted(pending)[:20],
            "rounds": rounds}


def verify_ocr(port: int, firm: dict, scans: list[dict], drain_seconds: float) -> dict:
    """Every 201 scan gets its text recognised by the worker (bounded wait), and is found by a recognised word."""
    pending = {u["document_id"] for u in scans}
    statuses: dict[int, str] = {}
    deadline = time.monotonic() + drain_seconds
    while pending and time.monotonic() < deadline:
        for document_id in list(pending):
            status, data = request(port, "GET", f"/api/v1/documents/{document_id}", headers=firm)
            if status == 200:
                statuses[document_id] = json.loads(data)["files"][0]["text_status"]
                if statuses[document_id] == "ocr_done":
                    pending.discard(document_id)
        if pending:
            time.sleep(1.0)
    found_by_text = set()
    if scans and not pending:
        deadline = time.monotonic() + drain_seconds
        while time.monotonic() < deadline:
            status, data = request(port, "GET", "/api/v1/search?q=collaborazione&per_page=100", headers=firm)
            if status == 200:
                found_by_text = {hit["document_id"] for hit in json.loads(data)["hits"]}
            if {u["document_id"] for u in scans} <= found_by_text:
                break
            time.sleep(1.0)
    return {"checked": len(scans), "ocr_done": len(scans) - len(pending),
            "found_by_recognised_text": len({u["document_id"] for u in scans} & found_by_text),
            "not_done": {i: statuses.get(i) for i in sorted(pending)[:20]}}


def verify_drafts(port: int, legal: dict, drafts: list[dict]) -> dict:
    intact = 0
    problems = []
    for draft in drafts:
        for kind in ("pdf", "docx"):
            status, data = request(port, "GET", draft[f"{kind}_url"], headers=legal)
            if status == 200 and hashlib.sha256(data).hexdigest() == draft[f"{kind}_sha256"]:
                intact += 1
            else:
                problems.append(f"{draft[f'{kind}_url']}: {status}")
    return {"checked": 2 * len(drafts), "intact": intact, "problems": problems[:20]}


def verify_storage(storage: Path) -> dict:
    """Nothing under objects/ may have a hash other than its name; tmp/ may hold leftovers of killed writes."""
    checked = bad = 0
    bad_names = []
    for path in (storage / "objects").glob("*/*/*"):
        checked += 1
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != path.name:
            bad += 1
            bad_names.append(str(path.relative_to(storage)))
    leftovers = sum(1 for _ in (storage / "tmp").iterdir()) if (storage / "tmp").is_dir() else 0
    return {"objects_checked": checked, "objects_bad": bad, "bad": bad_names[:20], "tmp_leftovers": leftovers}


# --- the run ---------------------------------------------------------------------------------------------------


def run(settings: Settings, workdir: Path, extra_env: dict[str, str] | None = None) -> dict:
    """``extra_env``: DOCMGR_* settings over the defaults, e.g. DOCMGR_DATABASE_URL of PostgreSQL and
    DOCMGR_QUEUE_URL of Redis (tests/test_crash.py in CI's second pass)."""
    env = {
        **os.environ,
        "DOCMGR_STORAGE_DIR": str(workdir / "storage"),
        "DOCMGR_INDEX_DIR": str(workdir / "index"),
        "DOCMGR_DATABASE_URL": f"sqlite:///{workdir / 'docmgr.sqlite3'}",
        "DOCMGR_SECRET_KEY": "crash-test-secret",
        "DOCMGR_EXTRACTION_TIMEOUT_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    summary: dict = {"settings": asdict(settings), "workdir": str(workdir)}
    summary["schema"] = init_schema(env)
    org_it = int(run_cli(env, "create-org", "--name", "Crash Test S.r.l.", "--country", "IT").stdout.split()[-1])
    org_ru = int(run_cli(env, "create-org", "--name", "OOO Crash Test", "--country", "RU").stdout.split()[-1])
    run_cli(env, "create-user", "--email", "firm@crash.test", "--password", PASSWORD, "--role", "firm",
            "--org", "Crash Test S.r.l.")
    run_cli(env, "create-user", "--email", "legal@crash.test", "--password", PASSWORD, "--role", "legal")

    server = Server(env, free_port(), settings.workers, workdir / "gunicorn.log")
    worker = Worker(env, workdir / "worker.log")
    try:
        worker.start()
        summary["startup_seconds"] = round(server.start(), 2)
        firm_token, legal_token = token(server.port, "firm@crash.test"), token(server.port, "legal@crash.test")
        legal = {"Authorization": f"Bearer {legal_token}"}
        status, _ = request(server.port, "GET", "/api/v1/search?q=probe", headers=legal)
        search_path = "search" if status == 200 else "documents"
        agreement_id = create_agreement(server.port, legal, [org_it, org_ru])
        summary["exercised"] = {"search_api": search_path == "search", "draft_renders": agreement_id is not None}

        load = Load(server.port, settings, firm_token, legal_token, agreement_id, search_path)
        threads = load.threads()
        for thread in threads:
            thread.start()
        time.sleep(settings.seconds_before_kill)
        load.server_down.set()
        killed_at = time.monotonic()
        server.kill()
        worker.kill()
        worker.start()
        summary["restart_seconds"] = round(server.start(ready_timeout=180.0), 2)  # 60 s was flaky on a loaded CI machine
        load.server_down.clear()
        summary["outage_seconds"] = round(time.monotonic() - killed_at, 2)

        if settings.hostile_upload:
            body, content_type = multipart({"title_it": "Bilancio"}, [("bilancio.pdf", hostile_pdf())])
            started = time.monotonic()
            status, answer = request(server.port, "POST", "/api/v1/documents", body,
                                     {**load.firm, "Content-Type": content_type})
            summary["hostile_upload"] = {
                "status": status, "code": json.loads(answer).get("error", {}).get("code") if status >= 400 else None,
                "seconds": round(time.monotonic() - started, 2),
            }
        time.sleep(settings.seconds_after_restart)
        load.stop.set()
        for thread in threads:
            thread.join(timeout=settings.request_timeout + 5)
        elapsed = time.monotonic() - load.stats.started
        stats = load.stats

        summary["requests"] = {
            "elapsed_seconds": round(elapsed, 2),
            "ok": dict(stats.ok),
            "per_second": {kind: round(count / elapsed, 2) for kind, count in stats.ok.items()},
            "total_per_second": round(sum(stats.ok.values()) / elapsed, 2),
            "http_errors": dict(stats.http_errors),
            "busy_then_sent_again": dict(stats.busy),
            "connection_errors_during_outage": dict(stats.connection_errors_outage),
            "connection_errors_otherwise": dict(stats.connection_errors_other),
        }
        summary["uploads"] = verify_uploads(server.port, load.firm, stats.uploads)
        if search_path == "search":
            summary["search"] = verify_search(server.port, load.firm, stats.uploads, settings.drain_seconds)
        summary["ocr"] = verify_ocr(server.port, load.firm, stats.scans, settings.drain_seconds)
        summary["drafts"] = verify_drafts(server.port, legal, stats.drafts)
    finally:
        server.stop()
        worker.stop()
    summary["storage"] = verify_storage(workdir / "storage")
    check = run_cli(env, "check", check=False)
    summary["check"] = {"exit_code": check.returncode, "output": check.stdout.strip().splitlines()[-6:]}
    failures = []
    if summary["uploads"]["checked"] == 0:
        failures.append("no upload succeeded")
    if summary["uploads"]["intact"] != summary["uploads"]["checked"]:
        failures.append("an upload answered 201 is missing or damaged")
    if "search" in summary and summary["search"]["found"] != summary["search"]["checked"]:
        failures.append("an upload answered 201 is not searchable")
    if summary["ocr"]["ocr_done"] != summary["ocr"]["checked"] \
            or summary["ocr"]["found_by_recognised_text"] != summary["ocr"]["checked"]:
        failures.append("a scan answered 201 was not OCR'd or is not found by its recognised text")
    if summary["drafts"]["intact"] != summary["drafts"]["checked"]:
        failures.append("a rendered draft is missing or damaged")
    if summary["storage"]["objects_bad"]:
        failures.append("a stored object has the wrong hash")
    if summary["check"]["exit_code"] != 0:
        failures.append("docmgr check failed")
    if stats.http_errors:
        failures.append("requests failed with HTTP errors")
    hostile = summary.get("hostile_upload")
    if hostile and (hostile["status"], hostile["code"]) != (422, "too_complex"):
        failures.append("the hostile upload was not refused as too_complex")
    summary["failures"] = failures
    summary["passed"] = not failures
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the reduced run used by the test suite")
    parser.add_argument("--keep", type=Path, help="use (and keep) this folder for the data")
    args = parser.parse_args()
    settings = Settings.quick() if args.quick else Settings()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        summary = run(settings, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="docmgr-crash-") as workdir:
            summary = run(settings, Path(workdir))
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
