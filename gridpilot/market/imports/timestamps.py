"""Source timestamps to UTC instants, DST-safe: local wall times resolved in file order, offsets checked."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


class TimestampError(ValueError):
    """A timestamp that names no single instant in the source's time zone; the message says why."""


def _offset(value: timedelta | None) -> str:
    seconds = int((value or timedelta(0)).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


class LocalTimes:
    """Converts a source's timestamps in order, so a repeated fall-back wall time maps to its second instant.

    The first occurrence of an ambiguous local time (e.g. 02:00 on the last Sunday of October in
    Europe/Oslo) is the summer-time instant, the second the winter-time one; a third is left to the
    duplicate check. A wall time that does not exist (skipped at spring-forward) is an error.
    """

    def __init__(self, timezone: ZoneInfo) -> None:
        self.timezone = timezone
        self._seen: Counter[datetime] = Counter()

    def to_utc(self, text: str) -> datetime:
        """The UTC instant of one timestamp (ISO 8601, with or without an offset)."""
        try:
            parsed = datetime.fromisoformat(text.strip())
        except ValueError:
            raise TimestampError(f"{text!r} is not an ISO 8601 timestamp") from None
        if parsed.tzinfo is not None:
            return self._checked_offset(parsed)
        return self._local(parsed)

    def _checked_offset(self, parsed: datetime) -> datetime:
        instant = parsed.astimezone(UTC)
        expected = instant.astimezone(self.timezone).utcoffset()
        if parsed.utcoffset() != expected:
            raise TimestampError(
                f"offset {_offset(parsed.utcoffset())} of {parsed.isoformat()} is not {self.timezone.key}'s "
                f"offset at that instant ({_offset(expected)}): wrong time zone?"
            )
        return instant

    def _local(self, wall: datetime) -> datetime:
        first = wall.replace(tzinfo=self.timezone, fold=0)
        second = wall.replace(tzinfo=self.timezone, fold=1)
        if first.astimezone(UTC).astimezone(self.timezone).replace(tzinfo=None) != wall:
            raise TimestampError(
                f"{wall.isoformat(sep=' ')} does not exist in {self.timezone.key} "
                "(clocks skip that hour when summer time starts)"
            )
        if first.utcoffset() == second.utcoffset():
            return first.astimezone(UTC)
        self._seen[wall] += 1
        return (first if self._seen[wall] == 1 else second).astimezone(UTC)
