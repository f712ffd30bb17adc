"""The bidding engine: day-ahead bids and storage decisions from the fleet's plan, demand response, clearing.

Pure: plain data in, plain data out; no database, network or clock (the retry loop takes its sleep).
"""

from gridpilot.market.bidding.bids import Action, Bid, Decision, Side, Valuation, build_bids, buy_limit, sell_limit
from gridpilot.market.bidding.demand_response import (
    DemandResponseEvent,
    DemandResponseKind,
    HourResponse,
    ResponsePlan,
    apply_demand_response,
)
from gridpilot.market.bidding.exchange import (
    Acceptance,
    AdapterUnavailable,
    MarketAdapter,
    Submission,
    SubmissionFailed,
    SubmissionRefused,
    SubmissionResult,
    clears,
    submit_with_retries,
)
from gridpilot.market.bidding.feedback import Delivery, apply_acceptance, schedule_json
from gridpilot.market.bidding.plans import DevicePlan
from gridpilot.market.bidding.rules import MarketRules
from gridpilot.market.bidding.simulated import SimulatedExchange

__all__ = [
    "Acceptance",
    "Action",
    "AdapterUnavailable",
    "Bid",
    "Decision",
    "Delivery",
    "DemandResponseEvent",
    "DemandResponseKind",
    "DevicePlan",
    "HourResponse",
    "MarketAdapter",
    "MarketRules",
    "ResponsePlan",
    "Side",
    "SimulatedExchange",
    "Submission",
    "SubmissionFailed",
    "SubmissionRefused",
    "SubmissionResult",
    "Valuation",
    "apply_acceptance",
    "apply_demand_response",
    "build_bids",
    "buy_limit",
    "clears",
    "schedule_json",
    "sell_limit",
    "submit_with_retries",
]
