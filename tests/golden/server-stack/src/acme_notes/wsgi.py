"""WSGI entry point for the production server: `acme_notes.wsgi:app`."""

import os

# uWSGI's own `env` setting reaches the processes it starts, not this interpreter's
# os.environ, which was read before the settings: name the Prometheus metrics folder of the
# server and its workers here too, before anything imports prometheus_client.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = f"/tmp/{__package__}-metrics"  # noqa: S108

from acme_notes import create_app

app = create_app()
