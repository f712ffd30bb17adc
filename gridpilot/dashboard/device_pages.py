"""A device's page: schedule timeline against executions, telemetry, delivery state, history."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
