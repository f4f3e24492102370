"""Configuration from environment variables (12-factor).

Every variable read here is documented in `.env.example`. Nothing is read from files at
import time: the process environment is the single source, so the same image runs anywhere.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# A secret with one of these values is not set: .env.example's placeholder is no secret.
UNSET = ("", "change-me")


class SettingError(RuntimeError):
    """A required setting is missing or invalid; the message says which and how to set it."""


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingError(f"{name} must be an integer, got {raw!r}") from None


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingError(f"{name} must be true or false, got {raw!r}")


def _secret(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if value in UNSET:
        raise SettingError(
            f"{name} is not set (or is the placeholder of .env.example). Set it in .env, or in "
            f"the environment of the container, to a random value, e.g. the output of: "
            f"python -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return value


def run_by_the_flask_cli() -> bool:
    """True under `flask --app ...` (Flask sets FLASK_RUN_FROM_CLI), which runs commands."""
    return os.environ.get("FLASK_RUN_FROM_CLI") == "true"


def use_throwaway_secret_key() -> None:
    """For local development only (the dev server, the tests, the command line): a random
    SECRET_KEY when none is set, made once per run and put in the environment, so that every
    process of the run (the dev server's reloader, a test's workers) signs with the same key.
    Sessions and other signed data do not survive the run."""
    if os.environ.get("SECRET_KEY", "").strip() in UNSET:
        os.environ["SECRET_KEY"] = secrets.token_hex(32)
        log.warning("SECRET_KEY is not set: a throwaway key signs this run's sessions")


def settings_of(source: Mapping[str, Any] | type | None) -> dict[str, Any]:
    """Settings given as a mapping, or as a settings class: its UPPERCASE attributes, as
    Flask's `config.from_object` reads them (`create_app(TestConfig)`)."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return dict(source)
    return {name: getattr(source, name) for name in dir(source) if name.isupper()}


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read the settings from the environment (`os.environ` unless given)."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("DATA_DIR") or "data").resolve()
    config: dict[str, Any] = {
        "SECRET_KEY": _secret(env, "SECRET_KEY"),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        # json, text (readable, coloured at a terminal) or auto: text at a terminal, else JSON.
        "LOG_FORMAT": env.get("LOG_FORMAT", "auto").strip().lower() or "auto",
        "DATA_DIR": data_dir,
        # Number of reverse proxies in front of the app whose X-Forwarded-* headers to trust.
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        # Served over HTTPS: the session cookie is Secure, URLs built outside a request use https.
        "SESSION_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", False),
        # Largest request body; Flask answers 413 before a view reads more (JSON and forms alike).
        "MAX_REQUEST_MB": _int(env, "MAX_REQUEST_MB", 1),
    }
    config["MAX_CONTENT_LENGTH"] = config["MAX_REQUEST_MB"] * 1024 * 1024
    config["PREFERRED_URL_SCHEME"] = "https" if config["SESSION_COOKIE_SECURE"] else "http"
    return config
