"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi docmgr …`."""

from docmgr import create_app

app = create_app()
