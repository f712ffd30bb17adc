"""Authentication and authorization failures."""

from gridpilot.problem import DomainError


class NotAuthenticated(DomainError):
    """Missing, malformed, unknown, expired or revoked credentials."""

    status = 401
    title = "Not authenticated"


class Forbidden(DomainError):
    """Authenticated, but not allowed to do this."""

    status = 403
    title = "Forbidden"


class OperatorExists(DomainError):
    """An operator of that name already exists."""

    status = 409
    title = "Operator exists"


class OperatorNotFound(DomainError):
    """No operator of that name."""

    status = 404
    title = "Operator not found"
