"""Battery dispatch: the cheapest charge/discharge plan for given prices, exact (HiGHS), and its schedule.

Pure: plain data in, plain data out; no database, network or clock.
"""

from gridpilot.market.dispatch.batch import optimize_many
from gridpilot.market.dispatch.battery import Battery, Site
from gridpilot.market.dispatch.problem import DispatchProblem
from gridpilot.market.dispatch.result import Dispatch, Method
from gridpilot.market.dispatch.schedule import to_schedule
from gridpilot.market.dispatch.solve import Solver, optimize

__all__ = [
    "Battery",
    "Dispatch",
    "DispatchProblem",
    "Method",
    "Site",
    "Solver",
    "optimize",
    "optimize_many",
    "to_schedule",
]
