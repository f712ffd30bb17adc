"""The protocol shared by the cloud and the agent: schedule format, validation, battery model. Pure: no I/O."""

from gridpilot.protocol.battery import (
    BatteryLimits,
    newest_soc,
    projected_soc_pct,
    soc_after,
    soc_change_pct,
    soc_changes_pct,
    soc_trajectory,
)
from gridpilot.protocol.schedule import Interval, Mode, Schedule
from gridpilot.protocol.validation import (
    SchedulePolicy,
    ValidationResult,
    Violation,
    first_start,
    json_type,
    validate_schedule,
)

__all__ = [
    "BatteryLimits",
    "Interval",
    "Mode",
    "Schedule",
    "SchedulePolicy",
    "ValidationResult",
    "Violation",
    "first_start",
    "json_type",
    "newest_soc",
    "projected_soc_pct",
    "soc_after",
    "soc_change_pct",
    "soc_changes_pct",
    "soc_trajectory",
    "validate_schedule",
]
