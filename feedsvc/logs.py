"""Logging set-up, the same in every process of the service.

``serve --workers N`` on Redis runs a polling process, N serving processes and their
process-pool workers, all writing to one stderr: a JSON record names its process
(``pid``) and that process's part (``role``: ``poller``, ``server``, ``worker``; ``main``
for the one process of the in-process store, ``crawl`` for ``crawl --once``). A text line
names it in brackets after the logger (``[poller]``, ``[server 2]``, ``[worker]``) unless it
is the only process of its command: the poller and each serving process reload a changed
config (and start up) alike, and their lines read as one line repeated.

Python warnings (a library's ``UserWarning``) are logged too (``py.warnings``), so JSON
output stays one object per line. Pool workers are started by spawning a fresh
interpreter: they take the format and level from the environment set here.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import TextIO

# Inherited by spawned pool workers (feedsvc.cpu), which configure logging from them.
FORMAT_ENV = "FEEDSVC_LOG_FORMAT"
LEVEL_ENV = "FEEDSVC_LOG_LEVEL"

_role: str | None = None
_number: int | None = None  # which serving process of serve --workers N, from 1
# The parts whose process is the only one of its command (with its pool workers, which
# are labelled): their text lines need no label.
_ALONE = ("main", "crawl")


def set_role(role: str | None, number: int | None = None) -> None:
    """Name this process's part in the service (and which of the serving processes it
    is), for its log records."""
    global _role, _number
    _role, _number = role, number


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER [PROCESS]: MESSAGE``, the process as :func:`set_role` named it
    (``server 2``); no brackets for a process alone in its command."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(process_label)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        label = "" if _role is None or _role in _ALONE else (
            f" [{_role}]" if _number is None else f" [{_role} {_number}]")
        record.process_label = label
        return super().format(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        if _role is not None:
            entry["role"] = _role
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(
    fmt: str, level: str = "INFO", stream: TextIO | None = None, *, role: str | None = None,
    number: int | None = None,
) -> None:
    """One line per event on stderr; JSON lines with ``--log-format json``."""
    if role is not None:
        set_role(role, number)
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log is one line per request: too much at INFO for a feed server.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # A library's warning (prometheus-client's, a deprecation) is a log record, not a
    # bare two-line text in the middle of JSON output.
    logging.captureWarnings(True)
    os.environ[FORMAT_ENV], os.environ[LEVEL_ENV] = fmt, level


def setup_worker_logging() -> None:
    """In a spawned pool worker: log as the process that started it does (when that
    process configured logging at all)."""
    fmt = os.environ.get(FORMAT_ENV)
    if fmt:
        setup_logging(fmt, os.environ.get(LEVEL_ENV) or "INFO", role="worker")
