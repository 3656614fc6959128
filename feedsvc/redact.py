"""URLs as feedsvc shows them (logs, ``/``, ``/metrics``, ``check-config``): secrets out.

A source URL may carry credentials (``https://user:pass@host/feed``) or a token in its
query, and the Redis URL a password; none of them is printed, exported or logged.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# A parameter (query, or ";name=value" in the path) whose name holds one of these words
# holds a credential; the short ones only as a whole word of the name ("api_key",
# "X-Amz-Signature"), the long ones anywhere in it ("accesstoken", "client_secret").
_SECRET_WORDS = frozenset({"pass", "passwd", "pwd", "key", "apikey", "sig", "auth", "session",
                           "sessionid", "credential", "credentials", "jwt"})
_SECRET_PARTS = ("password", "token", "secret", "signature")
_QUERY_PARAM = re.compile(r"(^|[&;])([^=&;]+)=([^&;]*)")
_PATH_PARAM = re.compile(r"(;)([^=;/]+)=([^;/]*)")
_NAME_WORDS = re.compile(r"[-_.\s]+")


def _secret_name(name: str) -> bool:
    name = name.lower()
    return any(part in name for part in _SECRET_PARTS) or any(
        word in _SECRET_WORDS for word in _NAME_WORDS.split(name))


def redact_url(url: str | None) -> str | None:
    """``url`` with its credentials replaced by ``***``: the password of its userinfo, or
    a username given alone (often a token, sent as Basic auth), and the value of every
    parameter whose name says it is a secret (``password``, ``api_key``, ``X-Amz-Signature``,
    ``client_secret``, ``private_token`` and the like; redis-py reads ``password`` from
    the query too)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{parts.username or ''}:***@{host}" if password is not None else f"***@{host}"
    path, query = (pattern.sub(_redact_param, text) for pattern, text in
                   ((_PATH_PARAM, parts.path), (_QUERY_PARAM, parts.query)))
    if (netloc, path, query) == (parts.netloc, parts.path, parts.query):
        return url  # as written (urlunsplit would drop an empty "?" or "#")
    return urlunsplit(parts._replace(netloc=netloc, path=path, query=query))


def _redact_param(m: re.Match[str]) -> str:
    return f"{m[1]}{m[2]}=***" if _secret_name(m[2]) else m[0]


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
