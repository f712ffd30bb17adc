"""EMHASS side by side: the standard battery on the 364 test days of the EPF files, solved by EMHASS.

Runs with the python of a SEPARATE virtual environment that holds EMHASS (its pins must not leak into
gridpilot's), and imports only EMHASS, numpy and pandas -- never gridpilot:

    python3 -m venv /tmp/emhass-venv && /tmp/emhass-venv/bin/pip install emhass==0.18.7
    /tmp/emhass-venv/bin/python bench/bench_emhass.py --json /tmp/bench/emhass.json   # about 45 s
    .venv/bin/python bench/bench_dispatch.py --emhass /tmp/bench/emhass.json    # gridpilot on the same days

The battery is gridpilot's standard one (gridpilot.market.evaluation.STANDARD_BATTERY): 1 MW / 2 MWh, 95 %
charge and 95 % discharge efficiency, SoC 10-90 %, start = end = 50 %, no wear cost, one day at a time,
planned on the day's real price. The days are the last 364 days (8,736 hours) of the `Real price` column,
exactly the days `gridpilot evaluate dispatch ../shared/data/epf/NP.csv --forecast-column "DNN Ensemble"`
settles (every day of the files has 24 hourly rows; checked below).

EMHASS options that matter (all others are config_defaults.json's):

* set_nodischarge_to_grid = false. Its default (true) caps grid export at the PV surplus max(0, PV - load),
  which is 0 with no PV and no load: the battery can buy but never sell, so the optimum is to stay idle.
  That is why a first attempt saw P_batt = 0 on every day.
* set_nocharge_from_grid = false (default), costfun = profit, set_total_pv_sell = false, no PV, no load,
  number_of_deferrable_loads = 0 (default 2), weights and stress costs 0 (defaults).
* unit_load_cost = unit_prod_price = price / 1000 (currency per kWh, EMHASS's unit; powers in W).
* Power-limit convention: EMHASS bounds discharge at the cells (p_sto_pos <= eff_dis * P_dis_max, i.e. AC
  discharge <= 0.95 * battery_discharge_power_max) and charge at the AC side (p_sto_neg >= -P_ch_max, the
  other bound -P_ch_max / eff_chg being looser). gridpilot bounds both at the AC terminals, so
  battery_discharge_power_max = 1 MW / 0.95 and battery_charge_power_max = 1 MW.
* maximum_power_from_grid = maximum_power_to_grid = 2 MW: never binding (the battery is the only thing on
  the meter and moves at most 1 MW), but a small big-M for EMHASS's import/export binary.
* lp_solver_mip_rel_gap = 1e-9. Its default 0.01 lets HiGHS stop 1 % from the optimum; 0 does not mean
  exact in 0.18.7 (0 leaves the option unset, so HiGHS' own default 1e-4 applies).
* num_threads = 1 (gridpilot solves with one HiGHS thread too); optimization_time_step = 60.
* `--price-unit mwh` passes the EUR/MWh figure where EMHASS expects currency per kWh. The optimum is the same
  (every cost term, the terminal-SoC penalty included, scales by 1000), but HiGHS then sees cost coefficients
  1000 times larger: with per-kWh prices and powers in W they are about 1e-5 per W, and price differences
  of about 0.001 EUR/MWh between hours fall below its tolerances, so EMHASS can stop at a plan that costs
  slightly more than the optimum while reporting Optimal (seen on one PJM day).

Timed per day: `Optimization.perform_optimization` (EMHASS updates its cached CVXPY problem's parameters
and re-solves, as its server does between runs). The first call, which also builds and canonicalizes the
CVXPY problem, is reported apart; `--fresh-days N` also times N days with a new Optimization each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from peer_days import test_days

POWER_W = 1_000_000.0  # 1 MW at the AC terminals, both ways
CAPACITY_WH = 2_000_000.0
EFFICIENCY = 0.95
SOC_MIN, SOC_MAX, SOC_START = 0.10, 0.90, 0.50

OPTIONS = {
    "costfun": "profit",
    "optimization_time_step": 60,
    "delta_forecast_daily": 1,
    "set_use_battery": True,
    "set_use_pv": False,
    "set_nodischarge_to_grid": False,
    "set_nocharge_from_grid": False,
    "set_total_pv_sell": False,
    "set_battery_dynamic": False,
    "compute_curtailment": False,
    "inverter_is_hybrid": False,
    "number_of_deferrable_loads": 0,
    "nominal_power_of_deferrable_loads": [],
    "minimum_power_of_deferrable_loads": [],
    "operating_hours_of_each_deferrable_load": [],
    "start_timesteps_of_each_deferrable_load": [],
    "end_timesteps_of_each_deferrable_load": [],
    "treat_deferrable_load_as_semi_cont": [],
    "set_deferrable_load_single_constant": [],
    "set_deferrable_startup_penalty": [],
    "deferrable_load_max_cost": [],
    "set_deferrable_max_startups": [],
    "def_minimum_on_time": [],
    "def_minimum_off_time": [],
    "cost_forecast_per_deferrable_load": [],
    "is_electric_load": [],
    "weight_battery_charge": 0.0,
    "weight_battery_discharge": 0.0,
    "battery_stress_cost": 0.0,
    "battery_charge_power_max": POWER_W,
    "battery_discharge_power_max": POWER_W / EFFICIENCY,
    "battery_charge_efficiency": EFFICIENCY,
    "battery_discharge_efficiency": EFFICIENCY,
    "battery_nominal_energy_capacity": CAPACITY_WH,
    "battery_minimum_state_of_charge": SOC_MIN,
    "battery_maximum_state_of_charge": SOC_MAX,
    "battery_target_state_of_charge": SOC_START,
    "maximum_power_from_grid": 2 * POWER_W,
    "maximum_power_to_grid": 2 * POWER_W,
    "lp_solver_mip_rel_gap": 1e-9,
    "num_threads": 1,
}


Confs = tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]


def emhass_config(logger: logging.Logger) -> Confs:
    """retrieve_hass_conf, optim_conf, plant_conf, emhass_conf: config_defaults.json plus OPTIONS."""
    from emhass import utils

    root = Path(utils.__file__).resolve().parent
    emhass_conf = {
        "root_path": root,
        "data_path": Path("/tmp"),
        "defaults_path": root / "data" / "config_defaults.json",
        "associations_path": root / "data" / "associations.csv",
    }
    config = asyncio.run(utils.build_config(emhass_conf, logger, str(emhass_conf["defaults_path"])))
    config.update(OPTIONS)
    params = asyncio.run(utils.build_params(emhass_conf, {"time_zone": "UTC"}, config, logger))
    retrieve_hass_conf, optim_conf, plant_conf = utils.get_yaml_parse(params, logger)
    return retrieve_hass_conf, optim_conf, plant_conf, emhass_conf


def new_optimizer(confs: Confs, logger: logging.Logger) -> Any:
    from emhass.optimization import Optimization

    retrieve_hass_conf, optim_conf, plant_conf, emhass_conf = confs
    return Optimization(
        retrieve_hass_conf,
        optim_conf,
        plant_conf,
        "unit_load_cost",
        "unit_prod_price",
        "profit",
        emhass_conf,
        logger,
    )


def solve_day(opt: Any, day: str, prices: np.ndarray, unit: str = "kwh") -> tuple[dict[str, Any], float]:
    """One battery-day: the plan, EMHASS's objective and ours recomputed from its grid power; wall seconds.

    unit "kwh": EMHASS's documented unit, currency per kWh (price / 1000). "mwh": the price per MWh passed as
    it is (same optimum, objective 1000 times larger inside EMHASS, better scaled for HiGHS' tolerances).
    """
    index = pd.date_range(day, periods=24, freq="h", tz="UTC")
    per_kwh = prices / 1000.0 if unit == "kwh" else prices.copy()
    data = pd.DataFrame({"unit_load_cost": per_kwh, "unit_prod_price": per_kwh}, index=index)
    zeros = np.zeros(24)
    began = time.perf_counter()
    result = opt.perform_optimization(data, zeros, zeros, per_kwh, per_kwh, soc_init=SOC_START, soc_final=SOC_START)
    seconds = time.perf_counter() - began
    grid_w = result["P_grid"].to_numpy() if "P_grid" in result else np.full(24, np.nan)
    batt_w = result["P_batt"].to_numpy() if "P_batt" in result else np.full(24, np.nan)
    soc = result["SOC_opt"].to_numpy() if "SOC_opt" in result else np.full(24, np.nan)
    value = opt.prob.value if opt.prob is not None else None
    row = {
        "day": day,
        "status": str(opt.optim_status),
        # gridpilot's sign: cost in currency, negative = earnings. From the plan's grid power:
        "objective": float(grid_w @ prices) / 1e6,
        # EMHASS's own objective (profit, maximized; includes its terminal-SoC slack terms)
        "emhass_value": float(value) if value is not None else None,
        "soc_final_slack_wh": float(opt.vars["soc_final_under"][0].value + opt.vars["soc_final_over"][0].value),
        "final_soc": float(soc[-1]),
        "min_soc": float(soc.min()),
        "max_soc": float(soc.max()),
        "max_charge_w": float(max(0.0, -batt_w.min())),
        "max_discharge_w": float(max(0.0, batt_w.max())),
        "simultaneous_import_export": bool(
            ((result["P_grid_pos"].to_numpy() > 1e-3) & (result["P_grid_neg"].to_numpy() < -1e-3)).any()
        ),
        "battery_w": [float(x) for x in batt_w],
    }
    return row, seconds


def run_market(
    market: str, confs: Confs, logger: logging.Logger, fresh_days: int, limit: int | None, unit: str
) -> dict[str, Any]:
    dates, prices = test_days(market)
    if limit is not None:
        dates, prices = dates[:limit], prices[:limit]
    opt = new_optimizer(confs, logger)
    rows, seconds = [], []
    for number, (day, day_prices) in enumerate(zip(dates, prices, strict=True)):
        row, spent = solve_day(opt, day, day_prices, unit)
        row["solve_ms"] = spent * 1000
        rows.append(row)
        seconds.append(spent)
        if number % 50 == 0:
            print(
                f"{market} {day}: {row['status']} objective {row['objective']:.4f} in {spent * 1000:.1f} ms",
                file=sys.stderr,
            )
    times = np.array(seconds[1:]) * 1000
    fresh = []
    for day, day_prices in list(zip(dates, prices, strict=True))[:fresh_days]:
        began = time.perf_counter()
        solve_day(new_optimizer(confs, logger), day, day_prices, unit)
        fresh.append((time.perf_counter() - began) * 1000)
    return {
        "days": rows,
        "first_solve_ms": seconds[0] * 1000,
        "median_ms": float(np.median(times)),
        "p99_ms": float(np.percentile(times, 99)),
        "count": len(times),
        "fresh_ms": fresh,
        "fresh_median_ms": float(np.median(fresh)) if fresh else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markets", default="NP,PJM,BE", help="comma-separated EPF markets")
    parser.add_argument("--json", type=Path, required=True, help="write per-day objectives and times here")
    parser.add_argument("--fresh-days", type=int, default=10, help="also time this many days with a new model each")
    parser.add_argument("--limit", type=int, default=None, help="only the first N test days (smoke runs)")
    parser.add_argument(
        "--price-unit",
        choices=("kwh", "mwh"),
        default="kwh",
        help="kwh: EMHASS's unit (price / 1000); mwh: the EUR/MWh figure as is (better scaled)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logger = logging.getLogger("bench_emhass")
    logger.setLevel(logging.WARNING)
    started = datetime.now(UTC)
    confs = emhass_config(logger)
    out: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "emhass": version("emhass"),
        "cvxpy": version("cvxpy"),
        "highspy": version("highspy"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "options": {key: value for key, value in OPTIONS.items() if not isinstance(value, list)},
        "price_unit": args.price_unit,
        "markets": {},
    }
    for market in args.markets.split(","):
        out["markets"][market] = run_market(market, confs, logger, args.fresh_days, args.limit, args.price_unit)
        figures = out["markets"][market]
        print(
            f"{market}: median {figures['median_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
            f"first {figures['first_solve_ms']:.0f} ms, fresh median {figures['fresh_median_ms']}",
            file=sys.stderr,
        )
    out["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    out["load_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
