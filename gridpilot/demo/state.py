"""What a demo keeps between runs, so that running it again picks up the same fleet and the same login.

Everything lives in one data directory: the SQLite database and forecast models (the server's own
layout), the simulated devices' credentials and local stores (the fleet simulator's), and `demo.json`
(mode 0600) with the operator's password and an admin API key. The password is generated on the first
run and printed on every run: it is a demo's login, kept next to the database it opens.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from gridpilot import migrate as migrations
from gridpilot.audit import service as audit_service
from gridpilot.auth import service as auth_service
from gridpilot.auth.exceptions import OperatorNotFound
from gridpilot.auth.schemas import SYSTEM, Role
from gridpilot.cli._session import run_in_session
from gridpilot.config import Settings

OPERATOR = "admin"
_STATE_FILE = "demo.json"


@dataclass(frozen=True, slots=True)
class Login:
    """The demo operator's dashboard password and an admin API key (for provisioning and the test)."""

    operator: str
    password: str
    api_key: str


def state_file(data_dir: Path) -> Path:
    """Where the demo's login is kept."""
    return data_dir / _STATE_FILE


def fleet_dir(data_dir: Path) -> Path:
    """Where the simulated devices keep their credentials and local stores."""
    return data_dir / "fleet"


def reset(data_dir: Path) -> None:
    """Forget everything a previous run left: database, models, devices, login."""
    if data_dir.exists():
        shutil.rmtree(data_dir)


def prepare(settings: Settings) -> tuple[Login, bool]:
    """Migrate the embedded database and make sure the demo operator exists; returns (login, first run)."""
    migrations.upgrade(settings)
    path = state_file(settings.data_dir)
    if path.exists():
        raw = json.loads(path.read_text(encoding="utf-8"))
        kept = Login(raw["operator"], raw["password"], raw["api_key"])

        async def known(session: AsyncSession) -> bool:
            return await auth_service.authenticate_api_key(session=session, token=kept.api_key) is not None

        if run_in_session(settings, known):  # else the database was replaced: a new login for it
            return kept, False
    password = secrets.token_urlsafe(12)

    async def work(session: AsyncSession) -> str:
        try:
            operator = await auth_service.get_operator_by_name(session=session, name=OPERATOR)
        except OperatorNotFound:
            operator = await auth_service.create_operator(session=session, name=OPERATOR, role=Role.ADMIN)
        _, token = await auth_service.create_api_key(session=session, operator=operator, name="demo")
        await auth_service.set_password(session=session, operator=operator, password=password)
        audit_service.record(
            session=session, actor=SYSTEM, action="operator.bootstrap", target_type="operator", target_id=OPERATOR
        )
        return token

    login = Login(OPERATOR, password, run_in_session(settings, work))
    _write_private(path, json.dumps({"operator": login.operator, "password": password, "api_key": login.api_key}))
    return login, True


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never world-readable for an instant)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
