"""Shared test helpers: settings built in code, the shared/ material, Atom checks."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from lxml import etree

from feedsvc.config import Settings, parse_config
from feedsvc.models import Article

SHARED = Path(__file__).resolve().parents[2] / "shared"
ATOM_NS = "{http://www.w3.org/2005/Atom}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def shared_path(rel: str) -> Path:
    """A file under ../shared, or skip the test saying why (a fresh clone lacks it)."""
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"{path} not present (../shared sits beside the repo in CI only)")
    return path


# A request or a shutdown that hangs fails the test at once, naming itself, instead of
# waiting out aiohttp's defaults (5 min per request, 60 s per shutdown) into the
# pytest-timeout limit, which reports nothing but an idle event loop.
REQUEST_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 5.0

Client = TestClient[web.Request, web.Application]


@asynccontextmanager
async def app_client(app: web.Application) -> AsyncIterator[Client]:
    """The app on a loopback test server, and a client for it, both time-bounded."""
    server = TestServer(app, shutdown_timeout=SHUTDOWN_TIMEOUT)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with TestClient(server, timeout=timeout) as client:
        yield client


def make_settings(topics: dict[str, Any], **service: Any) -> Settings:
    data = {"service": {"base_url": "http://feeds.test", **service}, "topics": topics}
    return parse_config(data, "<test>", env={})


def article(n: int, *, topic_day: int = 1, **kw: Any) -> Article:
    published = datetime(2017, 2, topic_day, 12, n % 60, tzinfo=UTC)
    fields: dict[str, Any] = {
        "url": f"https://news.test/reports/story_{n}.html",
        "title": f"Story {n}",
        "content_html": f"<p>Body of story {n}.</p>",
        "published": published,
        "first_seen": datetime.now(UTC),
        "author": "Staff Writers",
    }
    fields.update(kw)
    return Article(**fields)


def check_atom(body: bytes) -> Any:
    """Assert RFC 4287's required elements directly, validate against the RELAX NG schema
    when ../shared is present, parse with feedparser (bozo == 0); return the parsed feed."""
    root = etree.fromstring(body)
    assert root.tag == f"{ATOM_NS}feed"
    for tag in ("id", "title", "updated"):  # RFC 4287 §4.1.1
        assert root.find(f"{ATOM_NS}{tag}") is not None, tag
    rels = {link.get("rel", "alternate") for link in root.findall(f"{ATOM_NS}link")}
    assert {"self", "alternate"} <= rels
    feed_author = root.find(f"{ATOM_NS}author") is not None
    for entry in root.findall(f"{ATOM_NS}entry"):  # RFC 4287 §4.1.2
        for tag in ("id", "title", "updated"):
            assert entry.find(f"{ATOM_NS}{tag}") is not None, tag
        assert feed_author or entry.find(f"{ATOM_NS}author") is not None
        content = entry.find(f"{ATOM_NS}content")
        if content is None:
            # An entry whose story its feed had no room for (limits.MAX_FEED_STORY_BYTES):
            # RFC 4287 §4.1.2 needs an alternate link then; feedsvc gives an excerpt too.
            alternates = [link for link in entry.findall(f"{ATOM_NS}link")
                          if link.get("rel", "alternate") == "alternate"]
            summary = entry.find(f"{ATOM_NS}summary")
            assert alternates and summary is not None and summary.get("type") == "html"
        else:
            assert content.get("type") == "html"
        for tag in ("updated", "published"):  # RFC 3339 dates with a zone
            text = entry.findtext(f"{ATOM_NS}{tag}")
            assert text is not None and (text.endswith("Z") or text[-6] in "+-"), text
    rng_path = SHARED / "spec" / "atom.rng"
    if rng_path.exists():
        rng = etree.RelaxNG(etree.parse(str(rng_path)))
        assert rng.validate(root), rng.error_log
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def record_threads(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Wrap ``owner.name`` (a function, method or classmethod) so that each call records
    the thread it runs on; the list they are recorded in. A test compares it with the
    event loop's thread: CPU-heavy work must run off the loop that serves feeds."""
    calls: list[int] = []
    original: Callable[..., Any] = getattr(owner, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return calls
