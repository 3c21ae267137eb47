"""The one timestamp format every record carries (UTC, ISO 8601, milliseconds)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
