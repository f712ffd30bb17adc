"""The market's request dependencies: the app's model cache and a market named in the query."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from gridpilot.dependencies import SessionDep
from gridpilot.market import service as price_service
from gridpilot.market.models import Market
from gridpilot.market.serving import ModelCache


async def model_cache(request: Request) -> ModelCache:
    """The app's cache of current models (one per server process)."""
    cache: ModelCache = request.app.state.model_cache
    return cache


ModelCacheDep = Annotated[ModelCache, Depends(model_cache)]
MarketQuery = Annotated[str, Query(min_length=1, max_length=32, description="Market code, e.g. NP")]


async def query_market(market: MarketQuery, session: SessionDep) -> Market:
    """The market named in the query, or 404."""
    return await price_service.get_market(session=session, code=market)


KnownMarket = Annotated[Market, Depends(query_market)]
