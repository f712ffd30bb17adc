"""The manifest every saved model carries, so a directory is never loaded as the wrong kind of model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MANIFEST = "model.json"
FORMAT_VERSION = 1


def write_manifest(directory: Path, name: str, settings: dict[str, Any]) -> None:
    """Create `directory` and record the model's registry name and settings in it."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {"model": name, "format": FORMAT_VERSION, "settings": settings}
    (directory / MANIFEST).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def read_manifest(directory: Path, name: str) -> dict[str, Any]:
    """The settings saved for a model of kind `name`, refusing a directory that holds another kind."""
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {directory} holds no saved model")
    document = json.loads(path.read_text())
    if document.get("model") != name or document.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{directory} holds a {document.get('model')!r} model (format {document.get('format')}), "
            f"not a {name!r} model (format {FORMAT_VERSION})"
        )
    settings: dict[str, Any] = document["settings"]
    return settings


def saved_model_name(directory: Path) -> str:
    """The registry name of the model saved in `directory`."""
    document = json.loads((directory / MANIFEST).read_text())
    return str(document["model"])
