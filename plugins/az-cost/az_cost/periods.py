"""Budget and report periods, in the user's local time.

A period is the calendar unit that contains "now", in the local time zone of
the machine (``TZ`` on Unix):

* ``daily`` - the calendar day, from local midnight;
* ``weekly`` - the ISO 8601 week, from Monday 00:00 local time;
* ``monthly`` - the calendar month, from the 1st at 00:00 local time;
* ``all`` - no start: everything ever recorded.

Starts are computed from the local wall-clock date, so a period that spans a
daylight-saving change still starts at local midnight (its length is then
23 or 25 hours). Storage timestamps are UTC; :func:`period_start` returns a
timezone-aware datetime that compares correctly with them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args

Period = Literal["daily", "weekly", "monthly", "all"]
BudgetPeriod = Literal["daily", "weekly", "monthly"]

PERIODS: tuple[str, ...] = get_args(Period)
BUDGET_PERIODS: tuple[str, ...] = get_args(BudgetPeriod)


def local_now() -> datetime:
    """The current time, timezone-aware, in the local time zone."""
    return datetime.now().astimezone()


def _check(period: str) -> None:
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}: expected one of {', '.join(PERIODS)}")


def _local_midnight(day: date) -> datetime:
    # A naive datetime's astimezone() interprets it as local wall-clock time,
    # which gives the offset in force at that midnight (not at "now").
    return datetime(day.year, day.month, day.day).astimezone()


def period_start(period: str, now: datetime | None = None) -> datetime | None:
    """The local-time start of the period containing ``now`` (default: the
    current time); ``None`` for ``all``.

    Raises ValueError for an unknown period name.
    """
    _check(period)
    if period == "all":
        return None
    now = (now or local_now()).astimezone()
    today = now.date()
    if period == "daily":
        return _local_midnight(today)
    if period == "weekly":
        return _local_midnight(today - timedelta(days=today.weekday()))
    return _local_midnight(today.replace(day=1))


def period_end(period: str, now: datetime | None = None) -> datetime | None:
    """The local-time start of the *next* period (when a budget of this
    period starts afresh); ``None`` for ``all``."""
    _check(period)
    if period == "all":
        return None
    now = (now or local_now()).astimezone()
    today = now.date()
    if period == "daily":
        return _local_midnight(today + timedelta(days=1))
    if period == "weekly":
        return _local_midnight(today + timedelta(days=7 - today.weekday()))
    first = today.replace(day=1)
    nxt = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )
    return _local_midnight(nxt)


def period_start_utc(period: str, now: datetime | None = None) -> datetime | None:
    """:func:`period_start` converted to UTC (what storage queries take)."""
    start = period_start(period, now)
    return start.astimezone(UTC) if start is not None else None


def period_label(period: str, now: datetime | None = None) -> str:
    """A short name of the period containing ``now``: ``2026-11-21``
    (daily), ``2026-W47`` (weekly, ISO week), ``2026-11`` (monthly), ``all``."""
    _check(period)
    if period == "all":
        return "all"
    now = (now or local_now()).astimezone()
    if period == "daily":
        return now.date().isoformat()
    if period == "weekly":
        year, week, _ = now.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{now.year:04d}-{now.month:02d}"


def local_day(ts: datetime) -> str:
    """The local calendar date (``YYYY-MM-DD``) of a timestamp (naive
    timestamps are taken as UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone().date().isoformat()
