"""Every command shown in README.md and docs/*.md exists, and docs/api.md's examples run against a real server.

The `gridpilot ...` lines of the Markdown code blocks (and inline code spans) are resolved in the Typer app: each
sub-command path must exist and each option named must belong to that command. The curl blocks of docs/api.md
run, in order, as one bash script, and its Python blocks, in order, in one namespace, against a server started
here on a free port with an admin API key in the environment.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
from typer.testing import CliRunner

from gridpilot.cli import full_app
from gridpilot.config import Settings
from tests.dashboard.conftest import LiveServer, create_admin_key, free_port, seed_operators, start_server

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
SHELL_LANGS = {"", "sh", "bash", "shell", "console", "text"}
INLINE = re.compile(r"`((?:python -m )?gridpilot [^`]+)`")
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Shown:
    """A command line as a document shows it."""

    path: Path
    line: int
    text: str

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.text}"


def code_blocks(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """(language, first line number, lines) of each fenced and indented code block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match:
            fence, lang, start = match.group(2), match.group(3).lower(), i + 1
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence[:3]):
                body.append(lines[i])
                i += 1
            yield lang, start + 1, body
        elif lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            start, body = i, []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                body.append(lines[i][4:])
                i += 1
            yield "indented", start + 1, body
            continue
        i += 1


def joined(lines: list[str], first: int) -> Iterator[tuple[int, str]]:
    """Lines with their backslash continuations joined, and their line numbers."""
    buffer, start = "", first
    for offset, line in enumerate(lines):
        if not buffer:
            start = first + offset
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        yield start, buffer + line
        buffer = ""
    if buffer:
        yield start, buffer


def strip_comment(line: str) -> str:
    """The line without a trailing shell comment (a # after whitespace, outside quotes)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def command_after_prefix(line: str) -> str | None:
    """The `gridpilot ...` part of a shell line, after env assignments, sudo, venv paths and `time`."""
    try:
        words = shlex.split(strip_comment(line).strip())
    except ValueError:
        words = strip_comment(line).split()
    index = 0
    while index < len(words):
        word = words[index]
        if ENV_ASSIGNMENT.match(word) or word in {"time", "exec", "$", "sudo"}:
            index += 1
        elif word == "-u" and index > 0 and words[index - 1] == "sudo":
            index += 2
        elif word.endswith("python") or word.endswith("python3"):
            if words[index + 1 : index + 3] == ["-m", "gridpilot"]:
                return " ".join(["gridpilot", *words[index + 3 :]])
            return None
        elif word == "gridpilot" or word.endswith("/gridpilot"):
            return " ".join(["gridpilot", *words[index + 1 :]])
        else:
            return None
    return None


def shown_commands() -> list[Shown]:
    """Every gridpilot command line in the README's and the docs' code blocks and inline code."""
    found: list[Shown] = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for lang, first, body in code_blocks(text):
            if lang not in SHELL_LANGS and lang != "indented":
                continue
            for number, line in joined(body, first):
                command = command_after_prefix(line)
                if command:
                    found.append(Shown(path, number, command))
        for number, line in enumerate(text.splitlines(), start=1):
            if FENCE.match(line) or line.startswith("    "):
                continue
            for match in INLINE.finditer(line):
                command = command_after_prefix(match.group(1))
                if command:
                    found.append(Shown(path, number, command))
    return found


def root_command() -> Any:
    """The click group Typer builds (Typer vendors click, so its classes are typed loosely here)."""
    command = typer.main.get_command(full_app())
    assert is_group(command)
    return command


def is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def option_names(command: Any) -> set[str]:
    names = {"--help"}
    for param in command.params:
        if param.param_type_name == "option":
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def alternatives(command: str) -> list[str]:
    """`gridpilot a b X / c d Y / e` is shorthand for `gridpilot a b X`, `gridpilot c d Y` (or `gridpilot a c d Y`)."""
    parts = [p.strip() for p in command.split(" / ")]
    return [parts[0], *[p for p in parts[1:] if p]]


def resolve(root: Any, words: list[str], group_hint: list[str]) -> tuple[Any, list[str], list[str]]:
    """The command a word list names, the path to it, and the words after it."""
    for prefix in ([], group_hint):
        command = root
        path: list[str] = []
        rest = [*prefix, *words]
        while is_group(command) and rest and not rest[0].startswith("-"):
            sub = command.commands.get(rest[0])
            if sub is None:
                break
            command, path, rest = sub, [*path, rest[0]], rest[1:]
        if path and (not is_group(command) or getattr(command, "invoke_without_command", False)):
            return command, path, rest
    raise LookupError(f"no such command: gridpilot {' '.join(words)}")


def check(root: Any, shown: Shown) -> list[str]:
    """What is wrong with a shown command: unknown sub-commands or options."""
    problems: list[str] = []
    hint: list[str] = []
    for index, variant in enumerate(alternatives(shown.text)):
        words = variant.split()
        if index == 0:
            words = words[1:]  # the leading "gridpilot"
        elif words and words[0] == "gridpilot":
            words = words[1:]
        words = [w.strip("[]") for w in words]
        words = [w for w in words if w and w != "..."]
        try:
            command, path, rest = resolve(root, words, hint)
        except LookupError as exc:
            problems.append(str(exc))
            continue
        hint = path[:-1]
        known = option_names(command)
        for word in rest:
            for alternative in word.split("|"):
                name = alternative.split("=", 1)[0]
                if name.startswith("-") and name not in known and not name.startswith("-" * 3):
                    problems.append(f"gridpilot {' '.join(path)} has no option {name}")
    return problems


def test_the_docs_show_commands() -> None:
    shown = shown_commands()
    files = {s.path.name for s in shown}
    assert "README.md" in files and "runbook.md" in files, files
    assert len(shown) > 50


def test_every_command_shown_exists_with_the_options_shown() -> None:
    root = root_command()
    problems = [f"{s.where()}\n    {p}" for s in shown_commands() for p in check(root, s)]
    assert not problems, "commands in the docs that the CLI does not have:\n" + "\n".join(problems)


def test_the_checker_catches_a_wrong_command() -> None:
    root = root_command()
    assert check(root, Shown(ROOT / "README.md", 1, "gridpilot dlq replay --all")) == []
    assert check(root, Shown(ROOT / "README.md", 1, "gridpilot dlq list / dlq replay --all")) == []
    assert check(root, Shown(ROOT / "README.md", 1, "gridpilot models train --market NP / list / show ID")) == []
    assert check(root, Shown(ROOT / "README.md", 1, "gridpilot dlq replay --everything"))
    assert check(root, Shown(ROOT / "README.md", 1, "gridpilot dlq purge"))


def test_every_command_shown_parses_with_help() -> None:
    """`gridpilot <path> --help` runs for every distinct command path shown (the Typer app builds each one)."""
    root = root_command()
    paths: set[tuple[str, ...]] = set()
    for shown in shown_commands():
        words = [w.strip("[]") for w in shown.text.split(" / ")[0].split()[1:]]
        try:
            _, path, _ = resolve(root, [w for w in words if w], [])
        except LookupError:
            continue
        paths.add(tuple(path))
    runner = CliRunner()
    for path in sorted(paths):
        result = runner.invoke(full_app(), [*path, "--help"])
        assert result.exit_code == 0, f"gridpilot {' '.join(path)} --help: {result.output}"


# --- docs/api.md against a real server ---------------------------------------------------------------


def api_blocks(lang: set[str]) -> list[str]:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    return ["\n".join(body) for block_lang, _, body in code_blocks(text) if block_lang in lang]


@pytest.fixture
def api_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[tuple[LiveServer, str]]:
    directory = tmp_path_factory.mktemp("docs-api")
    shutil.copy(sqlite_template, directory / "gridpilot.db")
    settings = Settings(environment="test", log_json=False, data_dir=directory)  # type: ignore[call-arg]
    seed_operators(settings)
    key = create_admin_key(settings)
    server = start_server(settings, free_port())
    try:
        yield server, key
    finally:
        server.stop()


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("jq") is None, reason="needs curl and jq")
def test_the_api_guide_examples_run(
    api_server: tuple[LiveServer, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shell examples first (they register bat-0001), then the Python ones (bat-0002, and both listed)."""
    server, key = api_server
    blocks = [b for b in api_blocks({"sh", "bash"}) if "curl" in b or "export" in b]
    assert len(blocks) >= 8
    script = "set -euo pipefail\n" + "\n".join(f"echo '--- block {i}'\n{b}" for i, b in enumerate(blocks))
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "GRIDPILOT_URL": server.url, "GRIDPILOT_KEY": key},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert '"accepted":[{"index":0,"device_id":"bat-0001"' in out
    assert "HTTP 304" in out
    assert '"accepted":1,"duplicates":0' in out
    assert '"pointer":"/intervals/0/mode"' in out and "HTTP 422" in out
    assert '"role":"admin"' in out

    monkeypatch.setenv("GRIDPILOT_URL", server.url)
    monkeypatch.setenv("GRIDPILOT_KEY", key)
    namespace: dict[str, object] = {"__name__": "docs_api"}
    blocks = api_blocks({"python"})
    assert len(blocks) >= 8
    try:
        for index, block in enumerate(blocks):
            try:
                exec(compile(block, f"docs/api.md python block {index}", "exec"), namespace)  # our own docs
            except Exception as exc:
                pytest.fail(f"docs/api.md python block {index} failed: {exc!r}\n{block}")
    finally:
        for value in namespace.values():
            if isinstance(value, httpx.Client):
                value.close()
    assert namespace["schedule_id"]


# --- links between the documents ------------------------------------------------------------------------


def github_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a document's headings (lower case, punctuation dropped, spaces to hyphens)."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*$", line)
        if in_fence or not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors | set(re.findall(r'<a id="([^"]+)"></a>', text))


def test_links_between_the_documents_resolve() -> None:
    """Every relative link of README.md and docs/*.md names a file that exists, and a heading that exists in it."""
    problems: list[str] = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                problems.append(f"{path.relative_to(ROOT)}: {target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in github_anchors(linked.read_text(encoding="utf-8")):
                problems.append(f"{path.relative_to(ROOT)}: {target}: no such heading")
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_alert_has_its_runbook_section() -> None:
    """The `runbook` annotation of each alert in deploy/prometheus/alerts.yml names a heading of docs/runbook.md."""
    alerts = ROOT / "deploy" / "prometheus" / "alerts.yml"
    if not alerts.exists():
        pytest.skip("deploy/prometheus/alerts.yml is not there")
    anchors = github_anchors((ROOT / "docs" / "runbook.md").read_text(encoding="utf-8"))
    links = re.findall(r"runbook:\s*\S*docs/runbook\.md#([\w-]+)", alerts.read_text(encoding="utf-8"))
    assert links, "no runbook annotations found"
    missing = sorted(set(links) - anchors)
    assert not missing, f"alerts whose runbook section docs/runbook.md lacks: {missing}"
    for name in (
        "api-error-rate-high",
        "database-connection-failures",
        "queue-depth-high",
        "device-offline-rate-high",
        "api-latency-high",
        "schedule-delivery-slow",
        "dlq-not-empty",
    ):
        assert name in anchors, name


def test_the_readme_quickstart_curl_runs(api_server: tuple[LiveServer, str], tmp_path: Path) -> None:
    """The README's API example, with the key scripts/serve prints and the server's address filled in."""
    server, key = api_server
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = ["\n".join(body) for lang, _, body in code_blocks(text) if lang == "sh" and "curl" in "\n".join(body)]
    assert len(blocks) == 1
    script = blocks[0].replace("KEY=gpk_...", f"KEY={key}").replace("http://127.0.0.1:8000", server.url)
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script.replace("curl -s ", "curl -sS --fail-with-body ")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"id":"bat-1"' in result.stdout and '"credential":"gpd_' in result.stdout
