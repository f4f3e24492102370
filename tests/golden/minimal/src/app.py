"""Development server: `python src/app.py` (from the project root).

This file sits next to the package in src/, so `import acme_notes` resolves to the same
code here as under the production server (`acme_notes.wsgi:app`) and in the tests.
Do not import sibling *modules* of this file: that is what raises ModuleNotFoundError once the
app runs elsewhere. Put code in the package and import it from there.
"""

import os

# Importing the package reads the project's .env (in a container, compose sets the environment).
from acme_notes import create_app
from acme_notes.berth.config import (
    use_throwaway_secret_key,
)

use_throwaway_secret_key()  # only if .env has none: the production server requires one
if os.environ.get("LOG_FORMAT", "auto") == "auto":
    os.environ["LOG_FORMAT"] = "text"  # readable lines while developing, unless asked for JSON
app = create_app()

if __name__ == "__main__":
    app.run(
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8080")),
        # A saved change to the code restarts the server; the debugger only with FLASK_DEBUG=1.
        debug=os.environ.get("FLASK_DEBUG", "0") == "1",
        use_reloader=True,
    )
