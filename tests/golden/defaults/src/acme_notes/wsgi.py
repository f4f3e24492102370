"""WSGI entry point for the production server: `acme_notes.wsgi:app`."""

from acme_notes import create_app

app = create_app()
