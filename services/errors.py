"""The errors an action gives the person who asked: the pages show them, the API sends them."""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """An action refused, with an HTTP status and a message for the person who asked."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class BadQuery(ValueError):
    """A query parameter that is not understood, with the reason (HTTP 422)."""
