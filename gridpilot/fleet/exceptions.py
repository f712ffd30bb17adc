"""Fleet refusals, each with its HTTP status."""

from gridpilot.problem import DomainError


class DeviceNotFound(DomainError):
    """No device with that id."""

    status = 404
    title = "Device not found"


class DeviceExists(DomainError):
    """A device with that id is already registered."""

    status = 409
    title = "Device exists"


class DeviceDecommissioned(DomainError):
    """The device was decommissioned; it takes no new schedules or credentials."""

    status = 409
    title = "Device decommissioned"


class InvalidDeviceUpdate(DomainError):
    """The update would leave the device's limits inconsistent."""

    status = 422
    title = "Invalid device"


class ScheduleNotFound(DomainError):
    """No schedule with that id."""

    status = 404
    title = "Schedule not found"


class ReportRejected(DomainError):
    """The agent's report cannot be taken as sent (e.g. stamped by a clock running ahead); nothing was stored."""

    status = 422
    title = "Report rejected"


class ScheduleVersionNotFound(DomainError):
    """The device has no schedule with that version."""

    status = 404
    title = "Schedule version not found"


class ScheduleRejected(DomainError):
    """The schedule or batch broke the protocol's rules; nothing was stored."""

    status = 422
    title = "Schedule rejected"


class ScheduleConflict(DomainError):
    """Another submission for the same device was stored at the same moment."""

    status = 409
    title = "Concurrent schedule submission"


class BatchTooLarge(DomainError):
    """More schedules in one request than allowed."""

    status = 413
    title = "Batch too large"
