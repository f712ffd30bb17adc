"""deploy/grafana: the dashboard loads and queries only metrics gridpilot exports; the provisioning fits compose."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

from tests.deploy.conftest import DEPLOY
from tests.deploy.promql import parse, problems

GRAFANA = DEPLOY / "grafana"


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GRAFANA / "gridpilot-dashboard.json").read_text())
    return loaded


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _targets() -> Iterator[tuple[str, str]]:
    for panel in _panels(_dashboard()["panels"]):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_the_dashboard_loads_with_unique_panel_ids_and_a_datasource_variable() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in _panels(dashboard["panels"]):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]


def test_every_query_uses_metrics_gridpilot_exports(exported: dict[str, frozenset[str]]) -> None:
    for title, expr in _targets():
        assert problems(expr, exported) == [], title


def test_the_dashboard_covers_the_operational_metrics(exported: dict[str, frozenset[str]]) -> None:
    used = {metric for _, expr in _targets() for metric in parse(expr).metrics}
    wanted = {
        "gridpilot_http_requests_total",  # request rate, error rate
        "gridpilot_http_request_duration_seconds_bucket",  # latency percentiles
        "gridpilot_devices",
        "gridpilot_queue_depth",
        "gridpilot_dlq_size",
        "gridpilot_mqtt_messages_total",  # messages in/out by channel
        "gridpilot_schedule_delivery_seconds_bucket",
        "gridpilot_acks_total",
        "gridpilot_forecast_mae",
        "gridpilot_database_errors_total",
    }
    assert wanted <= used
    # every family gridpilot exports is on the dashboard in some form
    families = {name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for name in exported}
    shown = {name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for name in used}
    assert families - shown == set()


def test_the_provisioning_points_at_the_compose_prometheus_and_the_mounted_dashboard() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/gridpilot.yml").read_text())
    (provider,) = providers["providers"]
    compose = yaml.safe_load((DEPLOY / "compose/docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    dashboard_mount = next(m for m in mounts if m.startswith("../grafana/gridpilot-dashboard.json:"))
    assert dashboard_mount.split(":")[1].startswith(provider["options"]["path"] + "/")
