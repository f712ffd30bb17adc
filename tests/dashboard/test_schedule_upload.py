"""The pure reading of uploaded schedules: CSV and JSON to the API's schedules, every problem with its position."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gridpilot.dashboard.schedule_upload import MAX_UPLOAD_BYTES, Upload, chart_series, parse

HEADER = "device_id,start,end,mode,rate_kw"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def iso(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def test_csv_lines_of_one_device_make_one_schedule_in_file_order() -> None:
    text = "\n".join(
        [
            " Rate_KW , mode,device_id,start,end",  # any order, case and spaces
            f"5,charge,b,{iso(0)},{iso(1)}",
            f"2.5,2,a,{iso(0)},{iso(1)}",
            "",
            f"1,DISCHARGE,b,{iso(1)},{iso(2)}",
        ]
    )
    upload = parse(text.encode())
    assert upload.ok and upload.format == "csv"
    assert upload.raws == [
        {
            "device_id": "b",
            "intervals": [
                {"start": iso(0), "end": iso(1), "mode": 1, "rate_kw": 5.0},
                {"start": iso(1), "end": iso(2), "mode": 2, "rate_kw": 1.0},
            ],
        },
        {"device_id": "a", "intervals": [{"start": iso(0), "end": iso(1), "mode": 2, "rate_kw": 2.5}]},
    ]
    assert [row.where for row in upload.rows] == ["line 2", "line 3", "line 5"]
    assert upload.interval_count == 3


def test_violations_land_on_their_line_and_cell() -> None:
    text = "\n".join([HEADER, f"a,{iso(0)},{iso(1)},1,3", f"a,{iso(1)},{iso(2)},1,3", f"b,{iso(0)},{iso(1)},2,3"])
    upload = parse(text.encode())
    upload.add_violations(
        [
            {"pointer": "/0/intervals/1/rate_kw", "detail": "too fast"},
            {"pointer": "/1/device_id", "detail": "no device"},
            {"pointer": "/0/intervals/0", "detail": "SoC out of range"},
            {"pointer": "/0/intervals", "detail": "too many"},
            {"pointer": "/7", "detail": "out of the blue"},
        ]
    )
    line2, line3, line4 = upload.rows
    assert line3.errors_in("rate_kw") == ["too fast"] and line3.errors_in("start") == []
    assert line4.errors_in("device_id") == ["no device"]
    assert line2.row_errors == ["SoC out of range"]
    assert upload.problems == ["device 'a': too many", "out of the blue"]
    assert not upload.ok and upload.error_count == 5


def test_a_line_with_the_wrong_number_of_fields_is_a_row_problem_and_no_interval() -> None:
    upload = parse(f"{HEADER}\na,{iso(0)},{iso(1)},1\nb,{iso(0)},{iso(1)},1,2,extra\n".encode())
    assert [row.row_errors for row in upload.rows] == [["4 fields; the header has 5"], ["6 fields; the header has 5"]]
    assert upload.raws == [] and not upload.ok


def test_cells_the_parser_cannot_convert_are_passed_on_for_the_validator_to_name() -> None:
    upload = parse(f"{HEADER}\na,{iso(0)},{iso(1)},sideways,fast\n".encode())
    assert upload.raws[0]["intervals"][0] == {  # type: ignore[index]
        "start": iso(0),
        "end": iso(1),
        "mode": "sideways",
        "rate_kw": "fast",
    }


def test_headers_that_are_not_the_columns_are_refused_with_what_is_wrong() -> None:
    assert parse(b"device_id,start,end,mode\n").problems == [
        "Line 1: the CSV header must name the columns device_id,start,end,mode,rate_kw (missing rate_kw)."
    ]
    repeated = parse(b"device_id,start,end,mode,rate_kw,mode\n", format="csv").problems[0]
    assert "repeated mode" in repeated
    assert parse(b"just words", format="csv").problems[0].startswith("Line 1: the CSV header must name")
    assert parse(b"just words").problems[0].startswith("Neither JSON")


def test_json_shapes_the_api_takes_and_the_wrapper() -> None:
    schedule = {"device_id": "a", "intervals": [{"start": iso(0), "end": iso(1), "mode": 1, "rate_kw": 1}]}
    for document, where in (
        (schedule, "/intervals/0"),
        ([schedule, schedule], "/1/intervals/0"),
        ({"schedules": [schedule, schedule]}, "/schedules/1/intervals/0"),
    ):
        upload = parse(json.dumps(document).encode())
        assert upload.format == "json" and upload.rows[-1].where == where
        assert upload.raws[-1] == schedule
    assert parse(b"42", format="json").problems == [
        'The JSON must be a schedule object, an array of schedule objects, or {"schedules": [...]}.'
    ]
    assert parse(b'{"a": [1,', format="json").problems == ["Not valid JSON: Expecting value at line 1, column 10."]
    assert "nests too deeply" in parse(b"[" * 100_000).problems[0]


def test_bytes_that_are_not_text_or_too_many_are_refused() -> None:
    assert parse(b"\xff\xfe\x00bad").problems[0].startswith("The upload is not UTF-8 text")
    assert "at most 2 MB" in parse(b" " * (MAX_UPLOAD_BYTES + 1)).problems[0]
    huge_field = HEADER.encode() + b'\na,"' + b"x" * 200_000 + b'",b,1,2\n'
    assert parse(huge_field).problems == ["Line 2: the CSV cannot be read (field larger than field limit (131072))."]
    many = HEADER + "\n" + "\n".join(f"d{i},{iso(0)},{iso(1)},1,1" for i in range(5))
    assert parse(many.encode(), max_schedules=3).problems == [
        "5 schedules in one upload; at most 3 are taken at once: split it."
    ]


def test_the_chart_draws_steps_with_discharge_below_zero_and_skips_what_does_not_read() -> None:
    raws: list[object] = [
        {
            "device_id": "a",
            "intervals": [
                {"start": iso(1), "end": iso(2), "mode": 2, "rate_kw": 2},
                {"start": iso(0), "end": iso(1), "mode": 1, "rate_kw": 3},
                {"start": "bad", "end": iso(3), "mode": 1, "rate_kw": 3},
                {"start": iso(4), "end": iso(5), "mode": 1, "rate_kw": True},
            ],
        },
        {"device_id": "b", "intervals": []},
        "not a schedule",
    ]
    series, devices = chart_series(raws)
    assert devices == 1
    assert series == [
        {
            "name": "a",
            "points": [
                [iso(0).replace("Z", "+00:00"), 3.0],
                [iso(1).replace("Z", "+00:00"), -2.0],
                [iso(2).replace("Z", "+00:00"), 0],
            ],
        }
    ]
    many = [
        {"device_id": f"d{i}", "intervals": [{"start": iso(0), "end": iso(1), "mode": 1, "rate_kw": 1}]}
        for i in range(30)
    ]
    shown, counted = chart_series(many, limit=20)
    assert (len(shown), counted) == (20, 30)


intervals = st.lists(
    st.tuples(
        st.text(st.sampled_from("abcXYZ09-_."), min_size=1, max_size=8).filter(lambda s: s[0].isalnum()),
        st.integers(0, 200),
        st.integers(1, 8),
        st.sampled_from([1, 2]),
        st.floats(0.001, 1e5, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=30,
)


@given(intervals, st.booleans())
@settings(max_examples=60, deadline=None)
def test_csv_and_json_of_the_same_schedules_read_the_same(
    rows: list[tuple[str, int, int, int, float]], names: bool
) -> None:
    csv_lines = [HEADER] + [
        f"{d},{iso(s)},{iso(s + n)},{('charge' if m == 1 else 'discharge') if names else m},{r!r}"
        for d, s, n, m, r in rows
    ]
    from_csv = parse("\r\n".join(csv_lines).encode())
    grouped: dict[str, list[dict[str, object]]] = {}
    for d, s, n, m, r in rows:
        grouped.setdefault(d, []).append({"start": iso(s), "end": iso(s + n), "mode": m, "rate_kw": r})
    from_json = parse(json.dumps([{"device_id": d, "intervals": i} for d, i in grouped.items()]).encode())
    assert from_csv.ok and from_json.ok
    assert from_csv.raws == from_json.raws
    assert len(from_csv.rows) == len(from_json.rows) == len(rows)


@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
@settings(max_examples=200, deadline=None)
def test_any_bytes_give_an_answer_never_an_exception(data: bytes) -> None:
    upload = parse(data)
    assert isinstance(upload, Upload)
    assert upload.ok == (not upload.problems and not any(r.problems for r in upload.rows))
    if upload.format == "csv" and upload.ok:
        assert upload.raws  # a CSV found fine has at least one schedule
