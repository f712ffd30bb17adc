"""deploy/compose/docker-compose.yml: its structure (no Docker engine runs here, so no `docker compose config`):
images, health checks, dependencies, secrets only by reference, real gridpilot settings, files that exist."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from gridpilot.config import Settings
from tests.deploy.conftest import DEPLOY

COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
SETTINGS_VARIABLES = {f"GRIDPILOT_{name.upper()}" for name in Settings.model_fields}
STATEFUL = {"postgres", "redis", "rabbitmq", "mosquitto"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|PASS$", re.IGNORECASE)


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} (enough of them for this file)."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        if name in env and env[name] != "":
            return env[name]
        if operator in (":?", "?"):
            raise KeyError(f"{name} is required: {argument}")
        return argument if operator in (":-", "-") else ""

    return _VARIABLE.sub(one, value).replace("$$", "$")


def _example_env() -> dict[str, str]:
    values = {}
    for line in (COMPOSE_DIR / "env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    depends = service.get("depends_on", {})
    return {name: {"condition": "service_started"} for name in depends} if isinstance(depends, list) else depends


def test_every_service_has_an_image_or_a_build() -> None:
    for name, service in _services().items():
        assert "image" in service or "build" in service, name


def test_the_stack_has_every_part() -> None:
    assert {
        "postgres",
        "redis",
        "rabbitmq",
        "mosquitto",
        "migrate",
        "broker-config",
        "server",
        "worker",
        "worker-mqtt",
        "prometheus",
        "grafana",
    } <= set(_services())


def test_long_running_services_have_health_checks() -> None:
    for name, service in _services().items():
        if service.get("restart") == "no":  # one-shot jobs
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check["test"], name
    assert {n for n, s in _services().items() if s.get("healthcheck", {}).get("test")} >= STATEFUL


def test_dependencies_exist_and_their_conditions_can_be_met() -> None:
    services = _services()
    for name, service in services.items():
        for target, spec in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert spec["condition"] in CONDITIONS, name
            if spec["condition"] == "service_healthy":
                check = services[target].get("healthcheck", {})
                assert check.get("test") and not check.get("disable"), f"{target} has no health check"
            if spec["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not a one-shot job"


def test_migrations_run_once_as_a_job_before_the_server_and_workers() -> None:
    services = _services()
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("server", "worker", "worker-mqtt", "broker-config"):
        assert _depends_on(services[name])["migrate"]["condition"] == "service_completed_successfully", name
    assert "migrate" not in " ".join(services["server"]["command"])


def test_the_broker_runs_the_configuration_gridpilot_broker_config_writes() -> None:
    services = _services()
    command = services["broker-config"]["command"]
    assert command[:2] == ["broker", "config"]
    out = command[command.index("--out") + 1]
    assert f"mosquitto:{out}" in services["broker-config"]["volumes"]
    assert f"mosquitto:{out}" in services["mosquitto"]["volumes"]
    assert services["mosquitto"]["command"] == ["mosquitto", "-c", f"{out}/mosquitto.conf"]
    assert _depends_on(services["mosquitto"])["broker-config"]["condition"] == "service_completed_successfully"
    # the files are the gridpilot user's (passwd is 0600): the broker runs as that user
    assert services["mosquitto"]["user"].split(":")[0] == "10001"


def test_one_worker_holds_the_mqtt_session_and_the_others_scale() -> None:
    services = _services()
    workers = {n: s["command"] for n, s in services.items() if s.get("command", [None])[0] == "worker"}
    holders = [name for name, command in workers.items() if "--no-mqtt" not in command]
    assert holders == ["worker-mqtt"]
    assert "deploy" not in services["worker-mqtt"]
    assert "--no-mqtt" in services["worker"]["command"]


def test_no_literal_secrets() -> None:
    text = COMPOSE_FILE.read_text()
    urls = 0
    for line in text.splitlines():
        # user:password@ in a URL: the password must be a required variable
        for password in re.findall(r"://[^:/@\s]+:(.+?)@", line):
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", password), line
            urls += 1
    assert urls >= 2  # the database and RabbitMQ URLs were checked
    for service in _services().values():
        environment = service.get("environment", {})
        for key, value in environment.items():
            if _SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", str(value)), key
    # every variable a secret may come from is required, and documented in env.example
    for name, operator, _ in _VARIABLE.findall(text):
        if _SECRET_NAME.search(name):
            assert operator == ":?", name
    required = {name for name, operator, _ in _VARIABLE.findall(text) if operator == ":?"}
    assert required <= set(_example_env())
    for name in required:
        assert "CHANGE-ME" in _example_env()[name]


def test_every_gridpilot_variable_is_a_real_setting_and_the_server_environment_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _example_env()
    used: set[str] = set()
    for service in _services().values():
        used |= {k for k in service.get("environment", {}) if k.startswith("GRIDPILOT_")}
    text = COMPOSE_FILE.read_text() + (COMPOSE_DIR / "env.example").read_text()
    text += (COMPOSE_DIR / "gridpilot.env.example").read_text()
    used |= set(re.findall(r"\bGRIDPILOT_[A-Z0-9_]+", text))
    assert used - SETTINGS_VARIABLES == set()
    monkeypatch.delenv("GRIDPILOT_CONFIG", raising=False)
    for name in ("server", "worker", "worker-mqtt", "migrate", "broker-config"):
        for key, value in _services()[name]["environment"].items():
            monkeypatch.setenv(key, _interpolate(str(value), env))
        settings = Settings()
        assert settings.environment == "production", name
        assert settings.database_url and settings.database_url.startswith("postgresql+asyncpg://gridpilot:")
        assert settings.redis_url and settings.amqp_url and settings.mqtt_url and settings.mqtt_password


def test_a_missing_secret_stops_compose_with_its_name() -> None:
    env = _example_env()
    del env["POSTGRES_PASSWORD"]
    value = _services()["server"]["environment"]["GRIDPILOT_DATABASE_URL"]
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        _interpolate(value, env)


def test_named_volumes_are_declared_and_mounted_files_exist() -> None:
    declared = set(_compose()["volumes"])
    for name, service in _services().items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/")):
                assert (COMPOSE_DIR / source).resolve().exists(), f"{name}: {source}"
            else:
                assert source in declared, f"{name}: {source}"


def test_the_build_context_and_dockerfile_exist() -> None:
    for service in _services().values():
        build = service.get("build")
        if build:
            context = (COMPOSE_DIR / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file()
            assert (context / "pyproject.toml").is_file()


def test_prometheus_scrapes_the_compose_services_on_their_ports() -> None:
    services = _services()
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (target,) = jobs["gridpilot-server"]["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host in services and services[host]["ports"][0].endswith(f":{port}")
    (dns,) = jobs["gridpilot-worker"]["dns_sd_configs"]
    assert set(dns["names"]) == {n for n, s in services.items() if s.get("command", [None])[0] == "worker"}
    for name in dns["names"]:
        command = services[name]["command"]
        assert command[command.index("--metrics-port") + 1] == str(dns["port"])


def test_the_example_env_files_are_examples() -> None:
    for name in ("env.example", "gridpilot.env.example"):
        assert (COMPOSE_DIR / name).is_file()
    assert not (COMPOSE_DIR / ".env").exists() or (COMPOSE_DIR / ".env").stat().st_mode & 0o077 == 0
