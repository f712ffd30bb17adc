"""Fleet request and response bodies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gridpilot.timeutil import UtcDateTime

DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\s,]+$")]
Kw = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Efficiency = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


def _known_timezone(name: str) -> str:
    if name not in _TIMEZONES:
        raise ValueError(f"unknown IANA time zone {name!r}")
    return name


_TIMEZONES = frozenset(available_timezones()) | {"UTC"}
TimeZone = Annotated[str, AfterValidator(_known_timezone)]


class DeviceStatus(StrEnum):
    """Derived from the time of the last contact and the offline timeout."""

    ONLINE = "online"
    OFFLINE = "offline"
    NEVER_SEEN = "never-seen"
    DECOMMISSIONED = "decommissioned"


class _SocBounds(BaseModel):
    @model_validator(mode="after")
    def _min_below_max(self) -> Any:
        low, high = getattr(self, "min_soc_pct", None), getattr(self, "max_soc_pct", None)
        if low is not None and high is not None and low >= high:
            raise ValueError(f"min_soc_pct ({low}) must be below max_soc_pct ({high})")
        return self


class DeviceIn(_SocBounds):
    """A device to register."""

    model_config = ConfigDict(extra="forbid")

    id: DeviceId
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    site: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    capacity_kwh: Kw
    max_charge_kw: Kw
    max_discharge_kw: Kw
    min_soc_pct: Percent = 10.0
    max_soc_pct: Percent = 90.0
    charge_efficiency: Efficiency = 0.95
    discharge_efficiency: Efficiency = 0.95
    timezone: TimeZone = "UTC"
    tags: Annotated[list[Tag], Field(max_length=32)] = []


class DeviceUpdate(_SocBounds):
    """Fields to change on a device; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    site: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    capacity_kwh: Kw | None = None
    max_charge_kw: Kw | None = None
    max_discharge_kw: Kw | None = None
    min_soc_pct: Percent | None = None
    max_soc_pct: Percent | None = None
    charge_efficiency: Efficiency | None = None
    discharge_efficiency: Efficiency | None = None
    timezone: TimeZone | None = None
    tags: Annotated[list[Tag], Field(max_length=32)] | None = None


class DriverState(StrEnum):
    """How the agent's link to the inverter/battery stands."""

    OK = "ok"
    FAULT = "fault"
    DISCONNECTED = "disconnected"


class HeartbeatIn(BaseModel):
    """The agent's periodic report on itself, stamped by the device's clock."""

    model_config = ConfigDict(extra="forbid")

    at: UtcDateTime
    agent_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    schedule_version: int | None = Field(default=None, ge=0, le=2**31 - 1)
    driver_state: DriverState
    fault: Annotated[str, StringConstraints(max_length=1000)] | None = None
    outbox_depth: int = Field(ge=0, le=2**31 - 1)
    outbox_oldest_at: UtcDateTime | None = None
    outbox_acks: int = Field(ge=0, le=2**31 - 1)
    outbox_telemetry: int = Field(ge=0, le=2**31 - 1)


class AgentOut(BaseModel):
    """The latest heartbeat of the device's agent, and when the server received it."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    agent_version: str
    schedule_version: int | None
    driver_state: str
    fault: str | None
    outbox_depth: int
    outbox_oldest_at: datetime | None
    outbox_acks: int
    outbox_telemetry: int
    received_at: datetime


class DeviceOut(BaseModel):
    """A device with its derived status."""

    id: str
    name: str
    site: str | None
    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    min_soc_pct: float
    max_soc_pct: float
    charge_efficiency: float
    discharge_efficiency: float
    timezone: str
    tags: list[str]
    status: DeviceStatus
    last_contact_at: datetime | None
    last_soc_pct: float | None
    last_soc_at: datetime | None
    schedule_version: int
    created_at: datetime
    updated_at: datetime
    decommissioned_at: datetime | None
    agent: AgentOut | None = Field(default=None, description="The agent's latest heartbeat; null before the first")


class DeviceRegistered(DeviceOut):
    """A newly registered device and its credential, shown this once."""

    credential: str


class DeviceCredentialOut(BaseModel):
    """A device's new credential, shown this once."""

    device_id: str
    credential: str


class DevicePage(BaseModel):
    """A page of devices; pass next_cursor as ?cursor= for the next one."""

    items: list[DeviceOut]
    next_cursor: str | None


class IntervalIn(BaseModel):
    """One interval of a submitted schedule (documentation of the wire format)."""

    start: datetime = Field(description="RFC 3339 with an offset; naive times are refused; stored in UTC")
    end: datetime
    mode: Literal[1, 2] = Field(description="1 = charge, 2 = discharge")
    rate_kw: float = Field(gt=0, description="Power in kW, at most the device's limit for the mode")


class ScheduleIn(BaseModel):
    """A schedule for one device (documentation of the wire format; gridpilot.protocol validates)."""

    device_id: str
    intervals: list[IntervalIn]


class IntervalStatus(StrEnum):
    """Where an interval stands; superseded = replaced by a newer schedule before it ran."""

    PENDING = "pending"
    EXECUTED = "executed"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"
    SUPERSEDED = "superseded"


class IntervalOut(BaseModel):
    """A stored interval with its execution status."""

    id: int
    start: datetime
    end: datetime
    mode: int
    rate_kw: float
    status: IntervalStatus
    status_at: datetime | None


class ScheduleOut(BaseModel):
    """A stored schedule version with every interval and its status."""

    id: int
    device_id: str
    version: int
    effective_from: datetime
    superseded_from: datetime | None
    created_at: datetime
    created_by: str
    source: str
    intervals: list[IntervalOut]


class ViolationIn(BaseModel):
    """One rule of the agent's validator that a schedule broke."""

    model_config = ConfigDict(extra="forbid")

    pointer: Annotated[str, StringConstraints(max_length=1000)]
    code: Annotated[str, StringConstraints(max_length=64)]
    message: Annotated[str, StringConstraints(max_length=1000)]


class ScheduleRejectionIn(BaseModel):
    """The device refused a schedule version the server sent."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1)
    at: UtcDateTime
    violations: Annotated[list[ViolationIn], Field(min_length=1, max_length=1000)]


class RejectionRecorded(BaseModel):
    """The rejection is stored (or was already)."""

    recorded: bool = True


class DeviceRejectionOut(BaseModel):
    """The device's latest refusal of a schedule version."""

    at: datetime
    violations: list[dict[str, str]]


class DeliveryState(StrEnum):
    """Where a schedule version is between the server and the battery."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    EXECUTED = "executed"
    FAILED = "failed"
    EXPIRED = "expired"


class DeliveryOut(BaseModel):
    """A schedule version's delivery: its state and when it got there."""

    state: DeliveryState
    queued_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


class ScheduleSummary(BaseModel):
    """A schedule version in a device's command history, with counts per interval status."""

    id: int
    version: int
    effective_from: datetime
    superseded_from: datetime | None
    created_at: datetime
    created_by: str
    source: str
    interval_counts: dict[str, int]
    delivery: DeliveryOut
    rejected_by_device: DeviceRejectionOut | None = None


class SchedulePage(BaseModel):
    """A page of a device's schedule history, newest first."""

    items: list[ScheduleSummary]
    next_cursor: str | None


class AcceptedSchedule(BaseModel):
    """A stored schedule in a batch answer."""

    index: int
    device_id: str
    schedule_id: int
    version: int
    intervals: int


class RejectedSchedule(BaseModel):
    """A refused schedule in a partial batch answer, with every violation."""

    index: int
    device_id: str | None
    errors: list[dict[str, str]]


class BatchResult(BaseModel):
    """What a batch submission stored and (with ?partial=true) what it refused."""

    accepted: list[AcceptedSchedule]
    rejected: list[RejectedSchedule]


class DeviceIntervalOut(BaseModel):
    """An interval as the device executes it (end already cut where a newer version takes over)."""

    id: int
    schedule_id: int
    start: datetime
    end: datetime
    mode: int
    rate_kw: float


class DeviceScheduleOut(BaseModel):
    """The device's view: active and upcoming intervals of its current plan."""

    device_id: str
    version: int
    intervals: list[DeviceIntervalOut]


class AckStatus(StrEnum):
    """What happened to an interval on the device."""

    EXECUTED = "executed"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"


class AckIn(BaseModel):
    """One execution record, identified by a UUID the device chose."""

    model_config = ConfigDict(extra="forbid")

    ack_id: UUID
    interval_id: int = Field(gt=0, le=2**63 - 1)
    status: AckStatus
    started_at: datetime | None = None
    ended_at: datetime | None = None
    energy_kwh: float | None = Field(default=None, allow_inf_nan=False, ge=-1e6, le=1e6)
    soc_pct: Percent | None = Field(default=None, description="State of charge when the record was made")
    message: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @model_validator(mode="after")
    def _aware_and_ordered(self) -> AckIn:
        for name in ("started_at", "ended_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must carry a UTC offset")
        if self.started_at and self.ended_at and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class AckBatchIn(BaseModel):
    """A batch of execution records from one device."""

    model_config = ConfigDict(extra="forbid")

    acks: Annotated[list[AckIn], Field(min_length=1, max_length=10_000)]


class AckRejected(BaseModel):
    """A record that will never be accepted (retrying it is pointless)."""

    index: int
    ack_id: str
    detail: str


class AckResult(BaseModel):
    """How a batch of acks was taken: new records, replays, and refusals."""

    accepted: int
    duplicates: int
    rejected: list[AckRejected]


class ExecutionOut(BaseModel):
    """A stored acknowledgement."""

    model_config = ConfigDict(from_attributes=True)

    ack_id: str
    interval_id: int
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    energy_kwh: float | None
    soc_pct: float | None
    message: str | None
    received_at: datetime


class ExecutionPage(BaseModel):
    """A page of a device's acknowledgements, newest first."""

    items: list[ExecutionOut]
    next_cursor: str | None
