"""Date parsing for page metadata and datelines; every result carries a time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_MONTHS = {
    m: i + 1
    for i, names in enumerate([
        ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
        ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
        ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
        ("dec", "december"),
    ])
    for m in names
}
MONTH_RE = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
# "Feb 16, 2017", "February 16 2017", "16 February 2017"
_TEXT_DATE = re.compile(
    rf"\b(?:(?P<m1>{MONTH_RE})\.?\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y1>\d{{4}})"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<m2>{MONTH_RE})\.?,?\s+(?P<y2>\d{{4}}))\b",
    re.I,
)
_ISO_PREFIX = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")
_URL_DATE = re.compile(r"/(?P<y>(?:19|20)\d{2})/(?P<m>0?[1-9]|1[0-2])/(?P<d>0?[1-9]|[12]\d|3[01])/")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _plausible(value: datetime) -> bool:
    return 1990 <= value.year <= datetime.now(UTC).year + 1


def parse_date(text: str | None) -> datetime | None:
    """Parse an ISO 8601, RFC 2822 or plain-English date; naive times are taken as UTC."""
    if not text:
        return None
    text = text.strip()
    result: datetime | None = None
    if _ISO_PREFIX.match(text):
        iso = text.replace("Z", "+00:00").replace("z", "+00:00")
        # "2017-02-16T10:00:00+0100" (no colon in the offset) is common in the wild.
        iso = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", iso)
        try:
            result = datetime.fromisoformat(iso)
        except ValueError:
            try:
                result = datetime.fromisoformat(iso[:10])
            except ValueError:
                result = None
    if result is None:
        try:
            result = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            result = None
    if result is None:
        result = text_date(text)
    if result is None or not _plausible(result):
        return None
    return _aware(result)


def text_date(text: str) -> datetime | None:
    """The first "Feb 16, 2017"-style date in ``text`` (UTC midnight)."""
    m = _TEXT_DATE.search(text)
    if not m:
        return None
    month = _MONTHS.get((m["m1"] or m["m2"]).lower().rstrip("."))
    try:
        value = datetime(int(m["y1"] or m["y2"]), month or 0, int(m["d1"] or m["d2"]), tzinfo=UTC)
    except ValueError:
        return None
    return value if _plausible(value) else None


def url_date(url: str) -> datetime | None:
    """A /YYYY/MM/DD/ date in the URL path."""
    m = _URL_DATE.search(url)
    if not m:
        return None
    try:
        value = datetime(int(m["y"]), int(m["m"]), int(m["d"]), tzinfo=UTC)
    except ValueError:
        return None
    return value if _plausible(value) else None
