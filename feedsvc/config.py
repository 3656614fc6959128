"""Typed configuration: loaded once from YAML, validated, passed explicitly.

``load_config(path)`` returns a frozen :class:`Settings`; nothing reads the file or
the environment afterwards. Every problem becomes one :class:`ConfigError` line that
names the file, the key path and the problem, e.g.
``config/feeds.yaml: topics.superpowers.sources[1].url: not an absolute http(s) URL``.
Validation is pydantic's (strict schemas, unknown keys rejected) rather than
hand-written checks.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import math
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
import yarl
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from feedsvc import __version__
from feedsvc.errors import ConfigError
from feedsvc.redact import host_label, redact_url

DEFAULT_CONFIG_PATH = "config/feeds.yaml"
DEFAULT_USER_AGENT = f"feedsvc/{__version__} (+https://github.com/feedsvc/feedsvc)"

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
    "k": 1024, "m": 1024**2, "g": 1024**3,
}
_NUM_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
TOPIC_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # use fullmatch: "$" allows a final "\n"


def parse_duration(value: Any) -> float:
    """``15m`` -> 900.0; a bare number is seconds. Compound forms (``1h30m``) are accepted."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, 30d or 20s")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", value.strip().lower())
        joined = "".join(f"{n}{u}" for n, u in parts)
        if not parts or joined != re.sub(r"\s+", "", value.strip().lower()):
            raise ValueError(f"{value!r} is not a duration (use e.g. 90s, 15m, 2h, 30d)")
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise ValueError("expected a duration such as 15m, 30d or 20s")
    # not (seconds > 0) also refuses NaN; YAML's .inf would be a TTL no store can set
    if not seconds > 0:
        raise ValueError("must be greater than zero")
    if math.isinf(seconds):
        raise ValueError("must be finite (use e.g. 3650d for a very long time)")
    return seconds


def parse_size(value: Any) -> int:
    """``5MB`` -> 5_000_000, ``5MiB`` -> 5_242_880; a bare number is bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 5MB or 512KiB")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        m = _NUM_UNIT.match(value)
        if not m or m.group(2).lower() not in _SIZE_UNITS:
            raise ValueError(f"{value!r} is not a size (use e.g. 512KB, 5MB, 2MiB)")
        size = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    else:
        raise ValueError("expected a size such as 5MB or 512KiB")
    if size <= 0:
        raise ValueError("must be greater than zero")
    return size


# What a host may be spelled with once yarl has made it ASCII (IDNA): as fetch.py checks.
_HOST_CHARS = re.compile(r"[A-Za-z0-9._:-]+")


def _http_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not an absolute http(s) URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an absolute http(s) URL")
    try:
        parts.port  # noqa: B018  (urlsplit checks the port only when asked)
        host = yarl.URL(value.strip()).raw_host or ""
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    # The fetcher refuses such a host (fetch._parse_url) at every poll: say so now.
    if not _HOST_CHARS.fullmatch(host):
        raise ValueError(f"not a valid URL: bad host {host!r}")
    return value.strip()


def _regex(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a regular expression string")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def _css(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a CSS selector string")
    from cssselect import GenericTranslator, SelectorError

    try:
        GenericTranslator().css_to_xpath(value)
    except SelectorError as exc:
        raise ValueError(f"not a valid CSS selector: {exc}") from None
    return value


def _listen(value: Any) -> str:
    if not isinstance(value, str) or ":" not in value:
        raise ValueError("expected HOST:PORT, e.g. 0.0.0.0:8080")
    host, _, port = value.rpartition(":")
    if "/" in host or any(c.isspace() for c in host):
        raise ValueError("expected HOST:PORT (an address or host name, no scheme or path), "
                         "e.g. 0.0.0.0:8080")
    inner = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if (host.startswith("[") or host.endswith("]") or ":" in inner) and not _is_ipv6(inner):
        # An IPv6 address without a port ("::1") would otherwise split at its last colon
        # into host ":" and port 1; one in brackets without a port ("[::1]") into port
        # "1]". Brackets as in a URL (RFC 3986 section 3.2.2).
        raise ValueError("expected HOST:PORT with an IPv6 address in brackets, e.g. [::1]:8080")
    # ASCII digits only: str.isdigit() takes "²", which int() then refuses
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"{port!r} is not a TCP port (1 to 65535)")
    if int(port) == 0:
        # the OS would pick a free port at random: no reader (nor base_url) could find it
        raise ValueError("port 0 would listen on a port chosen at random; give one from 1 "
                         "to 65535, e.g. 0.0.0.0:8080")
    return value


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def default_base_url(host: str, port: int) -> str:
    """The ``base_url`` a listen address implies: localhost for a wildcard address, an
    IPv6 address in brackets (RFC 3986 §3.2.2)."""
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _host_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a host name, e.g. www.spacedaily.com")
    host = value.strip()
    try:
        # An IPv6 address (bare or in brackets): what a refused fetch of a URL naming
        # one says to put here (errors.PrivateAddressBlockedError), spelled as yarl does.
        return str(ipaddress.IPv6Address(host.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    if any(c in host for c in "/:@?#") or any(c.isspace() for c in host):
        raise ValueError(f"{host!r} is not a host name (no scheme, port or path), "
                         "e.g. www.spacedaily.com")
    return host


Duration = Annotated[float, BeforeValidator(parse_duration)]
HostName = Annotated[str, BeforeValidator(_host_name)]
Size = Annotated[int, BeforeValidator(parse_size)]


_ZERO = re.compile(r"\s*0+(?:\.0+)?\s*(?:ms|s|m|h|d|w)?\s*", re.I)


def _zero_or_duration(value: Any) -> float:
    """0 in any unit ("0", "0s", "0d") means off; anything else is a duration."""
    if not isinstance(value, bool) and (
        value == 0 or (isinstance(value, str) and _ZERO.fullmatch(value))
    ):
        return 0.0
    return parse_duration(value)


# A duration where 0 means "never" / "off".
DurationOrZero = Annotated[float, BeforeValidator(_zero_or_duration)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
Regex = Annotated[str, BeforeValidator(_regex)]
Css = Annotated[str, BeforeValidator(_css)]
Listen = Annotated[str, BeforeValidator(_listen)]
PosInt = Annotated[int, Field(gt=0, strict=True)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SourceOptions(_Model):
    """Keys that may be set under ``defaults`` and overridden per topic and per source."""

    poll_interval: Duration | None = None
    timeout: Duration | None = None
    max_page_bytes: Size | None = None
    robots: bool | None = None
    max_articles: PosInt | None = None


class _TopicOptions(_SourceOptions):
    max_entries: PosInt | None = None
    retention: Duration | None = None


class _Defaults(_TopicOptions):
    concurrency: PosInt | None = None
    per_host: PosInt | None = None


class _Source(_SourceOptions):
    url: HttpUrl
    kind: Literal["index", "feed"] = "index"
    links: Css | None = None
    follow: Regex | None = None
    name: str | None = None
    # By default an index yields only links on its own site (issue #2 item 3);
    # SpaceDaily-style networks link their sister sites, so this can widen it.
    allow_hosts: tuple[HostName, ...] = ()


class _Topic(_TopicOptions):
    title: str | None = None
    description: str | None = None
    sources: list[_Source] = Field(min_length=1)


class _Service(_Model):
    listen: Listen = "0.0.0.0:8080"
    base_url: HttpUrl | None = None
    redis_url: str | None = None
    user_agent: str = DEFAULT_USER_AGENT
    sites_dir: str | None = None
    extract_workers: Annotated[int, Field(ge=0, strict=True)] | None = None
    extract_timeout: Duration = 10.0
    # How long origin pages are kept for re-extraction when a site rule changes; "0"
    # stores none (about half of Redis memory per article is the page).
    page_retention: DurationOrZero = 14 * 86400.0
    log_format: Literal["text", "json"] = "text"

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        from redis.connection import parse_url

        try:
            parse_url(v)  # type: ignore[no-untyped-call]  # what the client will read
        except ValueError as exc:
            raise ValueError(f"not a valid Redis URL: {exc}") from None
        # redis-py quietly takes database 0 for a path that is not a number
        db = parts.path.strip("/")
        if parts.scheme != "unix" and db and not db.isdigit():
            raise ValueError(f"the database must be a number (redis://host:6379/0), not {db!r}")
        return v

    @field_validator("sites_dir")
    @classmethod
    def _existing_dir(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        # Relative to the config file, as the default (sites/ beside it) is, not to
        # whatever directory the service happens to be started from.
        resolved = os.path.join((info.context or {}).get("config_dir", ""), v)
        if not os.path.isdir(resolved):
            raise ValueError(f"{resolved!r} is not a directory")
        return resolved


class _File(_Model):
    service: _Service = _Service()
    defaults: _Defaults = _Defaults()
    topics: dict[str, _Topic] = Field(min_length=1)

    @field_validator("service", "defaults", mode="before")
    @classmethod
    def _empty_block(cls, v: Any) -> Any:
        return {} if v is None else v  # a block whose keys are all commented out

    @field_validator("topics", mode="before")
    @classmethod
    def _names_as_text(cls, v: Any) -> Any:
        # The YAML loader keeps keys as written (_UniqueKeyLoader); a mapping built in
        # Python may still have numbers for names.
        return {str(k): t for k, t in v.items()} if isinstance(v, dict) else v

    @field_validator("topics")
    @classmethod
    def _topic_names(cls, v: dict[str, _Topic]) -> dict[str, _Topic]:
        for name in v:
            if not TOPIC_NAME.fullmatch(name):
                raise ValueError(
                    f"topic name {name!r} must be 1 to 64 lowercase letters, digits, '-' "
                    "or '_', starting with a letter or digit (it becomes the feed's URL path)"
                )
        return v


# Built-in defaults, applied under the file's ``defaults:``.
BUILTIN_DEFAULTS: dict[str, Any] = {
    "poll_interval": 15 * 60.0,
    "max_entries": 50,
    "retention": 30 * 86400.0,
    "timeout": 20.0,
    "max_page_bytes": 5_000_000,
    "concurrency": 8,
    "per_host": 2,
    "robots": True,
    "max_articles": 100,
}


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One source with every option resolved (source > topic > defaults > built-in)."""

    topic: str
    url: str
    kind: Literal["index", "feed"]
    links: str | None
    follow: str | None
    poll_interval: float
    timeout: float
    max_page_bytes: int
    robots: bool
    max_articles: int  # article links taken from one poll of this source
    name: str
    allow_hosts: tuple[str, ...] = ()
    # The key of this source's fetch state (validators, backoff): its URL, unless other
    # sources (in this topic or others, with other follow patterns) poll the same URL;
    # then the URL and the discovery_key. Shared, one source's poll would store the ETag
    # and the other's would get a 304 and never see the page's links (or, with its own
    # discovery key, never send validators at all).
    state_key: str = ""

    def __post_init__(self) -> None:
        if not self.state_key:
            object.__setattr__(self, "state_key", self.url)

    def discovery_key(self) -> str:
        """What decides which links a poll of this source enters where. The source's
        stored validators hold only while it is unchanged: after a topic is renamed, a
        source moved or its ``follow`` widened, a 304 would say "nothing new" about
        links the new topic or filter has never seen."""
        what = (self.topic, self.kind, self.links, self.follow, self.allow_hosts,
                self.max_articles)
        return hashlib.blake2b(repr(what).encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class TopicConfig:
    name: str
    title: str
    description: str
    max_entries: int
    retention: float
    sources: tuple[SourceConfig, ...]


def _idna(host: str) -> str:
    """``host`` in the ASCII form (IDNA 2008, as yarl and so aiohttp spell it) that a
    connection names; as it is when it has none."""
    try:
        return yarl.URL.build(scheme="http", host=host).raw_host or host
    except ValueError:
        return host


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole resolved configuration. Immutable; pass it, don't import it."""

    path: str
    listen_host: str
    listen_port: int
    base_url: str
    redis_url: str | None = field(repr=False)
    user_agent: str
    concurrency: int
    per_host: int
    topics: Mapping[str, TopicConfig]
    sites_dir: str | None = None
    extract_workers: int = 0  # 0 -> one per CPU core
    extract_timeout: float = 10.0
    page_retention: float = 14 * 86400.0
    log_format: Literal["text", "json"] = "text"
    # Where the listen address came from, for an error about it: the file or the env.
    listen_key: str = "service.listen"

    @property
    def listen_address(self) -> str:
        """``host:port`` as ``listen`` writes it: an IPv6 host in brackets (RFC 3986 §3.2.2)."""
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{host}:{self.listen_port}"

    @property
    def redis_url_redacted(self) -> str | None:
        return redact_url(self.redis_url)

    def all_sources(self) -> list[SourceConfig]:
        return [s for t in self.topics.values() for s in t.sources]

    def named_hosts(self) -> frozenset[str]:
        """Every host the config names: its sources' hosts and their ``allow_hosts``.
        Only these may be fetched on a non-public address (an intranet site, a test
        origin on loopback); a link or redirect elsewhere must be on the internet."""
        hosts = set()
        for source in self.all_sources():
            hosts.add((urlsplit(source.url).hostname or "").lower())
            hosts.update(source.allow_hosts)
        # As connections name them: "bücher.intranet" is "xn--bcher-kva.intranet" there.
        return frozenset(_idna(h) for h in hosts - {""})

    def __repr__(self) -> str:  # never print secrets (the Redis URL may hold a password)
        return (
            f"Settings(path={self.path!r}, listen={self.listen_address}, "
            f"redis_url={self.redis_url_redacted!r}, topics={sorted(self.topics)!r})"
        )


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in _user_loc(loc):
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "(top level)"


def _user_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """``loc`` without pydantic's internal validator names; a topic's name (a key the
    user chose: "str", "int" and "literal" are names too) always kept."""
    return tuple(p for i, p in enumerate(loc) if isinstance(p, int) or (
        i == 1 and loc[0] == "topics") or not (
        str(p).startswith("function-") or p in ("literal", "str", "int")))


def _block(loc: tuple[int | str, ...]) -> str:
    """Which block of the file ``loc`` (a key's container) is, in the README's words."""
    if not loc:
        return "the top level"
    if loc[0] == "topics" and len(loc) == 2:
        return "a topic"
    if loc[0] == "topics" and len(loc) == 4 and loc[2] == "sources":
        return "a source"
    return str(loc[0]) if len(loc) == 1 else _loc(loc)


# The blocks a key may be set in, by _block's names.
_BLOCKS: dict[str, type[_Model]] = {"service": _Service, "defaults": _Defaults,
                                    "a topic": _Topic, "a source": _Source}


def _where_key_goes(key: str) -> list[str]:
    return [name for name, model in _BLOCKS.items() if key in model.model_fields]


def _either(blocks: list[str]) -> str:
    return " or ".join([", ".join(blocks[:-1]), blocks[-1]] if len(blocks) > 1 else blocks)


# Words other tools' configs use for our keys, which no spelling distance finds ("type"
# is no misspelling of kind): key (lower case) -> our key.
_SYNONYMS = {
    "type": "kind",
    "feed": "url", "link": "url", "href": "url", "uri": "url", "src": "url",
    "every": "poll_interval", "frequency": "poll_interval", "refresh": "poll_interval",
    "max_items": "max_entries", "max_age": "retention", "ttl": "retention",
    "selector": "links", "pattern": "follow", "regex": "follow",
    "bind": "listen", "feeds": "topics",
}


def _close_key(key: str, keys: Any) -> str | None:
    """The one of ``keys`` that ``key`` stands for (:data:`_SYNONYMS`) or is most
    likely a misspelling of, if any."""
    by_lower = {str(k).lower(): str(k) for k in keys}
    if (synonym := _SYNONYMS.get(key.lower())) in by_lower:
        return synonym
    # 0.7: "folow", "listn", "topic", "ur" find follow, listen, topics, url; "colour"
    # finds nothing ("robots" scores 0.33). Case aside: "URL" and "MAX_ENTRIES" score 0
    # against url and max_entries, and "URL:" would be reported as url missing.
    close = difflib.get_close_matches(key.lower(), sorted(by_lower), n=1, cutoff=0.7)
    return by_lower[close[0]] if close else None


def _shown(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(err: Mapping[str, Any]) -> str:
    """One line a user can act on: no pydantic class names or internal wording."""
    msg = str(err.get("msg", "invalid"))
    kind = err.get("type")
    loc = _user_loc(tuple(err.get("loc", ())))
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        block = _block(loc[:-1])
        at = f"{'at' if block == 'the top level' else 'in'} {block}"
        elsewhere = [b for b in _where_key_goes(key) if b != block]
        if elsewhere:
            return f"unknown key {at} ({key} may be set under {_either(elsewhere)})"
        here = _File if block == "the top level" else _BLOCKS.get(block)
        if here is not None and (close := _close_key(key, here.model_fields)):
            return f"unknown key (did you mean {close}?)"
        # misspelled and misplaced: "poll_intervall" at the top level
        if close := _close_key(key, {k for m in _BLOCKS.values() for k in m.model_fields}):
            return (f"unknown key {at} (did you mean {close}? it may be set under "
                    f"{_either(_where_key_goes(close))})")
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        hint = ""
        if _block(loc) == "a source" and isinstance(value, str):
            hint = f" (write it as `- url: {value}`)"
        elif (loc == ("topics",) and isinstance(value, list)) or (
                _block(loc) == "a topic" and loc[1] in _Topic.model_fields):
            # "topics: sources: [...]" (or "topics: - sources: ...") leaves out the level
            # naming the topic: "topics.sources" alone would read as if sources were wrong
            hint = " (each topic goes under its name: `topics: {NAME: {sources: [...]}}`)"
        return f"expected a mapping of keys, got {_shown(value)}{hint}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {_shown(value)} (write [a, b], or one `- a` per line)"
    if kind == "too_short":
        what = {"topics": "topic", "sources": "source"}.get(str(loc[-1]) if loc else "", "item")
        return f"needs at least one {what}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {_shown(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {_shown(value)}"
    if kind == "string_type":
        return f"expected text, got {_shown(value)} (put it in quotes)"
    msg = msg.removeprefix("Value error, ")
    if msg.startswith("Input should be "):
        msg = "must be " + msg.removeprefix("Input should be ")
        if not isinstance(value, Mapping | list | tuple):
            msg += f", got {_shown(value)}"
    return msg


def _first_error(errors: list[Any]) -> Any:
    """The error to report: the first, unless it is a missing key that an unknown key
    beside it misspells ("topic:" for "topics:", "source:" for "sources:"): that one
    says what to fix, and suggests the key."""
    first = errors[0]
    if first.get("type") == "missing":
        loc = tuple(first["loc"])
        for err in errors:
            other = tuple(err["loc"])
            if (err.get("type") == "extra_forbidden" and other[:-1] == loc[:-1]
                    and _close_key(str(other[-1]), [str(loc[-1])])):
                return err
    return first


def parse_config(data: Any, path: str = "<config>", env: Mapping[str, str] | None = None) -> Settings:
    """Validate already-parsed YAML data and resolve it into :class:`Settings`."""
    env = os.environ if env is None else env
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping with service, defaults, topics")
    try:
        raw = _File.model_validate(data, context={"config_dir": os.path.dirname(path)})
    except ValidationError as exc:
        first = _first_error(exc.errors())
        raise ConfigError(f"{path}: {_loc(first['loc'])}: {_message(first)}") from None

    service = raw.service
    listen = env.get("FEEDSVC_LISTEN") or service.listen
    try:
        _listen(listen)
    except ValueError as exc:
        raise ConfigError(f"{path}: FEEDSVC_LISTEN: {exc}") from None
    host, _, port = listen.rpartition(":")
    redis_url = env.get("FEEDSVC_REDIS_URL", service.redis_url) or None
    if redis_url is not None:
        try:
            _Service(redis_url=redis_url)
        except ValidationError as exc:
            raise ConfigError(f"{path}: FEEDSVC_REDIS_URL: {_message(exc.errors()[0])}") from None

    defaults = {**BUILTIN_DEFAULTS, **raw.defaults.model_dump(exclude_none=True)}
    url_uses = Counter(src.url for topic in raw.topics.values() for src in topic.sources)
    topics: dict[str, TopicConfig] = {}
    for name, topic in raw.topics.items():
        tdef = {**defaults, **topic.model_dump(exclude_none=True, exclude={"sources"})}
        sources = []
        for src in topic.sources:
            sdef = {**tdef, **src.model_dump(exclude_none=True)}
            sources.append(
                SourceConfig(
                    topic=name,
                    url=src.url,
                    kind=src.kind,
                    links=src.links,
                    follow=src.follow,
                    poll_interval=sdef["poll_interval"],
                    timeout=sdef["timeout"],
                    max_page_bytes=sdef["max_page_bytes"],
                    robots=sdef["robots"],
                    max_articles=sdef["max_articles"],
                    # by default host and path: no userinfo, no query (they may hold secrets)
                    name=src.name or host_label(src.url) + urlsplit(src.url).path,
                    allow_hosts=tuple(h.lower() for h in src.allow_hosts),
                )
            )
            if url_uses[src.url] > 1:
                sources[-1] = replace(
                    sources[-1], state_key=f"{src.url}#{sources[-1].discovery_key()}"
                )
        topics[name] = TopicConfig(
            name=name,
            title=topic.title or name,
            description=topic.description or f"Articles for the {name} topic",
            max_entries=tdef["max_entries"],
            retention=tdef["retention"],
            sources=tuple(sources),
        )
    base_url = str(service.base_url or default_base_url(host, int(port)))
    return Settings(
        path=path,
        listen_host=host.strip("[]") or "0.0.0.0",
        listen_port=int(port),
        base_url=base_url.rstrip("/"),
        redis_url=redis_url,
        user_agent=service.user_agent,
        concurrency=defaults["concurrency"],
        per_host=defaults["per_host"],
        topics=topics,
        sites_dir=service.sites_dir,
        extract_workers=service.extract_workers or 0,
        extract_timeout=service.extract_timeout,
        page_retention=service.page_retention,
        log_format=service.log_format,
        listen_key="FEEDSVC_LISTEN" if env.get("FEEDSVC_LISTEN") else "service.listen",
    )


# Tags the loader gives plain (unquoted, untagged) scalars by their look.
_RESOLVED_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in
                           ("int", "float", "bool", "null", "timestamp"))


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: YAML would keep the
    last silently, and a topic pasted twice under one name would vanish."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                # '<<: *common' (YAML merge keys): the merged keys are defaults that the
                # mapping's own keys may override, which is no duplicate
                continue
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag in _RESOLVED_TAGS:
                # Every key is the text written: YAML 1.1 would read the topic "007" as
                # 7, "0x1f" as 31, "yes" as True and "2024" as a number that "2024"
                # quoted does not collide with.
                key_node.tag = "tag:yaml.org,2002:str"
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the YAML file at ``path`` (or ``$FEEDSVC_CONFIG``, or the default)."""
    env = os.environ if env is None else env
    path = path or env.get("FEEDSVC_CONFIG") or DEFAULT_CONFIG_PATH
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no object tags
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    settings = parse_config(data, path, env)
    if settings.sites_dir is None:
        # site rules live beside the feeds file unless configured (config/sites/)
        default_sites = Path(path).parent / "sites"
        if default_sites.is_dir():
            settings = replace(settings, sites_dir=str(default_sites))
    return settings


def format_duration(seconds: float) -> str:
    """``seconds`` as the config writes a duration (:func:`parse_duration` reads it back):
    in the largest unit that measures it whole, ``900.0`` -> ``15m``; ``0`` -> ``0``."""
    if seconds == 0:
        return "0"
    for unit in ("w", "d", "h", "m", "s", "ms"):
        count = seconds / _DURATION_UNITS[unit]
        text = f"{round(count)}{unit}"
        if count == round(count) and parse_duration(text) == seconds:
            return text
    # Every digit the float needs to read back the same (repr's), never an exponent
    # ("1e-07s", "1.20356e+08s" are no durations) nor :g's six digits ("17.6116s").
    return f"{Decimal(repr(seconds)):f}s"


def dump_settings(settings: Settings) -> dict[str, Any]:
    """The resolved configuration, every default applied and secrets redacted, in the
    file's own keys and units (``check-config``): a config that loads to the same settings,
    its redacted secrets aside."""
    return {
        "service": {
            "listen": settings.listen_address,
            "base_url": settings.base_url,
            "redis_url": settings.redis_url_redacted,
            "user_agent": settings.user_agent,
            # absolute: a relative one in a file is read from the file's directory
            "sites_dir": settings.sites_dir and os.path.abspath(settings.sites_dir),
            "extract_workers": settings.extract_workers or os.cpu_count() or 1,
            "extract_timeout": format_duration(settings.extract_timeout),
            "page_retention": format_duration(settings.page_retention),
            "log_format": settings.log_format,
        },
        # The rest of ``defaults`` is resolved into each topic and source below.
        "defaults": {"concurrency": settings.concurrency, "per_host": settings.per_host},
        "topics": {
            name: {
                "title": t.title,
                "description": t.description,
                "max_entries": t.max_entries,
                "retention": format_duration(t.retention),
                "sources": [
                    {
                        "url": redact_url(s.url),
                        "name": s.name,
                        "kind": s.kind,
                        "links": s.links,
                        "follow": s.follow,
                        "poll_interval": format_duration(s.poll_interval),
                        "timeout": format_duration(s.timeout),
                        "max_page_bytes": s.max_page_bytes,
                        "robots": s.robots,
                        "max_articles": s.max_articles,
                        "allow_hosts": list(s.allow_hosts),
                    }
                    for s in t.sources
                ],
            }
            for name, t in settings.topics.items()
        },
    }
