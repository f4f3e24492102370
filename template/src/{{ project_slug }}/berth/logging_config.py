"""Logging to stdout, one line per event: JSON lines for machines (containers, files, pipes),
readable lines for a person at a terminal, coloured by level.

LOG_FORMAT chooses: `json`, `text`, or `auto` (the default: text when stdout is a terminal,
else JSON). The image sets `json`, so containers log JSON even with a terminal attached.
"""

from __future__ import annotations

import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("auto", "json", "text")
# Terminal colour codes (the dev server colours its request lines): none inside JSON.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LEVEL_COLOURS = {"DEBUG": "2", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31"}
# Libraries that report routine steps at INFO, once per process: warnings only.
QUIET_LOGGERS = ("alembic.runtime.plugins",)


class JsonLines(JsonFormatter):
    """One JSON object per line: time, level, logger, message (and any `extra` fields)."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )

    def format(self, record: logging.LogRecord) -> str:
        record.msg, record.args = ANSI_ESCAPE.sub("", record.getMessage()), None
        return super().format(record)


class ReadableLines(logging.Formatter):
    """`12:00:01 WARNING  app.module: message`, the level coloured on a terminal."""

    def __init__(self, colour: bool) -> None:
        super().__init__("%(asctime)s %(levelname)-8s %(name)s: %(message)s", "%H:%M:%S")
        self.colour = colour

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        code = LEVEL_COLOURS.get(record.levelname)
        if not self.colour:
            return ANSI_ESCAPE.sub("", line)
        return f"\x1b[{code}m{line}\x1b[0m" if code else line


def configure_logging(level: str = "INFO", log_format: str = "auto") -> None:
    terminal = sys.stdout.isatty()
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, got {log_format!r}")
    text = log_format == "text" or (log_format == "auto" and terminal)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ReadableLines(colour=terminal) if text else JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def one_line_per_event() -> None:
    """Remove the console handlers an app adds to its own loggers (the Flask tutorials'
    `app.logger.addHandler(logging.StreamHandler())`): their records go on to the root
    handler anyway, so each event was printed twice, once in the app's own format. File
    handlers stay, and so do the handlers of a logger that keeps its records to itself."""
    consoles = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    for logger in list(logging.root.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger) or not _reaches_root(logger):
            continue
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler and handler.stream in consoles:
                logger.removeHandler(handler)


def _reaches_root(logger: logging.Logger) -> bool:
    current: logging.Logger | None = logger
    while current is not None and current is not logging.root:
        if not current.propagate:
            return False
        current = current.parent
    return True
