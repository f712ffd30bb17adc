"""Day-ahead price forecasting models: pure, plain data in and out, one small interface."""

from gridpilot.market.forecasting.base import InsufficientHistoryError, PriceModel
from gridpilot.market.forecasting.catalog import MODEL_NAMES, create_model, load_model

__all__ = ["MODEL_NAMES", "InsufficientHistoryError", "PriceModel", "create_model", "load_model"]
