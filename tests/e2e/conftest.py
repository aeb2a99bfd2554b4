"""End-to-end fixtures: the real service (gunicorn and the queue worker, SQLite, files, Whoosh, OCR) in a temporary folder,
driven by headless Chromium through Playwright.

The server is started once per test session, the way production runs it (``flask --app wsgi docmgr init``,
``… docmgr demo``, then ``gunicorn --workers 2 wsgi:app`` with gunicorn.conf.py's threaded workers), on a free
port of 127.0.0.1. Every page a test opens
goes through :class:`PageGuard`, which records each request, console error and CSP violation so that a test can
prove nothing left 127.0.0.1 and the pages ran cleanly.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import backends

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
DEMO_PASSWORD = "demo-password"
DEMO = {
    "admin": "admin@demo.docmgr.test",
    "legal": "legal@demo.docmgr.test",
    "legal2": "legal2@demo.docmgr.test",
    "ministry": "ministry@demo.docmgr.test",
    "firm_it": "firm.it@demo.docmgr.test",
    "firm_ru": "firm.ru@demo.docmgr.test",
}
SERVER_START_TIMEOUT = 60.0


def pytest_collection_modifyitems(config, items):
    """Without Chromium (or Playwright) the browser tests are skipped, saying why; everything else still runs."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (scripts/setup.sh installs the Debian 'chromium' package)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed in the virtualenv"
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.skip(reason=reason))


# --- the service --------------------------------------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    port: int
    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # the environment gunicorn and the worker run with

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCMGR_")}
    env.update({
        "DOCMGR_STORAGE_DIR": str(data_dir / "storage"),
        "DOCMGR_INDEX_DIR": str(data_dir / "index"),
        "DOCMGR_DATABASE_URL": f"sqlite:///{data_dir / 'docmgr.sqlite3'}",
        "DOCMGR_SECRET_KEY": "e2e-secret-key-not-for-production",
        "DOCMGR_SECURITY_LOG_PATH": str(data_dir / "security.log"),
        "FLASK_APP": "wsgi",
        # No proxies: every request of the test stays on 127.0.0.1.
        "NO_PROXY": "*", "no_proxy": "*",
    })
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    return env


def _run(args: list[str], env: dict[str, str], log) -> None:
    log.write(f"$ {' '.join(args)}\n".encode())
    log.flush()
    result = subprocess.run(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed with exit code {result.returncode}")


CREATE_SCHEMA = """
from docmgr import create_app
from docmgr.extensions import db
from docmgr.drafting.services import sync_templates
app = create_app()
with app.app_context():
    app.extensions["docmgr.store"].ensure()
    app.config["INDEX_DIR"].mkdir(parents=True, exist_ok=True)
    db.create_all()
    sync_templates(db.session)
    db.session.commit()
"""


def _create_schema(env: dict[str, str], log) -> None:
    """``docmgr init`` once a migration exists (the production path); before that, create_all + templates."""
    versions = REPO_ROOT / "docmgr" / "migrations" / "versions"
    if any(versions.glob("*.py")):
        _run([str(VENV_BIN / "flask"), "--app", "wsgi", "docmgr", "init"], env, log)
    else:
        _run([sys.executable, "-c", CREATE_SCHEMA], env, log)


def _wait_until_serving(url: str, process: subprocess.Popen, server: LiveServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with opener.open(f"{url}/login", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on {url} within {SERVER_START_TIMEOUT:.0f} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (master and workers), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def mailbox():
    """A real SMTP server (aiosmtpd) on loopback, the live server's outgoing mail server for the whole session:
    tests read the messages the worker sent (invitations, one-time codes, notifications)."""
    from aiosmtpd.controller import Controller

    from tests.mail.conftest import Mailbox

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, mailbox, request) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("e2e")
    env = {**_server_env(data_dir), **backends.server_env(request, data_dir)}  # PostgreSQL/Redis in CI's pass 2
    port = _free_port()
    # Mail goes to the session's SMTP server on loopback; e-mailed links point at this server.
    env.update({"DOCMGR_SMTP_HOST": "127.0.0.1", "DOCMGR_SMTP_PORT": str(mailbox.port),
                "DOCMGR_MAIL_FROM": "docmgr@e2e.example", "DOCMGR_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    server = LiveServer(url=f"http://127.0.0.1:{port}", port=port, data_dir=data_dir, log_path=data_dir / "server.log",
                        env=env)
    with server.log_path.open("ab") as log:
        _create_schema(env, log)
        _run([str(VENV_BIN / "flask"), "--app", "wsgi", "docmgr", "demo"], env, log)
        process = subprocess.Popen(  # gunicorn.conf.py (read from cwd): threaded workers, warmed up
            [str(VENV_BIN / "gunicorn"), "--workers", "2",
             "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--access-logfile", "-", "wsgi:app"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        worker = subprocess.Popen(  # the queue worker beside gunicorn, as scripts/serve.sh runs it
            [str(VENV_BIN / "flask"), "--app", "wsgi", "docmgr", "worker"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_until_serving(server.url, process, server)
        yield server
    finally:
        _stop(process)
        _stop(worker)


# --- the browser ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Reported to the page guard by every document: the page's own CSP violations (securitypolicyviolation events).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (event) {
  window.__docmgrReportCsp(event.violatedDirective + " " + (event.blockedURI || "inline") + " on " + document.URL);
});
"""


@dataclass
class PageGuard:
    """What a page did that a test must check: requests, console errors, CSP violations."""

    origin: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    expected_errors: list[str] = field(default_factory=list)  # substrings of console errors a test provoked

    def expect_console_error(self, substring: str) -> None:
        self.expected_errors.append(substring)

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.origin + "/")]

    def unexpected_console_errors(self) -> list[str]:
        return [e for e in self.console_errors if not any(s in e for s in self.expected_errors)]

    def assert_clean(self) -> None:
        assert self.foreign_requests() == [], "requests left 127.0.0.1"
        assert self.csp_violations == [], "CSP violations"
        assert self.unexpected_console_errors() == [], "console errors"
        assert self.page_errors == [], "uncaught JavaScript errors"


@dataclass
class BrowserSession:
    """One logged-in (or anonymous) browser: its own context, cookies and page."""

    context: object
    page: object
    guard: PageGuard
    server: LiveServer

    def goto(self, path: str):
        response = self.page.goto(self.server.url + path)
        return response


@pytest.fixture
def open_browser(chromium, live_server) -> Iterator[Callable[..., BrowserSession]]:
    """Returns open(user=None, viewport=None) → a BrowserSession; logs in through the form when a demo user is given.

    Each session's requests, console errors and CSP violations are checked when the test ends (and a test may
    call ``session.guard.assert_clean()`` itself at any point)."""
    sessions: list[BrowserSession] = []

    def open_(user: str | None = None, *, viewport: dict | None = None, locale: str = "en-GB") -> BrowserSession:
        context = chromium.new_context(
            base_url=live_server.url, viewport=viewport or {"width": 1280, "height": 900}, locale=locale,
            accept_downloads=True, service_workers="block",
        )
        context.set_default_timeout(15_000)
        guard = PageGuard(origin=live_server.url)
        context.expose_function("__docmgrReportCsp", lambda report: guard.csp_violations.append(report))
        context.add_init_script(CSP_LISTENER)
        # Safety net: a request for anything but the live server is recorded (and fails the test) and aborted,
        # so that even a bug never reaches the network.
        context.route(lambda url: not url.startswith(live_server.url + "/"), lambda route: route.abort())
        page = context.new_page()
        page.on("request", lambda request: guard.requests.append(request.url))
        page.on("console", lambda msg: guard.console_errors.append(f"{msg.text} @ {msg.location.get('url')}")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: guard.page_errors.append(str(exc)))
        session = BrowserSession(context=context, page=page, guard=guard, server=live_server)
        sessions.append(session)
        if user is not None:
            login(session, DEMO[user])
        return session

    yield open_
    try:
        for session in sessions:
            session.guard.assert_clean()
    finally:
        for session in sessions:
            session.context.close()


def login(session: BrowserSession, email: str, password: str = DEMO_PASSWORD) -> None:
    page = session.page
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def shot(request) -> Callable[[object, str], Path]:
    """shot(page, step) saves a full-page screenshot as test-artifacts/screenshots/<test>-<step>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")

    def take(page, step: str) -> Path:
        path = SCREENSHOTS / f"{test_name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="session")
def admin_api(live_server):
    """A bearer-token API client for the demo administrator (to look up ids the browser user must not see)."""
    import json

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(method: str, path: str, body: dict | None = None, token: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(live_server.url + "/api/v1" + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read())

    token = call("POST", "/auth/token", {"email": DEMO["admin"], "password": DEMO_PASSWORD})["token"]
    return lambda path: call("GET", path, token=token)


def tesseract_ready() -> bool:
    return shutil.which("tesseract") is not None
