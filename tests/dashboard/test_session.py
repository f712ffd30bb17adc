"""Logging in and out of the dashboard, CSRF and roles, over HTTP."""

from __future__ import annotations

from tests.conftest import Api
from tests.dashboard.conftest import ADMIN, Dashboard, csrf_from, set_passwords


async def test_a_page_sends_a_logged_out_browser_to_the_login_and_back(api: Api) -> None:
    response = await api.client.get("/fleet?status=online")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/fleet%3Fstatus%3Donline"


async def test_an_htmx_fragment_of_a_logged_out_browser_redirects_the_whole_page(api: Api) -> None:
    response = await api.client.get("/fleet", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


async def test_wrong_password_and_unknown_name_get_the_same_answer(api: Api) -> None:
    await set_passwords(api.app)
    token = csrf_from((await api.client.get("/login")).text)
    for name, password in (("root", "not-the-password"), ("nobody", "not-the-password")):
        response = await api.client.post("/login", data={"username": name, "password": password, "csrf_token": token})
        assert response.status_code == 401
        assert "Wrong name or password." in response.text
        assert (await api.client.get("/fleet")).status_code == 303  # not logged in


async def test_login_without_the_forms_csrf_token_is_refused(api: Api) -> None:
    await set_passwords(api.app)
    await api.client.get("/login")
    response = await api.client.post("/login", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    assert (await api.client.get("/fleet")).status_code == 303  # still logged out


async def test_an_operator_without_a_password_cannot_log_in(api: Api) -> None:
    token = csrf_from((await api.client.get("/login")).text)
    response = await api.client.post(
        "/login", data={"username": "root", "password": "any-password", "csrf_token": token}
    )
    assert response.status_code == 401


async def test_login_goes_back_to_the_page_asked_for_but_never_to_another_site(api: Api) -> None:
    await set_passwords(api.app)
    for asked, landed in (("/market", "/market"), ("//evil.example/x", "/"), ("https://evil.example", "/")):
        api.client.cookies.clear()
        token = csrf_from((await api.client.get("/login")).text)
        response = await api.client.post(
            "/login", data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token, "next": asked}
        )
        assert response.status_code == 303
        assert response.headers["location"] == landed


async def test_the_session_cookie_is_http_only_and_same_site(api: Api) -> None:
    response = await api.client.get("/login")
    cookie = response.headers["set-cookie"].lower()
    assert "gridpilot_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


async def test_logout_ends_the_session(dashboard: Dashboard) -> None:
    response = await dashboard.admin.post("/logout", data={"csrf_token": dashboard.admin_csrf})
    assert response.status_code == 303
    assert (await dashboard.admin.get("/fleet")).status_code == 303


async def test_logout_needs_the_csrf_token(dashboard: Dashboard) -> None:
    assert (await dashboard.admin.post("/logout")).status_code == 403
    assert (await dashboard.admin.get("/fleet")).status_code == 200


async def test_a_disabled_operator_is_logged_out_at_the_next_page(dashboard: Dashboard) -> None:
    from sqlalchemy import update

    from gridpilot.auth.models import Operator
    from gridpilot.db import utcnow

    async with dashboard.api.app.state.session_factory() as session:
        await session.execute(update(Operator).where(Operator.name == "root").values(disabled_at=utcnow()))
        await session.commit()
    assert (await dashboard.admin.get("/fleet")).status_code == 303


async def test_the_login_page_shows_no_navigation(api: Api) -> None:
    page = await api.client.get("/login")
    assert page.status_code == 200
    assert 'aria-label="Main"' not in page.text
