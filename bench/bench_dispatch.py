"""Battery dispatch: solve time per battery-day, 10,000 battery-days, and the value captured on forecasts.

Run: .venv/bin/python bench/bench_dispatch.py        (about a minute on 2 cores)
Prices are the second year (last 364 days) of NP, PJM and BE in ../shared/data/epf. Times include building
the problem (bounds, costs, sparse arrays) and reading the solution back; the battery is the issue's standard one.
Progress goes to stderr, markdown to stdout.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

import numpy as np
import pandas as pd
import typer
from provenance import ROOT, git_revision

from gridpilot.market.dispatch import Battery, DispatchProblem, Solver, optimize, optimize_many, to_schedule
from gridpilot.market.evaluation import STANDARD_BATTERY, evaluate_arbitrage, same_hour_yesterday
from gridpilot.market.household import evaluate_household, synthetic_household

DATA = ROOT.parent / "shared" / "data" / "epf"
MARKETS = ("NP", "PJM", "BE")
PUBLISHED = {"NP": (62.7, 80.9, 82.0), "PJM": (82.3, 88.1, 89.1), "BE": (66.8, 77.8, 81.5)}
DAYS = 364


def read_market(market: str) -> pd.DataFrame:
    """The market file with a UTC index (the files' wall-clock times, every day 24 hours)."""
    frame = pd.read_csv(DATA / f"{market}.csv", index_col=0)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index)).tz_localize("UTC")
    return frame


def daily_prices(frame: pd.DataFrame) -> np.ndarray:
    """The last 364 days of real prices, one row per day."""
    return cast(np.ndarray, frame["Real price"].to_numpy()[-DAYS * 24 :].reshape(DAYS, 24))


def quarter_hours(days: np.ndarray, seed: int = 0) -> np.ndarray:
    """Hourly days as 96 quarter-hours: each hour repeated, plus seeded noise so that quarters differ."""
    rng = np.random.default_rng(seed)
    return np.repeat(days, 4, axis=1) + rng.normal(0, 3, (days.shape[0], 96))


def timings(days: np.ndarray, minutes: float, reuse: bool) -> dict[str, float]:
    """Median and p99 of one battery-day (build + solve + read back), with or without structure reuse."""
    solver = Solver()
    seconds = []
    for prices in days:
        problem = DispatchProblem(STANDARD_BATTERY, prices, minutes, 50.0)
        began = time.perf_counter()
        solver.solve(problem) if reuse else optimize(problem)
        seconds.append(time.perf_counter() - began)
    values = np.array(seconds) * 1000
    return {"median_ms": float(np.median(values)), "p99_ms": float(np.percentile(values, 99)), "count": len(values)}


def schedule_time(days: np.ndarray) -> float:
    """Median ms to turn one hourly plan into a validated-format schedule."""
    solver = Solver()
    start = datetime(2026, 11, 25, tzinfo=UTC)
    seconds = []
    for prices in days:
        plan = solver.solve(DispatchProblem(STANDARD_BATTERY, prices, 60, 50.0))
        began = time.perf_counter()
        to_schedule(plan, battery=STANDARD_BATTERY, device_id="battery", start=start)
        seconds.append(time.perf_counter() - began)
    return float(np.median(seconds) * 1000)


def fleet(days: np.ndarray, count: int, seed: int = 1) -> list[DispatchProblem]:
    """count battery-days: the real days in turn, batteries of random size, power and SoC."""
    rng = np.random.default_rng(seed)
    problems = []
    for index in range(count):
        capacity = float(rng.uniform(5, 2000))
        battery = Battery(
            capacity, capacity * rng.uniform(0.25, 0.5), capacity * rng.uniform(0.25, 0.5), 0.95, 0.95, 10, 90
        )
        problems.append(DispatchProblem(battery, days[index % len(days)], 60, float(rng.uniform(20, 80))))
    return problems


def main(
    count: Annotated[int, typer.Option(help="Battery-days in the fleet run")] = 10_000,
    jobs: Annotated[int, typer.Option(help="Worker processes for the all-cores run")] = os.cpu_count() or 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write every figure here")] = None,
    emhass: Annotated[
        Path | None,
        typer.Option(help="Instead: solve the days in this bench_emhass.py output and compare with EMHASS"),
    ] = None,
    peer_json: Annotated[
        Path | None,
        typer.Option(help="Instead: the same with the output of bench_emhass.py or bench_flexmeasures.py"),
    ] = None,
) -> None:
    """Time the optimizer, evaluate the published forecasts, print the markdown for docs/benchmarks.md."""
    peer = emhass or peer_json
    if peer is not None:
        compare_peer(peer, json_out)
        return
    started = datetime.now(UTC)
    frames = {market: read_market(market) for market in MARKETS}
    hourly = np.concatenate([daily_prices(frame) for frame in frames.values()])
    quarter = quarter_hours(hourly)
    figures: dict[str, object] = {}
    print("timing single battery-days ...", file=sys.stderr)
    figures["hourly_reuse"] = timings(hourly, 60, reuse=True)
    figures["hourly_fresh"] = timings(hourly, 60, reuse=False)
    figures["quarter_reuse"] = timings(quarter, 15, reuse=True)
    figures["quarter_fresh"] = timings(quarter, 15, reuse=False)
    figures["schedule_ms"] = schedule_time(hourly[:364])
    problems = fleet(hourly, count)
    print(f"{count} battery-days ...", file=sys.stderr)
    began = time.perf_counter()
    optimize_many(problems)
    figures["fleet_single_s"] = time.perf_counter() - began
    for method in ("spawn", "fork"):
        began = time.perf_counter()
        optimize_many(problems, jobs=jobs, chunk_size=max(1, count // jobs), start_method=method)
        figures[f"fleet_{method}_s"] = time.perf_counter() - began
    figures["fleet_jobs"] = jobs
    print("value captured ...", file=sys.stderr)
    captured: dict[str, dict[str, float]] = {}
    for market, frame in frames.items():
        actual = frame["Real price"]
        row = {}
        for name, forecast in (
            ("same hour yesterday", same_hour_yesterday(actual)),
            ("LEAR Ensemble", frame["LEAR Ensemble"]),
            ("DNN Ensemble", frame["DNN Ensemble"]),
        ):
            result = evaluate_arbitrage(actual, forecast, last_days=DAYS)
            row[name] = result.captured_share * 100
            row["revenue " + name] = result.revenue
            row["perfect"] = result.perfect_revenue
        captured[market] = row
    figures["captured"] = captured
    homes: dict[str, dict[str, float]] = {}
    for market in ("NP", "BE"):
        actual = frames[market]["Real price"]
        home = evaluate_household(actual, synthetic_household(actual.index), last_days=DAYS)
        homes[market] = {
            "without": home.without_battery,
            "rule": home.rule_based,
            "optimized": home.optimized,
            "yesterday": home.optimized_on_yesterday,
            "receding": home.receding_horizon,
        }
    figures["household"] = homes
    print_markdown(figures, started, count)
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2))


def print_markdown(figures: dict[str, object], started: datetime, count: int) -> None:
    """The section for docs/benchmarks.md."""
    load = os.getloadavg()
    print(
        f"Run {started:%Y-%m-%d %H:%M} UTC, commit `{git_revision()}`, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min).\n"
    )
    print("| battery-day | structure reused: median | p99 | fresh build: median | p99 |")
    print("|---|---|---|---|---|")
    for label, key in (("hourly (24 steps)", "hourly"), ("15-minute (96 steps)", "quarter")):
        reuse, fresh = figures[f"{key}_reuse"], figures[f"{key}_fresh"]
        assert isinstance(reuse, dict) and isinstance(fresh, dict)
        print(
            f"| {label}, {reuse['count']} days | {reuse['median_ms']:.3f} ms | {reuse['p99_ms']:.3f} ms | "
            f"{fresh['median_ms']:.3f} ms | {fresh['p99_ms']:.3f} ms |"
        )
    print(f"\nSchedule conversion (hourly plan → `Schedule`): median {figures['schedule_ms']:.3f} ms.\n")
    print(f"| {count:,} hourly battery-days | wall time |")
    print("|---|---|")
    print(f"| one process | {figures['fleet_single_s']:.2f} s |")
    for method in ("spawn", "fork"):
        print(
            f"| {figures['fleet_jobs']} processes ({method}, pool start-up included) "
            f"| {figures[f'fleet_{method}_s']:.2f} s |"
        )
    print("\n| market | same hour yesterday | LEAR Ens. | DNN Ens. | perfect foresight (revenue) |")
    print("|---|---|---|---|---|")
    captured = figures["captured"]
    assert isinstance(captured, dict)
    for market, row in captured.items():
        ref = PUBLISHED[market]
        print(
            f"| {market} | {row['same hour yesterday']:.1f} % ({ref[0]}) | {row['LEAR Ensemble']:.1f} % ({ref[1]}) | "
            f"{row['DNN Ensemble']:.1f} % ({ref[2]}) | 100 % ({row['perfect']:,.0f}) |"
        )
    print(
        "\n| household | no battery | rule-based | optimized, load/PV known | planned on yesterday's load/PV, "
        "run blindly | receding horizon on a forecast | receding horizon vs rule | known vs rule |"
    )
    print("|---|---|---|---|---|---|---|---|")
    homes = figures["household"]
    assert isinstance(homes, dict)
    for market, bill in homes.items():
        print(
            f"| {market} prices | {bill['without']:.2f} | {bill['rule']:.2f} | {bill['optimized']:.2f} | "
            f"{bill['yesterday']:.2f} | {bill['receding']:.2f} | {_cut(bill['receding'], bill['rule'])} | "
            f"{_cut(bill['optimized'], bill['rule'])} |"
        )


def _cut(cost: float, baseline: float) -> str:
    return f"{(baseline - cost) / abs(baseline) * 100:.1f} %"


def compare_peer(peer_json: Path, json_out: Path | None) -> None:
    """gridpilot on the days bench_emhass.py or bench_flexmeasures.py solved: objective agreement and speed ratio.

    Same battery (STANDARD_BATTERY, both peers set up to cap AC power at 1 MW both ways), same days, planned on
    the real price. Times: build + solve + read back, per battery-day. The peer's name is the JSON's `peer`
    field (bench_emhass.py's output has none: EMHASS).
    """
    theirs = json.loads(peer_json.read_text())
    name = theirs.get("peer", "EMHASS")
    versions = theirs.get("versions") or {key: theirs[key] for key in ("emhass", "cvxpy", "highspy")}
    started = datetime.now(UTC)
    figures: dict[str, dict[str, Any]] = {}
    for market, peer in theirs["markets"].items():
        frame = read_market(market)
        days = daily_prices(frame)
        dates = [str(day.date()) for day in frame.index[-DAYS * 24 :: 24]]
        peer_days = peer["days"]
        if dates[: len(peer_days)] != [row["day"] for row in peer_days]:
            raise typer.BadParameter(f"{market}: {name} solved other days", param_hint="--peer-json")
        days = days[: len(peer_days)]
        solver = Solver()
        reused, cpu, fresh, plans = [], [], [], []
        for prices in days:
            cpu_began = time.process_time()
            began = time.perf_counter()
            plans.append(solver.solve(DispatchProblem(STANDARD_BATTERY, prices, 60, 50.0)))
            reused.append(time.perf_counter() - began)
            cpu.append(time.process_time() - cpu_began)
        for prices in days:
            began = time.perf_counter()
            optimize(DispatchProblem(STANDARD_BATTERY, prices, 60, 50.0))
            fresh.append(time.perf_counter() - began)
        ours = np.array([plan.objective for plan in plans])
        peer_objective = np.array([row["objective"] for row in peer_days])
        scale = np.maximum(np.abs(ours), np.abs(peer_objective))
        relative = np.divide(np.abs(ours - peer_objective), scale, out=np.zeros_like(scale), where=scale > 0)
        power_gap = np.array(
            [
                np.abs(plan.discharge_kw - plan.charge_kw - np.array(row["battery_w"]) / 1000).max()
                for plan, row in zip(plans, peer_days, strict=True)
            ]
        )
        reuse_ms, fresh_ms = np.array(reused[1:]) * 1000, np.array(fresh) * 1000
        worst = int(np.argmax(relative))
        figures[market] = {
            "days": len(days),
            "peer": name,
            "peer_status": sorted({row["status"] for row in peer_days}),
            "ours_methods": {
                method: sum(plan.method.value == method for plan in plans)
                for method in sorted({plan.method.value for plan in plans})
            },
            "ours_warnings": sum(bool(plan.warnings) for plan in plans),
            "relative_max": float(relative.max()),
            "relative_median": float(np.median(relative)),
            "absolute_max": float(np.abs(ours - peer_objective).max()),
            "worst_day": dates[worst],
            "days_above_1e-6": int((relative >= 1e-6).sum()),
            "same_plan_within_1_kw": int((power_gap <= 1.0).sum()),
            "ours_total": float(ours.sum()),
            "peer_total": float(peer_objective.sum()),
            "ours_median_ms": float(np.median(reuse_ms)),
            "ours_cpu_median_ms": float(np.median(cpu[1:])) * 1000,
            "peer_cpu_median_ms": peer.get("cpu_median_ms"),
            "ours_p99_ms": float(np.percentile(reuse_ms, 99)),
            "ours_mean_ms": float(reuse_ms.mean()),
            "ours_fresh_median_ms": float(np.median(fresh_ms)),
            "ours_fresh_p99_ms": float(np.percentile(fresh_ms, 99)),
            "peer_median_ms": peer["median_ms"],
            "peer_p99_ms": peer["p99_ms"],
            "peer_mean_ms": float(np.mean([row["solve_ms"] for row in peer_days[1:]])),
            "peer_first_ms": peer["first_solve_ms"],
            "peer_fresh_median_ms": peer["fresh_median_ms"],
        }
        if "soc_final_slack_wh" in peer_days[0]:
            figures[market]["peer_terminal_slack_wh_max"] = max(row["soc_final_slack_wh"] for row in peer_days)
    load = os.getloadavg()
    print(
        f"gridpilot run {started:%Y-%m-%d %H:%M} UTC, {name} run {theirs['started']} .. {theirs['finished']} "
        f"({', '.join(f'{key} {value}' for key, value in versions.items())}"
        + (f", prices given to EMHASS per {theirs.get('price_unit', 'kwh')}" if name == "EMHASS" else "")
        + f"); {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load average "
        f"(1 / 5 / 15 min) before {name} {' / '.join(f'{x:.1f}' for x in theirs['load_before'])}, after {name} "
        f"{' / '.join(f'{x:.1f}' for x in theirs['load_after'])}, after gridpilot "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.\n"
    )
    print(
        "| market | days | max relative objective difference | median | days ≥ 1e-6 | same plan (±1 kW) | "
        f"total objective gridpilot / {name} |"
    )
    print("|---|---|---|---|---|---|---|")
    for market, row in figures.items():
        print(
            f"| {market} | {row['days']} | {row['relative_max']:.1e} ({row['worst_day']}) | "
            f"{row['relative_median']:.1e} | {row['days_above_1e-6']} | {row['same_plan_within_1_kw']} | "
            f"{row['ours_total']:,.4f} / {row['peer_total']:,.4f} |"
        )
    print(
        f"\n| market | gridpilot median | p99 | mean | {name} median | p99 | mean | ratio of medians | ratio of p99 | "
        f"ratio of means | gridpilot fresh build median | {name} first solve |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for market, row in figures.items():
        print(
            f"| {market} | {row['ours_median_ms']:.3f} ms | {row['ours_p99_ms']:.3f} ms | "
            f"{row['ours_mean_ms']:.3f} ms | "
            f"{row['peer_median_ms']:.1f} ms | {row['peer_p99_ms']:.1f} ms | {row['peer_mean_ms']:.1f} ms | "
            f"{row['peer_median_ms'] / row['ours_median_ms']:.0f}× | "
            f"{row['peer_p99_ms'] / row['ours_p99_ms']:.0f}× | "
            f"{row['peer_mean_ms'] / row['ours_mean_ms']:.0f}× | "
            f"{row['ours_fresh_median_ms']:.3f} ms | {row['peer_first_ms']:.0f} ms |"
        )
    for market, row in figures.items():
        slack = row.get("peer_terminal_slack_wh_max")
        print(
            f"\n{market}: {name} status {row['peer_status']}"
            + (f", terminal-SoC slack at most {slack:.3g} Wh" if slack is not None else "")
            + f"; gridpilot methods {row['ours_methods']}, {row['ours_warnings']} plans with warnings"
            + (
                f"; CPU time per call (median) gridpilot {row['ours_cpu_median_ms']:.3f} ms, {name} "
                f"{row['peer_cpu_median_ms']:.1f} ms ({row['peer_cpu_median_ms'] / row['ours_cpu_median_ms']:.0f}×)."
                if row["peer_cpu_median_ms"] is not None
                else "."
            ),
            end="",
        )
    print()
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    typer.run(main)
