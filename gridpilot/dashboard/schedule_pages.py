"""Submitting schedules from the browser: upload or paste JSON or CSV, errors by row, a preview."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
