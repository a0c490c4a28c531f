"""The errors an action gives the person who asked: the pages show them, the API sends them."""

from __future__ import annotations

from typing import Any

import redis


class Refused(Exception):
    """An action refused, with an HTTP status and a message for the person who asked."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class BadQuery(ValueError):
    """A query parameter that is not understood, with the reason (HTTP 422)."""


# Redis unreachable or not answering in time: every action waits on it, so the adapters answer
# "unavailable" (503) rather than an error page, and the page or client may try again.
STORE_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


class Invalid(ValueError):
    """An administration request that cannot be done (a name taken, a role unknown, the last
    administrator...). `key` names it for the pages (`admin.error.<key>` in the translation
    table, formatted with `params`); the message is what the command line prints."""

    def __init__(self, key: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.key, self.params = key, params
