"""Configuration: defaults, then DOCMGR_* environment overrides (see shared/design/API.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def _resolve(path: str) -> Path:
    """Relative paths in the configuration are relative to the repository root, not the CWD."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else (REPO_ROOT / candidate).resolve()


def _secret_key(storage_dir: Path, name: str = "secret_key") -> str:
    """A key generated once and kept beside the data (owner-only), so restarts keep sessions and tokens valid."""
    key_file = storage_dir / name
    if key_file.exists():
        return key_file.read_text().strip()
    storage_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    tmp = key_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    try:
        os.link(tmp, key_file)  # never replaces a key another process wrote first
    except FileExistsError:
        pass
    tmp.unlink(missing_ok=True)
    return key_file.read_text().strip()


def _engine_options(database_url: str, busy_timeout: float) -> dict[str, Any]:
    """SQLite: the busy timeout. PostgreSQL: the same wait as lock_timeout (a row or advisory lock held longer
    answers 503 with Retry-After, as SQLite's write lock does), and connections checked before use (a
    restarted server or a failed-over node leaves dead ones in the pool)."""
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": busy_timeout}}
    if database_url.startswith("postgresql"):
        return {"pool_pre_ping": True, "connect_args": {"options": f"-c lock_timeout={int(busy_timeout * 1000)}"}}
    return {}


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config from defaults, the environment and explicit overrides (tests)."""
    overrides = dict(overrides or {})
    env = os.environ
    storage_dir = _resolve(overrides.pop("STORAGE_DIR", None) or env.get("DOCMGR_STORAGE_DIR", "storage"))
    index_dir = _resolve(overrides.pop("INDEX_DIR", None) or env.get("DOCMGR_INDEX_DIR", "search_index"))
    database_url = overrides.pop("SQLALCHEMY_DATABASE_URI", None) or env.get(
        "DOCMGR_DATABASE_URL", f"sqlite:///{storage_dir / 'docmgr.sqlite3'}"
    )
    max_upload_mb = float(overrides.pop("MAX_UPLOAD_MB", None) or env.get("DOCMGR_MAX_UPLOAD_MB", "50"))
    busy_timeout = float(overrides.pop("DB_BUSY_TIMEOUT_SECONDS", None) or env.get("DOCMGR_DB_BUSY_TIMEOUT_SECONDS", "5"))
    secret_key = overrides.pop("SECRET_KEY", None) or env.get("DOCMGR_SECRET_KEY") or _secret_key(storage_dir)

    config: dict[str, Any] = {
        "STORAGE_DIR": storage_dir,
        "INDEX_DIR": index_dir,
        "SQLALCHEMY_DATABASE_URI": database_url,
        # Availability (issue 12): a writer waits at most this long for SQLite's write lock, then answers
        # 503 with Retry-After (docmgr.errors), instead of queueing for half a minute.
        "DB_BUSY_TIMEOUT_SECONDS": busy_timeout,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(database_url, busy_timeout),
        "SECRET_KEY": secret_key,
        "MAX_UPLOAD_MB": max_upload_mb,
        "MAX_UPLOAD_BYTES": int(max_upload_mb * 1024 * 1024),
        # Werkzeug refuses bodies above this before we read them; several files may share one request.
        "MAX_CONTENT_LENGTH": int(max_upload_mb * 1024 * 1024) * 4 + 1024 * 1024,
        # The edge (docmgr.request_limits): JSON bodies and form fields are bounded before anything reads them.
        "MAX_JSON_BYTES": int(float(env.get("DOCMGR_MAX_JSON_KB", "1024")) * 1024),
        "MAX_JSON_DEPTH": 32,
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,  # all non-file form fields of one request together
        # Behind N reverse proxies that set X-Forwarded-For/-Proto, DOCMGR_TRUSTED_PROXIES=N makes the
        # client's address the one the nearest proxy saw (werkzeug ProxyFix). 0 (default): no header trusted.
        "TRUSTED_PROXIES": int(env.get("DOCMGR_TRUSTED_PROXIES", "0") or 0),
        "SESSION_COOKIE_HTTPONLY": True,
        # Security (docmgr.accounts.sessions): a browser session ends this long after its login, whatever
        # the browser keeps; the cookie is also marked Secure on every https request.
        "SESSION_ABSOLUTE_LIFETIME_SECONDS": int(float(env.get("DOCMGR_SESSION_LIFETIME_HOURS", "12")) * 3600),
        "SESSION_COOKIE_SECURE": env.get("DOCMGR_SESSION_COOKIE_SECURE", "").lower() in ("1", "true", "yes"),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(REPO_ROOT / "docmgr" / "translations"),
        "LANGUAGES": ["it", "ru", "en"],
        "API_TOKEN_TTL_HOURS": 24,
        # Werkzeug's method string; scrypt is the current default. Tests use a cheaper setting only
        # because they create hundreds of users.
        "PASSWORD_HASH_METHOD": "scrypt",
        # Failed logins are throttled per (address, e-mail) pair (docmgr.accounts.services): after
        # LOGIN_MAX_FAILURES failures in a row, each further one locks the pair out for BASE * 2**k seconds
        # (at most MAX); failures older than the window are forgotten.
        "LOGIN_MAX_FAILURES": int(env.get("DOCMGR_LOGIN_MAX_FAILURES", "5")),
        "LOGIN_BACKOFF_BASE_SECONDS": float(env.get("DOCMGR_LOGIN_BACKOFF_BASE_SECONDS", "30")),
        "LOGIN_BACKOFF_MAX_SECONDS": float(env.get("DOCMGR_LOGIN_BACKOFF_MAX_SECONDS", str(60 * 60))),
        "LOGIN_FAILURE_WINDOW_SECONDS": 24 * 60 * 60,
        "TEMPLATES_DIR": REPO_ROOT / "templates",
        # The task queue (docmgr.tasks): Huey on SQLite in STORAGE_DIR/queue.sqlite3 unless DOCMGR_QUEUE_URL
        # names Redis (redis://host:6379/0). QUEUE_IMMEDIATE runs each task in the process that committed it,
        # right after the commit: only for unit tests (the TESTING default); never with a real worker.
        # Thumbnails of uploaded PDFs and images are rendered by the worker right away (a task per file), not on
        # the first page view; off in unit tests (each upload would start a rendering child).
        "THUMBNAILS_QUEUED": not overrides.get("TESTING"),
        # docmgr.warmup: web workers (gunicorn.conf.py) and `docmgr worker` start the fork server, load the
        # language model and render one small PDF before taking work, so the first upload is not slower.
        "WARM_UP": env.get("DOCMGR_WARM_UP", "0" if overrides.get("TESTING") else "1").lower() not in ("0", "false", "no"),
        # DOCX and ODT are converted to PDF by LibreOffice in the worker (docmgr.documents.conversion) for the
        # viewer and thumbnails; off in unit tests (each upload would start LibreOffice), on in their own tests.
        "OFFICE_PREVIEWS": env.get("DOCMGR_OFFICE_PREVIEWS", "0" if overrides.get("TESTING") else "1").lower()
        not in ("0", "false", "no"),
        "OFFICE_CONVERTER": env.get("DOCMGR_OFFICE_CONVERTER", "soffice"),
        "OFFICE_CONVERT_TIMEOUT_SECONDS": float(env.get("DOCMGR_OFFICE_CONVERT_TIMEOUT_SECONDS", "120")),
        "QUEUE_URL": env.get("DOCMGR_QUEUE_URL", ""),
        # The queue's name on the broker: every node of one instance uses the same; instances (or test runs)
        # sharing one Redis use different ones.
        "QUEUE_NAME": env.get("DOCMGR_QUEUE_NAME", "docmgr"),
        "QUEUE_IMMEDIATE": bool(overrides.get("TESTING")),
        "QUEUE_WORKERS": int(env.get("DOCMGR_QUEUE_WORKERS", "2")),  # consumer threads of `docmgr worker`
        "QUEUE_MAX_ATTEMPTS": int(env.get("DOCMGR_QUEUE_MAX_ATTEMPTS", "5")),  # then the task is dead
        "QUEUE_RETRY_SECONDS": float(env.get("DOCMGR_QUEUE_RETRY_SECONDS", "10")),  # doubled after each failure
        "QUEUE_RELAY_AFTER_SECONDS": 30.0,  # a row not done this long after its hand-off is handed over again
        "QUEUE_RELAY_INTERVAL_SECONDS": 2.0,  # how often the worker's relay looks for such rows
        "QUEUE_OVERDUE_SECONDS": float(env.get("DOCMGR_QUEUE_OVERDUE_SECONDS", "600")),  # `check` fails beyond
        # A deleted document stays restorable this long in the trash, then a periodic task purges it.
        "TRASH_DAYS": int(env.get("DOCMGR_TRASH_DAYS", "30")),
        "TRASH_BLOB_GRACE_SECONDS": 3600,  # a purged document's file stored again this recently is kept a while
        "QUEUE_KEEP_DONE_DAYS": 7,  # done rows are purged after this (a daily periodic task)
        # Test hook (tests/test_crash.py): exit the process right after a commit that recorded this task,
        # before handing it to the queue. Never set in production.
        "QUEUE_EXIT_AFTER_COMMIT": env.get("DOCMGR_QUEUE_EXIT_AFTER_COMMIT", ""),
        # Availability: a search running longer than this answers 422 search_timeout (0: no deadline).
        "SEARCH_TIMEOUT_SECONDS": float(env.get("DOCMGR_SEARCH_TIMEOUT_SECONDS", "5")),
        # The search backend (docmgr.search.indexers.make_engine): "whoosh" (INDEX_DIR, one machine) or
        # "postgres" (full-text search in the application's PostgreSQL database, for several nodes).
        "SEARCH_BACKEND": env.get("DOCMGR_SEARCH_BACKEND", "whoosh").strip().lower(),
        # Signatures (docmgr.signatures): PEM files of the CAs whose certificates count as trusted
        # (empty: every certificate is reported untrusted, integrity is still checked), and whether
        # an untrusted but intact signature over the right PDF is refused.
        "SIGNATURE_TRUST_ROOTS": [p for p in env.get("DOCMGR_SIGNATURE_TRUST_ROOTS", "").split(os.pathsep) if p],
        "SIGNATURE_REQUIRE_TRUSTED": env.get("DOCMGR_SIGNATURE_REQUIRE_TRUSTED", "").lower() in ("1", "true", "yes"),
        # Revocation (CAdES/PAdES): CRLs/OCSP answers embedded in a signature are always used; fetching them
        # from the CA's URLs is off by default (the service has no network).
        "SIGNATURE_REVOCATION_FETCH": env.get("DOCMGR_SIGNATURE_REVOCATION_FETCH", "").lower() in ("1", "true", "yes"),
        # `docmgr trust import` checks a TS 119 612 list's XML signature against this PEM certificate when set.
        "TRUST_LIST_SIGNER_CERT": env.get("DOCMGR_TRUST_LIST_SIGNER_CERT") or None,
        # OCR of scans (docmgr.documents.ocr, run by `docmgr worker`): off when disabled or when Tesseract is
        # missing (the tasks then wait).
        "OCR_ENABLED": env.get("DOCMGR_OCR_ENABLED", "1").lower() not in ("0", "false", "no"),
        "OCR_TESSERACT": env.get("DOCMGR_OCR_TESSERACT", "tesseract"),
        "OCR_LANGUAGES": "ita+rus",
        # Hardening (docmgr.documents.sandbox): text extraction of uploads runs in a child process with
        # these limits; a file that exceeds them is refused as too_complex. Off only for debugging.
        "EXTRACTION_SUBPROCESS": env.get("DOCMGR_EXTRACTION_SUBPROCESS", "1").lower() not in ("0", "false", "no"),
        "EXTRACTION_TIMEOUT_SECONDS": float(env.get("DOCMGR_EXTRACTION_TIMEOUT_SECONDS", "60")),
        "EXTRACTION_MEMORY_MB": int(env.get("DOCMGR_EXTRACTION_MEMORY_MB", "1024")),
        "EXTRACTION_CPU_SECONDS": int(env.get("DOCMGR_EXTRACTION_CPU_SECONDS", "30")),
        # Hardening (docmgr.security_log): JSON lines of security events go to this file, else to stderr.
        # Agreement template bodies render in a limited child process (docmgr.limits): a template whose loops
        # run longer than this is refused with its author told why.
        "TEMPLATE_RENDER_TIMEOUT_SECONDS": float(env.get("DOCMGR_TEMPLATE_RENDER_TIMEOUT_SECONDS", "10")),
        "SECURITY_LOG_PATH": env.get("DOCMGR_SECURITY_LOG_PATH") or None,
        # The audit chain's anchors outside the database (docmgr.audit.anchor): the key of every link's HMAC
        # (never stored in the database) and the append-only file of chain heads.
        # (empty: a random key in storage/audit_key, made on first use by docmgr.audit.anchor.audit_key)
        "AUDIT_KEY": env.get("DOCMGR_AUDIT_KEY", ""),
        # Outgoing mail (docmgr.mail): unset SMTP_HOST = messages are recorded ("not sent"), never sent.
        "SMTP_HOST": env.get("DOCMGR_SMTP_HOST", ""),
        "SMTP_PORT": int(env.get("DOCMGR_SMTP_PORT") or "25"),
        "SMTP_USER": env.get("DOCMGR_SMTP_USER", ""),
        "SMTP_PASSWORD": env.get("DOCMGR_SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": env.get("DOCMGR_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
        "SMTP_TIMEOUT_SECONDS": float(env.get("DOCMGR_SMTP_TIMEOUT_SECONDS", "30")),
        "MAIL_FROM": env.get("DOCMGR_MAIL_FROM", "docmgr@localhost"),
        # The base of every link written into a message (signing links…).
        "PUBLIC_URL": env.get("DOCMGR_PUBLIC_URL", "http://127.0.0.1:8000"),
        # Signing links (docmgr.signing): valid this many days; the e-mailed one-time code this many minutes;
        # this many wrong codes lock the link until legal sends a new invitation.
        "SIGNING_LINK_DAYS": float(env.get("DOCMGR_SIGNING_LINK_DAYS", "14")),
        # The inbox calls a signature overdue when its agreement went out this many days ago (with no sign-by date).
        "INBOX_SIGNATURE_WAIT_DAYS": float(env.get("DOCMGR_INBOX_SIGNATURE_WAIT_DAYS", "7")),
        "SIGNING_CODE_MINUTES": 15,
        # "Forgot password" links (docmgr.accounts.passwords): valid this long; at most this many requests an hour
        # per e-mail address and per client address (known addresses or not: the answer is the same).
        "PASSWORD_RESET_MINUTES": float(env.get("DOCMGR_PASSWORD_RESET_MINUTES", "60")),
        "PASSWORD_RESET_MAX_PER_EMAIL": 3,
        "PASSWORD_RESET_MAX_PER_ADDRESS": 10,
        "SIGNING_CODE_TRIES": 5,
        # The instance's PDF seal (docmgr.signatures.seal): PEM certificate and key that seal what is signed in
        # the browser; made (self-signed, key 0600) by `init` or on first use when the files are missing.
        "SEAL_CERT": str(_resolve(env.get("DOCMGR_SEAL_CERT") or str(storage_dir / "seal" / "seal-cert.pem"))),
        "SEAL_KEY": str(_resolve(env.get("DOCMGR_SEAL_KEY") or str(storage_dir / "seal" / "seal-key.pem"))),
        # Largest drawn signature (a PNG from the signing page's canvas).
        "SEAL_DRAWING_MAX_KB": 300,
        # Webhooks (docmgr.webhooks): one delivery waits at most this long for the endpoint's answer.
        "WEBHOOK_TIMEOUT_SECONDS": float(env.get("DOCMGR_WEBHOOK_TIMEOUT_SECONDS", "10")),
        # Reminders (docmgr.signing.flow): every this many days unless the agreement says otherwise; the
        # executed copy and certificate are attached to the completion mail up to this size (MB), linked beyond.
        "REMINDER_DAYS": int(env.get("DOCMGR_REMINDER_DAYS") or "3"),
        "MAIL_ATTACH_MAX_MB": float(env.get("DOCMGR_MAIL_ATTACH_MAX_MB") or "5"),
        "EXECUTED_LINK_DAYS": 30,  # the signed download links of a completion mail too large to attach
        # The clock of reminders and deadlines: a callable returning an aware UTC datetime (tests set one).
        "CLOCK": None,
        "AUDIT_HEADS_PATH": str(_resolve(env.get("DOCMGR_AUDIT_HEADS_PATH") or str(storage_dir / "audit_heads.jsonl"))),
    }
    config.update(overrides)
    return config
