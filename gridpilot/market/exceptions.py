"""Market refusals, each with its HTTP status."""

from gridpilot.problem import DomainError


class UnknownMarket(DomainError):
    """No market with that code: no prices were ever imported for it."""

    status = 404
    title = "Unknown market"


class PricesRejected(DomainError):
    """The batch holds rows the server will not store; nothing was stored."""

    status = 422
    title = "Prices rejected"


class ModelNotFound(DomainError):
    """No registered forecast model with that id."""

    status = 404
    title = "Forecast model not found"


class NoCurrentModel(DomainError):
    """The market has no promoted forecast model to serve."""

    status = 409
    title = "No current forecast model"


class NotEnoughHistory(DomainError):
    """The prices the model needs as inputs (its lags) are not all stored."""

    status = 409
    title = "Not enough price history"


class ForecastDayOutOfRange(DomainError):
    """The day asked for cannot be forecast from what is stored (e.g. in the past, or too far ahead)."""

    status = 422
    title = "Day out of range"


class ModelArtifactUnavailable(DomainError):
    """The registered model's saved artifact cannot be loaded (moved, deleted or unreadable)."""

    status = 503
    title = "Forecast model unavailable"


class TrainingFailed(DomainError):
    """The model could not be trained on the stored prices (too few of them, or the model refused them)."""

    status = 422
    title = "Training failed"


class NoFleetDevices(DomainError):
    """No active device belongs to the market's fleet (none carries its market tag)."""

    status = 404
    title = "No devices in the market's fleet"


class SolverUnavailable(DomainError):
    """The fleet's problems could not be solved where they were sent (e.g. no worker took the RabbitMQ tasks)."""

    status = 503
    title = "Optimization not completed"


class BidsNotFound(DomainError):
    """No bids were built for that market and day."""

    status = 404
    title = "Bids not found"


class BiddingInputsMissing(DomainError):
    """Bids cannot be built: no forecast for some hours, or no device plans the delivery day."""

    status = 409
    title = "Bidding inputs missing"


class DemandResponseRejected(DomainError):
    """The demand-response event cannot be stored as given; nothing was stored."""

    status = 422
    title = "Demand-response event rejected"


class DayNotPlannable(DomainError):
    """The fleet would refuse every schedule of that day (it has begun, or ends beyond the schedule horizon)."""

    status = 422
    title = "Day cannot be planned"
