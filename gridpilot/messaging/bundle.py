"""Many device messages in one queue message, so the broker's per-message cost is paid once per bundle.

A bundle is a sequence of frames, each: 2-byte length + "device_id channel" in UTF-8,
4-byte length + the raw payload (big-endian). The payload is carried as received, so a
malformed envelope inside a bundle is refused on its own by the handlers, never the bundle.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from gridpilot.messaging.handlers import DeviceMessage, MessageRejected
from gridpilot.protocol.mqtt import Channel

CONTENT_TYPE = "application/vnd.gridpilot.bundle"
_ADDRESS = struct.Struct(">H")
_PAYLOAD = struct.Struct(">I")


def pack(messages: Sequence[DeviceMessage]) -> bytes:
    """The messages as one body, in their order."""
    parts: list[bytes] = []
    for message in messages:
        address = f"{message.device_id} {message.channel.value}".encode()
        parts += (_ADDRESS.pack(len(address)), address, _PAYLOAD.pack(len(message.payload)), message.payload)
    return b"".join(parts)


def unpack(body: bytes) -> list[DeviceMessage]:
    """The messages of a bundle in their order; MessageRejected if the framing is broken."""
    messages: list[DeviceMessage] = []
    view, offset = memoryview(body), 0
    try:
        while offset < len(body):
            (length,) = _ADDRESS.unpack_from(view, offset)
            offset += _ADDRESS.size
            device_id, _, channel = bytes(view[offset : offset + length]).decode().partition(" ")
            offset += length
            (size,) = _PAYLOAD.unpack_from(view, offset)
            offset += _PAYLOAD.size
            if offset + size > len(body):
                raise MessageRejected(f"a bundle is malformed at byte {offset}: {size} bytes claimed past its end")
            messages.append(DeviceMessage(device_id, Channel(channel), bytes(view[offset : offset + size])))
            offset += size
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise MessageRejected(f"a bundle is malformed at byte {offset}: {exc}") from None
    return messages
