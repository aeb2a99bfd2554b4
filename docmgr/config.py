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


def _secret_key(storage_dir: Path) -> str:
    """A key generated once and kept beside the data, so restarts keep sessions and tokens valid."""
    key_file = storage_dir / "secret_key"
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
    secret_key = overrides.pop("SECRET_KEY", None) or env.get("DOCMGR_SECRET_KEY") or _secret_key(storage_dir)

    config: dict[str, Any] = {
        "STORAGE_DIR": storage_dir,
        "INDEX_DIR": index_dir,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 30}} if database_url.startswith("sqlite") else {},
        "SECRET_KEY": secret_key,
        "MAX_UPLOAD_MB": max_upload_mb,
        "MAX_UPLOAD_BYTES": int(max_upload_mb * 1024 * 1024),
        # Werkzeug refuses bodies above this before we read them; several files may share one request.
        "MAX_CONTENT_LENGTH": int(max_upload_mb * 1024 * 1024) * 4 + 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(REPO_ROOT / "docmgr" / "translations"),
        "LANGUAGES": ["it", "ru", "en"],
        "API_TOKEN_TTL_HOURS": 24,
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_FAILURE_WINDOW_SECONDS": 15 * 60,
        "TEMPLATES_DIR": REPO_ROOT / "templates",
        "INDEX_SYNC": True,  # drain the index queue right after each committed request
    }
    config.update(overrides)
    return config
