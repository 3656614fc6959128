"""Log records: JSON lines that name their process, warnings included."""

from __future__ import annotations

import io
import json
import logging
import os
import warnings
from collections.abc import Iterator

import pytest

from feedsvc import logs
from feedsvc.cpu import CpuPool


@pytest.fixture
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.delenv(logs.FORMAT_ENV, raising=False)
    monkeypatch.delenv(logs.LEVEL_ENV, raising=False)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    logs.set_role(None)


def test_json_records_name_their_process_and_role(restore_logging: None) -> None:
    out = io.StringIO()
    logs.setup_logging("json", "INFO", out, role="server")
    logging.getLogger("feedsvc.test").info("hello")
    record = json.loads(out.getvalue())
    assert record["msg"] == "hello" and record["logger"] == "feedsvc.test"
    assert record["pid"] == os.getpid()
    assert record["role"] == "server"


def test_text_lines_name_their_process_when_the_service_has_several(
    restore_logging: None,
) -> None:
    """With Redis, the poller and each serving process log a config reload alike: each
    text line names its process, as a JSON record does (``role``, ``pid``). The one
    process of the in-process store, or of crawl --once, needs no name."""
    said = []
    for role, number in [("poller", None), ("server", 2), ("worker", None), ("main", None),
                         ("crawl", None)]:
        out = io.StringIO()
        logs.setup_logging("text", "INFO", out, role=role, number=number)
        logging.getLogger("feedsvc.app").info("config reloaded")
        said.append(out.getvalue().split(" ", 3)[3].rstrip("\n"))
    assert said == ["feedsvc.app [poller]: config reloaded",
                    "feedsvc.app [server 2]: config reloaded",
                    "feedsvc.app [worker]: config reloaded",
                    "feedsvc.app: config reloaded", "feedsvc.app: config reloaded"]


def test_python_warnings_are_json_records(restore_logging: None) -> None:
    """A library's warning (prometheus-client's on a label removal) is a record, not two
    bare lines in the middle of JSON logs."""
    out = io.StringIO()
    logs.setup_logging("json", "INFO", out, role="poller")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("Removal of labels has not been implemented", UserWarning, stacklevel=1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "warning" and record["logger"] == "py.warnings"
    assert "Removal of labels" in record["msg"]


def _log_in_worker() -> int:
    logging.getLogger("feedsvc.extract.rules").warning("site rule x.yaml unreadable")
    for handler in logging.getLogger().handlers:
        handler.flush()
    return os.getpid()


def test_pool_workers_log_as_their_parent(
    restore_logging: None, capfd: pytest.CaptureFixture[str]
) -> None:
    """A spawned pool worker logs (a site rule it cannot read) in the service's format,
    not as Python's bare last-resort text."""
    logs.setup_logging("json", "INFO", role="server")
    pool = CpuPool(1)
    try:
        worker = pool._executor.submit(_log_in_worker).result(timeout=60)
    finally:
        pool.close()
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert [(r["pid"], r["role"], r["msg"]) for r in records] == \
        [(worker, "worker", "site rule x.yaml unreadable")]
