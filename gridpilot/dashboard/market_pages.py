"""The market page: prices against forecasts, positions and bids, revenue, value captured."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
