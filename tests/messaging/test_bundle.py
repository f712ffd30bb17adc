"""Bundles: many device messages in one queue message, each payload carried byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridpilot.messaging import bundle
from gridpilot.messaging.handlers import DeviceMessage, MessageRejected
from gridpilot.protocol.mqtt import Channel

messages = st.lists(
    st.builds(
        DeviceMessage,
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=" "), min_size=1, max_size=40),
        st.sampled_from(list(Channel)),
        st.binary(max_size=300),
    ),
    max_size=30,
)


@given(messages)
def test_a_bundle_gives_back_its_messages_in_their_order(original: list[DeviceMessage]) -> None:
    assert bundle.unpack(bundle.pack(original)) == original


def test_a_malformed_payload_travels_as_it_came() -> None:
    poison = DeviceMessage("bat-1", Channel.ACKS, b"{not json \x00\xff")
    assert bundle.unpack(bundle.pack([poison])) == [poison]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (bundle.pack([DeviceMessage("bat-1", Channel.ACKS, b"{}")])[:-1], "claimed past its end"),
        (b"\x00", "malformed at byte 0"),
        (b"\x00\x0abat-1 nope\x00\x00\x00\x00", "malformed"),
        (b"\x00\x02\xff\xfe\x00\x00\x00\x00", "malformed"),
    ],
    ids=["truncated-payload", "truncated-header", "unknown-channel", "not-utf8"],
)
def test_a_broken_bundle_is_refused_with_where(body: bytes, reason: str) -> None:
    with pytest.raises(MessageRejected, match=reason):
        bundle.unpack(body)
