"""An operator's uploaded or pasted schedules (JSON or CSV) as the API's schedules, with every problem placed.

Pure: text in, parsed rows and problems out. Each row is one interval as the operator wrote it
(a CSV line, or one element of a JSON `intervals` array), so that the validator's findings, given
as JSON pointers into the list of schedules, can be shown next to the line or cell they concern.

CSV: a header naming the columns `device_id,start,end,mode,rate_kw` (any order, case and spaces
ignored), then one interval per line; the lines of one device make its schedule, in file order.
`mode` is 1, 2, `charge` or `discharge`; timestamps are RFC 3339 with an offset.
JSON: one schedule object, an array of them (both as POST /api/v1/schedules takes them), or
`{"schedules": [...]}`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
CSV_COLUMNS = ("device_id", "start", "end", "mode", "rate_kw")
MODES = {"1": 1, "2": 2, "charge": 1, "discharge": 2}
FORMATS = ("auto", "json", "csv")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: the message, and the column (CSV) or field (JSON) it concerns, if any."""

    message: str
    column: str | None = None


@dataclass(slots=True)
class Row:
    """One interval as written: where it is, the schedule it belongs to, its cells, and what is wrong with it."""

    where: str  # "line 7", or the JSON pointer of the interval in the document
    schedule: int | None  # index into Upload.raws; None when the line could not become an interval
    cells: dict[str, str]
    problems: list[Problem] = field(default_factory=list)

    def errors_in(self, column: str) -> list[str]:
        """The messages about one cell."""
        return [p.message for p in self.problems if p.column == column]

    @property
    def row_errors(self) -> list[str]:
        """The messages about the row as a whole (or a field without a column of its own)."""
        return [
            p.message if p.column is None else f"{p.column}: {p.message}"
            for p in self.problems
            if p.column not in CSV_COLUMNS
        ]


@dataclass(slots=True)
class Upload:
    """The schedules found (in the API's JSON shape), the rows they came from, and the problems of the whole."""

    format: str
    raws: list[object] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # not tied to one row; each message says where
    labels: list[str] = field(default_factory=list)  # how to name schedule i in a message
    _rows_of: dict[tuple[int, int], Row] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing at all was found wrong."""
        return not self.problems and not any(row.problems for row in self.rows)

    @property
    def error_count(self) -> int:
        """How many problems, counting each row's."""
        return len(self.problems) + sum(len(row.problems) for row in self.rows)

    @property
    def interval_count(self) -> int:
        """How many intervals the schedules hold."""
        return sum(
            len(r["intervals"]) for r in self.raws if isinstance(r, dict) and isinstance(r.get("intervals"), list)
        )

    def add_violations(self, errors: Iterable[Mapping[str, str]]) -> None:
        """Place the fleet's findings (pointers /{schedule}/intervals/{i}/{field}) on their rows or the whole."""
        for error in errors:
            self._place(str(error.get("pointer", "")), str(error.get("detail", "invalid")))

    def _place(self, pointer: str, message: str) -> None:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        if not parts or not parts[0].isdigit() or int(parts[0]) >= len(self.labels):
            self.problems.append(message)
            return
        index = int(parts[0])
        if len(parts) >= 3 and parts[1] == "intervals" and parts[2].isdigit():
            row = self._rows_of.get((index, int(parts[2])))
            if row is not None:
                row.problems.append(Problem(message, parts[3] if len(parts) > 3 else None))
                return
        rows = [row for (i, _), row in self._rows_of.items() if i == index]
        if len(parts) == 2 and parts[1] == "device_id" and rows:
            for row in rows:
                row.problems.append(Problem(message, "device_id"))
            return
        self.problems.append(f"{self.labels[index]}: {message}")


def parse(data: bytes, *, format: str = "auto", max_schedules: int = 10_000) -> Upload:
    """The schedules in an upload, every row with its position, and the problems found while reading it.

    Only reading is checked here (encoding, syntax, shape, the CSV header and fields); the rules of a
    schedule are the validator's, applied afterwards through `Upload.add_violations`.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        return Upload("", problems=[too_large(len(data))])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Upload("", problems=[f"The upload is not UTF-8 text (byte {exc.start + 1} cannot be read)."])
    if not text.strip():
        return Upload("", problems=["Nothing to read: paste schedules or choose a file (JSON or CSV)."])
    chosen = format if format in ("json", "csv") else ("json" if text.lstrip()[:1] in ("{", "[") else "csv")
    upload = parse_json(text) if chosen == "json" else parse_csv(text, guessed=format != "csv")
    if len(upload.raws) > max_schedules:
        upload.problems.append(
            f"{len(upload.raws)} schedules in one upload; at most {max_schedules} are taken at once: split it."
        )
    return upload


def too_large(size: int) -> str:
    """The message for an upload over the limit."""
    return (
        f"The upload is {size / 1024 / 1024:.1f} MB; at most {MAX_UPLOAD_BYTES // 1024 // 1024} MB is read at once. "
        "Split it by device, or submit it to POST /api/v1/schedules."
    )


def parse_json(text: str) -> Upload:
    """A schedule object, an array of them, or {"schedules": [...]}; each interval one row."""
    upload = Upload("json")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        upload.problems.append(f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
        return upload
    except (RecursionError, ValueError) as exc:
        upload.problems.append(f"Not valid JSON: {'it nests too deeply' if isinstance(exc, RecursionError) else exc}.")
        return upload
    if isinstance(document, dict) and set(document) == {"schedules"} and isinstance(document["schedules"], list):
        schedules, prefix = document["schedules"], "/schedules/"
    elif isinstance(document, list):
        schedules, prefix = document, "/"
    elif isinstance(document, dict):
        schedules, prefix = [document], ""
    else:
        upload.problems.append(
            'The JSON must be a schedule object, an array of schedule objects, or {"schedules": [...]}.'
        )
        return upload
    if not schedules:
        upload.problems.append("The JSON holds no schedules.")
    for index, schedule in enumerate(schedules):
        where = f"{prefix}{index}" if prefix else ""
        upload.raws.append(schedule)
        upload.labels.append(f"schedule {where or '/'}")
        if not isinstance(schedule, dict) or not isinstance(schedule.get("intervals"), list):
            continue
        device = _shown(schedule.get("device_id"))
        for position, interval in enumerate(schedule["intervals"]):
            item = interval if isinstance(interval, dict) else {}
            cells = {"device_id": device, **{name: _shown(item.get(name)) for name in CSV_COLUMNS[1:]}}
            row = Row(f"{where}/intervals/{position}", index, cells)
            upload.rows.append(row)
            upload._rows_of[(index, position)] = row
    return upload


def _shown(value: object) -> str:
    """A JSON value as the table shows it (a string as it is, anything else as JSON)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)[:80]


def parse_csv(text: str, *, guessed: bool = False) -> Upload:
    """A header line, then one interval per line; lines of the same device_id make one schedule."""
    upload = Upload("csv")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    by_device: dict[str, tuple[int, list[object]]] = {}
    first_line = 1
    try:
        for fields in reader:
            line, first_line = first_line, reader.line_num + 1
            if not fields or all(not f.strip() for f in fields):
                continue
            if header is None:
                header = _header(fields, line, upload, guessed=guessed)
                if header is None:
                    return upload
                continue
            _add_line(upload, header, fields, line, by_device)
    except csv.Error as exc:
        upload.problems.append(f"Line {reader.line_num}: the CSV cannot be read ({exc}).")
        return upload
    if header is None:
        upload.problems.append("The CSV has no header line.")
    elif not upload.rows:
        upload.problems.append("The CSV has a header but no intervals.")
    return upload


def _header(fields: list[str], line: int, upload: Upload, *, guessed: bool) -> list[str] | None:
    names = [f.strip().lower() for f in fields]
    missing = [c for c in CSV_COLUMNS if c not in names]
    unknown = [n for n in names if n not in CSV_COLUMNS]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if not missing and not unknown and not repeated:
        return names
    expected = ",".join(CSV_COLUMNS)
    if guessed and (missing == list(CSV_COLUMNS)):
        upload.problems.append(
            f"Neither JSON (it does not start with {{ or [) nor CSV with the header {expected}: "
            f"line {line} reads {','.join(fields)[:80]!r}."
        )
        return None
    found = []
    if missing:
        found.append(f"missing {', '.join(missing)}")
    if unknown:
        found.append(f"unknown {', '.join(repr(n[:40]) for n in unknown[:5])}")
    if repeated:
        found.append(f"repeated {', '.join(repeated)}")
    upload.problems.append(f"Line {line}: the CSV header must name the columns {expected} ({'; '.join(found)}).")
    return None


def _add_line(
    upload: Upload, header: list[str], fields: list[str], line: int, by_device: dict[str, tuple[int, list[object]]]
) -> None:
    cells = {name: (fields[i].strip() if i < len(fields) else "") for i, name in enumerate(header)}
    cells = {name: cells[name] for name in CSV_COLUMNS}
    if len(fields) != len(header):
        row = Row(f"line {line}", None, cells)
        row.problems.append(Problem(f"{len(fields)} fields; the header has {len(header)}"))
        upload.rows.append(row)
        return
    device_id = cells["device_id"]
    if device_id not in by_device:
        by_device[device_id] = (len(upload.raws), [])
        upload.raws.append({"device_id": device_id, "intervals": by_device[device_id][1]})
        upload.labels.append(f"device {device_id!r}")
    index, intervals = by_device[device_id]
    row = Row(f"line {line}", index, cells)
    upload._rows_of[(index, len(intervals))] = row
    intervals.append(
        {
            "start": cells["start"],
            "end": cells["end"],
            "mode": _mode(cells["mode"]),
            "rate_kw": _number(cells["rate_kw"]),
        }
    )
    upload.rows.append(row)


def _mode(cell: str) -> object:
    """1 or 2 for the names operators write; anything else as written, for the validator to refuse by value."""
    return MODES.get(cell.strip().lower(), cell)


def _number(cell: str) -> object:
    try:
        return float(cell)
    except ValueError:
        return cell


def chart_series(raws: Iterable[object], *, limit: int = 20) -> tuple[list[dict[str, object]], int]:
    """Per device, step points of the planned power (kW, charge positive, discharge negative); and how many devices.

    Only intervals that read cleanly are drawn; the table says what is wrong with the others.
    """
    series: list[dict[str, object]] = []
    devices = 0
    for raw in raws:
        if not isinstance(raw, dict) or not isinstance(raw.get("intervals"), list):
            continue
        spans = sorted(s for s in (_span(i) for i in raw["intervals"]) if s is not None)
        if not spans:
            continue
        devices += 1
        if len(series) >= limit:
            continue
        points: list[list[object]] = []
        for position, (start, end, kw) in enumerate(spans):
            points.append([_iso(start), kw])
            following = spans[position + 1][0] if position + 1 < len(spans) else None
            if following is None or following > end:
                points.append([_iso(end), 0])
        series.append({"name": _shown(raw.get("device_id")) or "?", "points": points})
    return series, devices


def _span(item: object) -> tuple[datetime, datetime, float] | None:
    if not isinstance(item, dict):
        return None
    try:
        start = datetime.fromisoformat(item["start"])
        end = datetime.fromisoformat(item["end"])
    except (KeyError, TypeError, ValueError):
        return None
    mode, rate = item.get("mode"), item.get("rate_kw")
    if start.tzinfo is None or end.tzinfo is None or start >= end or mode not in (1, 2) or isinstance(mode, bool):
        return None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
        return None
    return start, end, float(rate) if mode == 1 else -float(rate)


def _iso(moment: datetime) -> str:
    return moment.isoformat()
