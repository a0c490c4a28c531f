"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import datetime as dt

from domain.vocab import LOCAL_TZ

# The local times of day at which every time-sensitive test runs: just after midnight, the small
# hours, noon and the last minute of the day. 00:05 and 02:00 in Shenzhen (UTC+8) fall on the
# previous UTC date, so these also cross a UTC/local date change.
LOCAL_TIMES = ("00:05", "02:00", "12:00", "23:59")
TEST_DAY = dt.date(2026, 11, 18)  # a Wednesday: the week before it has a weekend


def local_ms(day: dt.date, hhmm: str = "00:00") -> int:
    """Epoch ms of a Shenzhen wall-clock time."""
    hour, minute = map(int, hhmm.split(":"))
    return int(
        dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ).timestamp() * 1000
    )


def local_date(ms: int) -> dt.date:
    """The Shenzhen date of an instant."""
    return dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).date()
