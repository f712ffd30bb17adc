"""Models by registry name, so that callers never import a concrete model class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridpilot.market.forecasting.base import PriceModel
from gridpilot.market.forecasting.ensemble import MEMBER_TYPES, EnsembleModel, MlpEnsembleModel, ShapeEnsembleModel
from gridpilot.market.forecasting.storage import saved_model_name

_CONSTRUCTORS: dict[str, Callable[..., PriceModel]] = {
    **MEMBER_TYPES,
    EnsembleModel.name: EnsembleModel,
    ShapeEnsembleModel.name: ShapeEnsembleModel,
    MlpEnsembleModel.name: MlpEnsembleModel,
}
_LOADERS: dict[str, Callable[[Path], PriceModel]] = {
    **{name: model_type.load for name, model_type in MEMBER_TYPES.items()},
    EnsembleModel.name: EnsembleModel.load,
    ShapeEnsembleModel.name: ShapeEnsembleModel.load,
    MlpEnsembleModel.name: MlpEnsembleModel.load,
}
MODEL_NAMES: tuple[str, ...] = tuple(_CONSTRUCTORS)


def create_model(name: str, **options: Any) -> PriceModel:
    """A new, uncalibrated model of kind `name` (one of MODEL_NAMES) with its constructor options."""
    if name not in _CONSTRUCTORS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    return _CONSTRUCTORS[name](**options)


def load_model(name: str, directory: Path) -> PriceModel:
    """The model of kind `name` saved in `directory`; it forecasts exactly as the saved one did."""
    if name not in _LOADERS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    if saved_model_name(directory) != name:
        raise ValueError(f"{directory} holds a {saved_model_name(directory)!r} model, not {name!r}")
    return _LOADERS[name](directory)
