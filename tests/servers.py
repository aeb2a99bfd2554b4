"""Real servers for the tests, from Debian's packages, private to one test run: PostgreSQL and Redis on loopback.

Each server lives in a temporary folder, listens on a free port of 127.0.0.1 and is stopped at the end. Set
DOCMGR_TEST_POSTGRES_URL (a URL of a role that may CREATE DATABASE, e.g. postgresql+psycopg://docmgr@127.0.0.1:5432/postgres)
or DOCMGR_TEST_REDIS_URL to use servers started elsewhere (`.ci/run`'s second pass does, to share them).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PG_SUPERUSER = "docmgr"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    return None


def _as_unprivileged(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: CI runs as root, so the server runs as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@dataclass
class PostgresServer:
    root: Path
    port: int
    process_dir: Path
    bindir: Path | None = None
    external_url: str | None = None
    keep: bool = False  # a cluster in a folder of the caller's: stopped cleanly, never deleted
    shared: bool = False  # found running (another process started it): left running
    _databases: list[str] = field(default_factory=list)

    @property
    def admin_url(self) -> str:
        return self.external_url or f"postgresql+psycopg://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg  # the driver SQLAlchemy uses too

        dsn = self.admin_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database with the extensions docmgr uses; returns its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE template_docmgr')
        self._databases.append(name)
        return self.url_for(name)

    def drop_database(self, url: str) -> None:
        name = url.rpartition("/")[2]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def prepare_template(self) -> None:
        """template_docmgr: a template database with unaccent (and rum when installed) already created."""
        import psycopg

        dsn = self.admin_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'template_docmgr'").fetchone()
            if not exists:
                conn.execute('CREATE DATABASE "template_docmgr"')
        with psycopg.connect(self.url_for("template_docmgr").replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
            available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'rum'").fetchone()
            if available:
                conn.execute("CREATE EXTENSION IF NOT EXISTS rum")

    def stop(self) -> None:
        if self.external_url or self.bindir is None or self.shared:
            return
        subprocess.run(
            _as_unprivileged([str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                              "fast" if self.keep else "immediate", "stop"]),
            capture_output=True,
            check=False,
        )
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def _run(cmd: list[str]) -> None:
    done = subprocess.run(_as_unprivileged(cmd), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stdout}{done.stderr}")


def _running_port(data: Path) -> int | None:
    """The port of the server running on ``data`` (its postmaster.pid names a live process), else None."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
        os.kill(int(lines[0]), 0)
        return int(lines[3])
    except (OSError, ValueError, IndexError):
        return None


def start_postgres(root: Path | None = None, settings: dict[str, str] | None = None) -> PostgresServer:
    """initdb + pg_ctl start of a private cluster in a new temporary folder (trust auth, loopback only, fsync off).

    The folder is made with tempfile (not pytest's tmp_path, which root keeps private) so that the `postgres` user
    can own it when the tests run as root. ``root``: a folder of the caller's instead, kept when stopped (a cluster
    found there is started again, with its databases); ``settings``: more server settings (``name`` → value)."""
    external = os.environ.get("DOCMGR_TEST_POSTGRES_URL")
    if external:
        server = PostgresServer(root=Path(tempfile.gettempdir()), port=0, process_dir=Path("."), external_url=external)
        server.prepare_template()
        return server
    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed: `bash scripts/setup.sh` installs Debian's postgresql-15")
    keep = root is not None
    root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="docmgr-pg-"))
    data, sockets = root / "data", root / "sock"
    root.mkdir(parents=True, exist_ok=True)
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        uid, gid = pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid
        for path in (root, sockets):
            os.chown(path, uid, gid)
    running = _running_port(data) if keep else None
    if running is not None:
        server = PostgresServer(root=root, port=running, process_dir=root, bindir=bindir, keep=True, shared=True)
        server.prepare_template()
        return server
    if not (data / "PG_VERSION").exists():
        _run([str(bindir / "initdb"), "-D", str(data), "-U", PG_SUPERUSER, "-A", "trust", "-E", "UTF8",
              "--locale=C.UTF-8", "--no-sync"])
    port = free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB"
    )
    options += "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
    _run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start"])
    server = PostgresServer(root=root, port=port, process_dir=root, bindir=bindir, keep=keep)
    server.prepare_template()
    return server


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen | None = None
    root: Path | None = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def start_redis(root: Path, *, appendonly: bool = True, port: int | None = None, private: bool = False) -> RedisServer:
    """redis-server on a free loopback port (or ``port``: a restart), its data (append-only file, so queued work
    survives kill -9) in `root`. ``private``: never the server DOCMGR_TEST_REDIS_URL names (a test that kills it)."""
    external = os.environ.get("DOCMGR_TEST_REDIS_URL")
    if external and not private:
        return RedisServer(url=external)
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("Redis is not installed: `bash scripts/setup.sh` installs Debian's redis-server")
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(root), "--save", "",
         "--appendonly", "yes" if appendonly else "no", "--appendfsync", "always"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return RedisServer(url=f"redis://127.0.0.1:{port}/0", process=process, root=root)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not answer on port {port}")


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.servers [--] COMMAND…``: start one PostgreSQL cluster and one Redis, run COMMAND with
    DOCMGR_TEST_POSTGRES_URL and DOCMGR_TEST_REDIS_URL naming them, stop both, exit with COMMAND's status.
    (scripts/test.sh's second pass; also handy to develop against the same servers.)"""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m tests.servers [--] COMMAND [ARGS…]", file=sys.stderr)
        return 2
    postgres = start_postgres()
    redis_root = Path(tempfile.mkdtemp(prefix="docmgr-redis-"))
    try:
        redis = start_redis(redis_root)
    except BaseException:
        postgres.stop()
        raise
    env = dict(os.environ, DOCMGR_TEST_POSTGRES_URL=postgres.admin_url, DOCMGR_TEST_REDIS_URL=redis.url)
    print(f"PostgreSQL: {postgres.admin_url}  Redis: {redis.url}", file=sys.stderr, flush=True)
    try:
        return subprocess.run(args, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 130
    finally:
        redis.stop()
        shutil.rmtree(redis_root, ignore_errors=True)
        postgres.stop()


if __name__ == "__main__":
    raise SystemExit(main())
