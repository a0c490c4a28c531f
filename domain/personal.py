"""Personal data's rules (issue 13, "who may read what"): a citizen's phone number is shown
masked, and only an explicit reveal gives the number; an officer's track is personal once it
reaches before today (local UTC+8 day), so such a read is recorded. Pure: no Redis, no web.
"""

from __future__ import annotations

import datetime as dt
import re

from domain.vocab import LOCAL_TZ

PHONE_MAX = 20
# digits, "+", "-" and spaces (a hotline report typed by a duty chief), at least one digit
PHONE_PATTERN = r"^[0-9+\- ]*[0-9][0-9+\- ]*$"
DAY_MS = 86_400_000


def clean_phone(value: str) -> str:
    """The number as kept: no spaces around it, inner runs of spaces made one."""
    return re.sub(r" +", " ", value.strip())


def mask_phone(phone: str) -> str:
    """The number with all but its first 3 and last 4 digits hidden (`138****5678`, without
    China's country code 86 before an 11-digit number); a short number keeps only its last 2
    digits (`****78`)."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) >= 9:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) >= 4:
        return f"****{digits[-2:]}"
    return "****"


def start_of_local_day(ms: int) -> int:
    """Epoch ms of the local (UTC+8) midnight that begins the day of `ms`."""
    day = dt.datetime.fromtimestamp(ms / 1000, LOCAL_TZ).date()
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).timestamp() * 1000)


def track_read_is_recorded(from_ms: int, now_ms: int) -> bool:
    """A read of an officer's track that reaches before today is recorded; within today not."""
    return from_ms < start_of_local_day(now_ms)


def phone_erase_before(now_ms: int, keep_days: int) -> int:
    """Incidents opened before this instant lose their reporter's phone number."""
    return now_ms - keep_days * DAY_MS
