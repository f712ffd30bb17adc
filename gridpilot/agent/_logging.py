"""The agent's logs: JSON lines in a rotating file in its data directory (an SD card must not fill up), and stderr."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter


def configure_agent_logging(*, data_dir: Path, max_bytes: int, backups: int, level: str = "INFO") -> None:
    """Log to data_dir/agent.log (rotated at max_bytes, `backups` old files kept) and to stderr for journald."""
    data_dir.mkdir(parents=True, exist_ok=True)
    formatter = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"asctime": "time", "levelname": "level"}
    )
    file_handler = logging.handlers.RotatingFileHandler(
        data_dir / "agent.log", maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    stream_handler = logging.StreamHandler(sys.stderr)
    for handler in (file_handler, stream_handler):
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [file_handler, stream_handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("pymodbus").setLevel(logging.WARNING)
