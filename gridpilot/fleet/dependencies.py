"""Loading devices from the path and deciding who may touch them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Path

from gridpilot.auth.dependencies import BearerDep, bearer_token, operator_from_token
from gridpilot.auth.exceptions import Forbidden, NotAuthenticated
from gridpilot.auth.schemas import Actor
from gridpilot.auth.tokens import DEVICE_CREDENTIAL_PREFIX
from gridpilot.dependencies import NowDep, SessionDep, SettingsDep
from gridpilot.fleet import service as device_service
from gridpilot.fleet.models import Device

DeviceIdPath = Annotated[str, Path(max_length=64, description="The device's id")]


async def path_device(device_id: DeviceIdPath, session: SessionDep) -> Device:
    """The device named in the path, or 404."""
    return await device_service.get(session=session, device_id=device_id)


PathDevice = Annotated[Device, Depends(path_device)]


@dataclass(frozen=True, slots=True)
class DeviceAccess:
    """A device resource and who is accessing it (the device itself, or an operator)."""

    device: device_service.DeviceRef
    actor: Actor

    @property
    def by_device(self) -> bool:
        """True when the device itself is calling."""
        return self.actor.kind == "device"


async def device_or_operator(
    device_id: DeviceIdPath, credentials: BearerDep, session: SessionDep, settings: SettingsDep, now: NowDep
) -> DeviceAccess:
    """The device itself (its own credential) or any operator; another device gets 403."""
    token = bearer_token(credentials)
    if token.startswith(DEVICE_CREDENTIAL_PREFIX):
        caller = await device_service.authenticate_device(session=session, token=token)
        if caller is None:
            raise NotAuthenticated("unknown or revoked device credential")
        if caller.id != device_id:
            raise Forbidden(f"device {caller.id!r} may not access device {device_id!r}")
        coalesce = timedelta(seconds=settings.device_contact_write_every_s)
        if await device_service.record_contact(session=session, device=caller, now=now, coalesce=coalesce):
            await session.commit()
        return DeviceAccess(caller, Actor(kind="device", id=caller.id, name=caller.id))
    actor = await operator_from_token(token=token, session=session, settings=settings)
    device = await device_service.get_ref(session=session, device_id=device_id)
    return DeviceAccess(device, actor)


DeviceOrOperator = Annotated[DeviceAccess, Depends(device_or_operator)]


async def device_itself(access: DeviceOrOperator) -> DeviceAccess:
    """Only the device itself (posting its own records); operators and other devices get 403."""
    if not access.by_device:
        raise Forbidden("only the device itself may post its own records")
    return access


DeviceItself = Annotated[DeviceAccess, Depends(device_itself)]
