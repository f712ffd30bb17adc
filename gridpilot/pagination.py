"""Opaque cursors for keyset pagination: the last row's sort key, base64url-encoded."""

from __future__ import annotations

import base64
import binascii
import json

from gridpilot.problem import DomainError


class InvalidCursor(DomainError):
    """A cursor that this server did not hand out."""

    status = 400
    title = "Invalid cursor"


def encode_cursor(key: str | int) -> str:
    """The cursor that resumes after the row with this key."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: type[str] | type[int]) -> str | int:
    """The key inside a cursor, checked to be of the expected kind."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one this server handed out") from None
    if type(key) is not kind:
        raise InvalidCursor("the cursor is not one this server handed out")
    return key
