"""Devices: register, list, update, decommission, credentials and last contact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload
from sqlalchemy.sql.elements import ColumnElement

from gridpilot.audit import service as audit_service
from gridpilot.auth.schemas import Actor
from gridpilot.auth.tokens import DEVICE_CREDENTIAL_PREFIX, hash_token, mosquitto_password_hash, new_token
from gridpilot.config import Settings
from gridpilot.fleet.exceptions import DeviceDecommissioned, DeviceExists, DeviceNotFound, InvalidDeviceUpdate
from gridpilot.fleet.models import Device, DeviceCredential, DeviceTag
from gridpilot.fleet.schemas import AgentOut, DeviceIn, DeviceOut, DeviceStatus, DeviceUpdate
from gridpilot.protocol import BatteryLimits


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """What the polling path needs of a device, without loading the ORM entity."""

    id: str
    schedule_version: int
    last_contact_at: datetime | None
    link_offline_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Liveness:
    """When a device counts as offline: silent for `offline_after`, or its MQTT link lost for `link_grace`.

    The grace is the hysteresis: a link that drops and comes back within it never shows
    offline, so a flapping connection does not make a storm of status changes.
    """

    offline_after: timedelta
    link_grace: timedelta


def liveness(settings: Settings) -> Liveness:
    """The configured liveness rules."""
    return Liveness(
        offline_after=timedelta(seconds=settings.device_offline_after_s),
        link_grace=timedelta(seconds=settings.device_link_grace_s),
    )


def device_status(device: Device, *, now: datetime, liveness: Liveness) -> DeviceStatus:
    """Online if the device was heard from within `offline_after` and its link is not lost for longer than the grace."""
    if device.decommissioned_at is not None:
        return DeviceStatus.DECOMMISSIONED
    if device.last_contact_at is None:
        return DeviceStatus.NEVER_SEEN
    if now - device.last_contact_at > liveness.offline_after:
        return DeviceStatus.OFFLINE
    lost = device.link_offline_since
    return DeviceStatus.OFFLINE if lost is not None and now - lost >= liveness.link_grace else DeviceStatus.ONLINE


def device_out(device: Device, *, now: datetime, liveness: Liveness, agent: AgentOut | None = None) -> DeviceOut:
    """The API view of a device, with its agent's latest heartbeat when known."""
    return DeviceOut(
        id=device.id,
        name=device.name,
        site=device.site,
        capacity_kwh=device.capacity_kwh,
        max_charge_kw=device.max_charge_kw,
        max_discharge_kw=device.max_discharge_kw,
        min_soc_pct=device.min_soc_pct,
        max_soc_pct=device.max_soc_pct,
        charge_efficiency=device.charge_efficiency,
        discharge_efficiency=device.discharge_efficiency,
        timezone=device.timezone,
        tags=[t.tag for t in device.tags],
        status=device_status(device, now=now, liveness=liveness),
        last_contact_at=device.last_contact_at,
        last_soc_pct=device.last_soc_pct,
        last_soc_at=device.last_soc_at,
        schedule_version=device.schedule_version,
        created_at=device.created_at,
        updated_at=device.updated_at,
        decommissioned_at=device.decommissioned_at,
        agent=agent,
    )


def battery_limits(device: Device) -> BatteryLimits:
    """The device's limits in the protocol's terms."""
    return BatteryLimits(
        capacity_kwh=device.capacity_kwh,
        max_charge_kw=device.max_charge_kw,
        max_discharge_kw=device.max_discharge_kw,
        min_soc_pct=device.min_soc_pct,
        max_soc_pct=device.max_soc_pct,
        charge_efficiency=device.charge_efficiency,
        discharge_efficiency=device.discharge_efficiency,
    )


async def register(*, session: AsyncSession, device_in: DeviceIn, actor: Actor, now: datetime) -> tuple[Device, str]:
    """Register a device and issue its first credential (returned in plain text once)."""
    if await session.get(Device, device_in.id) is not None:
        raise DeviceExists(f"a device with id {device_in.id!r} is already registered")
    fields = device_in.model_dump(exclude={"tags"})
    device = Device(**fields, created_at=now, updated_at=now, schedule_version=0)
    device.tags = [DeviceTag(tag=t) for t in sorted(set(device_in.tags))]
    session.add(device)
    await session.flush()
    credential = await _issue_credential(session=session, device_id=device.id)
    audit_service.record(
        session=session,
        actor=actor,
        action="device.register",
        target_type="device",
        target_id=device.id,
        details=device_in.model_dump(mode="json"),
    )
    return device, credential


async def get(*, session: AsyncSession, device_id: str) -> Device:
    """The device, or DeviceNotFound."""
    device = await session.get(Device, device_id)
    if device is None:
        raise DeviceNotFound(f"no device with id {device_id!r}")
    return device


async def get_many(*, session: AsyncSession, device_ids: list[str], for_update: bool = False) -> dict[str, Device]:
    """Devices by id (missing ids are simply absent), loaded in chunks, without their tags (raise if touched)."""
    found: dict[str, Device] = {}
    for i in range(0, len(device_ids), 1000):
        query = select(Device).where(Device.id.in_(device_ids[i : i + 1000])).options(raiseload(Device.tags))
        if for_update:
            query = query.with_for_update()
        for device in await session.scalars(query):
            found[device.id] = device
    return found


def status_expression(*, now: datetime, liveness: Liveness) -> ColumnElement[str]:
    """`device_status` in SQL, as one value per row (the dashboard filters and sorts its table by it)."""
    link_lost = and_(Device.link_offline_since.is_not(None), Device.link_offline_since <= now - liveness.link_grace)
    return case(
        (Device.decommissioned_at.is_not(None), literal(DeviceStatus.DECOMMISSIONED.value)),
        (Device.last_contact_at.is_(None), literal(DeviceStatus.NEVER_SEEN.value)),
        (Device.last_contact_at < now - liveness.offline_after, literal(DeviceStatus.OFFLINE.value)),
        (link_lost, literal(DeviceStatus.OFFLINE.value)),
        else_=literal(DeviceStatus.ONLINE.value),
    )


def _status_condition(status: DeviceStatus, *, now: datetime, liveness: Liveness) -> ColumnElement[bool]:
    active = Device.decommissioned_at.is_(None)
    if status is DeviceStatus.DECOMMISSIONED:
        return Device.decommissioned_at.is_not(None)
    if status is DeviceStatus.NEVER_SEEN:
        return and_(active, Device.last_contact_at.is_(None))
    link_lost = Device.link_offline_since <= now - liveness.link_grace
    if status is DeviceStatus.ONLINE:
        return and_(
            active,
            Device.last_contact_at >= now - liveness.offline_after,
            or_(Device.link_offline_since.is_(None), ~link_lost),
        )
    return and_(active, or_(Device.last_contact_at < now - liveness.offline_after, link_lost))


async def list_devices(
    *,
    session: AsyncSession,
    now: datetime,
    liveness: Liveness,
    limit: int,
    after_id: str | None = None,
    site: str | None = None,
    tag: str | None = None,
    status: DeviceStatus | None = None,
) -> list[Device]:
    """Devices ordered by id after a cursor; decommissioned ones only when asked for."""
    query = select(Device).order_by(Device.id).limit(limit)
    if after_id is not None:
        query = query.where(Device.id > after_id)
    if site is not None:
        query = query.where(Device.site == site)
    if tag is not None:
        query = query.where(Device.id.in_(select(DeviceTag.device_id).where(DeviceTag.tag == tag)))
    if status is None:
        query = query.where(Device.decommissioned_at.is_(None))
    else:
        query = query.where(_status_condition(status, now=now, liveness=liveness))
    return list(await session.scalars(query))


async def count_by_status(*, session: AsyncSession, now: datetime, liveness: Liveness) -> dict[DeviceStatus, int]:
    """How many devices are in each status (for metrics)."""
    counts = {}
    for status in DeviceStatus:
        condition = _status_condition(status, now=now, liveness=liveness)
        counts[status] = int(await session.scalar(select(func.count()).select_from(Device).where(condition)) or 0)
    return counts


async def update_device(
    *, session: AsyncSession, device: Device, changes: DeviceUpdate, actor: Actor, now: datetime
) -> Device:
    """Apply the given fields; the resulting SoC bounds must stay consistent."""
    if device.decommissioned_at is not None:
        raise DeviceDecommissioned(f"device {device.id!r} was decommissioned and can no longer be changed")
    values = changes.model_dump(exclude_unset=True)
    nulls = [name for name, value in values.items() if value is None and name != "site"]
    if nulls:
        raise InvalidDeviceUpdate(
            "these fields cannot be null", errors=[{"pointer": f"/{k}", "detail": "may not be null"} for k in nulls]
        )
    low = values.get("min_soc_pct", device.min_soc_pct)
    high = values.get("max_soc_pct", device.max_soc_pct)
    if low >= high:
        raise InvalidDeviceUpdate(
            f"min_soc_pct ({low}) must be below max_soc_pct ({high})",
            errors=[{"pointer": "/min_soc_pct", "detail": f"{low} is not below max_soc_pct {high}"}],
        )
    tags = values.pop("tags", None)
    for name, value in values.items():
        setattr(device, name, value)
    if tags is not None:
        device.tags = [DeviceTag(tag=t) for t in sorted(set(tags))]
    device.updated_at = now
    await session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="device.update",
        target_type="device",
        target_id=device.id,
        details=changes.model_dump(mode="json", exclude_unset=True),
    )
    return device


async def decommission(*, session: AsyncSession, device: Device, actor: Actor, now: datetime) -> Device:
    """Retire a device: its credentials stop working; its history is kept."""
    if device.decommissioned_at is None:
        device.decommissioned_at = now
        device.updated_at = now
        await session.execute(
            update(DeviceCredential)
            .where(DeviceCredential.device_id == device.id, DeviceCredential.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        audit_service.record(
            session=session, actor=actor, action="device.decommission", target_type="device", target_id=device.id
        )
    await session.flush()
    return device


async def rotate_credential(*, session: AsyncSession, device: Device, actor: Actor, now: datetime) -> str:
    """Revoke the device's credentials and issue a new one (returned in plain text once)."""
    if device.decommissioned_at is not None:
        raise DeviceDecommissioned(f"device {device.id!r} was decommissioned")
    await session.execute(
        update(DeviceCredential)
        .where(DeviceCredential.device_id == device.id, DeviceCredential.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    credential = await _issue_credential(session=session, device_id=device.id)
    audit_service.record(
        session=session, actor=actor, action="device.rotate_credential", target_type="device", target_id=device.id
    )
    return credential


async def _issue_credential(*, session: AsyncSession, device_id: str) -> str:
    token = new_token(DEVICE_CREDENTIAL_PREFIX)
    session.add(
        DeviceCredential(device_id=device_id, token_hash=hash_token(token), broker_hash=mosquitto_password_hash(token))
    )
    await session.flush()
    return token


async def broker_accounts(*, session: AsyncSession) -> list[tuple[str, str]]:
    """(device id, Mosquitto hash) of every active credential of every active device, by device id, for the broker.

    Credentials issued before broker hashes were stored have none and are left out:
    rotating such a device's credential gives it broker access.
    """
    rows = await session.execute(
        select(DeviceCredential.device_id, DeviceCredential.broker_hash)
        .join(Device, Device.id == DeviceCredential.device_id)
        .where(
            DeviceCredential.revoked_at.is_(None),
            DeviceCredential.broker_hash.is_not(None),
            Device.decommissioned_at.is_(None),
        )
        .order_by(DeviceCredential.device_id, DeviceCredential.id)
    )
    return [(device_id, broker_hash) for device_id, broker_hash in rows if broker_hash is not None]


# Built once: every device request runs it.
_DEVICE_BY_CREDENTIAL = (
    select(Device.id, Device.schedule_version, Device.last_contact_at, Device.link_offline_since)
    .join(DeviceCredential, DeviceCredential.device_id == Device.id)
    .where(
        DeviceCredential.token_hash == bindparam("token_hash"),
        DeviceCredential.revoked_at.is_(None),
        Device.decommissioned_at.is_(None),
    )
)


async def authenticate_device(*, session: AsyncSession, token: str) -> DeviceRef | None:
    """The active device owning a valid, unrevoked credential, else None (one lean query: devices poll often)."""
    row = (await session.execute(_DEVICE_BY_CREDENTIAL, {"token_hash": hash_token(token)})).one_or_none()
    return None if row is None else DeviceRef(*row)


async def get_ref(*, session: AsyncSession, device_id: str) -> DeviceRef:
    """The device's identity, schedule version and last contact, or DeviceNotFound."""
    row = (
        await session.execute(
            select(Device.id, Device.schedule_version, Device.last_contact_at, Device.link_offline_since).where(
                Device.id == device_id
            )
        )
    ).one_or_none()
    if row is None:
        raise DeviceNotFound(f"no device with id {device_id!r}")
    return DeviceRef(*row)


async def record_contact(*, session: AsyncSession, device: DeviceRef, now: datetime, coalesce: timedelta) -> bool:
    """Note that the device was heard from; writes at most once per `coalesce` per device. True when it wrote.

    A device whose link was lost is written at once: being heard from ends the loss.
    """
    recent = device.last_contact_at is not None and now - device.last_contact_at < coalesce
    if recent and device.link_offline_since is None:
        return False
    await session.execute(
        update(Device)
        .where(Device.id == device.id, or_(Device.last_contact_at.is_(None), Device.last_contact_at < now))
        .values(last_contact_at=now, link_offline_since=None)
        .execution_options(synchronize_session=False)
    )
    return True


async def get_refs(*, session: AsyncSession, device_ids: list[str]) -> dict[str, DeviceRef]:
    """get_ref for many devices in one query per thousand; unknown ids are simply absent."""
    refs: dict[str, DeviceRef] = {}
    for i in range(0, len(device_ids), 1000):
        rows = await session.execute(
            select(Device.id, Device.schedule_version, Device.last_contact_at, Device.link_offline_since).where(
                Device.id.in_(device_ids[i : i + 1000])
            )
        )
        refs.update((row[0], DeviceRef(*row)) for row in rows)
    return refs


async def record_contacts(
    *, session: AsyncSession, devices: Sequence[DeviceRef], now: datetime, coalesce: timedelta
) -> None:
    """record_contact for a batch of devices, in one statement per thousand of those due a write."""
    due = [
        d.id
        for d in devices
        if d.link_offline_since is not None or d.last_contact_at is None or now - d.last_contact_at >= coalesce
    ]
    for i in range(0, len(due), 1000):
        await session.execute(
            update(Device)
            .where(
                Device.id.in_(due[i : i + 1000]),
                or_(Device.last_contact_at.is_(None), Device.last_contact_at < now),
            )
            .values(last_contact_at=now, link_offline_since=None)
            .execution_options(synchronize_session=False)
        )


async def record_link_lost(*, session: AsyncSession, device_id: str, now: datetime) -> None:
    """The broker published the device's last will: its link is lost from now (unless already lost)."""
    await session.execute(
        update(Device)
        .where(Device.id == device_id, Device.link_offline_since.is_(None))
        .values(link_offline_since=now)
        .execution_options(synchronize_session=False)
    )
