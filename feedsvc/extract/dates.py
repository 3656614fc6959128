"""Date parsing for page metadata and datelines; every result carries a time zone."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from dateutil import parser as dateutil_parser

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
# "Thu, 16 Feb 2017 10:00:00 +0100" (RFC 2822 §3.3; the day name is optional)
_RFC2822 = re.compile(r"^\s*(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}")
_CLOCK = re.compile(r"\d{1,2}:\d{2}")
# Zone names bylines use, with their UTC offsets in seconds (dateutil needs them given:
# names are ambiguous in general, e.g. IST).
_ZONES = {
    "UTC": 0, "GMT": 0, "Z": 0,
    "EST": -5 * 3600, "EDT": -4 * 3600, "CST": -6 * 3600, "CDT": -5 * 3600,
    "MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
    "BST": 3600, "CET": 3600, "CEST": 2 * 3600, "EET": 2 * 3600, "EEST": 3 * 3600,
    "MSK": 3 * 3600, "JST": 9 * 3600, "AEST": 10 * 3600, "AEDT": 11 * 3600,
}
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
    if result is None and _RFC2822.match(text):
        # Only for RFC 2822's own shape: given anything else the email parser guesses,
        # reading "10:30 PM EST" as 10:30 UTC.
        try:
            result = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            result = None
    if result is None:
        result = _english_date_time(text)
    if result is None:
        result = text_date(text)
    if result is None or not _plausible(result):
        return None
    return _aware(result)


def _english_date_time(text: str) -> datetime | None:
    """A date with its time as bylines write it ("February 16, 2017 10:30 PM EST"), by
    python-dateutil, which knows 12-hour clocks; the text must be only that."""
    day = text_date(text)
    if day is None or not _CLOCK.search(text):
        return None  # dateutil would fill a missing day or year in from today
    with warnings.catch_warnings():
        # A zone name it does not know leaves the time naive (taken as UTC below).
        warnings.simplefilter("ignore", dateutil_parser.UnknownTimezoneWarning)
        try:
            value = dateutil_parser.parse(text, tzinfos=_ZONES)
        except (ValueError, OverflowError):
            return None
    return value if value.date() == day.date() else None


def month_number(name: str) -> int | None:
    """1 to 12 for a month's name or abbreviation ("Nov", "Nov.", "november")."""
    return _MONTHS.get(name.lower().rstrip("."))


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


# A day named without its year (a Reuters or UPI dateline's "Nov 3") has begun somewhere
# by the time its story is fetched: the day begins first at UTC+14, as
# feedsvc.extract._on_day has it.
_AHEAD_OF_INSTANT = timedelta(hours=14)


def day_in_year(month: int, day: int, near: datetime, *,
                until: datetime | None = None) -> datetime | None:
    """The ``month``/``day`` (UTC midnight) in the year that puts it nearest ``near``
    (what dates the story: the URL's date, the feed's date, the fetch time), but never
    after ``until`` (the fetch time: a story is not datelined a day that had begun
    nowhere on Earth when it was fetched). A story datelined Dec 31 and fetched on Jan 1
    is of the year before; one datelined Nov 5, a story updated two days after the Nov 3
    its URL or feed dates it by, is of that year, not the year before; Feb 29, of the
    nearest leap year."""
    near = _aware(near).astimezone(UTC)
    latest = None if until is None else _aware(until).astimezone(UTC) + _AHEAD_OF_INSTANT
    best: datetime | None = None
    for year in range(near.year - 8, near.year + 9):  # a leap day: some year of eight
        try:
            value = datetime(year, month, day, tzinfo=UTC)
        except ValueError:
            continue
        # on a tie (half a year away each way), the earlier: the story is out already
        if (latest is None or value <= latest) and _plausible(value) and (
                best is None or abs(value - near) < abs(best - near)):
            best = value
    return best
