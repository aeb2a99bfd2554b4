"""A real docmgr under gunicorn with several workers on a free loopback port, and a raw HTTP client that
keeps cookies by hand, so that a test can save a cookie and replay it later as an attacker would."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urlencode

from tests.conftest import REPO_ROOT

VENV_BIN = Path(sys.executable).parent
SECRET_KEY = "live-security-test-secret-key-0123456789"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMGR_")}
    env.update({
        "DOCMGR_STORAGE_DIR": str(data_dir / "storage"),
        "DOCMGR_INDEX_DIR": str(data_dir / "index"),
        "DOCMGR_DATABASE_URL": f"sqlite:///{data_dir / 'docmgr.sqlite3'}",
        "DOCMGR_SECRET_KEY": SECRET_KEY,
        "DOCMGR_OCR_THREAD": "0",
        "DOCMGR_SECURITY_LOG_PATH": str(data_dir / "security.log"),
        "NO_PROXY": "*", "no_proxy": "*",
        **extra,
    })
    return env


@dataclass
class Response:
    status: int
    headers: Message
    body: str

    def cookies(self) -> dict[str, str]:
        """Cookies this answer sets (name → the whole Set-Cookie line)."""
        return {line.split("=", 1)[0]: line for line in self.headers.get_all("Set-Cookie") or []}


class Browser:
    """Cookies kept in a plain dict: ``jar`` can be copied (saved) and put back (replayed)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.jar: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None, headers: dict | None = None,
                json_body: bytes | None = None) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        sent = {"Host": f"127.0.0.1:{self.port}", **(headers or {})}
        if self.jar:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json_body
            sent["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            response = Response(answer.status, answer.msg, answer.read().decode("utf-8", "replace"))
        finally:
            connection.close()
        for line in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if not value or "Max-Age=0" in line or "1970" in line:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response


class LiveServer:
    """``docmgr init``, then gunicorn with ``workers`` processes; stop() ends the process group."""

    def __init__(self, data_dir: Path, workers: int = 3, **env: str) -> None:
        self.data_dir = data_dir
        self.env = server_env(data_dir, **env)
        self.port = free_port()
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen | None = None
        self.workers = workers

    def run(self, *args: str) -> str:
        result = subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "docmgr", *args], cwd=REPO_ROOT,
                                env=self.env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def start(self) -> LiveServer:
        self.run("init")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "--workers", str(self.workers), "--bind", f"127.0.0.1:{self.port}",
                 "--timeout", "120", "wsgi:app"],
                cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                if self.browser().request("GET", "/login").status == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError("gunicorn did not start:\n" + self.log_path.read_text()[-3000:])

    def browser(self) -> Browser:
        return Browser(self.port)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
