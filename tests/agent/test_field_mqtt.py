"""The agent over MQTT, with real processes: a broker of the test's own, the server, `gridpilot worker`, the agent.

Polling is set to once an hour while MQTT works, so a schedule that arrives at once can
only have been pushed; with the broker stopped the agent polls every second instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent import processes
from tests.agent.processes import Process, Server, wait_for
from tests.agent.test_field import inverter_reading

DEVICE = "bat-mqtt-1"


class PushedField:
    """Broker, server (publishing), worker (consuming), inverter simulator and agent."""

    def __init__(self, tmp_path: Path) -> None:
        self.broker_port = processes.free_port()
        self.broker: Process = processes.mosquitto(tmp_path, self.broker_port).start()
        processes.wait_listening(self.broker_port)
        mqtt = {
            "GRIDPILOT_MQTT_URL": f"mqtt://127.0.0.1:{self.broker_port}",
            "GRIDPILOT_LOG_JSON": "true",
            "GRIDPILOT_DEVICE_LINK_GRACE_S": "2",
        }
        self.server: Server = processes.server(tmp_path, **mqtt).start()
        self.worker: Process = processes.worker(tmp_path, **mqtt).start()
        credential = self.server.register(DEVICE)
        self.inverter_port = processes.free_port()
        self.inverter: Process = processes.simulator(tmp_path, self.inverter_port, capacity_kwh=1.0).start()
        wait_for("the inverter simulator", lambda: inverter_reading(self.inverter_port))
        config = processes.agent_toml(
            tmp_path,
            server_url=self.server.url,
            device_id=DEVICE,
            credential=credential,
            inverter_port=self.inverter_port,
            mqtt_url=f'"mqtt://127.0.0.1:{self.broker_port}"',
            poll_interval_s=1.0,
            mqtt_poll_interval_s=3600.0,
        )
        self.agent: Process = processes.agent(tmp_path, config).start()
        wait_for("the agent's MQTT link", lambda: "MQTT connected" in self.agent.log())

    def http_posts(self, channel: str) -> int:
        """How many times the agent used HTTP for this channel (the server logs every request as JSON)."""
        path = f"/api/v1/devices/{DEVICE}/{channel}"
        return sum(
            1
            for line in self.server.process.log().splitlines()
            if line.startswith("{") and (entry := json.loads(line)).get("path") == path and entry["method"] == "POST"
        )

    def close(self) -> None:
        for process in (self.agent, self.inverter, self.worker, self.server.process, self.broker):
            process.kill()


@pytest.fixture
def pushed(tmp_path: Path) -> Iterator[PushedField]:
    world = PushedField(tmp_path)
    yield world
    world.close()


def test_a_pushed_schedule_is_executed_and_its_acks_return_over_mqtt(pushed: PushedField) -> None:
    time.sleep(1.5)  # let the agent's first poll (at start) go by: from now on it polls hourly
    pushed.server.submit(DEVICE, [(0, 2, 1, 3.0), (2, 4, 2, 2.0)], at=processes.soon(2))
    wait_for(
        "the pushed schedule in force", lambda: "schedule version 1 in force: 2" in pushed.agent.log(), timeout_s=5
    )
    wait_for("charging at 3 kW", lambda: abs(inverter_reading(pushed.inverter_port).power_kw - 3.0) < 0.05)
    acks = wait_for("2 acks stored by the worker", lambda: len(a := pushed.server.acks(DEVICE)) == 2 and a)
    assert [a["status"] for a in acks] == ["executed", "executed"]
    assert pushed.http_posts("acks") == 0  # they came over MQTT, through the worker
    [delivery] = [item["delivery"] for item in pushed.server.get(f"/api/v1/devices/{DEVICE}/schedules")["items"]]
    assert delivery["state"] == "executed" and delivery["sent_at"] and delivery["delivered_at"]
    assert delivery["sent_at"] <= delivery["delivered_at"]
    assert "Traceback" not in pushed.server.process.log() + pushed.worker.log()
    points = wait_for(
        "telemetry through the worker",
        lambda: pushed.server.get(f"/api/v1/devices/{DEVICE}/telemetry", limit=10000)["items"],
    )
    assert points and pushed.http_posts("telemetry") == 0


def test_with_the_broker_down_the_agent_polls_and_posts_over_http_then_returns_to_mqtt(pushed: PushedField) -> None:
    pushed.broker.stop()
    wait_for("the agent to notice", lambda: "MQTT link down" in pushed.agent.log())
    pushed.server.submit(DEVICE, [(0, 2, 1, 2.0)], at=processes.soon(3))
    wait_for("the polled schedule in force", lambda: "schedule version 1 in force: 1" in pushed.agent.log())
    wait_for("its ack over HTTP", lambda: len(pushed.server.acks(DEVICE)) == 1, timeout_s=15)
    assert pushed.http_posts("acks") >= 1

    pushed.broker.start()
    wait_for("the agent back on MQTT", lambda: pushed.agent.log().count("MQTT connected") >= 2, timeout_s=30)
    posts_before = pushed.http_posts("acks")
    pushed.server.submit(DEVICE, [(0, 2, 2, 1.0)], at=processes.soon(12))
    # pushed at once, or when the server's publisher is back (its backoff is at most 10 s); polling is hourly now
    wait_for("the pushed schedule in force", lambda: "schedule version 2 in force" in pushed.agent.log(), timeout_s=12)
    wait_for("its ack over MQTT", lambda: len(pushed.server.acks(DEVICE)) == 2, timeout_s=25)
    assert pushed.http_posts("acks") == posts_before


def test_a_dead_agent_is_seen_offline_within_the_grace_and_online_when_back(pushed: PushedField) -> None:
    status = lambda: pushed.server.get(f"/api/v1/devices/{DEVICE}")["status"]  # noqa: E731
    wait_for("online", lambda: status() == "online")
    pushed.agent.kill()  # the broker publishes its last will
    wait_for("offline from the last will (the silence timeout is 15 minutes)", lambda: status() == "offline")
    pushed.agent.start()
    wait_for("online again", lambda: status() == "online")
