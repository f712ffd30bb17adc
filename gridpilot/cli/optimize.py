"""`gridpilot optimize`: plan a market day for every battery of its fleet, and correct intraday drift."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gridpilot.config import Settings, load_settings
from gridpilot.db import create_engine, create_session_factory, utcnow
from gridpilot.market import fleet_jobs
from gridpilot.market import service as price_service
from gridpilot.market.exceptions import DayNotPlannable, NoCurrentModel
from gridpilot.market.fleet_plans import market_tag
from gridpilot.market.flows import FleetRun, StageProgress
from gridpilot.market.series import local_day
from gridpilot.market.serving import ModelCache
from gridpilot.messaging.mqtt import MqttPublisher
from gridpilot.messaging.tasks import solver_for
from gridpilot.problem import DomainError

app = typer.Typer(help="Fleet optimization: schedules for every battery of a market.", no_args_is_help=True)
_STAGES = {"devices": "devices read", "prices": "prices", "solve": "optimizing", "store": "storing schedules"}
_SHOWN_SKIPS = 10

Job = Callable[
    [async_sessionmaker[AsyncSession], ModelCache, MqttPublisher | None, datetime, StageProgress], Awaitable[FleetRun]
]


@app.command("fleet")
def fleet(
    market: Annotated[str, typer.Option(help=f"Market code; its fleet is the devices tagged {market_tag('CODE')}")],
    day: Annotated[str | None, typer.Option(help="Delivery day YYYY-MM-DD; default: tomorrow, market-local")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Optimize and report, store and send nothing")] = False,
    jobs: Annotated[int | None, typer.Option(min=1, help="Processes (in-process only); default: settings")] = None,
    in_process: Annotated[bool, typer.Option("--in-process", help="Solve here even with RabbitMQ set up")] = False,
) -> None:
    """Plan the day for every active device of the market from its last SoC, store the schedules and push them."""
    settings = load_settings()
    wanted = _parse_day(day)
    solver = solver_for(settings, jobs=jobs, in_process=in_process)

    async def job(
        factory: async_sessionmaker[AsyncSession],
        cache: ModelCache,
        publisher: MqttPublisher | None,
        now: datetime,
        progress: StageProgress,
    ) -> FleetRun:
        the_day = wanted or await _tomorrow(factory, market, now)
        return await fleet_jobs.plan_day(
            session_factory=factory,
            settings=settings,
            cache=cache,
            solver=solver,
            publisher=publisher,
            market=market,
            day=the_day,
            now=now,
            dry_run=dry_run,
            progress=progress,
        )

    _run(settings, job, market=market, dry_run=dry_run, fail_when_refused=True)


@app.command("drift")
def drift(
    market: Annotated[str, typer.Option(help="Market code")],
    threshold: Annotated[float | None, typer.Option(min=0, help="SoC points off the plan; default: settings")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and re-plan, store and send nothing")] = False,
    in_process: Annotated[bool, typer.Option("--in-process", help="Solve here even with RabbitMQ set up")] = False,
) -> None:
    """Re-plan the rest of today for devices whose measured SoC is further than the threshold from their plan."""
    settings = load_settings()
    solver = solver_for(settings, in_process=in_process)

    async def job(
        factory: async_sessionmaker[AsyncSession],
        cache: ModelCache,
        publisher: MqttPublisher | None,
        now: datetime,
        progress: StageProgress,
    ) -> FleetRun:
        return await fleet_jobs.correct_drift(
            session_factory=factory,
            settings=settings,
            cache=cache,
            solver=solver,
            publisher=publisher,
            market=market,
            now=now,
            threshold_pct=threshold,
            dry_run=dry_run,
            progress=progress,
        )

    _run(settings, job, market=market, dry_run=dry_run)


class _Bars:
    """One progress bar per stage of a run, created as the stages begin."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def update(self, stage: str, done: int, total: int) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(_STAGES.get(stage, stage), total=total)
        self._progress.update(self._tasks[stage], completed=done, total=total)


def _run(settings: Settings, job: Job, *, market: str, dry_run: bool, fail_when_refused: bool = False) -> None:
    """Run the job and summarize it; exit 1 on a refusal, or (fail_when_refused) when the fleet took no plan."""
    console = Console()
    try:
        report = asyncio.run(_with_resources(settings, job, console, push=not dry_run))
    except NoCurrentModel as exc:
        _fail(exc, hint=f"train and promote one: gridpilot models train --market {market} --model lear --promote")
    except DayNotPlannable as exc:
        today = exc.extensions.get("reason") == "today"
        _fail(exc, hint=f"to re-plan the rest of today: gridpilot optimize drift --market {market}" if today else None)
    except DomainError as exc:
        _fail(exc)
    _summary(console, report, dry_run=dry_run)
    if fail_when_refused and report.refused and not report.stored:
        Console(stderr=True).print(
            f"[red]nothing {'would be ' if dry_run else ''}stored:[/red] the fleet refused "
            f"{len(report.refused)} schedule(s); see the reasons above"
        )
        raise typer.Exit(1)


async def _with_resources(settings: Settings, job: Job, console: Console, *, push: bool) -> FleetRun:
    engine = create_engine(settings)
    publisher = MqttPublisher(settings) if push and settings.mqtt_url else None
    try:
        if publisher is not None:
            await publisher.start()
            if not await publisher.wait_connected(10):
                console.print("[yellow]MQTT broker unreachable: devices get their schedules by polling[/yellow]")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            bars = _Bars(progress)
            return await job(create_session_factory(engine), ModelCache(), publisher, utcnow(), bars.update)
    finally:
        if publisher is not None:
            await publisher.stop()
        await engine.dispose()


async def _tomorrow(factory: async_sessionmaker[AsyncSession], market: str, now: datetime) -> date:
    async with factory() as session:
        found = await price_service.get_market(session=session, code=market)
    return local_day(now, found.timezone) + timedelta(days=1)


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD, not {value!r}", param_hint="--day") from None


def _fail(exc: DomainError, *, hint: str | None = None) -> None:
    err = Console(stderr=True)
    err.print(f"[red]{escape(exc.title)}:[/red] {escape(exc.detail)}")
    if hint:
        err.print(escape(hint))
    raise typer.Exit(1)


def _summary(console: Console, report: FleetRun, *, dry_run: bool) -> None:
    """What was planned and stored, why devices were skipped, and where the time went."""
    verb = "would store" if dry_run else "stored"
    table = Table(title=f"{report.market} {report.day}" + (" (dry run: nothing stored)" if dry_run else ""))
    for heading in ("devices", verb, "unchanged", "idle", "skipped", "with warnings", "expected cost"):
        table.add_column(heading, justify="right")
    table.add_row(
        str(report.devices),
        str(len(report.stored)),
        str(len(report.unchanged)),
        str(len(report.idle)),
        str(len(report.skipped)),
        str(len(report.warnings)),
        f"{report.objective:,.2f}",
    )
    console.print(table)
    source = f"forecast of {report.model}" if report.prices_source == "forecast" else "actual prices"
    console.print(f"planned on the {source}" if report.prices_source else "no prices were needed")
    if report.drifted:
        console.print(f"{len(report.drifted)} device(s) drifted from their plan")
    for reason, count in Counter(report.skipped.values()).most_common(_SHOWN_SKIPS):
        console.print(f"skipped {count}: {escape(reason)}")
    console.print("time: " + ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in report.seconds.items()))
