"""A paho-mqtt client that reads every packet already received before it waits again.

paho-mqtt 2.2 handles one packet per `select()` and reads each packet in three or more
`recv()` calls (the command byte, the length bytes one at a time, then the rest). For the
worker that drains every device's acks and telemetry, that is a system call or more per few
dozen bytes. This client fills a buffer with one `recv()` and handles the packets in it, and in
the socket behind it, until the socket would block. Only paho's reading changes: its packet
parsing, sessions, acks and reconnection are untouched. The overridden methods are paho's
internal `_sock_recv` and the public `loop_read`, checked against the pinned paho-mqtt 2.2.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

_READ_BYTES = 65536
_PACKETS_BEFORE_WRITING = 1000  # then let the network loop send what waits (the broker acks) before reading more


class BufferedClient(paho.Client):
    """paho's Client reading the socket a buffer at a time and handling every packet received in one go."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._buffer = b""
        self._buffer_at = 0
        self._buffer_socket: object = None

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._buffer_socket is not self._sock:  # a new connection: what was left of the old one is void
            self._buffer, self._buffer_at, self._buffer_socket = b"", 0, self._sock
        if self._buffer_at >= len(self._buffer):
            received = super()._sock_recv(_READ_BYTES)  # BlockingIOError when the socket is empty
            if not received:
                return received  # the broker closed the connection
            self._buffer, self._buffer_at = received, 0
        start = self._buffer_at
        self._buffer_at = min(start + bufsize, len(self._buffer))
        return self._buffer[start : self._buffer_at]

    def _buffered(self) -> bool:
        return self._buffer_socket is self._sock and self._buffer_at < len(self._buffer)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Handle packets until the socket would block (paho's handles one; max_packets is ignored by both).

        It stops early, after _PACKETS_BEFORE_WRITING, only with the buffer empty: a packet left in the
        buffer would wait for the socket to become readable again.
        """
        handled = 0
        while self._sock is not None:
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return self._loop_rc_handle(rc)
            handled += 1
            if handled >= _PACKETS_BEFORE_WRITING and not self._buffered():
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return MQTTErrorCode.MQTT_ERR_NO_CONN
