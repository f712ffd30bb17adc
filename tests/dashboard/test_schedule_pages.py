"""The schedules page over HTTP on both databases: preview marks rows, submit stores all or nothing, roles, CSRF."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx
import pytest

from gridpilot.db import utcnow
from tests.dashboard.conftest import Dashboard
from tests.live.conftest import subscribed

HEADER = "device_id,start,end,mode,rate_kw"


def at(hours: float) -> str:
    """An RFC 3339 instant `hours` after the next whole hour (the validator wants intervals in the future)."""
    base = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    return (base + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def line(device: str, start: float, end: float, mode: str, rate: str) -> str:
    return f"{device},{at(start)},{at(end)},{mode},{rate}"


def htmx(csrf: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


async def preview(client: httpx.AsyncClient, csrf: str, text: str, **fields: str) -> httpx.Response:
    return await client.post("/schedules/preview", data={"text": text, **fields}, headers=htmx(csrf))


async def stored_versions(dashboard: Dashboard, device_id: str) -> list[dict[str, object]]:
    response = await dashboard.api.client.get(f"/api/v1/devices/{device_id}/schedules", headers=dashboard.api.viewer)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def invalid_cells(html: str) -> int:
    return html.count('aria-invalid="true"')


async def two_devices(dashboard: Dashboard) -> None:
    for device_id in ("bat-1", "bat-2"):
        await dashboard.api.register_device(device_id, capacity_kwh=100.0, max_charge_kw=5.0, max_discharge_kw=5.0)


async def test_the_page_shows_the_form_to_any_operator(dashboard: Dashboard) -> None:
    page = await dashboard.viewer.get("/schedules")
    assert page.status_code == 200
    assert 'aria-current="page">Schedules' in page.text.replace("\n", "")
    assert 'name="file"' in page.text and 'name="text"' in page.text
    assert "device_id,start,end,mode,rate_kw" in page.text


async def test_the_preview_points_at_each_bad_row_and_stores_nothing(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    text = "\n".join(
        [
            HEADER,
            line("bat-1", 0, 1, "charge", "3"),
            line("bat-1", 1, 2, "discharge", "9.5"),  # line 3: above the 5 kW limit
            line("ghost", 0, 1, "1", "2"),  # line 4: no such device
            line("bat-2", 0, 1, "sideways", "2"),  # line 5: bad mode
        ]
    )
    response = await preview(dashboard.admin, dashboard.admin_csrf, text)
    assert response.status_code == 422
    html = response.text
    assert "3 problems" in html and "in 3 of 4 rows" in html
    row3 = re.search(r'data-where="line 3">(.*?)</tr>', html, re.S)
    assert row3 and 'aria-invalid="true"' in row3.group(1)
    assert "exceeds the device&#39;s maximum discharge rate of 5 kW" in row3.group(1)
    row4 = re.search(r'data-where="line 4">(.*?)</tr>', html, re.S)
    assert row4 and "no device with id &#39;ghost&#39;" in row4.group(1)
    row2 = re.search(r'data-where="line 2">(.*?)</tr>', html, re.S)
    assert row2 and "aria-invalid" not in row2.group(1)
    assert "mode must be 1 (charge) or 2 (discharge)" in html
    assert invalid_cells(html) == 3
    assert "/schedules/submit" not in html  # no submit while anything is wrong
    assert await stored_versions(dashboard, "bat-1") == []


async def test_a_valid_preview_offers_the_submit_and_a_chart_but_stores_nothing(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    text = "\n".join([HEADER, line("bat-1", 0, 1, "charge", "3"), line("bat-2", 0, 2, "2", "4.5")])
    response = await preview(dashboard.admin, dashboard.admin_csrf, text)
    assert response.status_code == 200, response.text
    assert "Submit 2 schedules" in response.text and "no problems found" in response.text
    data = re.search(r'<script type="application/json" class="chart-data">(.*?)</script>', response.text, re.S)
    assert data
    series = {s["name"]: s["points"] for s in json.loads(data.group(1))["series"]}
    assert [p[1] for p in series["bat-1"]] == [3.0, 0]
    assert [p[1] for p in series["bat-2"]] == [-4.5, 0]
    assert await stored_versions(dashboard, "bat-1") == []


async def test_submit_stores_every_schedule_as_the_operator_and_the_api_sees_them(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    text = "\n".join(
        [
            HEADER,
            line("bat-1", 0, 1, "charge", "3"),
            line("bat-1", 1, 2, "discharge", "2"),
            line("bat-2", 0, 1, "1", "1"),
        ]
    )
    response = await dashboard.admin.post(
        "/schedules/submit", files={"file": ("plan.csv", text.encode(), "text/csv")}, headers=htmx(dashboard.admin_csrf)
    )
    assert response.status_code == 200, response.text
    assert "Stored 2 schedules" in response.text and 'href="/devices/bat-1"' in response.text
    versions = await stored_versions(dashboard, "bat-1")
    assert [(v["version"], v["created_by"], v["source"]) for v in versions] == [(1, "operator:root", "dashboard")]
    schedule = await dashboard.api.client.get(f"/api/v1/schedules/{versions[0]['id']}", headers=dashboard.api.viewer)
    intervals = [(i["mode"], i["rate_kw"]) for i in schedule.json()["intervals"]]
    assert intervals == [(1, 3.0), (2, 2.0)]
    assert f">{versions[0]['id']}<" in response.text


async def test_one_bad_schedule_means_nothing_is_stored(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    text = "\n".join([HEADER, line("bat-1", 0, 1, "charge", "3"), line("bat-2", 0, 1, "charge", "50")])
    response = await dashboard.admin.post("/schedules/submit", data={"text": text}, headers=htmx(dashboard.admin_csrf))
    assert response.status_code == 422
    assert "exceeds the device&#39;s maximum charge rate" in response.text
    assert await stored_versions(dashboard, "bat-1") == [] and await stored_versions(dashboard, "bat-2") == []


async def test_a_viewer_may_preview_but_not_submit(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    text = "\n".join([HEADER, line("bat-1", 0, 1, "charge", "3")])
    response = await preview(dashboard.viewer, dashboard.viewer_csrf, text)
    assert response.status_code == 200
    assert re.search(r"<button type=\"button\" disabled[^>]*>Submit 1 schedule</button>", response.text)
    assert "Only an admin can submit schedules" in response.text
    refused = await dashboard.viewer.post("/schedules/submit", data={"text": text}, headers=htmx(dashboard.viewer_csrf))
    assert refused.status_code == 403 and "is a viewer" in refused.text
    assert await stored_versions(dashboard, "bat-1") == []


async def test_submit_without_the_csrf_token_is_refused(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    text = "\n".join([HEADER, line("bat-1", 0, 1, "charge", "3")])
    for headers in ({"HX-Request": "true"}, {"HX-Request": "true", "X-CSRF-Token": "forged"}):
        refused = await dashboard.admin.post("/schedules/submit", data={"text": text}, headers=headers)
        assert refused.status_code == 403 and "did not come from this site" in refused.text
    assert await stored_versions(dashboard, "bat-1") == []


async def test_a_plain_form_post_without_javascript_works_too(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    text = "\n".join([HEADER, line("bat-1", 0, 1, "charge", "3")])
    form = {"text": text, "csrf_token": dashboard.admin_csrf}
    shown = await dashboard.admin.post("/schedules/preview", data=form)
    assert shown.status_code == 200 and "<h1>Schedules</h1>" in shown.text and "Submit 1 schedule" in shown.text
    assert "rate_kw\nbat-1" in shown.text.replace("\r", "")  # the pasted text is kept in the form
    stored = await dashboard.admin.post("/schedules/submit", data=form)
    assert stored.status_code == 200 and "Stored 1 schedule" in stored.text
    assert len(await stored_versions(dashboard, "bat-1")) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Nothing to read"),
        ("   \n  ", "Nothing to read"),
        ("hello world\nsecond line", "Neither JSON"),
        ("device,begin,end,mode,rate_kw\nbat-1,a,b,1,2", "missing device_id, start; unknown &#39;device&#39;"),
        ('{"device_id": "bat-1", "intervals": [', "Not valid JSON"),
        ("42", "line 1 reads &#39;42&#39;"),
        ("[]", "holds no schedules"),
        (HEADER, "a header but no intervals"),
    ],
)
async def test_unreadable_uploads_get_a_plain_message(dashboard: Dashboard, text: str, message: str) -> None:
    response = await preview(dashboard.admin, dashboard.admin_csrf, text)
    assert response.status_code == 422
    assert message in response.text


async def test_bad_values_are_named_on_their_row(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    naive = at(0).removesuffix("Z")
    text = "\n".join(
        [
            HEADER,
            f"bat-1,{naive},{at(1)},charge,3",  # line 2: naive start
            f"bat-1,yesterday,{at(2)},charge,3",  # line 3: not a timestamp
            line("bat-2", 0, 2, "charge", "1"),
            line("bat-2", 1, 3, "charge", "1"),  # line 5: overlaps line 4
            "bat-2,only,three",  # line 6: too few fields
        ]
    )
    html = (await preview(dashboard.admin, dashboard.admin_csrf, text)).text
    rows = {m.group(1): m.group(2) for m in re.finditer(r'data-where="(line \d+)">(.*?)</tr>', html, re.S)}
    assert "has no UTC offset" in rows["line 2"]
    assert "is not an RFC 3339 timestamp" in rows["line 3"]
    assert "starts before the previous one ends" in rows["line 5"]
    assert "3 fields; the header has 5" in rows["line 6"]
    assert "aria-invalid" not in rows["line 4"]


async def test_json_errors_are_placed_by_pointer(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    good = {"start": at(0), "end": at(1), "mode": 1, "rate_kw": 2}
    document = {
        "schedules": [
            {"device_id": "bat-1", "intervals": [good]},
            {"device_id": "bat-2", "intervals": [good, {**good, "start": at(1), "end": at(2), "rate_kw": "fast"}]},
            {"device_id": "bat-1", "intervals": "none"},
        ]
    }
    html = (await preview(dashboard.admin, dashboard.admin_csrf, json.dumps(document))).text
    rows = {m.group(1): m.group(2) for m in re.finditer(r'data-where="([^"]+)">(.*?)</tr>', html, re.S)}
    assert "rate_kw must be a number" in rows["/schedules/1/intervals/1"]
    assert "aria-invalid" not in rows["/schedules/0/intervals/0"]
    assert "schedule /schedules/2: intervals must be an array" in html
    single = {"device_id": "bat-1", "intervals": [good]}
    ok = await preview(dashboard.admin, dashboard.admin_csrf, json.dumps(single))
    assert ok.status_code == 200 and 'data-where="/intervals/0"' in ok.text and "Submit 1 schedule" in ok.text
    as_list = await preview(dashboard.admin, dashboard.admin_csrf, json.dumps([single]), format="json")
    assert as_list.status_code == 200 and 'data-where="/0/intervals/0"' in as_list.text


async def test_a_ten_megabyte_paste_is_refused_with_the_limit(dashboard: Dashboard) -> None:
    text = HEADER + "\n" + "x" * (10 * 1024 * 1024)
    for client, csrf in ((dashboard.admin, dashboard.admin_csrf), (dashboard.viewer, dashboard.viewer_csrf)):
        response = await preview(client, csrf, text)
        assert response.status_code == 422
        assert "The upload is 10.0 MB; at most 2 MB is read at once" in response.text
    files = {"file": ("big.csv", b"y" * (3 * 1024 * 1024), "text/csv")}
    response = await dashboard.admin.post("/schedules/preview", files=files, headers=htmx(dashboard.admin_csrf))
    assert response.status_code == 422 and "at most 2 MB" in response.text


async def test_thousands_of_rows_preview_and_submit_in_one_go(dashboard: Dashboard) -> None:
    for n in range(10):
        await dashboard.api.register_device(f"bat-{n}", capacity_kwh=1000.0, max_charge_kw=5.0, max_discharge_kw=5.0)
    lines = [HEADER]
    for n in range(10):
        for k in range(300):  # 300 quarter hours each, alternating so the SoC stays in range
            lines.append(line(f"bat-{n}", k / 4, (k + 1) / 4, "charge" if k % 2 else "discharge", "1"))
    text = "\n".join(lines)
    shown = await preview(dashboard.admin, dashboard.admin_csrf, text)
    assert shown.status_code == 200, shown.text[:2000]
    assert "Showing 300 of 3000 rows" in shown.text and "Submit 10 schedules" in shown.text
    stored = await dashboard.admin.post("/schedules/submit", data={"text": text}, headers=htmx(dashboard.admin_csrf))
    assert stored.status_code == 200 and "Stored 10 schedules" in stored.text and "(3000 intervals)" in stored.text
    versions = await stored_versions(dashboard, "bat-9")
    assert len(versions) == 1 and versions[0]["interval_counts"] == {"pending": 300}


async def test_a_line_the_parser_drops_blocks_the_submit_of_the_rest(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    text = "\n".join([HEADER, line("bat-1", 0, 1, "charge", "3"), line("bat-2", 0, 1, "charge", "3") + ",extra"])
    response = await dashboard.admin.post("/schedules/submit", data={"text": text}, headers=htmx(dashboard.admin_csrf))
    assert response.status_code == 422 and "6 fields; the header has 5" in response.text
    assert await stored_versions(dashboard, "bat-1") == []


async def test_a_submit_announces_each_stored_version_to_the_live_views(dashboard: Dashboard) -> None:
    await two_devices(dashboard)
    text = "\n".join([HEADER, line("bat-1", 0, 1, "charge", "3"), line("bat-2", 0, 1, "1", "1")])
    async with subscribed(dashboard.api.app.state.live_bus) as subscription:
        response = await dashboard.admin.post(
            "/schedules/submit",
            files={"file": ("plan.csv", text.encode(), "text/csv")},
            headers=htmx(dashboard.admin_csrf),
        )
        assert response.status_code == 200, response.text
        events = await subscription.until(2)
    assert events == [
        {"type": "schedule", "device_id": "bat-1", "version": 1, "state": "queued"},
        {"type": "schedule", "device_id": "bat-2", "version": 1, "state": "queued"},
    ]
