#!/usr/bin/env python
"""Uploads per second through nginx with one web node, then with two, on the same machine and the same servers:
PostgreSQL (database and search), Redis (queue), one worker, the shared file volume. The ratio shows whether
anything serialises that should not (on a 2-core machine two nodes cannot double the rate: the CPU is shared).

    .venv/bin/python bench/cluster_bench.py [--seconds 20] [--clients 8] [--workers 2]

Prints JSON: uploads/s and latency percentiles for 1 and 2 nodes, and their ratio. Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.servers import start_postgres, start_redis  # noqa: E402


def _crash_test():
    spec = importlib.util.spec_from_file_location("crash_test", REPO / "bench" / "crash_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


NGINX = """worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
{user}
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {root}/body; proxy_temp_path {root}/proxy; fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
  client_max_body_size 100m;
  upstream docmgr {{ least_conn; {servers} }}
  server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://docmgr; proxy_set_header Host $http_host; }} }}
}}
"""


def start_nginx(root: Path, port: int, node_ports: list[int]) -> subprocess.Popen:
    root.mkdir(parents=True, exist_ok=True)
    servers = " ".join(f"server 127.0.0.1:{p};" for p in node_ports)
    user = "user www-data;" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(NGINX.format(root=root, port=port, servers=servers, user=user))
    process = subprocess.Popen(["nginx", "-p", str(root), "-c", str(root / "nginx.conf"), "-g", "daemon off;"])
    time.sleep(0.5)
    return process


def measure(crash_test, port: int, firm: dict, seconds: float, clients: int) -> dict:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client() -> None:
        nonlocal errors
        while time.monotonic() < stop:
            word = crash_test.unique_word()
            body, content_type = crash_test.multipart({"title_it": f"Bench {word}"}, [crash_test.text_payload(word)])
            started = time.monotonic()
            try:
                status, _ = crash_test.request(port, "POST", "/api/v1/documents", body,
                                               {**firm, "Content-Type": content_type})
            except OSError:
                status = 0
            with lock:
                if status == 201:
                    latencies.append(time.monotonic() - started)
                else:
                    errors += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    ordered = sorted(latencies)
    return {
        "uploads": len(latencies), "errors": errors, "seconds": round(elapsed, 1),
        "uploads_per_second": round(len(latencies) / elapsed, 2),
        "p50_ms": round(statistics.median(ordered) * 1000) if ordered else None,
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000) if ordered else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per web node")
    args = parser.parse_args()
    crash_test = _crash_test()
    workdir = Path(tempfile.mkdtemp(prefix="docmgr-cluster-bench-"))
    postgres = start_postgres()
    redis = start_redis(workdir / "redis", private=True)
    servers: list = []
    nginx = None
    try:
        shared = {**os.environ, "DOCMGR_DATABASE_URL": postgres.create_database("bench"),
                  "DOCMGR_SEARCH_BACKEND": "postgres", "DOCMGR_QUEUE_URL": redis.url,
                  "DOCMGR_QUEUE_NAME": f"bench-{uuid.uuid4().hex[:8]}", "DOCMGR_STORAGE_DIR": str(workdir / "files"),
                  "DOCMGR_SECRET_KEY": "cluster-bench"}

        def env(name: str) -> dict[str, str]:
            return {**shared, "DOCMGR_INDEX_DIR": str(workdir / name / "index")}

        crash_test.init_schema(env("worker"))
        crash_test.run_cli(env("worker"), "create-org", "--name", "Bench S.r.l.", "--country", "IT")
        crash_test.run_cli(env("worker"), "create-user", "--email", "firm@bench.test", "--password",
                           crash_test.PASSWORD, "--role", "firm", "--org", "Bench S.r.l.")
        worker = crash_test.Worker(env("worker"), workdir / "worker.log")
        worker.start()
        servers.append(worker)
        nodes = [crash_test.Server(env(f"node{i}"), crash_test.free_port(), args.workers, workdir / f"node{i}.log")
                 for i in (1, 2)]
        results = {}
        for count in (1, 2):
            for node in nodes[:count]:
                if node.process is None:
                    node.start()
                    servers.append(node)
            port = crash_test.free_port()
            nginx = start_nginx(workdir / f"nginx{count}", port, [n.port for n in nodes[:count]])
            firm = {"Authorization": f"Bearer {crash_test.token(port, 'firm@bench.test')}"}
            measure(crash_test, port, firm, 3.0, args.clients)  # warm-up
            results[f"{count}_node{'s' if count > 1 else ''}"] = measure(crash_test, port, firm, args.seconds,
                                                                          args.clients)
            nginx.terminate()
            nginx.wait(timeout=10)
            nginx = None
        one, two = results["1_node"]["uploads_per_second"], results["2_nodes"]["uploads_per_second"]
        results["ratio_2_to_1"] = round(two / one, 2) if one else None
        results["machine"] = {"cpus": os.cpu_count(), "clients": args.clients, "gunicorn_workers_per_node": args.workers}
        print(json.dumps(results, indent=1))
        return 0
    finally:
        if nginx is not None:
            nginx.terminate()
        for server in servers:
            server.stop()
        redis.stop()
        postgres.stop()


if __name__ == "__main__":
    raise SystemExit(main())
