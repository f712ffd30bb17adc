"""The README's configuration table is the reference: every Settings field has its row."""

from __future__ import annotations

import re
from pathlib import Path

from gridpilot.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def configuration_rows() -> set[str]:
    """The variables named in the first column of the README's configuration table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("|"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`(GRIDPILOT_[A-Z0-9_]+)`", first_cell))
    return names


def test_every_setting_has_a_row_in_the_readme() -> None:
    rows = configuration_rows()
    missing = sorted(
        f"GRIDPILOT_{name.upper()}" for name in Settings.model_fields if f"GRIDPILOT_{name.upper()}" not in rows
    )
    assert not missing, f"README.md's configuration table has no row for {missing}"


def test_the_readme_names_no_setting_that_does_not_exist() -> None:
    known = {f"GRIDPILOT_{name.upper()}" for name in Settings.model_fields} | {"GRIDPILOT_CONFIG"}
    unknown = sorted(configuration_rows() - known)
    assert not unknown, f"README.md's configuration table lists settings gridpilot does not have: {unknown}"


def test_the_readme_shows_the_two_quickstart_commands_and_the_screenshot() -> None:
    text = README.read_text(encoding="utf-8")
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "scripts/demo" in quickstart and "scripts/test" in quickstart and "scripts/serve" in quickstart
    assert "docs/images/dashboard-fleet.png" in text
    assert (README.parent / "docs" / "images" / "dashboard-fleet.png").is_file()
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (README.parent / link).exists(), f"README links to {link}, which does not exist"
