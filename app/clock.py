"""The one place that reads the clock; the core takes "now" as a parameter instead."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)
