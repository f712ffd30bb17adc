"""FlexMeasures side by side: the standard battery on the 364 test days of the EPF files, solved by FlexMeasures.

Runs with the python of a SEPARATE virtual environment that holds FlexMeasures (its pins must not leak into
gridpilot's), and imports only FlexMeasures, Flask, numpy and pandas -- never gridpilot:

    python3 -m venv /tmp/fm-venv && /tmp/fm-venv/bin/pip install flexmeasures==1.0.1
    /tmp/fm-venv/bin/python bench/bench_flexmeasures.py --json /tmp/bench/flexmeasures.json   # about 2 minutes
    /tmp/fm-venv/bin/python bench/bench_flexmeasures.py --solver appsi_highs --json /tmp/bench/flexmeasures-pyomo.json
    .venv/bin/python bench/bench_dispatch.py --peer-json /tmp/bench/flexmeasures.json    # gridpilot on the same days

The battery is gridpilot's standard one (gridpilot.market.evaluation.STANDARD_BATTERY): 1 MW / 2 MWh, 95 %
charge and 95 % discharge efficiency, SoC 10-90 %, start = end = 50 %, no wear cost, one day at a time,
planned on the day's real price. The days are the last 364 days (8,736 hours) of the `Real price` column,
the same days as bench_emhass.py (`peer_days.test_days`).

What is called: `flexmeasures.data.models.planning.linear_optimization.device_scheduler`, the generic scheduler
under FlexMeasures' StorageScheduler, inside a bare Flask app context (no database: it only reads
`current_app.config`). The inputs are built the way StorageScheduler builds them for one battery and one price:

* Units: power in MW, stock in MWh; at an hourly resolution the "stock per resolution step" conversion that
  StorageScheduler applies (x 1 h / resolution) is 1, and so is the price conversion (EUR/MWh x resolution / 1 h
  gives the cost of 1 MW for one step).
* Device constraints (one DataFrame, columns as in FlexMeasures' own tests): `min` = (10 % - 50 %) x 2 MWh =
  -0.8 and `max` = +0.8 (stock relative to `initial_stock` = 1 MWh, bound after every step, as gridpilot's SoC),
  `equals` = 0 on the last step (end = start), `derivative max` = 1 MW and `derivative min` = -1 MW on the
  device's flow, i.e. at the AC terminals both ways (gridpilot's convention), `derivative up efficiency` = 0.95
  (charging P stores 0.95 P) and `derivative down efficiency` = 0.95 (discharging P draws P / 0.95: FlexMeasures'
  stock change is down / down_efficiency), no storage loss (`efficiency` left empty = 1), no stock delta.
* Price: one FlowCommitment "energy" on device 0 with quantity 0 and upwards = downwards deviation price = the
  day's price, as StorageScheduler's "electricity net energy" commitment. Its cost is price x flow per step:
  the cost of energy bought minus the revenue of energy sold, gridpilot's objective, in currency.
* Left out on purpose: StorageScheduler's default "prefer a full storage sooner" StockCommitment (a tiny price
  slope that breaks ties, and shifts the objective by a tiny amount), site capacities (the battery is the only
  thing on the meter), SoC relaxation and breach prices (the hard constraints are feasible every day).
* Simultaneous charge and discharge: FlexMeasures forbids it, on both backends, with one binary per step
  (`device_power_sign`, big-M = the largest power bound, 1 MW) wherever the device may flow both ways, so every
  day is a MILP with 24 binaries. The plans are checked for it (`simultaneous_charge_discharge`).

Flask config that matters:

* FLEXMEASURES_LP_SOLVER = "highspy" (`--solver`, FlexMeasures 1.0.1's default): the direct HiGHS backend
  (highspy_optimization.py) builds the model with the HiGHS Python API. "appsi_highs" goes through Pyomo.
* FLEXMEASURES_LP_SOLVER_OPTIONS left empty, so FlexMeasures' own HiGHS profile applies: mip_rel_gap 0,
  mip_abs_gap 0, primal/dual/mip feasibility tolerances 1e-9 (tighter than HiGHS' defaults; no threads option,
  which FlexMeasures warns against).
* LOGGING_LEVEL = "INFO": the one setting under which that profile also sets HiGHS' output_flag to false.
  Under FlexMeasures' production default (logging.WARNING) HiGHS would print its log on every solve.

Timed per day: the `device_scheduler` call alone (wall clock; `cpu_ms` is the process CPU time of the same call,
which shows how much of the wall time the shared cores took away). Building its inputs (DataFrames and the
commitment) is timed apart (`inputs_ms`); device_scheduler mutates them, so they are rebuilt for every call.
The first call of a run (imports and first HiGHS instance) is reported apart. `--split` also wraps highspy's
`Highs.run` to report how much of each call is HiGHS solving (highspy backend only; off by default so that the
main figures run FlexMeasures' code untouched).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import flask
import numpy as np
import pandas as pd
from peer_days import test_days

POWER_MW = 1.0  # at the AC terminals, both ways
CAPACITY_MWH = 2.0
EFFICIENCY = 0.95
SOC_MIN, SOC_MAX, SOC_START = 0.10, 0.90, 0.50
RESOLUTION = timedelta(hours=1)
COLUMNS = [
    "equals",
    "max",
    "min",
    "efficiency",
    "derivative equals",
    "derivative max",
    "derivative min",
    "derivative down efficiency",
    "derivative up efficiency",
    "stock delta",
]
HIGHS_RUN_SECONDS: list[float] = []


def scheduler_inputs(day: str, prices: np.ndarray) -> dict[str, Any]:
    """device_scheduler's arguments for the standard battery on one hourly day (see the module docstring)."""
    from flexmeasures.data.models.planning import FlowCommitment
    from flexmeasures.data.models.planning.utils import initialize_df

    start = pd.Timestamp(day, tz="UTC")
    end = start + timedelta(days=1)
    device = initialize_df(COLUMNS, start, end, RESOLUTION)
    initial = SOC_START * CAPACITY_MWH
    device["min"] = SOC_MIN * CAPACITY_MWH - initial
    device["max"] = SOC_MAX * CAPACITY_MWH - initial
    device.loc[device.index[-1], "equals"] = 0.0
    device["derivative max"] = POWER_MW
    device["derivative min"] = -POWER_MW
    device["derivative up efficiency"] = EFFICIENCY
    device["derivative down efficiency"] = EFFICIENCY
    price = pd.Series(prices * (RESOLUTION / timedelta(hours=1)), index=device.index)
    energy = FlowCommitment(
        name="energy",
        quantity=0,
        upwards_deviation_price=price,
        downwards_deviation_price=price,
        index=device.index,
        device=pd.Series(0, index=device.index),
    )
    return {
        "device_constraints": [device],
        "ems_constraints": initialize_df(COLUMNS, start, end, RESOLUTION),
        "commitments": [energy],
        "initial_stock": initial,
    }


def solve_day(day: str, prices: np.ndarray) -> dict[str, Any]:
    """One battery-day: the plan, FlexMeasures' objective and ours recomputed from its flow; times."""
    from flexmeasures.data.models.planning.linear_optimization import device_scheduler

    began = time.perf_counter()
    inputs = scheduler_inputs(day, prices)
    built = time.perf_counter()
    cpu = time.process_time()
    power, costs, results, model = device_scheduler(**inputs)
    cpu = time.process_time() - cpu
    solved = time.perf_counter()
    flow_mw = power[0].to_numpy(dtype=np.float64)  # positive = charging (consumption), negative = discharging
    up = np.array([model.device_power_up[0, j].value for j in range(24)], dtype=np.float64)
    down = np.array([model.device_power_down[0, j].value for j in range(24)], dtype=np.float64)
    stock = SOC_START * CAPACITY_MWH + np.cumsum(up * EFFICIENCY + down / EFFICIENCY)
    soc = stock / CAPACITY_MWH
    return {
        "day": day,
        "status": str(results.solver.termination_condition),
        # gridpilot's sign: cost in currency, negative = earnings. From the plan's flow:
        "objective": float(flow_mw @ prices),
        # FlexMeasures' own objective (the commitment costs)
        "flexmeasures_costs": float(costs),
        "final_soc": float(soc[-1]),
        "min_soc": float(soc.min()),
        "max_soc": float(soc.max()),
        "max_charge_w": float(max(0.0, flow_mw.max())) * 1e6,
        "max_discharge_w": float(max(0.0, -flow_mw.min())) * 1e6,
        "simultaneous_charge_discharge": bool(((up > 1e-9) & (down < -1e-9)).any()),
        # bench_emhass.py's sign (EMHASS' P_batt): W, positive = discharging
        "battery_w": [float(-x) * 1e6 for x in flow_mw],
        "inputs_ms": (built - began) * 1000,
        "solve_ms": (solved - built) * 1000,
        "cpu_ms": cpu * 1000,
    }


def run_market(market: str, limit: int | None) -> dict[str, Any]:
    dates, prices = test_days(market)
    if limit is not None:
        dates, prices = dates[:limit], prices[:limit]
    rows, highs_ms = [], []
    for number, (day, day_prices) in enumerate(zip(dates, prices, strict=True)):
        HIGHS_RUN_SECONDS.clear()
        row = solve_day(day, day_prices)
        if HIGHS_RUN_SECONDS:
            row["highs_run_ms"] = sum(HIGHS_RUN_SECONDS) * 1000
            highs_ms.append(row["highs_run_ms"])
        rows.append(row)
        if number % 50 == 0:
            print(
                f"{market} {day}: {row['status']} objective {row['objective']:.4f} in {row['solve_ms']:.1f} ms",
                file=sys.stderr,
            )
    times = np.array([row["solve_ms"] for row in rows[1:]])
    return {
        "days": rows,
        "first_solve_ms": rows[0]["solve_ms"],
        "median_ms": float(np.median(times)),
        "p99_ms": float(np.percentile(times, 99)),
        "count": len(times),
        "cpu_median_ms": float(np.median([row["cpu_ms"] for row in rows[1:]])),
        "inputs_median_ms": float(np.median([row["inputs_ms"] for row in rows[1:]])),
        "highs_run_median_ms": float(np.median(highs_ms[1:])) if len(highs_ms) > 1 else None,
        # every call builds a new model: there is no cached re-solve to set apart
        "fresh_ms": [],
        "fresh_median_ms": None,
    }


def time_highs_runs() -> None:
    """--split: make highspy.Highs.run record its wall time (device_scheduler_highspy looks it up per call)."""
    import highspy

    class TimedHighs(highspy.Highs):
        def run(self) -> Any:
            began = time.perf_counter()
            status = super().run()
            HIGHS_RUN_SECONDS.append(time.perf_counter() - began)
            return status

    highspy.Highs = TimedHighs  # type: ignore[misc]  # deliberate monkeypatch of the class the scheduler looks up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markets", default="NP,PJM,BE", help="comma-separated EPF markets")
    parser.add_argument("--json", type=Path, required=True, help="write per-day objectives and times here")
    parser.add_argument("--limit", type=int, default=None, help="only the first N test days (smoke runs)")
    parser.add_argument(
        "--solver",
        choices=("highspy", "appsi_highs"),
        default="highspy",
        help="FLEXMEASURES_LP_SOLVER: highspy (direct HiGHS model, the default) or appsi_highs (through Pyomo)",
    )
    parser.add_argument("--split", action="store_true", help="also time highspy's Highs.run inside each call")
    args = parser.parse_args()
    if args.split:
        if args.solver != "highspy":
            parser.error("--split needs --solver highspy")
        time_highs_runs()
    config = {"FLEXMEASURES_LP_SOLVER": args.solver, "FLEXMEASURES_LP_SOLVER_OPTIONS": {}, "LOGGING_LEVEL": "INFO"}
    app = flask.Flask(__name__)
    app.config.update(config)
    started = datetime.now(UTC)
    out: dict[str, Any] = {
        "peer": "FlexMeasures" if args.solver == "highspy" else "FlexMeasures/Pyomo",
        "versions": {name: version(name) for name in ("flexmeasures", "highspy", "pyomo", "pandas", "numpy", "flask")},
        "solver": args.solver,
        "started": started.isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "options": config,
        "split": args.split,
        "markets": {},
    }
    with app.app_context():
        for market in args.markets.split(","):
            out["markets"][market] = run_market(market, args.limit)
            figures = out["markets"][market]
            print(
                f"{market}: median {figures['median_ms']:.1f} ms (CPU {figures['cpu_median_ms']:.1f} ms), "
                f"p99 {figures['p99_ms']:.1f} ms, first {figures['first_solve_ms']:.0f} ms, "
                f"inputs {figures['inputs_median_ms']:.1f} ms, HiGHS run {figures['highs_run_median_ms']}",
                file=sys.stderr,
            )
    out["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    out["load_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
