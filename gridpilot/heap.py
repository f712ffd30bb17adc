"""Keep the start-up heap out of the cyclic garbage collector's way in long-running processes.

A server or worker holds hundreds of thousands of objects that live as long as the process
(modules, SQLAlchemy and Pydantic metadata, open connections). CPython's full collections
walk all of them again and again while messages are processed; freezing them once start-up
is over leaves the collector only the objects made since (docs/benchmarks.md, "The push
path, 2026-12-05 (second session)": about 15 % more acks a second).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("gridpilot.heap")


def freeze_startup_heap() -> int:
    """Collect once, then move every surviving object out of future collections; returns how many were moved."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up heap frozen: %s objects left out of garbage collection", frozen)
    return frozen
