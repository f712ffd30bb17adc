"""Telemetry refusals, each with its HTTP status."""

from gridpilot.problem import DomainError


class TelemetryRejected(DomainError):
    """The batch holds points the server will not store; nothing was stored."""

    status = 422
    title = "Telemetry rejected"
