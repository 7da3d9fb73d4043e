"""Budget periods are calendar units in local time (ISO weeks from Monday)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from az_cost.periods import local_day, period_end, period_label, period_start


def berlin(*args: int) -> datetime:
    """A Berlin wall-clock time as an aware datetime (the fixture sets TZ)."""
    return datetime(*args).astimezone()


def test_daily_starts_at_local_midnight_not_utc_midnight(local_tz: str) -> None:
    now = berlin(2026, 11, 21, 0, 30)  # 23:30 UTC the day before
    start = period_start("daily", now)
    assert start == berlin(2026, 11, 21)
    assert start.astimezone(UTC) == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    assert period_label("daily", now) == "2026-11-21"
    assert period_end("daily", now) == berlin(2026, 11, 22)


def test_weekly_is_the_iso_week_from_monday(local_tz: str) -> None:
    sunday_night = berlin(2026, 11, 22, 23, 59)
    monday = berlin(2026, 11, 23, 0, 1)
    assert period_start("weekly", sunday_night) == berlin(2026, 11, 16)
    assert period_start("weekly", monday) == berlin(2026, 11, 23)
    assert period_label("weekly", sunday_night) == "2026-W47"
    assert period_label("weekly", monday) == "2026-W48"
    assert period_end("weekly", sunday_night) == berlin(2026, 11, 23)


def test_weekly_across_new_year_uses_the_iso_year(local_tz: str) -> None:
    new_year = berlin(2027, 1, 1, 12)  # a Friday in ISO week 53 of 2026
    assert period_label("weekly", new_year) == "2026-W53"
    assert period_start("weekly", new_year) == berlin(2026, 12, 28)


def test_monthly_start_keeps_its_own_utc_offset_across_dst(local_tz: str) -> None:
    now = berlin(2026, 10, 30, 12)  # after the switch to winter time (+01:00)
    start = period_start("monthly", now)
    assert start is not None
    assert start.utcoffset() == timedelta(hours=2)  # 1 October was still summer time
    assert start.astimezone(UTC) == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
    assert period_label("monthly", now) == "2026-10"
    assert period_end("monthly", berlin(2026, 12, 31, 23)) == berlin(2027, 1, 1)


def test_all_has_no_start() -> None:
    assert period_start("all") is None
    assert period_end("all") is None
    assert period_label("all") == "all"


def test_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError, match="daily, weekly, monthly, all"):
        period_start("yearly")


def test_local_day_of_a_utc_timestamp(local_tz: str) -> None:
    assert local_day(datetime(2026, 11, 20, 23, 30, tzinfo=UTC)) == "2026-11-21"
    assert local_day(datetime(2026, 11, 20, 22, 30, tzinfo=UTC)) == "2026-11-20"
