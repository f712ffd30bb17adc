"""Validation speed: one 96-interval schedule (median, p99) and a 10,000-schedule batch.

Run: .venv/bin/python bench/bench_validation.py
Each figure is set beside json.loads of the same bytes in the same run, a reference that
drifts with the machine the same way the validator does.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import typer
from rich.console import Console
from rich.progress import track

from gridpilot.protocol import BatteryLimits, validate_schedule

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
LIMITS = BatteryLimits(capacity_kwh=13.5, max_charge_kw=5, max_discharge_kw=5, min_soc_pct=10, max_soc_pct=90)


def day_ahead_schedule(device_id: str) -> dict[str, object]:
    """96 quarter-hours from now, alternating charge and discharge at 2 kW: valid and SoC-feasible."""
    intervals = []
    for index in range(96):
        start = NOW + timedelta(minutes=15 * index)
        intervals.append(
            {
                "start": start.isoformat().replace("+00:00", "Z"),
                "end": (start + timedelta(minutes=15)).isoformat().replace("+00:00", "Z"),
                "mode": 1 + index % 2,
                "rate_kw": 2.0,
            }
        )
    return {"device_id": device_id, "intervals": intervals}


def timings_us(work: Callable[[], object], repeats: int, label: str) -> list[float]:
    """Microseconds per call of work, once per repeat."""
    found = []
    for _ in track(range(repeats), description=label, transient=True):
        started = time.perf_counter_ns()
        work()
        found.append((time.perf_counter_ns() - started) / 1000)
    return found


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main(repeats: int = typer.Option(5000, help="Timed validations of the single schedule")) -> None:
    """Time the validator and print a markdown table for docs/benchmarks.md."""
    console = Console()
    one = day_ahead_schedule("bat-00001")
    body = json.dumps(one).encode()
    assert validate_schedule(one, now=NOW, limits=LIMITS, soc_pct=50).ok

    def validate_one() -> object:
        return validate_schedule(one, now=NOW, limits=LIMITS, soc_pct=50)

    timings_us(validate_one, 500, "warm-up")
    single = timings_us(validate_one, repeats, "one 96-interval schedule")
    parse = timings_us(lambda: json.loads(body), repeats, "json.loads reference")

    batch = [day_ahead_schedule(f"bat-{i:05d}") for i in range(10_000)]
    batch_body = json.dumps(batch).encode()
    batch_runs, parse_runs = [], []
    for _ in track(range(5), description="10,000-schedule batch x5", transient=True):
        started = time.perf_counter()
        results = [validate_schedule(raw, now=NOW, limits=LIMITS, soc_pct=50) for raw in batch]
        batch_runs.append(time.perf_counter() - started)
        assert all(r.ok for r in results)
        started = time.perf_counter()
        json.loads(batch_body)
        parse_runs.append(time.perf_counter() - started)

    console.print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    console.print("| measure | median | p99 | json.loads of the same bytes (median) | ratio |")
    console.print("| --- | --- | --- | --- | --- |")
    console.print(
        f"| one 96-interval schedule | {statistics.median(single):.1f} µs | {p99(single):.1f} µs "
        f"| {statistics.median(parse):.1f} µs | {statistics.median(single) / statistics.median(parse):.1f}× |"
    )
    batch_median = statistics.median(batch_runs)
    console.print(
        f"| 10,000 schedules × 96 intervals | {batch_median * 1000:.0f} ms | max {max(batch_runs) * 1000:.0f} ms "
        f"| {statistics.median(parse_runs) * 1000:.0f} ms | {batch_median / statistics.median(parse_runs):.1f}× |"
    )


if __name__ == "__main__":
    typer.run(main)
