"""deploy/prometheus: promtool accepts the configurations and rules, the alerts fire as specified, every query
uses metrics gridpilot really exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, ROOT
from tests.deploy.promql import problems

PROMETHEUS = DEPLOY / "prometheus"
SPECIFIED_ALERTS = {
    "ApiErrorRateHigh",  # API error rate > 1 %
    "DatabaseConnectionFailures",
    "QueueDepthHigh",  # > 10,000
    "DeviceOfflineRateHigh",  # > 5 %
    "ApiLatencyP95High",  # p95 > 200 ms
    "ScheduleDeliverySlow",
    "DeadLetterQueueNotEmpty",
}


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60, check=False)


def _rules() -> list[dict[str, object]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-kubernetes.yml"])
def test_promtool_accepts_the_scrape_configuration(promtool: str, config: str) -> None:
    result = _promtool(promtool, "check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_alert_rules(promtool: str) -> None:
    result = _promtool(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_fire_on_synthetic_series_and_stay_quiet_otherwise(promtool: str) -> None:
    result = _promtool(promtool, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", (PROMETHEUS / "alerts_test.yml").read_text()))
    assert {"DeadLetterQueueNotEmpty", "QueueDepthHigh", "ApiErrorRateHigh"} <= tested


def test_the_rules_test_can_fail(promtool: str, tmp_path: Path) -> None:
    """A broken threshold makes `promtool test rules` fail: the test file really checks the rules."""
    (tmp_path / "alerts.yml").write_text(
        (PROMETHEUS / "alerts.yml").read_text().replace("max(gridpilot_dlq_size) > 0", "max(gridpilot_dlq_size) > 5")
    )
    (tmp_path / "alerts_test.yml").write_text((PROMETHEUS / "alerts_test.yml").read_text())
    result = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DeadLetterQueueNotEmpty" in result.stdout + result.stderr


def test_every_specified_alert_exists_with_summary_description_and_runbook() -> None:
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert set(names) >= SPECIFIED_ALERTS
    for rule in rules:
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations.get("summary") and annotations.get("description"), rule["alert"]
        anchor = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", str(rule["alert"])).lower()
        assert annotations["runbook"] == f"docs/runbook.md#{anchor}", rule["alert"]
        assert isinstance(rule["labels"], dict) and rule["labels"]["severity"] in {"critical", "warning"}


def test_the_thresholds_are_the_specifications() -> None:
    exprs = {rule["alert"]: " ".join(str(rule["expr"]).split()) for rule in _rules()}
    assert exprs["ApiErrorRateHigh"].endswith("> 0.01")
    assert exprs["QueueDepthHigh"].endswith("> 10000")
    assert exprs["DeviceOfflineRateHigh"].endswith("> 0.05")
    assert exprs["ApiLatencyP95High"].startswith("histogram_quantile(0.95,")
    assert exprs["ApiLatencyP95High"].endswith("> 0.2")
    assert "gridpilot_schedule_delivery_seconds_bucket" in exprs["ScheduleDeliverySlow"]
    assert exprs["DeadLetterQueueNotEmpty"] == "max(gridpilot_dlq_size) > 0"


def test_every_alert_expression_uses_metrics_gridpilot_exports(exported: dict[str, frozenset[str]]) -> None:
    for rule in _rules():
        assert problems(str(rule["expr"]), exported) == [], rule["alert"]


def test_the_scrape_jobs_are_the_jobs_the_alerts_name() -> None:
    for config in ("prometheus.yml", "prometheus-kubernetes.yml"):
        jobs = {job["job_name"] for job in yaml.safe_load((PROMETHEUS / config).read_text())["scrape_configs"]}
        assert {"gridpilot-server", "gridpilot-worker"} <= jobs, config


def test_every_metric_is_defined_in_observability() -> None:
    """The metric list the checks use is complete: no Counter/Gauge/Histogram is made elsewhere."""
    constructors = re.compile(r"\b(Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*\"")
    elsewhere = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "gridpilot").rglob("*.py")
        if path.name != "observability.py" and constructors.search(path.read_text(encoding="utf-8"))
    ]
    assert elsewhere == []
