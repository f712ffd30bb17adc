"""An equal-weight average of other models: errors of different model families partly cancel."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from gridpilot.market.forecasting.base import PriceModel
from gridpilot.market.forecasting.lear import LearModel
from gridpilot.market.forecasting.lgbm import LgbmModel, LgbmShapeModel
from gridpilot.market.forecasting.mlp import MlpModel
from gridpilot.market.forecasting.naive import NaiveDaily, NaiveWeekly
from gridpilot.market.forecasting.storage import read_manifest, saved_model_name, write_manifest

MEMBER_TYPES: dict[str, type[NaiveDaily | NaiveWeekly | LearModel | LgbmModel | MlpModel]] = {
    NaiveDaily.name: NaiveDaily,
    NaiveWeekly.name: NaiveWeekly,
    LearModel.name: LearModel,
    LgbmModel.name: LgbmModel,
    LgbmShapeModel.name: LgbmShapeModel,
    MlpModel.name: MlpModel,
}
DEFAULT_MEMBERS = (LearModel.name, LgbmModel.name)
SHAPE_MEMBERS = (LearModel.name, LgbmShapeModel.name)
MLP_MEMBERS = (LearModel.name, LgbmShapeModel.name, MlpModel.name)


def create_member(name: str, options: Mapping[str, Any]) -> PriceModel:
    """A model that can be a member of an ensemble, by registry name."""
    if name not in MEMBER_TYPES:
        raise ValueError(f"unknown ensemble member {name!r}; choose from {', '.join(MEMBER_TYPES)}")
    factory: Callable[..., PriceModel] = MEMBER_TYPES[name]
    return factory(**options)


class EnsembleModel:
    """The mean of its members' forecasts, period by period."""

    name = "ensemble"

    def __init__(
        self, members: Sequence[str] = DEFAULT_MEMBERS, member_options: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        options = member_options or {}
        self.members = [create_member(name, options.get(name, {})) for name in members]

    def fit(self, prices: pd.Series, exogenous: pd.DataFrame | None = None) -> None:
        """Calibrate every member on the same prices."""
        for member in self.members:
            member.fit(prices, exogenous)

    def predict(self, prices: pd.Series, day: date, exogenous: pd.DataFrame | None = None) -> pd.Series:
        """The members' mean forecast for `day`."""
        forecasts = [member.predict(prices, day, exogenous) for member in self.members]
        mean = np.mean([forecast.to_numpy() for forecast in forecasts], axis=0)
        return pd.Series(mean, index=forecasts[0].index, name="forecast")

    def save(self, directory: Path) -> None:
        """Each member in its own numbered subdirectory."""
        write_manifest(directory, self.name, {"members": [member.name for member in self.members]})
        for number, member in enumerate(self.members):
            member.save(directory / f"member-{number}")

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Load every member by the name its own manifest records."""
        names = read_manifest(directory, cls.name)["members"]
        model = cls(members=names)
        for number, name in enumerate(names):
            member_directory = directory / f"member-{number}"
            if saved_model_name(member_directory) != name:
                raise ValueError(f"{member_directory} does not hold the {name!r} member")
            model.members[number] = MEMBER_TYPES[name].load(member_directory)
        return model


class ShapeEnsembleModel(EnsembleModel):
    """The same mean, of LEAR and the day-shape LightGBM by default: what captured the most money on validation."""

    name = "ensemble-shape"

    def __init__(
        self, members: Sequence[str] = SHAPE_MEMBERS, member_options: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        super().__init__(members, member_options)


class MlpEnsembleModel(EnsembleModel):
    """The same mean, of LEAR, the day-shape LightGBM and the seed-averaged MLP by default."""

    name = "ensemble-mlp"

    def __init__(
        self, members: Sequence[str] = MLP_MEMBERS, member_options: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        super().__init__(members, member_options)
