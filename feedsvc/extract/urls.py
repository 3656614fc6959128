"""Canonical URLs: the store key (issue #2 item 5, issue #4 item 6)."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

# Parameters that only say where a reader came from; they never select content.
_TRACKING = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid",
    "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id",
    "oly_enc_id", "vero_id", "vero_conv", "__s", "ncid", "cmpid",
})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters no URI or IRI may hold (RFC 3987 §2.2: ASCII controls, space, and
# "<>\"{}|\\^`), and a "%" that starts no escape: each is percent-encoded.
_NOT_IRI = re.compile(r'[\x00-\x20\x7f"<>\\^`{|}]|%(?![0-9A-Fa-f]{2})')


def canonical_url(url: str) -> str:
    """``url`` without fragment, tracking parameters, default port or credentials; scheme
    and host lowercased. It is the entry's public id and link: a source URL's
    ``user:password@`` must never reach them (the Fetcher keeps it for its host)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal (RFC 3986 section 3.2.2)
        host = f"[{host}]"
    netloc = host
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc += f":{port}"
    # Whole "&"-separated parts are dropped or kept as written: decoding and re-encoding
    # would turn "?12345" into "?12345=" and "?id=1;page=2" into "?id=1%3Bpage%3D2",
    # which the site may not serve as the same page.
    query = "&".join(
        part for part in parts.query.split("&")
        if part and not _is_tracking(unquote_plus(part.partition("=")[0]).lower())
    )
    path = parts.path or ("/" if netloc else "")
    return urlunsplit((scheme, netloc, _iri_safe(path), _iri_safe(query), ""))


def _iri_safe(text: str) -> str:
    """``text`` with the characters an IRI cannot hold percent-encoded, and nothing else
    changed. The URL is the entry's atom:id, which must be an IRI (RFC 4287 §4.2.6), and
    "a b" and "a%20b" must not become two entries. Escapes stay as written and non-ASCII
    stays as it is (IRIs allow it): re-spelling them would give stored stories new
    identities, and pruned ones would come back as new."""
    return _NOT_IRI.sub(lambda m: "%" + m[0].encode().hex().upper(), text)


def _is_tracking(key: str) -> bool:
    return key.startswith("utm_") or key in _TRACKING


def site_of_host(host: str | None) -> str:
    """A host as a site: lower case, without a final dot or a leading ``www.`` (one
    site's pages link each other with and without it)."""
    host = (host or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def same_site(a: str, b: str) -> bool:
    """Whether URLs ``a`` and ``b`` are web pages (http or https) on one site.

    The scheme matters as much as the host: a page's rel=canonical that passes this
    becomes its entry's id and link, and ``javascript://its.host/%0Acode`` names the
    page's own host while a reader following it would run ``code``."""
    try:
        parts = [urlsplit(u) for u in (a, b)]
        site_a, site_b = (site_of_host(p.hostname) for p in parts)
    except ValueError:
        return False
    if any(p.scheme.lower() not in _DEFAULT_PORTS for p in parts):
        return False
    return bool(site_a) and site_a == site_b
