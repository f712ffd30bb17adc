"""Per-device broker accounts: files from `gridpilot broker config` in a real Mosquitto, used by real MQTT clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from typer.testing import CliRunner

from gridpilot.auth.tokens import mosquitto_password_hash
from gridpilot.cli import app
from gridpilot.config import Settings
from gridpilot.messaging import mosquitto
from gridpilot.protocol.mqtt import Channel, all_devices_topic, device_topic
from tests.conftest import Api
from tests.messaging.broker import Broker, current_user, free_port, running_mosquitto

runner = CliRunner()
SERVER_USER = "gridpilot-server"
SERVER_PASSWORD = "server-" + uuid.uuid4().hex
QUIET_S = 1.0  # how long "nothing arrives" is waited for


# --- the pure file builders ---------------------------------------------------------------------------------------


def test_acl_grants_devices_only_their_own_channels_and_the_server_everything() -> None:
    assert mosquitto.acl_file("gp/v1", "srv").splitlines() == [
        "# Written by `gridpilot broker config`; anything not granted here is denied.",
        "# Devices (username = device id): read their own schedule, write their own records.",
        "pattern read gp/v1/devices/%u/schedule",
        "pattern write gp/v1/devices/%u/acks",
        "pattern write gp/v1/devices/%u/telemetry",
        "pattern write gp/v1/devices/%u/status",
        "",
        "# The gridpilot server: publishes schedules, reads every device's records.",
        "user srv",
        "topic readwrite gp/v1/#",
    ]


def test_password_file_refuses_what_mosquitto_would_misread() -> None:
    good = mosquitto_password_hash("x")
    assert mosquitto.password_file([("bat-a", good)], "srv", good) == f"srv:{good}\nbat-a:{good}\n"
    with pytest.raises(ValueError, match="server's username"):
        mosquitto.password_file([("srv", good)], "srv", good)
    with pytest.raises(ValueError, match="two active credentials"):
        mosquitto.password_file([("bat-a", good), ("bat-a", good)], "srv", good)
    with pytest.raises(ValueError, match="cannot be a broker username"):
        mosquitto.password_file([("bat:a", good)], "srv", good)
    with pytest.raises(ValueError, match="format"):
        mosquitto.password_file([("bat-a", "plain\ntext")], "srv", good)
    for prefix in ("gp/+", "gp/#", "/gp", "gp/", "g p", ""):
        with pytest.raises(ValueError, match="topic prefix"):
            mosquitto.acl_file(prefix, "srv")


def test_conf_has_no_anonymous_access_and_uses_the_generated_files(tmp_path: Path) -> None:
    conf = mosquitto.mosquitto_conf(1884, tmp_path / "passwd", tmp_path / "acl", tmp_path)
    assert "allow_anonymous false" in conf.splitlines()
    assert "per_listener_settings false" in conf.splitlines()
    assert f"password_file {tmp_path / 'passwd'}" in conf.splitlines()
    assert f"acl_file {tmp_path / 'acl'}" in conf.splitlines()
    assert "listener 1884" in conf.splitlines()
    assert f"persistence_location {tmp_path}/" in conf.splitlines()
    assert "persistence false" in mosquitto.mosquitto_conf(1884, tmp_path / "p", tmp_path / "a", None)


# --- the command and a real broker --------------------------------------------------------------------------------


@dataclass
class Fleet:
    """Two registered devices, the broker's files from the CLI and the running broker."""

    api: Api
    out: Path
    broker: Broker
    prefix: str
    credentials: dict[str, str]

    @property
    def port(self) -> int:
        """The broker's port."""
        return self.broker.port

    def topic(self, device_id: str, channel: Channel) -> str:
        """A device's topic under this test's prefix."""
        return device_topic(self.prefix, device_id, channel)

    async def regenerate(self) -> None:
        """Run `gridpilot broker config` again and make the broker re-read its files."""
        await _broker_config(self.out, self.prefix, self.port)
        self.broker.reload()


async def _broker_config(out: Path, prefix: str, port: int) -> str:
    """`gridpilot broker config` (in a thread: it runs its own event loop)."""
    args = ["broker", "config", "--out", str(out), "--prefix", prefix, "--port", str(port)]
    args += ["--server-user", SERVER_USER, "--bind", "127.0.0.1", "--broker-user", current_user()]
    result = await asyncio.to_thread(runner.invoke, app, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI's environment pointing at the test's database, with the server's MQTT password."""
    monkeypatch.delenv("GRIDPILOT_CONFIG", raising=False)
    monkeypatch.setenv("GRIDPILOT_ENVIRONMENT", "test")
    monkeypatch.setenv("GRIDPILOT_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("GRIDPILOT_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("GRIDPILOT_DATABASE_URL", raising=False)
    monkeypatch.setenv("GRIDPILOT_MQTT_PASSWORD", SERVER_PASSWORD)
    yield


@pytest.fixture
async def fleet(api: Api, cli_env: None, tmp_path: Path) -> AsyncIterator[Fleet]:
    """bat-a and bat-b registered through the API; Mosquitto running on the files the CLI wrote for them."""
    credentials = {}
    for device_id in ("bat-a", "bat-b"):
        device, _ = await api.register_device(device_id)
        credentials[device_id] = str(device["credential"])
    out, port, prefix = tmp_path / "broker", free_port(), f"test-{uuid.uuid4().hex[:8]}/v1"
    output = await _broker_config(out, prefix, port)
    assert "2 device account(s)" in output
    assert "kill -HUP" in output
    with running_mosquitto(out / "mosquitto.conf", port) as broker:
        yield Fleet(api, out, broker, prefix, credentials)


@contextlib.asynccontextmanager
async def _client(fleet: Fleet, username: str, password: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", fleet.port, username=username, password=password, timeout=5) as client:
        yield client


def _server(fleet: Fleet) -> contextlib.AbstractAsyncContextManager[aiomqtt.Client]:
    return _client(fleet, SERVER_USER, SERVER_PASSWORD)


def _device(fleet: Fleet, device_id: str) -> contextlib.AbstractAsyncContextManager[aiomqtt.Client]:
    return _client(fleet, device_id, fleet.credentials[device_id])


async def _collect(client: aiomqtt.Client, seconds: float) -> dict[str, bytes]:
    """Every message that arrives within `seconds`, by topic."""
    got: dict[str, bytes] = {}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for message in client.messages:
                got[str(message.topic)] = bytes(message.payload)
    return got


async def _refused(fleet: Fleet, username: str, password: str) -> bool:
    """True if the broker refuses this login as not authorised."""
    try:
        async with _client(fleet, username, password):
            return False
    except aiomqtt.MqttCodeError as exc:
        assert exc.rc in (4, 5, 134, 135), exc  # bad username or password / not authorised
        return True


async def _publish_schedules(fleet: Fleet) -> None:
    async with _server(fleet) as server:
        for device_id in ("bat-a", "bat-b"):
            payload = f"schedule of {device_id}".encode()
            await server.publish(fleet.topic(device_id, Channel.SCHEDULE), payload, qos=1, retain=True)


def test_files_are_written_with_the_password_file_private(fleet: Fleet) -> None:
    assert stat.S_IMODE(os.stat(fleet.out / "passwd").st_mode) == 0o600
    users = [line.partition(":")[0] for line in (fleet.out / "passwd").read_text().splitlines()]
    assert users == [SERVER_USER, "bat-a", "bat-b"]
    assert fleet.credentials["bat-a"] not in (fleet.out / "passwd").read_text()
    assert (fleet.out / "acl").read_text() == mosquitto.acl_file(fleet.prefix, SERVER_USER)
    assert sorted(p.name for p in fleet.out.iterdir() if p.name.startswith(".")) == []  # no temp files left


async def test_device_receives_its_own_schedule_and_nothing_of_another_device(fleet: Fleet) -> None:
    await _publish_schedules(fleet)
    async with _device(fleet, "bat-a") as device:
        await device.subscribe(fleet.topic("bat-a", Channel.SCHEDULE), qos=1)
        await device.subscribe(fleet.topic("bat-b", Channel.SCHEDULE), qos=1)
        await device.subscribe(all_devices_topic(fleet.prefix, Channel.SCHEDULE), qos=1)
        await device.subscribe(f"{fleet.prefix}/#", qos=1)
        got = await _collect(device, QUIET_S)
    assert got == {fleet.topic("bat-a", Channel.SCHEDULE): b"schedule of bat-a"}


async def test_device_writes_only_its_own_records_and_cannot_write_its_schedule(fleet: Fleet) -> None:
    async with _server(fleet) as server, _device(fleet, "bat-a") as device:
        for channel in (Channel.ACKS, Channel.TELEMETRY, Channel.STATUS, Channel.SCHEDULE):
            await server.subscribe(all_devices_topic(fleet.prefix, channel), qos=1)
        forbidden = [
            fleet.topic("bat-b", Channel.ACKS),
            fleet.topic("bat-b", Channel.TELEMETRY),
            fleet.topic("bat-b", Channel.STATUS),
            fleet.topic("bat-a", Channel.SCHEDULE),
        ]
        allowed = [fleet.topic("bat-a", c) for c in (Channel.ACKS, Channel.TELEMETRY, Channel.STATUS)]
        for topic in forbidden + allowed:  # forbidden first: had they passed, they would arrive first
            await device.publish(topic, b"from bat-a", qos=1)
        got = await _collect(server, QUIET_S)
    assert sorted(got) == sorted(allowed)


async def test_wrong_or_borrowed_passwords_and_anonymous_logins_are_refused(fleet: Fleet) -> None:
    assert await _refused(fleet, "bat-a", fleet.credentials["bat-a"] + "x")
    assert await _refused(fleet, "bat-a", fleet.credentials["bat-b"])
    assert await _refused(fleet, "bat-c", fleet.credentials["bat-a"])
    assert await _refused(fleet, SERVER_USER, fleet.credentials["bat-a"])
    with pytest.raises(aiomqtt.MqttCodeError):
        async with aiomqtt.Client("127.0.0.1", fleet.port, timeout=5):
            pass
    async with _device(fleet, "bat-a"):
        pass


async def test_decommissioned_device_loses_its_account_after_regeneration(fleet: Fleet) -> None:
    response = await fleet.api.client.post("/api/v1/devices/bat-b/decommission", headers=fleet.api.admin)
    assert response.status_code == 200
    async with _device(fleet, "bat-b"):  # the broker still has the old files
        pass
    await fleet.regenerate()
    assert [line.partition(":")[0] for line in (fleet.out / "passwd").read_text().splitlines()] == [
        SERVER_USER,
        "bat-a",
    ]
    assert await _refused(fleet, "bat-b", fleet.credentials["bat-b"])
    async with _device(fleet, "bat-a"):
        pass


async def test_rotated_credential_works_and_the_old_one_not_after_regeneration(fleet: Fleet) -> None:
    response = await fleet.api.client.post("/api/v1/devices/bat-a/credentials", headers=fleet.api.admin)
    assert response.status_code == 201
    old, new = fleet.credentials["bat-a"], response.json()["credential"]
    assert await _refused(fleet, "bat-a", new)  # not before the broker re-reads its files
    await fleet.regenerate()
    assert await _refused(fleet, "bat-a", old)
    await _publish_schedules(fleet)
    async with _client(fleet, "bat-a", new) as device:
        await device.subscribe(all_devices_topic(fleet.prefix, Channel.SCHEDULE), qos=1)
        assert await _collect(device, QUIET_S) == {fleet.topic("bat-a", Channel.SCHEDULE): b"schedule of bat-a"}


async def test_device_connected_when_decommissioned_is_cut_off_at_reload(fleet: Fleet) -> None:
    async with _device(fleet, "bat-b") as device:
        response = await fleet.api.client.post("/api/v1/devices/bat-b/decommission", headers=fleet.api.admin)
        assert response.status_code == 200
        await fleet.regenerate()
        with pytest.raises(aiomqtt.MqttError, match="Disconnected"):  # Mosquitto re-checks live logins on reload
            async with asyncio.timeout(5):
                async for _ in device.messages:
                    pass


async def test_config_refuses_to_run_without_the_server_password(
    api: Api, cli_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDPILOT_MQTT_PASSWORD")
    result = await asyncio.to_thread(runner.invoke, app, ["broker", "config", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert "GRIDPILOT_MQTT_PASSWORD" in result.output
    assert not (tmp_path / "b").exists()
