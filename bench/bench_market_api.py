"""Latency of POST /api/v1/market/forecast on the embedded SQLite database, and print a markdown table.

Run from the repository root (nothing but 127.0.0.1 is contacted):

    .venv/bin/python bench/bench_market_api.py [--requests 500] [--model lear] [--market NP]

It imports /work/shared/data/epf/NP.csv into a throwaway data directory, trains and promotes the model with
`gridpilot models train`, starts `gridpilot serve` in its own process and sends the forecast requests one after
another (each one reads the lag prices, predicts from the cached model and logs 24 predictions). The first
request, which loads the model from disk, is reported apart.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import httpx
import typer
from provenance import free_port, git_revision

ROOT = Path(__file__).resolve().parent.parent
EPF = Path("/work/shared/data/epf")
GRIDPILOT = str(ROOT / ".venv" / "bin" / "gridpilot")
TIMEZONES = {"NP": "Europe/Oslo", "BE": "Europe/Brussels", "PJM": "America/New_York"}


def run(args: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> str:
    """A gridpilot command's output; fails the benchmark on an unexpected exit code."""
    done = subprocess.run([GRIDPILOT, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode not in ok:
        sys.exit(f"gridpilot {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wait_ready(url: str, timeout_s: float = 60) -> None:
    """Until /health/ready answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit("the server did not become ready")


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main(
    requests: Annotated[int, typer.Option(min=1, help="Forecast requests to time")] = 500,
    model: Annotated[str, typer.Option(help="Model to train and serve")] = "lear",
    market: Annotated[str, typer.Option(help="EPF market file to import: NP, BE or PJM")] = "NP",
) -> None:
    """Import, train, serve, and time the forecast endpoint."""
    with tempfile.TemporaryDirectory(prefix="gridpilot-bench-market-") as directory:
        env = {**os.environ, "GRIDPILOT_DATA_DIR": directory, "GRIDPILOT_LOG_LEVEL": "WARNING"}
        env.pop("GRIDPILOT_DATABASE_URL", None)
        run(["migrate"], env)
        run(
            ["prices", "import", str(EPF / f"{market}.csv"), "--market", market, "--timezone", TIMEZONES[market]],
            env,
            ok=(0, 1),
        )
        started = time.perf_counter()
        run(["models", "train", "--market", market, "--model", model, "--promote", "--holdout-days", "0"], env)
        train_s = time.perf_counter() - started
        key = re.search(r"(gpk_\S+)", run(["operators", "create", "bench", "--role", "viewer"], env))
        assert key is not None
        port = free_port()
        server = subprocess.Popen(
            [GRIDPILOT, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url)
            latencies = time_forecasts(url, key.group(1), market, requests)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    first, rest = latencies[0], latencies[1:]
    print(
        f"`{' '.join(['.venv/bin/python', 'bench/bench_market_api.py', *sys.argv[1:]])}` — "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {git_revision()}, {platform.machine()} "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; model {model} on {market} "
        f"(trained in {train_s:.1f} s)\n"
    )
    print("| measure | value |\n|---|---|")
    print(f"| requests (sequential, one connection) | {len(rest)} after the first |")
    print(f"| first request (loads the model from disk) | {first * 1000:.1f} ms |")
    for label, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        print(f"| {label} | {percentile(rest, fraction) * 1000:.1f} ms |")
    print(f"| mean | {statistics.fmean(rest) * 1000:.1f} ms |")


def time_forecasts(url: str, key: str, market: str, count: int) -> list[float]:
    """Seconds per forecast request, the first one included; every answer must be a 200."""
    last_day = date(2018, 12, 24) if market != "BE" else date(2016, 12, 31)
    days = [last_day - timedelta(days=k) for k in range(60)]
    latencies = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for i in range(count + 1):
            body = {"market": market, "day": days[i % len(days)].isoformat()}
            started = time.perf_counter()
            response = client.post("/api/v1/market/forecast", json=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                sys.exit(f"forecast failed: {response.status_code} {response.text}")
    return latencies


if __name__ == "__main__":
    typer.run(main)
