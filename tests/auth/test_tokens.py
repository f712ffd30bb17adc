"""Mosquitto password hashes: the exact `mosquitto_passwd` format, and a real broker accepts them."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from gridpilot.auth.tokens import DEVICE_CREDENTIAL_PREFIX, mosquitto_password_hash, new_token
from gridpilot.messaging import mosquitto
from tests.messaging.broker import current_user, free_port, running_mosquitto

HASH = re.compile(r"^\$7\$(?P<iterations>[0-9]+)\$(?P<salt>[A-Za-z0-9+/=]+)\$(?P<digest>[A-Za-z0-9+/=]+)$")


def test_hash_has_mosquitto_2_pbkdf2_sha512_form() -> None:
    found = HASH.match(mosquitto_password_hash("secret"))
    assert found is not None
    assert found["iterations"] == "101"
    assert len(base64.b64decode(found["salt"])) == 12
    assert len(base64.b64decode(found["digest"])) == 64  # SHA-512
    assert mosquitto_password_hash("secret") != mosquitto_password_hash("secret")  # a fresh salt each time


def test_same_salt_gives_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    password_file = tmp_path / "passwd"
    password_file.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(password_file), "alice", "s3cr3t pass"], check=True)
    user, _, written = password_file.read_text().strip().partition(":")
    found = HASH.match(written)
    assert user == "alice" and found is not None
    salt = base64.b64decode(found["salt"])
    assert mosquitto_password_hash("s3cr3t pass", salt=salt, iterations=int(found["iterations"])) == written
    assert mosquitto_password_hash("other", salt=salt, iterations=int(found["iterations"])) != written


async def _connect(port: int, username: str, password: str) -> bool:
    """True if the broker accepts the login, False if it refuses it as not authorised."""
    try:
        async with aiomqtt.Client("127.0.0.1", port, username=username, password=password, timeout=5):
            return True
    except aiomqtt.MqttCodeError as exc:
        assert exc.rc in (4, 5, 134, 135), exc  # bad username or password / not authorised
        return False


@pytest.mark.parametrize("iterations", [101, 1000])
async def test_real_mosquitto_accepts_the_hash_and_refuses_a_wrong_password(tmp_path: Path, iterations: int) -> None:
    secret = new_token(DEVICE_CREDENTIAL_PREFIX)
    port = free_port()
    (tmp_path / "passwd").write_text(
        mosquitto.password_file(
            [("bat-1", mosquitto_password_hash(secret, iterations=iterations))],
            "srv",
            mosquitto_password_hash("server"),
        )
    )
    (tmp_path / "acl").write_text(mosquitto.acl_file("t", "srv"))
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        mosquitto.mosquitto_conf(
            port, tmp_path / "passwd", tmp_path / "acl", None, bind_address="127.0.0.1", run_as_user=current_user()
        )
    )
    with running_mosquitto(conf, port):
        assert await _connect(port, "bat-1", secret)
        assert not await _connect(port, "bat-1", secret + "x")
        assert not await _connect(port, "bat-2", secret)
