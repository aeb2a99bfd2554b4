"""gunicorn settings read from the repository root (gunicorn loads ./gunicorn.conf.py by itself).

Each web worker warms up before it accepts its first request (docmgr.warmup): the first upload and the first
agreement render after a restart are then as fast as later ones. DOCMGR_WARM_UP=0 turns it off.
"""

from docmgr.warmup import warm_up


def post_worker_init(worker) -> None:
    app = worker.wsgi
    if getattr(app, "config", {}).get("WARM_UP"):
        warm_up(app)
