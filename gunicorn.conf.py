"""gunicorn settings read from the repository root (gunicorn loads ./gunicorn.conf.py by itself).

Each web worker warms up before it accepts its first request (docmgr.warmup): the first upload and the first
agreement render after a restart are then as fast as later ones. DOCMGR_WARM_UP=0 turns it off.
"""

from docmgr.warmup import warm_up

# Threaded workers. A sync worker takes one connection at a time and waits for its request, so a browser's idle
# connection (Chromium opens them ahead of need and leaves them silent for seconds) held a whole worker: two such
# connections stalled every page past 15 s. A gthread worker parks idle connections in its poller (closing them
# after `keepalive` seconds) and gives a thread only to a connection that has sent a request.
# Threads share their worker's SQLite write lock queue with the other workers: no slow work may run inside a
# writing transaction (docmgr.database.release_read_transaction; the queue's tasks end theirs before slow work).
worker_class = "gthread"
threads = 4


def post_worker_init(worker) -> None:
    app = worker.wsgi
    if getattr(app, "config", {}).get("WARM_UP"):
        warm_up(app)
