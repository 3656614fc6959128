"""Named errors, one family per pipeline stage.

Nothing from aiohttp, lxml or redis leaks past the stage that uses it: each stage
wraps library exceptions in its own error so the orchestrator can record, back off
and carry on per source (the habit of Miniflux's ``fetcher/response_handler.go``).
"""

from __future__ import annotations

from feedsvc.redact import redact_url


class FeedsvcError(Exception):
    """Root of every error feedsvc raises on purpose."""


class ConfigError(FeedsvcError):
    """The configuration file is missing, unreadable or invalid.

    ``str(err)`` is one line naming the file, the key path and the problem.
    """


class ListenError(FeedsvcError):
    """The service cannot listen on its configured address (port taken, no such host)."""


class FetchError(FeedsvcError):
    """A fetch did not produce a usable body. ``retry_after``: seconds the origin asked
    us to wait before trying again (Retry-After), if it did."""

    retry_after: float | None = None

    def __init__(self, url: str, message: str) -> None:
        # shown on /, in logs and in the stored state: never a URL's credentials
        super().__init__(f"{redact_url(url)}: {message}")
        self.url = url
        self.message = message


class HTTPStatusError(FetchError):
    """The origin answered with a status we do not accept."""

    def __init__(self, url: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(url, f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class HostWaitError(FetchError):
    """Not fetched: the URL's host answered another request with 429 and the time it
    asked for has not passed."""

    def __init__(self, url: str, retry_after: float) -> None:
        super().__init__(url, f"its host answered 429 Too Many Requests; "
                              f"{retry_after:.0f}s left")
        self.retry_after = retry_after


class TooLargeError(FetchError):
    """The body grew past ``max_page_bytes``; we stopped reading."""


class FetchTimeoutError(FetchError):
    """The fetch (robots.txt, redirects and body included) took longer than its timeout."""


class BlockedError(FetchError):
    """The fetch is not allowed: robots.txt disallows the URL for our user agent."""


class RobotsUnreachableError(BlockedError):
    """robots.txt could not be read (5xx, 429, a timeout, a network error): RFC 9309
    §2.3.1.4 says to assume it disallows everything."""


class PrivateAddressBlockedError(BlockedError):
    """The fetch would reach a non-public address on a host the config does not name.
    The message says how to allow it: an operator testing on loopback or an intranet
    reads it in the log and on ``/``."""

    HINT = "name its host in the source's allow_hosts to allow it"

    def __init__(self, url: str, message: str) -> None:
        super().__init__(url, f"{message}; {self.HINT}")


class PrivateAddressError(OSError):
    """Raised inside aiohttp's connector when a connection's peer is a non-public address
    the fetch may not reach; an OSError so that aiohttp hands it on (as the cause of its
    own ClientOSError). The fetcher turns it into :class:`PrivateAddressBlockedError`."""


def private_refusal(exc: BaseException) -> PrivateAddressError | None:
    """The connector's refusal behind ``exc`` (aiohttp re-raises it as the cause of a
    ClientOSError), or None."""
    for err in (exc, exc.__cause__):
        if isinstance(err, PrivateAddressError):
            return err
    return None


class UnsupportedContentError(FetchError):
    """The origin sent something that is not HTML or a feed (a PDF, an image...)."""


class DiscoverError(FeedsvcError):
    """An index page or feed could not be turned into article links."""


class ExtractError(FeedsvcError):
    """Extraction failed or ran over its time budget."""


class StoreError(FeedsvcError):
    """The store is unreachable or answered something we cannot read."""
