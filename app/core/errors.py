"""Errors a user can cause, with a message to show them."""

from __future__ import annotations


class DomainError(Exception):
    """A rule was broken; MESSAGE is shown to the user, FIELD names the form field if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
