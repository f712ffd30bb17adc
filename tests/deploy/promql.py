"""The metrics gridpilot really exports, and the metric and label names a PromQL expression uses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prometheus_client.metrics import MetricWrapperBase

from gridpilot import observability

# Labels every scraped series has (Prometheus adds them), and the histogram bucket label.
TARGET_LABELS = frozenset({"job", "instance"})
# Series Prometheus makes itself for every target.
PROMETHEUS_SERIES = {"up": frozenset()}

_FUNCTION_OR_KEYWORD = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")
_LABEL_IN_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


def exported_series() -> dict[str, frozenset[str]]:
    """Every series name gridpilot exports (counters' _total, histograms' _bucket/_sum/_count) with its labels."""
    series: dict[str, frozenset[str]] = {}
    for value in vars(observability).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        labels = frozenset(value._labelnames)
        for family in value.describe():
            if family.type == "counter":
                series[f"{family.name}_total"] = labels
            elif family.type == "histogram":
                series[f"{family.name}_bucket"] = labels | {"le"}
                series[f"{family.name}_sum"] = labels
                series[f"{family.name}_count"] = labels
            else:
                series[family.name] = labels
    return series


@dataclass
class Usage:
    """What one expression selects: metric names, and the labels it matches or groups by."""

    metrics: set[str] = field(default_factory=set)
    matched: dict[str, set[str]] = field(default_factory=dict)  # metric -> labels in its {...} matchers
    grouped: set[str] = field(default_factory=set)  # labels in by(...)/without(...)/on(...)


def parse(expr: str) -> Usage:
    """The metric names and labels of a PromQL expression (a small tokenizer, enough for our rules and panels)."""
    usage = Usage()
    text = _STRING.sub('""', expr)
    for match in _GROUPING.finditer(text):
        usage.grouped |= {label.strip() for label in match.group(2).split(",") if label.strip()}
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    matchers: list[tuple[int, set[str]]] = []
    for match in _MATCHERS.finditer(text):
        matchers.append((match.start(), set(_LABEL_IN_MATCHER.findall(match.group(1)))))
    text_without_matchers = _MATCHERS.sub(lambda m: "{" + " " * (len(m.group(0)) - 2) + "}", text)
    for match in _IDENTIFIER.finditer(text_without_matchers):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _FUNCTION_OR_KEYWORD:
            continue
        usage.metrics.add(name)
        labels = usage.matched.setdefault(name, set())
        after = match.end()
        rest = text_without_matchers[after:]
        if rest.lstrip().startswith("{"):
            start = after + (len(rest) - len(rest.lstrip()))
            labels |= next(found for position, found in matchers if position == start)
    return usage


def problems(expr: str, exported: dict[str, frozenset[str]]) -> list[str]:
    """What in `expr` gridpilot does not export: unknown metric names, unknown labels."""
    known = {**exported, **PROMETHEUS_SERIES}
    usage = parse(expr)
    found: list[str] = []
    if not usage.metrics:
        found.append(f"no metric in {expr!r}")
    available: set[str] = set(TARGET_LABELS)
    for name in sorted(usage.metrics):
        if name not in known:
            found.append(f"{name!r} is not a metric gridpilot exports")
            continue
        labels = known[name] | TARGET_LABELS
        available |= labels
        found += [f"{name!r} has no label {label!r}" for label in sorted(usage.matched[name] - labels)]
    found += [f"grouping by {label!r}, which none of its metrics has" for label in sorted(usage.grouped - available)]
    return found
