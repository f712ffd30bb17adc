"""deploy/kubernetes: every manifest is valid against the Kubernetes schemas (kubernetes-validate, bundled
schemas, strict: unknown fields refused), and the pieces fit together."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gridpilot.config import Settings
from tests.deploy.conftest import DEPLOY

KUBERNETES = DEPLOY / "kubernetes"
# the newest schemas the validator ships, and an older release still in wide use
VERSIONS = [kubernetes_validate.latest_version(), "1.30.0"]
SETTINGS_VARIABLES = {f"GRIDPILOT_{name.upper()}" for name in Settings.model_fields}


def _kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    return loaded


@functools.cache
def _resources() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for name in _kustomization()["resources"]:
        documents += [doc for doc in yaml.safe_load_all((KUBERNETES / name).read_text()) if doc]
    return documents


def _one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in _resources() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def _pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in _resources():
        if doc["kind"] in {"Deployment", "Job"}:
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(_kustomization()["resources"])
    present = {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    assert _kustomization()["namespace"] == "gridpilot"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schema(version: str) -> None:
    for doc in _resources():
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_refuses_a_broken_manifest() -> None:
    deployment = copy.deepcopy(_one("Deployment", "gridpilot-server"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)
    deployment = copy.deepcopy(_one("Deployment", "gridpilot-server"))
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = ["2"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


def test_the_expected_objects_exist() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in _resources()}
    assert {
        ("Deployment", "gridpilot-server"),
        ("Service", "gridpilot-server"),
        ("HorizontalPodAutoscaler", "gridpilot-server"),
        ("PodDisruptionBudget", "gridpilot-server"),
        ("Deployment", "gridpilot-worker"),
        ("Deployment", "gridpilot-worker-mqtt"),
        ("Job", "gridpilot-migrate"),
        ("ConfigMap", "gridpilot-config"),
        ("Secret", "gridpilot-secrets"),
        ("Ingress", "gridpilot"),
    } <= kinds
    assert _one("HorizontalPodAutoscaler", "gridpilot-server")["apiVersion"] == "autoscaling/v2"


def test_every_container_has_probes_or_is_a_job_resources_and_a_locked_down_security_context() -> None:
    for name, spec in _pod_specs():
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), name  # writable /tmp
            if name != "gridpilot-migrate":
                assert "livenessProbe" in container and "readinessProbe" in container, name


def test_the_server_probes_are_the_health_endpoints() -> None:
    (container,) = _one("Deployment", "gridpilot-server")["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["args"] == ["serve"]


def test_exactly_one_worker_holds_the_mqtt_session() -> None:
    mqtt = _one("Deployment", "gridpilot-worker-mqtt")
    assert mqtt["spec"]["replicas"] == 1 and mqtt["spec"]["strategy"]["type"] == "Recreate"
    assert "--no-mqtt" not in mqtt["spec"]["template"]["spec"]["containers"][0]["args"]
    queue = _one("Deployment", "gridpilot-worker")
    assert "--no-mqtt" in queue["spec"]["template"]["spec"]["containers"][0]["args"]


def test_selectors_find_the_pods_they_mean() -> None:
    deployments = [d for d in _resources() if d["kind"] == "Deployment"]
    for deployment in deployments:
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()

    def matching(selector: dict[str, str]) -> set[str]:
        return {
            d["metadata"]["name"]
            for d in deployments
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        }

    assert matching(_one("Service", "gridpilot-server")["spec"]["selector"]) == {"gridpilot-server"}
    assert matching(_one("Service", "gridpilot-server-pods")["spec"]["selector"]) == {"gridpilot-server"}
    assert matching(_one("Service", "gridpilot-worker-pods")["spec"]["selector"]) == {
        "gridpilot-worker",
        "gridpilot-worker-mqtt",
    }
    assert matching(_one("PodDisruptionBudget", "gridpilot-server")["spec"]["selector"]["matchLabels"]) == {
        "gridpilot-server"
    }
    assert matching(_one("PodDisruptionBudget", "gridpilot-worker")["spec"]["selector"]["matchLabels"]) == {
        "gridpilot-worker"
    }
    target = _one("HorizontalPodAutoscaler", "gridpilot-server")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "gridpilot-server")
    assert "replicas" not in _one("Deployment", "gridpilot-server")["spec"]  # the autoscaler owns it


def test_the_ingress_reaches_the_server_and_hides_metrics() -> None:
    ingress = _one("Ingress", "gridpilot")
    paths = {p["path"]: p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert paths["/"]["backend"]["service"]["name"] == "gridpilot-server"
    assert paths["/"]["backend"]["service"]["port"]["name"] in {
        port["name"] for port in _one("Service", "gridpilot-server")["spec"]["ports"]
    }
    assert paths["/metrics"]["pathType"] == "Exact"
    assert "selector" not in _one("Service", paths["/metrics"]["backend"]["service"]["name"])["spec"]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"


def test_every_setting_is_a_real_gridpilot_setting_and_the_whole_set_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _one("ConfigMap", "gridpilot-config")["data"]
    secret = _one("Secret", "gridpilot-secrets")["stringData"]
    variables = {**config, **secret}
    assert set(variables) - SETTINGS_VARIABLES == set()
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GRIDPILOT_CONFIG", raising=False)
    settings = Settings()
    assert settings.environment == "production" and settings.workers == 1
    assert settings.redis_url and settings.amqp_url and settings.mqtt_url and settings.database_url


def test_the_secret_holds_only_marked_placeholders() -> None:
    secret = _one("Secret", "gridpilot-secrets")
    assert "data" not in secret
    for name, value in secret["stringData"].items():
        assert "CHANGE-ME" in value, name


def test_every_container_runs_the_kustomized_image_and_a_real_command() -> None:
    images = {image["name"] for image in _kustomization()["images"]}
    for _, spec in _pod_specs():
        for container in spec["containers"]:
            assert container["image"].split(":")[0] in images
            assert container["envFrom"] == [
                {"configMapRef": {"name": "gridpilot-config"}},
                {"secretRef": {"name": "gridpilot-secrets"}},
            ]
