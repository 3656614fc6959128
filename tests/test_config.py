"""Config: typed, validated once, one clear line per problem (issue #2 item 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
import yarl

from feedsvc.config import (
    Settings,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
    parse_size,
    redact_url,
)
from feedsvc.errors import ConfigError
from tests.helpers import make_settings

REPO = Path(__file__).resolve().parents[1]

MINIMAL = {
    "topics": {
        "superpowers": {
            "sources": [
                {"url": "https://www.spacewar.com/Superpowers.html", "kind": "index"},
                {"url": "https://www.spacewar.com/spacewar.xml", "kind": "feed"},
            ]
        }
    }
}


def write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(path)


def test_shipped_config_loads() -> None:
    settings = load_config(str(REPO / "config/feeds.yaml"), env={})
    topic = settings.topics["superpowers"]
    assert topic.title == "SUPERPOWERS"
    assert settings.redis_url is None
    assert settings.listen_port == 8080
    assert topic.sources[0].poll_interval == 900.0
    assert topic.retention == 30 * 86400
    assert topic.sources[0].max_page_bytes == 5_000_000
    # the section's pages only: the site-wide feed is a topic of its own
    assert {s.kind for s in topic.sources} == {"index"}
    assert [s.kind for s in settings.topics["spacewar"].sources] == ["feed"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("30d", 2_592_000), ("20s", 20), ("1h30m", 5400), (90, 90), ("500ms", 0.5)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("value", [float("inf"), float("nan"), "inf", 0, -5, "", "soon"])
def test_bad_durations_are_refused(value: object) -> None:
    # YAML's .inf would make a TTL no store can set (and NaN compares false to any
    # bound), so a duration must be a finite, positive number of seconds.
    with pytest.raises(ValueError, match=r"duration|greater than zero|finite"):
        parse_duration(value)


def test_infinite_retention_in_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("topics:\n  t:\n    retention: .inf\n    sources: [{url: 'https://a.test/'}]\n")
    with pytest.raises(ConfigError, match="retention"):
        load_config(str(path), env={})


@pytest.mark.parametrize(
    ("text", "size"), [("5MB", 5_000_000), ("5MiB", 5 * 1024 * 1024), ("512KB", 512_000), (1000, 1000)]
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_overrides_resolve_source_over_topic_over_defaults() -> None:
    data = {
        "defaults": {"poll_interval": "10m", "timeout": "5s", "max_entries": 20},
        "topics": {
            "t": {
                "poll_interval": "1h",
                "max_entries": 7,
                "sources": [
                    {"url": "https://a.test/", "timeout": "2s"},
                    {"url": "https://b.test/", "poll_interval": "30s", "robots": False},
                ],
            }
        },
    }
    s = parse_config(data, env={})
    a, b = s.topics["t"].sources
    assert (a.poll_interval, a.timeout, a.robots) == (3600, 2, True)
    assert (b.poll_interval, b.timeout, b.robots) == (30, 5, False)
    assert s.topics["t"].max_entries == 7


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["topics"]["superpowers"]["sources"][1].update(url="ftp://x"),
         "topics.superpowers.sources[1].url: not an absolute http(s) URL"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(url="/relative"),
         "topics.superpowers.sources[0].url: not an absolute http(s) URL"),
        (lambda d: d["topics"]["superpowers"].update(colour="red"),
         "topics.superpowers.colour: unknown key"),
        (lambda d: d.update(defaults={"poll_interval": "soon"}),
         "defaults.poll_interval: 'soon' is not a duration"),
        (lambda d: d.update(defaults={"max_page_bytes": "5 parsecs"}),
         "defaults.max_page_bytes: '5 parsecs' is not a size"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(kind="blog"),
         "topics.superpowers.sources[0].kind: must be 'index' or 'feed', got 'blog'"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(follow="(unclosed"),
         "topics.superpowers.sources[0].follow: not a valid regular expression"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(links="a[[["),
         "topics.superpowers.sources[0].links: not a valid CSS selector"),
        (lambda d: d["topics"].update({"Bad Name": {"sources": [{"url": "https://a.test/"}]}}),
         "topics: topic name 'Bad Name'"),
        # a key in capitals is a misspelling too, a required one's included
        (lambda d: (src := d["topics"]["superpowers"]["sources"][0]).update(URL=src.pop("url")),
         "topics.superpowers.sources[0].URL: unknown key (did you mean url?)"),
        (lambda d: d.update(defaults={"MAX_ENTRIES": 3}),
         "defaults.MAX_ENTRIES: unknown key (did you mean max_entries?)"),
        # the level naming the topic left out: say so, not only that a mapping was expected
        (lambda d: d.update(topics={"sources": [{"url": "https://a.test/"}]}),
         "topics.sources: expected a mapping of keys, got a list (each topic goes under its "
         "name: `topics: {NAME: {sources: [...]}}`)"),
        (lambda d: d.update(topics=[{"sources": [{"url": "https://a.test/"}]}]),
         "topics: expected a mapping of keys, got a list (each topic goes under its name"),
        (lambda d: d["topics"]["superpowers"].update(sources=[]),
         "topics.superpowers.sources: needs at least one source"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].pop("url"),
         "topics.superpowers.sources[0].url: required key is missing"),
        (lambda d: d.update(service={"listen": "nowhere"}),
         "service.listen: expected HOST:PORT"),
        (lambda d: d.update(service={"redis_url": "http://x"}),
         "service.redis_url: must be a redis://"),
        # Each of these passed the check and then failed at run time (a traceback, or a
        # silently different meaning):
        (lambda d: d.update(service={"redis_url": "redis://127.0.0.1:notaport/0"}),
         "service.redis_url: not a valid Redis URL: Port could not be cast"),
        (lambda d: d.update(service={"redis_url": "redis://localhost:6379/abc"}),
         "service.redis_url: the database must be a number"),
        (lambda d: d.update(service={"listen": "http://0.0.0.0:8080"}),
         "service.listen: expected HOST:PORT (an address or host name, no scheme"),
        (lambda d: d.update(service={"listen": "no such host:8080"}),
         "service.listen: expected HOST:PORT"),
        (lambda d: d.update(service={"listen": "0.0.0.0:0"}),
         "service.listen: port 0 would listen on a port chosen at random; give one from 1 to "
         "65535"),
        (lambda d: d.update(service={"listen": "[::1]:00"}), "service.listen: port 0 would"),
        # an IPv6 address without a port: not host ":" on port 1, nor port "1]"
        (lambda d: d.update(service={"listen": "::1"}),
         "service.listen: expected HOST:PORT with an IPv6 address in brackets, e.g. [::1]:8080"),
        (lambda d: d.update(service={"listen": "2001:db8::5"}),
         "service.listen: expected HOST:PORT with an IPv6 address in brackets"),
        (lambda d: d.update(service={"listen": "[::1]"}),
         "service.listen: expected HOST:PORT with an IPv6 address in brackets"),
        (lambda d: d.update(service={"listen": "[localhost]:8080"}),
         "service.listen: expected HOST:PORT with an IPv6 address in brackets"),
        (lambda d: d.update(service={"listen": "0.0.0.0:65536"}),
         "service.listen: '65536' is not a TCP port (1 to 65535)"),
        (lambda d: d.update(service={"listen": "0.0.0.0:\u00b2"}),
         "service.listen: '\u00b2' is not a TCP port (1 to 65535)"),
        (lambda d: d.update(service={"sites_dir": "/nonexistent/sites"}),
         "service.sites_dir: '/nonexistent/sites' is not a directory"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(url="http://a.test:99999/x"),
         "topics.superpowers.sources[0].url: not a valid URL: Port out of range"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(url="http://a.test:abc/x"),
         "topics.superpowers.sources[0].url: not a valid URL: Port could not be cast"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(
            allow_hosts=["https://www.spacedaily.com/"]),
         "topics.superpowers.sources[0].allow_hosts[0]: 'https://www.spacedaily.com/' is not "
         "a host name"),
        # Typical slips, answered in the file's terms (no pydantic class or type names)
        # and saying what to write instead:
        (lambda d: d["topics"]["superpowers"]["sources"].__setitem__(0, "https://a.test/x"),
         "topics.superpowers.sources[0]: expected a mapping of keys, got 'https://a.test/x' "
         "(write it as `- url: https://a.test/x`)"),
        (lambda d: d["topics"].update(empty=None),
         "topics.empty: expected a mapping of keys, got nothing"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(allow_hosts="a.test"),
         "topics.superpowers.sources[0].allow_hosts: expected a list, got 'a.test'"),
        (lambda d: d.update(topics={}), "topics: needs at least one topic"),
        (lambda d: d.update(defaults={"max_entries": "lots"}),
         "defaults.max_entries: expected a whole number, got 'lots'"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(robots="maybe"),
         "topics.superpowers.sources[0].robots: expected true or false, got 'maybe'"),
        (lambda d: d["topics"]["superpowers"].update(title=1984),
         "topics.superpowers.title: expected text, got 1984 (put it in quotes)"),
        # a documented key at a level where it does not apply says where it does
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(max_entries=5),
         "topics.superpowers.sources[0].max_entries: unknown key in a source (max_entries "
         "may be set under defaults or a topic)"),
        (lambda d: d["topics"]["superpowers"].update(concurrency=3),
         "topics.superpowers.concurrency: unknown key in a topic (concurrency may be set "
         "under defaults)"),
        (lambda d: d.update(service={"poll_interval": "1m"}),
         "service.poll_interval: unknown key in service (poll_interval may be set under "
         "defaults, a topic or a source)"),
        # a misspelled key says which one it may be, and where a misplaced one goes
        (lambda d: d.update(defaults={"poll_intervall": "1m"}),
         "defaults.poll_intervall: unknown key (did you mean poll_interval?)"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(folow="x"),
         "topics.superpowers.sources[0].folow: unknown key (did you mean follow?)"),
        (lambda d: d.update(service={"listn": "0.0.0.0:8080"}),
         "service.listn: unknown key (did you mean listen?)"),
        (lambda d: d.update(poll_intervall="5m"),
         "poll_intervall: unknown key at the top level (did you mean poll_interval? it may be "
         "set under defaults, a topic or a source)"),
        # a word other tools use for a key names it too (config._SYNONYMS)
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(type="feed"),
         "topics.superpowers.sources[0].type: unknown key (did you mean kind?)"),
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(Every="5m"),
         "topics.superpowers.sources[0].Every: unknown key (did you mean poll_interval?)"),
        (lambda d: d["topics"]["superpowers"].update(ttl="5d"),
         "topics.superpowers.ttl: unknown key (did you mean retention?)"),
        (lambda d: d.update(every="5m"),
         "every: unknown key at the top level (did you mean poll_interval? it may be set "
         "under defaults, a topic or a source)"),
        # ... before the key it misspells is reported missing
        (lambda d: d.update(topic=d.pop("topics")),
         "topic: unknown key (did you mean topics?)"),
        (lambda d: (src := d["topics"]["superpowers"]["sources"][0]).update(href=src.pop("url")),
         "topics.superpowers.sources[0].href: unknown key (did you mean url?)"),
        (lambda d: d.update(feeds=d.pop("topics")),
         "feeds: unknown key (did you mean topics?)"),
        (lambda d: d["topics"]["superpowers"].update(
            source=d["topics"]["superpowers"].pop("sources")),
         "topics.superpowers.source: unknown key (did you mean sources?)"),
        # a host the fetcher would refuse at every poll
        (lambda d: d["topics"]["superpowers"]["sources"][0].update(url="http://exa mple.com/x"),
         "topics.superpowers.sources[0].url: not a valid URL: bad host 'exa mple.com'"),
    ],
)
def test_bad_config_names_file_key_and_problem(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    import copy

    data = copy.deepcopy(MINIMAL)
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "topics:\n  a: [unclosed\n")
    with pytest.raises(ConfigError, match=r"feeds.yaml: line \d+: invalid YAML"):
        load_config(path, env={})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_config("nope.yaml", env={})


def test_env_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    env = {"FEEDSVC_CONFIG": path, "FEEDSVC_REDIS_URL": "redis://:s3cret@r:6379/0",
           "FEEDSVC_LISTEN": "127.0.0.1:9999"}
    s = load_config(None, env=env)
    assert s.path == path
    assert s.redis_url == "redis://:s3cret@r:6379/0"
    assert (s.listen_host, s.listen_port) == ("127.0.0.1", 9999)
    # secrets never printed
    assert "s3cret" not in repr(s)
    assert s.redis_url_redacted == "redis://:***@r:6379/0"


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:s3cret@r:6379/0", "redis://:***@r:6379/0"),
    ("redis://user:s3cret@r/0", "redis://user:***@r/0"),
    # redis-py also takes the password as a query parameter
    ("redis://r:6379/0?password=s3cret", "redis://r:6379/0?password=***"),
    ("rediss://r/0?ssl_cert_reqs=none&Password=s3cret", "rediss://r/0?ssl_cert_reqs=none&Password=***"),
    ("unix:///run/redis.sock?db=1", "unix:///run/redis.sock?db=1"),
    # a username alone is often a token, which the fetcher sends as Basic auth
    ("https://ghp_T0KEN@feeds.example/news.xml", "https://***@feeds.example/news.xml"),
    # secrets by the words their names are made of (security review, session 6)
    ("https://b.example/f.xml?X-Amz-Signature=abc&X-Amz-Credential=AK%2F1&page=2",
     "https://b.example/f.xml?X-Amz-Signature=***&X-Amz-Credential=***&page=2"),
    ("https://h.example/f?client_secret=s&private_token=t&access-token=a&keyword=space",
     "https://h.example/f?client_secret=***&private_token=***&access-token=***&keyword=space"),
    ("https://h.example/feed;password=s3cret/news?a=1", "https://h.example/feed;password=***/news?a=1"),
])
def test_secrets_never_shown(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_bad_env_override_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    with pytest.raises(ConfigError, match="FEEDSVC_LISTEN"):
        load_config(path, env={"FEEDSVC_LISTEN": "host-without-port"})
    with pytest.raises(ConfigError, match="FEEDSVC_LISTEN: port 0 would listen on a port "
                                          "chosen at random"):
        load_config(path, env={"FEEDSVC_LISTEN": "127.0.0.1:0"})


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path, {**MINIMAL, "service": {"redis_url": "redis://:hunter2@localhost/0"}})
    run = subprocess.run([sys.executable, "-m", "feedsvc", "check-config", "-c", good],
                         capture_output=True, text=True, env={"PATH": "/usr/bin"})
    assert run.returncode == 0, run.stderr
    printed = yaml.safe_load(run.stdout)
    assert printed["topics"]["superpowers"]["sources"][1]["kind"] == "feed"
    assert "hunter2" not in run.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"topics": {"x": {"sources": [{"url": "nope"}]}}}))
    run = subprocess.run([sys.executable, "-m", "feedsvc", "check-config", "-c", str(bad)],
                         capture_output=True, text=True, env={"PATH": "/usr/bin"})
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"feedsvc: config error: {bad}: topics.x.sources[0].url: not an absolute http(s) URL"
    ]


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    return load_config(str(path), env={})


def test_ipv6_wildcard_listen_gives_a_localhost_base_url(tmp_path: Path) -> None:
    s = _load(tmp_path, 'service: {listen: "[::]:8080"}\ntopics: {t: {sources: [{url: "https://a.test/"}]}}\n')
    assert (s.listen_host, s.base_url) == ("::", "http://localhost:8080")


@pytest.mark.parametrize("listen", ["[::1]:8080", "::1:8080"])
def test_an_ipv6_listen_gives_a_bracketed_base_url(tmp_path: Path, listen: str) -> None:
    s = _load(tmp_path, f'service: {{listen: "{listen}"}}\n'
                        'topics: {t: {sources: [{url: "https://a.test/"}]}}\n')
    assert (s.listen_host, s.base_url) == ("::1", "http://[::1]:8080")


def test_topic_names_yaml_reads_as_numbers_or_dates_are_names(tmp_path: Path) -> None:
    s = _load(tmp_path, "topics:\n  2024: {sources: [{url: 'https://a.test/'}]}\n"
                        "  2024-01-01: {sources: [{url: 'https://b.test/'}]}\n")
    assert sorted(s.topics) == ["2024", "2024-01-01"]


def test_topic_names_are_kept_as_written(tmp_path: Path) -> None:
    """YAML 1.1 would read "007" as 7, "0x1f" as 31 and "1_000" as 1000: the feed's path
    must be the name the user wrote."""
    s = _load(tmp_path, "topics:\n" + "".join(
        f"  {name}: {{sources: [{{url: 'https://a.test/{n}'}}]}}\n"
        for n, name in enumerate(["007", "0x1f", "1_000", "yes", "1e3"])))
    assert sorted(s.topics) == sorted(["007", "0x1f", "1_000", "yes", "1e3"])


def test_a_relative_sites_dir_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the default (sites/ beside the file) is: not to the directory feedsvc is
    started from, which would use another directory of rules or none."""
    (tmp_path / "conf" / "rules").mkdir(parents=True)
    (tmp_path / "rules").mkdir()  # the same name where feedsvc is started: not this one
    path = tmp_path / "conf" / "feeds.yaml"
    path.write_text("service: {sites_dir: rules}\ntopics: {t: {sources: [{url: 'https://a.test/'}]}}\n")
    monkeypatch.chdir(tmp_path)
    settings = load_config(str(path), env={})
    assert settings.sites_dir is not None
    assert Path(settings.sites_dir).resolve() == (tmp_path / "conf" / "rules").resolve()


def test_one_topic_name_written_quoted_and_plain_is_a_duplicate(tmp_path: Path) -> None:
    text = ("topics:\n  2024: {sources: [{url: 'https://a.test/'}]}\n"
            "  \"2024\": {sources: [{url: 'https://b.test/'}]}\n")
    with pytest.raises(ConfigError, match=r"line 3: invalid YAML: duplicate key '2024'"):
        _load(tmp_path, text)


@pytest.mark.parametrize("name", ["_drafts", "-x", "a" * 65])
def test_a_bad_topic_name_is_told_the_whole_rule(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=r"1 to 64 .* starting with a letter or digit"):
        _load(tmp_path, f"topics:\n  '{name}': {{sources: [{{url: 'https://a.test/'}}]}}\n")


def test_a_key_given_twice_is_an_error_naming_its_line(tmp_path: Path) -> None:
    text = ("topics:\n  t: {sources: [{url: 'https://a.test/'}]}\n"
            "  t: {sources: [{url: 'https://b.test/'}]}\n")
    with pytest.raises(ConfigError, match=r"line 3: invalid YAML: duplicate key 't'"):
        _load(tmp_path, text)


def test_yaml_merge_keys_share_options_and_are_no_duplicates(tmp_path: Path) -> None:
    """'<<: *anchor' (YAML merge keys) works as in any YAML file; a key of the mapping
    itself overrides a merged one."""
    text = ("defaults: &common {robots: false, poll_interval: 5m}\n"
            "topics:\n  t:\n    sources:\n"
            "      - <<: *common\n        url: 'https://a.test/'\n"
            "      - <<: *common\n        url: 'https://b.test/'\n        robots: true\n")
    a, b = _load(tmp_path, text).topics["t"].sources
    assert (a.robots, a.poll_interval, b.robots, b.poll_interval) == (False, 300, True, 300)


def test_blocks_with_every_key_commented_out_are_empty(tmp_path: Path) -> None:
    s = _load(tmp_path, "service:\n  # listen: 127.0.0.1:8080\ndefaults:\n"
                        "topics: {t: {sources: [{url: 'https://a.test/'}]}}\n")
    assert s.listen_port == 8080


@pytest.mark.parametrize("zero", ["0", "0s", "0d", 0, "0.0h"])
def test_page_retention_zero_in_any_unit_is_off(tmp_path: Path, zero: object) -> None:
    s = _load(tmp_path, yaml.safe_dump({"service": {"page_retention": zero},
                                        "topics": {"t": {"sources": [{"url": "https://a.test/"}]}}}))
    assert s.page_retention == 0


def test_topic_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="topic name"):
        _load(tmp_path, 'topics:\n  "news\\n": {sources: [{url: "https://a.test/"}]}\n')


def test_named_hosts_are_spelled_as_connections_name_them() -> None:
    """Hosts the config names may be fetched on non-public addresses; a connection names
    "bücher.intranet" as "xn--bcher-kva.intranet", so an intranet source with such a name
    was refused (final review, session 6)."""
    settings = make_settings({"t": {"sources": [
        {"url": "http://Bücher.intranet/i.html", "allow_hosts": ["straße.intranet"]},
        {"url": "http://127.0.0.1:8000/feed.xml", "kind": "feed"}]}})
    assert settings.named_hosts() == {
        "xn--bcher-kva.intranet", "xn--strae-oqa.intranet", "127.0.0.1"}


def test_international_host_names_are_valid_urls() -> None:
    data = {"topics": {"t": {"sources": [{"url": "https://bücher.example/neu.html"}]}}}
    assert parse_config(data, env={}).topics["t"].sources[0].url == "https://bücher.example/neu.html"


@pytest.mark.parametrize(("seconds", "text"), [
    (900.0, "15m"), (20.0, "20s"), (90.0, "90s"), (5400.0, "90m"), (1209600.0, "2w"),
    (2592000.0, "30d"), (0.25, "250ms"), (0.0, "0"), (0.0005, "0.0005s")])
def test_format_duration_writes_what_parse_duration_reads(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    if seconds:
        assert parse_duration(text) == seconds


def test_check_config_prints_a_config_that_loads_to_the_same_settings(tmp_path: Path) -> None:
    """Its keys and units are the file's (poll_interval: 15m, concurrency under defaults,
    each source's name): the output can be read, or saved and used, as a config (user
    review: it printed poll_interval_seconds: 900.0 and per_host under service)."""
    sites = tmp_path / "rules"
    sites.mkdir()
    path = write(tmp_path, {
        "service": {"listen": "127.0.0.1:9000", "sites_dir": "rules", "page_retention": 0,
                    "extract_timeout": "1.5s", "log_format": "json"},
        "defaults": {"poll_interval": "1h30m", "per_host": 3, "retention": "7d"},
        "topics": {"news": {"title": "News", "max_entries": 20, "sources": [
            {"url": "https://a.example/news/", "name": "A news", "links": "a.story",
             "follow": "/20[0-9]+/", "allow_hosts": ["cdn.example"], "robots": False},
            {"url": "https://b.example/feed.xml", "kind": "feed", "timeout": "45s",
             "max_page_bytes": "2MB", "max_articles": 7}]}},
    })
    first = load_config(path, env={})
    run = subprocess.run([sys.executable, "-m", "feedsvc", "check-config", "-c", path],
                         capture_output=True, text=True, env={"PATH": "/usr/bin"}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "poll_interval: 90m" in run.stdout and "_seconds" not in run.stdout
    again_path = tmp_path / "again" / "feeds.yaml"
    again_path.parent.mkdir()
    again_path.write_text(run.stdout)
    again = load_config(str(again_path), env={})
    # extract_workers is printed as the cores it means (0: as many as there are)
    assert again.extract_workers == (os.cpu_count() or 1) and first.extract_workers == 0
    assert replace(again, path=first.path, extract_workers=0) == first


@pytest.mark.parametrize("text", ["1.2345678s", "17611.582ms", "0.0000001s", "0.001ms",
                                  "33432.120h", "95138.29d"])
def test_format_duration_reads_back_every_digit(text: str) -> None:
    """Not :g's six digits ("1.23457s") nor its exponents ("1e-07s", "8.21995e+09s"),
    which parse_duration refuses: check-config's output would not load, or not to the
    same settings."""
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("name", ["str", "int", "literal"])
def test_a_topic_named_like_a_pydantic_validator_is_named_in_errors(name: str) -> None:
    """Pydantic's internal names ("str", "int", "literal") are left out of an error's
    key path; a topic of that name is the user's key, and its block is still a source's."""
    data = {"topics": {name: {"sources": ["https://a.example/"]}}}
    with pytest.raises(ConfigError) as err:
        parse_config(data, "f.yaml", env={})
    assert str(err.value) == (f"f.yaml: topics.{name}.sources[0]: expected a mapping of keys, "
                              "got 'https://a.example/' (write it as `- url: https://a.example/`)")


@pytest.mark.parametrize("written", ["::1", "[::1]", "[FD00:0::1]"])
def test_allow_hosts_takes_an_ipv6_address(written: str) -> None:
    """A refused fetch of http://[::1]:8080/ says to name its host in allow_hosts
    (errors.PrivateAddressBlockedError); an IPv6 address is one, spelled as the fetcher
    spells the URL's host (yarl: "::1", "fd00::1")."""
    data = {"topics": {"t": {"sources": [{"url": "https://a.example/", "allow_hosts": [written]}]}}}
    settings = parse_config(data, env={})
    expected = yarl.URL(f"http://[{written.strip('[]')}]/").host
    assert expected in settings.named_hosts()


def test_check_config_writes_ipv6_listen_in_brackets_and_text_as_it_is(tmp_path: Path) -> None:
    """``listen: ::1:9000`` reads as anything but an address, and ``\\xDCber`` is no
    title anyone wrote (review of check-config's output)."""
    path = write(tmp_path, {"service": {"listen": "[::1]:9000"}, "topics": {"raum": {
        "title": "Über Raumfahrt — Nachrichten",
        "sources": [{"url": "https://bücher.example/news/"}]}}})
    run = subprocess.run([sys.executable, "-m", "feedsvc", "check-config", "-c", path],
                         capture_output=True, text=True, env={"PATH": "/usr/bin", "LANG": "C.UTF-8"})
    assert run.returncode == 0, run.stderr
    assert "listen: '[::1]:9000'" in run.stdout
    assert "title: Über Raumfahrt — Nachrichten" in run.stdout
    assert load_config(path, env={}).listen_address == "[::1]:9000"
