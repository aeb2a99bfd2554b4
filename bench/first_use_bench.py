"""The first upload and the first agreement render after a restart, through the real service: gunicorn (one
worker, reading gunicorn.conf.py like scripts/serve.sh) and the queue worker, started fresh on a temporary
instance (demo data), on a free loopback port. Prints a JSON summary.

    .venv/bin/python bench/first_use_bench.py [--modes warm,cold] [--runs 1]

For each start it measures:
- ready_s: from starting gunicorn until it answers (its workers warm up before accepting requests);
- demo_queue_drained_s: then until the worker has done the demo data's queued work (not timed below);
- first_upload_s: POST /api/v1/documents with a 1-page PDF (tests/data), the first upload of the instance;
- upload_processed_s: from that upload until GET …/processing says ready (indexing, thumbnail by the worker);
- first_render_s: POST /api/v1/agreements/ID/drafts of the demo MoU (PDF + DOCX), the first render;
- second_upload_s, second_render_s: the same again, for comparison.
Goals (issue 16): first 1-page PDF upload within 1 s, first MoU render within 1.5 s. "cold" sets DOCMGR_WARM_UP=0.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
PDF = REPO / "tests" / "data" / "pdf" / "sample-files_002-trivial-libre-office-writer.pdf"
PASSWORD = "demo-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(base: str, method: str, path: str, *, token: str | None = None, json_body: dict | None = None,
            data: bytes | None = None, content_type: str | None = None, timeout: float = 120) -> tuple[int, dict]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        data, content_type = json.dumps(json_body).encode(), "application/json"
    if content_type:
        headers["Content-Type"] = content_type
    for _attempt in range(20):  # 503 busy (SQLite's write lock held by the worker): retry as a client would
        req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                body = response.read()
                return response.status, (json.loads(body) if body else {})
        except urllib.error.HTTPError as error:
            answer = json.loads(error.read() or b"{}")
            if error.code != 503:
                return error.code, answer
            time.sleep(float(error.headers.get("Retry-After") or 1))
    return 503, answer


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, content in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def flask(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(PYTHON), "-m", "flask", "--app", "wsgi", "docmgr", *args], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def token(base: str, email: str) -> dict:
    status, answer = request(base, "POST", "/api/v1/auth/token", json_body={"email": email, "password": PASSWORD})
    if status != 201:
        raise RuntimeError(f"logging in as {email} answered {status}: {answer}")
    return answer


def draft_like(base: str, legal_token: str, demo_id: int) -> int:
    """A new draft MoU with the demo MoU's fields and signatories (the demo one may be out for signature)."""
    _, demo = request(base, "GET", f"/api/v1/agreements/{demo_id}", token=legal_token)
    signatories = [{k: s[k] for k in ("name", "title", "organization_id", "email") if s.get(k) is not None}
                   for s in demo["signatories"]]
    status, answer = request(base, "POST", "/api/v1/agreements", token=legal_token, json_body={
        "template": demo["template"]["key"], "title": demo["title"] + " (bench)", "organization_ids": demo["organization_ids"],
        "fields": demo["fields"], "signatories": signatories})
    if status != 201:
        raise RuntimeError(f"creating the MoU answered {status}: {answer}")
    return answer["id"]


def drain(base: str, admin_token: str, limit: float = 900) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        status, answer = request(base, "GET", "/api/v1/queue?status=pending", token=admin_token)
        if status == 200 and not answer.get("items"):
            return time.perf_counter() - started
        time.sleep(0.5)
    raise RuntimeError("the demo's queued work did not finish")


def upload(base: str, token: str, title: str) -> tuple[float, int]:
    body, content_type = multipart({"title_it": title, "kind": "proposal"}, [("file", "proposta.pdf", PDF.read_bytes())])
    started = time.perf_counter()
    status, answer = request(base, "POST", "/api/v1/documents", token=token, data=body, content_type=content_type)
    elapsed = time.perf_counter() - started
    if status != 201:
        raise RuntimeError(f"upload answered {status}: {answer}")
    return elapsed, answer["id"]


def processed(base: str, token: str, document_id: int, since: float, limit: float = 120) -> float:
    while time.perf_counter() - since < limit:
        status, answer = request(base, "GET", f"/api/v1/documents/{document_id}/processing", token=token)
        if status == 200 and answer["state"] == "ready":
            return time.perf_counter() - since
        time.sleep(0.05)
    return float("nan")


def render(base: str, token: str, agreement_id: int) -> float:
    started = time.perf_counter()
    status, answer = request(base, "POST", f"/api/v1/agreements/{agreement_id}/drafts", token=token)
    elapsed = time.perf_counter() - started
    if status != 201:
        raise RuntimeError(f"render answered {status}: {answer}")
    return elapsed


def one_start(mode: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="docmgr-first-use-") as tmp:
        env = {**os.environ, "DOCMGR_STORAGE_DIR": f"{tmp}/storage", "DOCMGR_INDEX_DIR": f"{tmp}/index",
               "DOCMGR_DATABASE_URL": f"sqlite:///{tmp}/docmgr.sqlite3", "DOCMGR_SECRET_KEY": "bench",
               "DOCMGR_WARM_UP": "1" if mode == "warm" else "0", "DOCMGR_OFFICE_PREVIEWS": "1"}
        flask(env, "init")
        flask(env, "demo")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        web = subprocess.Popen([str(REPO / ".venv" / "bin" / "gunicorn"), "--workers", "1", "--bind", f"127.0.0.1:{port}",
                                "--timeout", "120", "wsgi:app"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        worker = subprocess.Popen([str(PYTHON), "-m", "flask", "--app", "wsgi", "docmgr", "worker"], cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    with urllib.request.urlopen(base + "/login", timeout=120) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.05)
                if time.perf_counter() - started > 180:
                    raise RuntimeError("gunicorn did not answer within 180 s")
            ready = time.perf_counter() - started
            firm, legal = token(base, "firm.it@demo.docmgr.test"), token(base, "legal@demo.docmgr.test")
            admin = token(base, "admin@demo.docmgr.test")
            drained = drain(base, admin["token"])  # the demo's queued work (index, thumbnails): not ours to time
            _, agreements = request(base, "GET", "/api/v1/agreements", token=legal["token"])
            items = agreements["items"] if isinstance(agreements, dict) else agreements
            agreement_id = draft_like(base, legal["token"], items[0]["id"])

            first_upload, document_id = upload(base, firm["token"], "Prima proposta dopo il riavvio")
            upload_done = processed(base, firm["token"], document_id, time.perf_counter() - first_upload)
            first_render = render(base, legal["token"], agreement_id)
            second_upload, _ = upload(base, firm["token"], "Seconda proposta")
            second_render = render(base, legal["token"], agreement_id)
        finally:
            for process in (web, worker):
                process.terminate()
            for process in (web, worker):
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        return {"ready_s": round(ready, 3), "demo_queue_drained_s": round(drained, 3), "first_upload_s": round(first_upload, 3),
                "upload_processed_s": round(upload_done, 3), "first_render_s": round(first_render, 3),
                "second_upload_s": round(second_upload, 3), "second_render_s": round(second_render, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="warm,cold")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {}
    for mode in args.modes.split(","):
        try:
            results[mode] = [one_start(mode) for _ in range(args.runs)]
        except Exception as error:  # noqa: BLE001 - report the other mode's numbers anyway
            results[mode] = [{"error": str(error)}]
        print(f"{mode}: {results[mode]}", file=sys.stderr, flush=True)
    print(json.dumps({"goals": {"first_upload_s": 1.0, "first_render_s": 1.5}, "results": results}, indent=2))


if __name__ == "__main__":
    main()
