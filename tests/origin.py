"""A local origin web site for tests: serves what a test writes, on 127.0.0.1.

Tests never touch the network (issue #2, item 9): every "site" feedsvc polls in a
test is one of these servers. Usage::

    async with Origin({"/": "<html>...</html>", "/feed.xml": Route(body=..., headers=...)}) as site:
        url = site.url("/feed.xml")
        ...
        assert site.hits["/feed.xml"] == 1
        assert site.requests[0].headers["User-Agent"].startswith("feedsvc")

Routes can be changed while the server runs (``site.routes["/x"] = ...``) to make an
origin fail and then recover. Unknown paths answer 404. The server counts requests per
path, records request headers, and tracks how many requests are in flight at once
(overall and per path), which is how the fetcher's concurrency limits are checked.
Fault behaviours (slow, trickling, huge, truncated bodies, redirects) are factories
below that return a :data:`Handler`.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Route:
    """A canned response.

    ``delay`` waits before the headers are sent; ``trickle`` sends the body as
    ``(chunk_size, pause_seconds)`` pieces after the headers, which is how a slow
    origin keeps a connection alive without ever finishing.
    """

    body: bytes | str = b""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    delay: float = 0.0
    trickle: tuple[int, float] | None = None


RouteSpec = Route | bytes | str | Handler


@dataclass(frozen=True)
class RecordedRequest:
    """One request the origin received."""

    method: str
    path: str
    path_qs: str
    headers: CIMultiDictProxy[str]
    at: float  # time.monotonic() on arrival


class Origin:
    """An aiohttp server on 127.0.0.1 with an ephemeral port serving ``routes``."""

    def __init__(self, routes: Mapping[str, RouteSpec] | None = None) -> None:
        self.routes: dict[str, RouteSpec] = dict(routes or {})
        self.hits: collections.Counter[str] = collections.Counter()
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._in_flight_path: collections.Counter[str] = collections.Counter()
        self.max_in_flight_path: collections.Counter[str] = collections.Counter()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------
    async def __aenter__(self) -> Origin:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # Short shutdown so a test does not wait on a deliberately hung handler.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- addresses -------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the authority the fetcher keys its limits on."""
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this origin."""
        return self.base_url + path

    def headers_of(self, path: str) -> list[CIMultiDictProxy[str]]:
        """Request headers of every request made to ``path``, oldest first."""
        return [r.headers for r in self.requests if r.path == path]

    # -- serving ---------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] += 1
        self.requests.append(
            RecordedRequest(
                request.method,
                path,
                request.path_qs,
                CIMultiDictProxy(CIMultiDict(request.headers)),
                time.monotonic(),
            )
        )
        self.in_flight += 1
        self._in_flight_path[path] += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.max_in_flight_path[path] = max(
            self.max_in_flight_path[path], self._in_flight_path[path]
        )
        try:
            spec = self.routes.get(request.path_qs, self.routes.get(path))
            if spec is None:
                return web.Response(status=404, text="not found")
            if isinstance(spec, bytes | str):
                spec = Route(body=spec)
            if isinstance(spec, Route):
                return await _serve_route(request, spec)
            return await spec(request)
        finally:
            self.in_flight -= 1
            self._in_flight_path[path] -= 1


async def _serve_route(request: web.Request, route: Route) -> web.StreamResponse:
    if route.delay:
        await asyncio.sleep(route.delay)
    body = route.body.encode() if isinstance(route.body, str) else route.body
    headers = CIMultiDict(route.headers)
    if route.content_type is not None and "Content-Type" not in headers:
        headers["Content-Type"] = route.content_type
    if route.trickle is None and "Content-Type" in headers:
        return web.Response(status=route.status, body=body, headers=headers)
    # StreamResponse: web.Response would invent "application/octet-stream" when the
    # route wants no Content-Type at all.
    size, pause = route.trickle or (max(len(body), 1), 0.0)
    resp = web.StreamResponse(status=route.status, headers=headers)
    resp.content_length = len(body)
    await resp.prepare(request)
    for i in range(0, len(body), size):
        await resp.write(body[i : i + size])
        if pause:
            await asyncio.sleep(pause)
    await resp.write_eof()
    return resp


# -- fault behaviours -----------------------------------------------------------


def redirect(location: str, status: int = 302) -> Handler:
    """Answer with a redirect to ``location`` (relative or absolute)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handler


@dataclass
class StreamStats:
    """What a streaming handler managed to write before the client went away."""

    bytes_written: int = 0
    finished: bool = False
    stopped_early: bool = False


def huge_body(
    total: int,
    *,
    chunk: int = 64 * 1024,
    content_type: str = "text/html",
    declare_length: bool = False,
    stats: StreamStats | None = None,
) -> Handler:
    """Stream ``total`` bytes; ``stats`` records how far the server got.

    With ``declare_length`` the Content-Length header announces ``total``; without
    it the body is chunked, so only counting while reading can stop it.
    """
    st = stats if stats is not None else StreamStats()
    block = b"x" * chunk

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        if declare_length:
            resp.content_length = total
        else:
            resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            while st.bytes_written < total:
                n = min(chunk, total - st.bytes_written)
                await resp.write(block[:n])
                st.bytes_written += n
            await resp.write_eof()
            st.finished = True
        except (ConnectionError, asyncio.CancelledError):
            st.stopped_early = True
            raise
        return resp

    return handler


def close_mid_body(declared: int, sent: bytes, content_type: str = "text/html") -> Handler:
    """Announce ``declared`` bytes, send ``sent`` (fewer), then drop the connection."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        resp.content_length = declared
        await resp.prepare(request)
        await resp.write(sent)
        # Give the bytes a moment to leave, then hang up without finishing the body.
        await asyncio.sleep(0.01)
        transport = request.transport
        if transport is not None:
            transport.close()
        return resp

    return handler


def hang(seconds: float = 30.0) -> Handler:
    """Never answer within a test's patience (the client must time out)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(text="too late")

    return handler


class RawOrigin:
    """A bare TCP server answering every connection with ``response`` verbatim.

    For replies aiohttp's server would never produce (no Content-Type at all, broken
    framing): the test writes the status line, headers and body bytes itself.
    """

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawOrigin:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")  # the request head; GETs have no body
            writer.write(self.response)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
