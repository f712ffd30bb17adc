"""What every benchmark records about where it ran: the commit (and what was uncommitted), and free ports."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_text(command: Sequence[str]) -> str:
    """The combined output of a short command (empty when it cannot run)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    return done.stdout + done.stderr


def git_revision() -> str:
    """HEAD, naming the tracked files with uncommitted changes (others may edit the tree during a run)."""
    revision = run_text(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip() or "unknown"
    dirty = run_text(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]).split("\n")
    files = [line[3:] for line in dirty if line.strip()]
    return f"{revision} + uncommitted changes in {', '.join(files)}" if files else revision


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on host that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
