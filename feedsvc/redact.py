"""URLs as feedsvc shows them (logs, ``/``, ``/metrics``, ``check-config``): secrets out.

A source URL may carry credentials (``https://user:pass@host/feed``) or a token in its
query, and the Redis URL a password; none of them is printed, exported or logged.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# Query parameters that hold credentials (redis-py reads ``password`` from the query too).
_SECRET_PARAM = re.compile(
    r"(?i)([?&](?:password|passwd|pass|token|access_token|auth|api_key|apikey|key|secret|"
    r"sig|signature)=)[^&#]*"
)


def redact_url(url: str | None) -> str | None:
    """``url`` with its password (userinfo) and secret query values replaced by ``***``."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is not None:
        netloc = parts.netloc.rsplit("@", 1)[1]
        url = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))
    return _SECRET_PARAM.sub(r"\1***", url)


def without_userinfo(url: str) -> str:
    """``url`` without its ``user:password@`` part: what pages fetched with it are parsed
    against, so no link found on them (entry ids, links in the story) carries it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def host_label(url: str) -> str:
    """Host and port of ``url``, never its userinfo (a metrics label)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "?"
    host = parts.hostname or "?"
    return f"{host}:{port}" if port is not None else host
