"""Dates from page metadata and datelines: every result has a time zone and is right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from feedsvc.extract.dates import parse_date

CET = timezone(timedelta(hours=1))


@pytest.mark.parametrize(("text", "expected"), [
    ("2017-02-16T10:00:00Z", datetime(2017, 2, 16, 10, tzinfo=UTC)),
    ("2017-02-16T10:00:00+0100", datetime(2017, 2, 16, 10, tzinfo=CET)),
    ("2017-02-16", datetime(2017, 2, 16, tzinfo=UTC)),
    ("Thu, 16 Feb 2017 10:00:00 +0100", datetime(2017, 2, 16, 10, tzinfo=CET)),
    ("Thu, 16 Feb 2017 10:00:00 GMT", datetime(2017, 2, 16, 10, tzinfo=UTC)),
    # 12-hour clocks and US zone names, common in bylines and meta tags
    ("February 16, 2017 10:30 PM EST", datetime(2017, 2, 17, 3, 30, tzinfo=UTC)),
    ("Feb 16, 2017 9:05 am PDT", datetime(2017, 2, 16, 16, 5, tzinfo=UTC)),
    ("Feb 16, 2017", datetime(2017, 2, 16, tzinfo=UTC)),
    ("16 February 2017", datetime(2017, 2, 16, tzinfo=UTC)),
    ("Washington (AFP) Feb 16, 2017", datetime(2017, 2, 16, tzinfo=UTC)),
])
def test_parse_date(text: str, expected: datetime) -> None:
    got = parse_date(text)
    assert got == expected and got.utcoffset() is not None


@pytest.mark.parametrize("text", [
    "Mon, 01 Jan 99999999999 00:00:00 +0000",  # OverflowError inside the parser
    "yesterday", "", "12345", "Feb 31, 2017", "1200-01-01", "10:30", "10:30 PM EST",
])
def test_nonsense_is_no_date(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize("name", ["sailthru.date", "dcterms.created", "DC.date.issued"])
def test_published_date_from_meta_names_with_dots(name: str) -> None:
    from feedsvc.extract import extract_article

    story = "".join(f"<p>Paragraph {i} of the story, long enough to be content, with commas, "
                    "words, and sentences a reader wants.</p>" for i in range(6))
    page = (f'<html><head><meta name="{name}" content="2017-02-16T10:00:00Z"></head>'
            f"<body><div>{story}</div></body></html>")
    art = extract_article(page, "https://news.example/a.html")
    assert art.published == datetime(2017, 2, 16, 10, tzinfo=UTC)


@pytest.mark.parametrize(("month", "day", "near", "until", "expected"), [
    # dated by the fetch time itself: the latest such day begun anywhere by then
    (11, 3, datetime(2025, 11, 3, 0, 1, tzinfo=UTC), "near", datetime(2025, 11, 3, tzinfo=UTC)),
    # up to 14 hours ahead of the moment (UTC+14): tomorrow there, this year's
    (11, 4, datetime(2025, 11, 3, 10, tzinfo=UTC), "near", datetime(2025, 11, 4, tzinfo=UTC)),
    # further ahead: a day not yet begun anywhere is last year's
    (11, 4, datetime(2025, 11, 3, 9, 59, tzinfo=UTC), "near", datetime(2024, 11, 4, tzinfo=UTC)),
    (12, 31, datetime(2026, 1, 1, 2, tzinfo=UTC), "near", datetime(2025, 12, 31, tzinfo=UTC)),
    # a moment in another zone is the same moment
    (1, 1, datetime(2025, 12, 31, 20, tzinfo=timezone(timedelta(hours=-5))), "near",
     datetime(2026, 1, 1, tzinfo=UTC)),
    # a day (a URL's): the nearest such day, either side of it
    (1, 1, datetime(2025, 12, 31, tzinfo=UTC), None, datetime(2026, 1, 1, tzinfo=UTC)),
    (12, 30, datetime(2026, 1, 1, tzinfo=UTC), None, datetime(2025, 12, 30, tzinfo=UTC)),
    # a story updated days after the date of its URL or feed item: that year's, not the
    # year before, unless the day had not begun when it was fetched
    (1, 2, datetime(2025, 12, 31, tzinfo=UTC), None, datetime(2026, 1, 2, tzinfo=UTC)),
    (11, 5, datetime(2025, 11, 3, 12, tzinfo=UTC), datetime(2025, 11, 5, 15, tzinfo=UTC),
     datetime(2025, 11, 5, tzinfo=UTC)),
    (11, 5, datetime(2025, 11, 3, 12, tzinfo=UTC), datetime(2025, 11, 4, 9, tzinfo=UTC),
     datetime(2024, 11, 5, tzinfo=UTC)),
    # a leap day is the last leap year's; no Nov 31 is in any year
    (2, 29, datetime(2027, 3, 1, tzinfo=UTC), "near", datetime(2024, 2, 29, tzinfo=UTC)),
    (11, 31, datetime(2025, 12, 1, tzinfo=UTC), "near", None),
])
def test_day_in_year(month: int, day: int, near: datetime, until: datetime | str | None,
                     expected: datetime | None) -> None:
    from feedsvc.extract.dates import day_in_year

    fetched = near if until == "near" else until
    assert not isinstance(fetched, str)
    assert day_in_year(month, day, near, until=fetched) == expected
