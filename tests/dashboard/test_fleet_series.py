"""The fleet overview's pure shaping: summary from grouped rows, SoC bins, the table's parameters and paging."""

from __future__ import annotations

import pytest

from gridpilot.dashboard import fleet_series
from gridpilot.dashboard.fleet_series import TableQuery, paging, parse_table_query, summary_from_groups


def row(
    status: str,
    count: int,
    *,
    faulted: int = 0,
    charging: float = 0.0,
    discharging: float = 0.0,
    fresh: int = 0,
    kwh: float = 0.0,
    capacity: float = 0.0,
    known: int = 0,
    bins: list[int] | None = None,
) -> tuple[object, ...]:
    return (status, count, faulted, charging, discharging, fresh, kwh, capacity, known, *(bins or [0] * 10))


def test_the_summary_adds_up_groups_and_leaves_decommissioned_devices_out_of_energy() -> None:
    summary = summary_from_groups(
        [
            row(
                "online",
                3,
                faulted=1,
                charging=4.5,
                discharging=-2.0,
                fresh=3,
                kwh=15.0,
                capacity=30.0,
                known=3,
                bins=[0, 0, 0, 0, 0, 3, 0, 0, 0, 0],
            ),
            row("offline", 2, faulted=1, kwh=5.0, capacity=20.0, known=1, bins=[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            row("decommissioned", 4, faulted=9, charging=99.0, kwh=99.0, capacity=99.0, known=4, bins=[4] + [0] * 9),
        ]
    )
    assert summary["status"] == {"online": 3, "offline": 2, "never-seen": 0, "decommissioned": 4}
    assert summary["devices"] == 5
    assert summary["faulted"] == 2
    assert summary["power"] == {"charging_kw": 4.5, "discharging_kw": 2.0, "net_kw": 2.5, "reporting": 3}
    assert summary["energy"] == {"stored_kwh": 20.0, "capacity_kwh": 50.0, "fill_pct": 40.0, "devices": 4}
    assert summary["soc"]["counts"] == [1, 0, 0, 0, 0, 3, 0, 0, 0, 0]
    assert summary["soc"]["labels"][0] == "0–10 %" and summary["soc"]["labels"][-1] == "90–100 %"


def test_an_empty_fleet_has_zeros_and_no_fill_percentage() -> None:
    summary = summary_from_groups([])
    assert summary["status"] == dict.fromkeys(fleet_series.STATUSES, 0)
    assert summary["energy"]["fill_pct"] is None
    assert summary["soc"]["counts"] == [0] * 10


def test_faulted_means_a_driver_not_ok_or_a_fault_text() -> None:
    assert fleet_series.is_faulted("fault", None)
    assert fleet_series.is_faulted("disconnected", None)
    assert fleet_series.is_faulted("ok", "battery cell imbalance")
    assert not fleet_series.is_faulted("ok", None)
    assert not fleet_series.is_faulted("ok", "")
    assert not fleet_series.is_faulted(None, None)


def test_soc_bins_cover_0_to_100() -> None:
    edges = fleet_series.soc_bin_edges()
    assert edges[0] == (0, 10) and edges[-1] == (90, 100) and len(edges) == 10


def test_good_parameters_are_kept() -> None:
    query, notes = parse_table_query(q=" bat ", status="offline", site="alpha", sort="soc", order="desc", page="3")
    assert notes == []
    assert query == TableQuery(q="bat", status="offline", site="alpha", sort="soc", order="desc", page=3)


@pytest.mark.parametrize(
    ("raw", "expected", "note"),
    [
        ({"sort": "drop table"}, TableQuery(), "Cannot sort by 'drop table'"),
        ({"order": "up"}, TableQuery(), "Unknown order 'up'"),
        ({"status": "bogus"}, TableQuery(), "Unknown status 'bogus'"),
        ({"page": "-1"}, TableQuery(), "Pages start at 1"),
        ({"page": "0"}, TableQuery(), "Pages start at 1"),
        ({"page": "1e9x"}, TableQuery(), "is not a number"),
        ({"q": "y" * 101}, TableQuery(q="y" * 100), "cut to its first 100"),
    ],
)
def test_bad_parameters_fall_back_with_a_note(raw: dict[str, str], expected: TableQuery, note: str) -> None:
    args: dict[str, str | None] = {"q": None, "status": None, "site": None, "sort": None, "order": None, "page": None}
    query, notes = parse_table_query(**{**args, **raw})
    assert query == expected
    assert len(notes) == 1 and note in notes[0]


def test_urls_leave_defaults_out_and_sort_links_flip_the_order() -> None:
    query = TableQuery(q="a b&c", sort="name", order="asc", page=4)
    assert TableQuery().url() == "/fleet"
    assert query.url() == "/fleet?q=a+b%26c&sort=name&page=4"
    assert query.url("/fleet/devices", page=1) == "/fleet/devices?q=a+b%26c&sort=name"
    assert query.sort_link("name") == {"order": "desc", "aria": "ascending"}
    assert query.sort_link("site") == {"order": "asc", "aria": "none"}
    assert TableQuery(sort="name", order="desc").aria_sort("name") == "descending"


def test_paging_clamps_to_the_pages_there_are() -> None:
    assert paging(total=0, page=1, per_page=50) == {
        "page": 1,
        "pages": 1,
        "total": 0,
        "first": 0,
        "last": 0,
        "previous": None,
        "next": None,
    }
    assert paging(total=120, page=2, per_page=50) == {
        "page": 2,
        "pages": 3,
        "total": 120,
        "first": 51,
        "last": 100,
        "previous": 1,
        "next": 3,
    }
    assert paging(total=120, page=9, per_page=50)["page"] == 3
    assert paging(total=120, page=9, per_page=50)["last"] == 120
