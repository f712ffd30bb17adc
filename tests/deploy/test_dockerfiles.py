"""deploy/docker: the Dockerfiles parsed (no Docker engine here): multi-stage, pinned wheels, a non-root user,
a health check, the agent image light, the dashboard's assets built as scripts/assets builds them."""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, ROOT

DOCKER = DEPLOY / "docker"


@dataclass
class Stage:
    """One FROM ... AS name and its instructions (continuation lines joined)."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for instruction, argument in self.instructions if instruction == keyword]


def _stages(path: Path) -> list[Stage]:
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "a continuation line runs off the end"
    stages: list[Stage] = []
    for line in logical:
        instruction, _, argument = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = argument.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append((instruction, argument.strip()))
    return stages


def _dockerignore() -> list[str]:
    return [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def _ignored(path: str) -> bool:
    ignored = False
    for pattern in _dockerignore():
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        hit = fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")
        if hit:
            ignored = not negate
    return ignored


@pytest.fixture(params=["Dockerfile.server", "Dockerfile.agent"])
def dockerfile(request: pytest.FixtureRequest) -> Path:
    path: Path = DOCKER / request.param
    return path


def test_multi_stage_with_wheels_built_from_the_pinned_constraints(dockerfile: Path) -> None:
    stages = _stages(dockerfile)
    assert len(stages) >= 2 and all(stage.name for stage in stages)
    build = next(stage for stage in stages if stage.name == "build")
    assert any(re.search(r"pip wheel .*-c constraints\.txt", run) for run in build.all("RUN"))
    runtime = stages[-1]
    installs = [run for run in runtime.all("RUN") if "pip install" in run]
    assert installs and all("--no-index" in run and "from=build" in run for run in installs)
    assert not any(re.search(r"\b(gcc|build-essential|npm)\b", run) for run in runtime.all("RUN"))


def test_the_runtime_runs_as_an_unprivileged_user_with_a_health_check(dockerfile: Path) -> None:
    runtime = _stages(dockerfile)[-1]
    users = runtime.all("USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert int(user) >= 1000  # numeric, so that Kubernetes' runAsNonRoot can check it
    (healthcheck,) = runtime.all("HEALTHCHECK")
    assert "CMD" in healthcheck and "--interval" in healthcheck
    assert runtime.all("ENTRYPOINT")


def test_what_the_images_copy_exists_and_is_in_the_build_context(dockerfile: Path) -> None:
    for stage in _stages(dockerfile):
        for argument in stage.all("COPY"):
            words = shlex.split(argument)
            if any(word.startswith("--from") for word in words):
                continue
            for source in words[:-1]:
                assert (ROOT / source).exists(), source
                assert not _ignored(source), f"{source} is excluded by .dockerignore"


def test_the_dockerignore_keeps_local_state_and_secrets_out() -> None:
    for path in (".venv", ".git", "data", "gridpilot/dashboard/assets/node_modules", "deploy/compose/.env", "tests"):
        assert _ignored(path), path
    for path in (
        "pyproject.toml",
        "constraints.txt",
        "README.md",
        "gridpilot",
        "gridpilot/dashboard/assets/package-lock.json",
    ):
        assert not _ignored(path), path


def test_the_server_image_builds_the_dashboard_assets_like_scripts_assets() -> None:
    stages = _stages(DOCKER / "Dockerfile.server")
    assets = next(stage for stage in stages if stage.name == "assets")
    assert any("package-lock.json" in copy for copy in assets.all("COPY"))
    (run,) = assets.all("RUN")
    assert "npm ci" in run
    copied = set(re.findall(r"cp (node_modules/\S+) /vendor/(\S+)", run))
    script = (ROOT / "scripts/assets").read_text()
    expected = set(re.findall(r'cp "\$assets/(node_modules/\S+)" "\$vendor/(\S+)"', script))
    assert expected and copied == expected
    build = next(stage for stage in stages if stage.name == "build")
    assert "--from=assets /vendor ./gridpilot/dashboard/static/vendor" in build.all("COPY")
    assert any('".[server]"' in run for run in build.all("RUN"))


def test_the_server_image_never_migrates_by_itself() -> None:
    runtime = _stages(DOCKER / "Dockerfile.server")[-1]
    assert runtime.all("CMD") == ['["serve"]']
    assert "migrate" not in " ".join(runtime.all("ENTRYPOINT") + runtime.all("CMD"))
    assert "/health/live" in runtime.all("HEALTHCHECK")[0]


def test_the_agent_image_installs_only_the_agent_extra() -> None:
    text = (DOCKER / "Dockerfile.agent").read_text()
    extras = set(
        re.findall(r"\[(\w+)\]", " ".join(run for s in _stages(DOCKER / "Dockerfile.agent") for run in s.all("RUN")))
    )
    assert extras == {"agent"}
    assert "node" not in text.lower() or "npm" not in text
    runtime = _stages(DOCKER / "Dockerfile.agent")[-1]
    assert "agent status" in " ".join(shlex.split(runtime.all("HEALTHCHECK")[0].replace(",", " ")))
    assert runtime.all("ENTRYPOINT") == ['["gridpilot", "agent"]']
