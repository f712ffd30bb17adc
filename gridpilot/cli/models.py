"""`gridpilot models`: train forecast models on stored prices, list and show them, promote one to serve."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot.cli._session import run_in_session
from gridpilot.config import load_settings
from gridpilot.db import utcnow
from gridpilot.market import registry
from gridpilot.market.forecasting import MODEL_NAMES
from gridpilot.market.schemas import ModelOut
from gridpilot.problem import DomainError

app = typer.Typer(help="Forecast models: train, list, show, promote.", no_args_is_help=True)


def _options(values: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; each value is read as JSON when it parses (windows=[56,84]), else as text."""
    options: dict[str, Any] = {}
    for value in values:
        key, equals, raw = value.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint="--option")
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return options


def _fail(exc: DomainError) -> typer.Exit:
    Console(stderr=True).print(f"[red]{escape(exc.title)}:[/red] {escape(exc.detail)}")
    return typer.Exit(1)


@app.command("train")
def train(
    market: Annotated[str, typer.Option(help="Market code")],
    model: Annotated[str, typer.Option(help=f"One of: {', '.join(MODEL_NAMES)}")],
    option: Annotated[list[str] | None, typer.Option(help="Model option KEY=VALUE (JSON value); repeatable")] = None,
    window_days: Annotated[int | None, typer.Option(min=1, help="Train on the latest N days; default: all")] = None,
    holdout_days: Annotated[int, typer.Option(min=0, help="Days held out of a first fit to measure it")] = 7,
    resolution: Annotated[int, typer.Option(min=1, max=1440, help="Minutes per delivery period")] = 60,
    promote: Annotated[bool, typer.Option("--promote/--no-promote", help="Make it the market's current model")] = False,
) -> None:
    """Train a model on the market's stored prices, save it and register it under the next version."""
    if model not in MODEL_NAMES:
        raise typer.BadParameter(f"unknown model {model!r}; choose from {', '.join(MODEL_NAMES)}", param_hint="--model")
    request = registry.TrainingRequest(
        market=market,
        model_name=model,
        options=_options(option or []),
        window_days=window_days,
        holdout_days=holdout_days,
        resolution_minutes=resolution,
    )
    settings = load_settings()

    async def work(session: AsyncSession) -> ModelOut:
        record = await registry.train(
            session=session, settings=settings, request=request, now=utcnow(), promote=promote
        )
        return ModelOut.model_validate(record).model_copy(update={"current": promote})

    try:
        out = run_in_session(settings, work)
    except DomainError as exc:
        raise _fail(exc) from None
    _show(out)


@app.command("list")
def list_models(market: Annotated[str | None, typer.Option(help="Only this market")] = None) -> None:
    """List registered models; * marks each market's current one."""

    async def work(session: AsyncSession) -> list[ModelOut]:
        current = await registry.current_ids(session=session)
        return [
            ModelOut.model_validate(r).model_copy(update={"current": r.id in current})
            for r in await registry.list_models(session=session, market=market)
        ]

    table = Table("id", "market", "model", "version", "trained on", "holdout MAE", "created", "current")
    for out in run_in_session(load_settings(), work):
        mae = out.metrics.get("holdout_mae")
        table.add_row(
            str(out.id),
            out.market,
            out.name,
            str(out.version),
            f"{out.train_start:%Y-%m-%d} → {out.train_end:%Y-%m-%d}",
            f"{mae:.3f}" if mae is not None else "-",
            f"{out.created_at:%Y-%m-%d %H:%M}",
            "*" if out.current else "",
        )
    Console().print(table)


@app.command("show")
def show(model_id: Annotated[int, typer.Argument(help="The model's id")]) -> None:
    """Show one registered model: training window, options, features, metrics, version, artifact."""

    async def work(session: AsyncSession) -> ModelOut:
        record = await registry.get(session=session, model_id=model_id)
        return ModelOut.model_validate(record).model_copy(
            update={"current": record.id in await registry.current_ids(session=session)}
        )

    try:
        out = run_in_session(load_settings(), work)
    except DomainError as exc:
        raise _fail(exc) from None
    _show(out)


@app.command("promote")
def promote(model_id: Annotated[int, typer.Argument(help="The model's id")]) -> None:
    """Make a model its market's current one; servers switch to it on their next forecast."""

    async def work(session: AsyncSession) -> ModelOut:
        record = await registry.promote(session=session, model_id=model_id, now=utcnow())
        return ModelOut.model_validate(record).model_copy(update={"current": True})

    try:
        out = run_in_session(load_settings(), work)
    except DomainError as exc:
        raise _fail(exc) from None
    Console().print(f"{out.market}: {out.name} v{out.version} (id {out.id}) is now current")


def _show(out: ModelOut) -> None:
    Console().print_json(out.model_dump_json())
