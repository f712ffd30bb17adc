"""How `gridpilot prices` shows an import: what was stored, and every row, duplicate and gap it did not store."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.markup import escape

from gridpilot.market.importing import ImportReport

EXAMPLES = 5


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def print_report(console: Console, report: ImportReport, *, source: str, position: str = "line") -> None:
    """A summary, then the first few rejected rows, duplicates and gaps (counts are always complete)."""
    if report.market_created:
        console.print(f"market [bold]{escape(report.market)}[/bold] registered")
    console.print(
        f"{escape(report.market)}: read {report.rows_read} row(s) from {escape(source)}; "
        f"periods {_when(report.first)} → {_when(report.last)}"
    )
    result = report.result
    console.print(f"stored: [green]{result.new} new[/green], {result.changed} changed, {result.unchanged} unchanged")
    if report.errors:
        console.print(f"[red]rejected {len(report.errors)} row(s)[/red]:")
        for error in report.errors[:EXAMPLES]:
            console.print(f"  {position} {error.line}: {escape(error.reason)}")
        if len(report.errors) > EXAMPLES:
            console.print(f"  … and {len(report.errors) - EXAMPLES} more")
    if report.duplicates:
        conflicting = sum(d.conflicting for d in report.duplicates)
        console.print(
            f"[yellow]duplicates: {len(report.duplicates)} period(s) given more than once "
            f"({conflicting} with conflicting prices, not stored)[/yellow]:"
        )
        for duplicate in report.duplicates[:EXAMPLES]:
            lines = ", ".join(str(line) for line in duplicate.lines)
            console.print(f"  {_when(duplicate.delivery_start)}: {position}s {lines}")
    if report.gaps:
        console.print(
            f"[yellow]gaps: {report.missing_periods} period(s) missing in {len(report.gaps)} gap(s), "
            "not filled[/yellow]:"
        )
        for gap in report.gaps[:EXAMPLES]:
            console.print(f"  from {_when(gap.start)}: {gap.periods} period(s)")
