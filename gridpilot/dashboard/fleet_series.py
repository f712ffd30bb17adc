"""Pure shaping for the fleet overview: the summary from grouped rows, the SoC histogram, the table's parameters.

No database and no clock here: the queries live in fleet_views, this turns their rows into
what the page and the live pulse send, and turns a URL's (possibly hostile) query string
into a valid table request plus plain-language notes about what was ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

SOC_BIN_WIDTH = 10
STATUSES = ("online", "offline", "never-seen", "decommissioned")
STATUS_FILTERS = ("online", "offline", "never-seen", "faulted", "decommissioned")
SORTS = {
    "id": "ID",
    "name": "Name",
    "site": "Site",
    "status": "Status",
    "soc": "SoC",
    "power": "Power",
    "last_contact": "Last contact",
}
PER_PAGE = 50
MAX_SEARCH = 100
FAULTED_DRIVER_STATES = ("fault", "disconnected")  # the agent cannot drive the battery: see fleet_views
_DEFAULTS = {"q": "", "status": "", "site": "", "sort": "id", "order": "asc", "page": "1"}


def is_faulted(driver_state: str | None, fault: str | None) -> bool:
    """The rule of the faulted tile, for one heartbeat: a driver not ok, or a fault text."""
    return driver_state in FAULTED_DRIVER_STATES or bool(fault)


def soc_bin_edges() -> list[tuple[int, int]]:
    """The histogram's bins: [0, 10), [10, 20) … [90, 100] (the last one closed)."""
    return [(low, low + SOC_BIN_WIDTH) for low in range(0, 100, SOC_BIN_WIDTH)]


def soc_bin_labels() -> list[str]:
    """Axis labels of the SoC histogram."""
    return [f"{low}–{high} %" for low, high in soc_bin_edges()]


def summary_from_groups(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """The live summary from one row per status: (status, devices, faulted, charging kW, discharging kW,
    reporting power, stored kWh, capacity with known SoC, devices with known SoC, *SoC bin counts).

    Decommissioned devices count in their status only: they hold no energy that can be used.
    """
    status = dict.fromkeys(STATUSES, 0)
    faulted = reporting = known = 0
    charging = discharging = stored = capacity = 0.0
    bins = [0] * len(soc_bin_edges())
    for group, count, group_faulted, group_charging, group_discharging, fresh, kwh, cap, soc_known, *counts in rows:
        status[str(group)] = status.get(str(group), 0) + int(count)
        if group == "decommissioned":
            continue
        faulted += int(group_faulted or 0)
        charging += float(group_charging or 0)
        discharging += float(group_discharging or 0)
        reporting += int(fresh or 0)
        stored += float(kwh or 0)
        capacity += float(cap or 0)
        known += int(soc_known or 0)
        bins = [total + int(c or 0) for total, c in zip(bins, counts, strict=True)]
    return {
        "status": status,
        "faulted": faulted,
        "devices": sum(n for s, n in status.items() if s != "decommissioned"),
        "power": {
            "charging_kw": round(charging, 3),
            "discharging_kw": round(-discharging, 3),
            "net_kw": round(charging + discharging, 3),
            "reporting": reporting,
        },
        "energy": {
            "stored_kwh": round(stored, 3),
            "capacity_kwh": round(capacity, 3),
            "fill_pct": round(100.0 * stored / capacity, 1) if capacity else None,
            "devices": known,
        },
        "soc": {"labels": soc_bin_labels(), "counts": bins},
    }


@dataclass(frozen=True, slots=True)
class TableQuery:
    """A valid request for one page of the device table."""

    q: str = ""
    status: str = ""
    site: str = ""
    sort: str = "id"
    order: str = "asc"
    page: int = 1
    per_page: int = PER_PAGE

    def params(self, **changes: Any) -> dict[str, str]:
        """The query-string parameters of this request (defaults left out), with `changes` applied."""
        query = replace(self, **changes)
        values = {
            "q": query.q,
            "status": query.status,
            "site": query.site,
            "sort": query.sort,
            "order": query.order,
            "page": str(query.page),
        }
        return {k: v for k, v in values.items() if v != _DEFAULTS[k]}

    def url(self, path: str = "/fleet", **changes: Any) -> str:
        """`path` with this request's query string: a link someone can share."""
        params = self.params(**changes)
        return f"{path}?{urlencode(params)}" if params else path

    def sort_link(self, column: str) -> dict[str, str]:
        """The link of a sortable column header: the same column again flips the order; page one either way."""
        order = ("desc" if self.order == "asc" else "asc") if column == self.sort else "asc"
        return {"order": order, "aria": self.aria_sort(column)}

    def aria_sort(self, column: str) -> str:
        """The aria-sort value of a column header."""
        if column != self.sort:
            return "none"
        return "ascending" if self.order == "asc" else "descending"


def parse_table_query(
    *,
    q: str | None,
    status: str | None,
    site: str | None,
    sort: str | None,
    order: str | None,
    page: str | None,
) -> tuple[TableQuery, list[str]]:
    """A valid table request from raw query parameters, and a note for each one that was not usable."""
    notes: list[str] = []
    search = (q or "").strip()
    if len(search) > MAX_SEARCH:
        notes.append(f"The search was cut to its first {MAX_SEARCH} characters.")
        search = search[:MAX_SEARCH]
    status_value = (status or "").strip()
    if status_value and status_value not in STATUS_FILTERS:
        notes.append(f"Unknown status {status_value[:40]!r}; showing every active device.")
        status_value = ""
    sort_value = (sort or "id").strip()
    if sort_value not in SORTS:
        notes.append(f"Cannot sort by {sort_value[:40]!r}; sorted by ID.")
        sort_value = "id"
    order_value = (order or "asc").strip()
    if order_value not in ("asc", "desc"):
        notes.append(f"Unknown order {order_value[:40]!r}; ascending.")
        order_value = "asc"
    page_value = 1
    if page:
        try:
            page_value = int(page)
        except ValueError:
            notes.append(f"Page {page[:40]!r} is not a number; showing page 1.")
        else:
            if page_value < 1:
                notes.append("Pages start at 1; showing page 1.")
                page_value = 1
    return (
        TableQuery(
            q=search,
            status=status_value,
            site=(site or "").strip()[:200],
            sort=sort_value,
            order=order_value,
            page=page_value,
        ),
        notes,
    )


def paging(*, total: int, page: int, per_page: int) -> dict[str, int | None]:
    """Where a page sits: its number (clamped to the last), the count, the rows shown, its neighbours."""
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    first = (page - 1) * per_page + 1 if total else 0
    return {
        "page": page,
        "pages": pages,
        "total": total,
        "first": first,
        "last": min(page * per_page, total),
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < pages else None,
    }
