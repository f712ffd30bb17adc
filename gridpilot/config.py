"""Settings from GRIDPILOT_* environment variables and an optional TOML file.

Nothing is read at import time: `load_settings()` builds a Settings once at start-up
and it is passed down (`get_settings` is the FastAPI dependency that tests override).
"""

from __future__ import annotations

import os
from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEVELOPMENT_SECRET = "gridpilot-development-secret-change-me-0000"  # noqa: S105 - refused outside development


class Settings(BaseSettings):
    """Everything configurable about a gridpilot server, with embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="GRIDPILOT_", extra="forbid")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; unset = SQLite file in data_dir (WAL mode).",
    )
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    jwt_ttl_s: int = Field(default=3600, gt=0)

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1)
    log_level: str = "INFO"
    log_json: bool = True

    device_offline_after_s: int = Field(default=900, gt=0, description="No contact for this long = offline.")
    device_link_grace_s: int = Field(
        default=60, ge=0, description="A device whose MQTT link is lost (last will) shows offline after this long."
    )
    device_contact_write_every_s: int = Field(
        default=30, ge=0, description="Coalesce last-contact writes: at most one per device per this many seconds."
    )
    schedule_max_horizon_days: float = Field(default=7, gt=0)
    schedule_max_intervals: int = Field(default=2000, gt=0)
    schedule_max_batch: int = Field(default=10_000, gt=0)
    max_body_bytes: int = Field(default=128 * 1024 * 1024, gt=0)
    database_pool_size: int = Field(default=20, gt=0, description="PostgreSQL connections kept per worker")
    database_max_overflow: int = Field(default=20, ge=0, description="extra connections per worker under load")
    page_size_max: int = Field(default=1000, gt=0)

    mqtt_url: str | None = Field(default=None, description="mqtt://host:1883; unset = no push, devices poll over HTTP")
    mqtt_username: str = "gridpilot-server"
    mqtt_password: SecretStr | None = None
    mqtt_prefix: str = Field(default="gridpilot/v1", pattern=r"^[A-Za-z0-9._/-]+[A-Za-z0-9._-]$")
    mqtt_client_id: str = Field(default="gridpilot-worker", description="the worker's persistent MQTT session")

    amqp_url: str | None = Field(
        default=None, description="amqp://guest:guest@127.0.0.1:5672/; unset = device messages processed in-process"
    )
    amqp_prefix: str = Field(default="gridpilot", pattern=r"^[A-Za-z0-9._-]+$", description="queue/exchange names")
    worker_batch_size: int = Field(default=500, gt=0, description="messages per database transaction (and prefetch)")
    worker_batch_wait_ms: int = Field(default=100, ge=0, description="how long a batch waits to fill up")
    worker_max_attempts: int = Field(default=5, gt=0, description="failures before a message goes to the DLQ")

    redis_url: str | None = Field(
        default=None,
        description="redis://127.0.0.1:6379/0; unset = live events reach only this process's dashboard clients",
    )
    redis_prefix: str = Field(default="gridpilot", pattern=r"^[A-Za-z0-9._-]+$", description="Redis channel names")
    session_ttl_s: int = Field(default=8 * 3600, gt=0, description="How long a dashboard login lasts.")

    models_dir: Path | None = Field(
        default=None, description="Where trained forecast models are saved; unset = data_dir/models."
    )
    entsoe_api_key: SecretStr | None = Field(
        default=None, description="ENTSO-E Transparency Platform token; unset = the ENTSOE_API_KEY variable."
    )

    optimize_daily_at: time | None = Field(
        default=None,
        description="Market-local time (e.g. 12:30) at which the server optimizes every market's fleet for the next "
        "day; unset = no daily job.",
    )
    optimize_drift_every_min: int = Field(
        default=15, ge=0, description="With the daily job: check plans against measured SoC this often; 0 = never."
    )
    optimize_drift_threshold_pct: float = Field(
        default=5.0, gt=0, description="Re-optimize the rest of the day when measured SoC is this far off the plan."
    )
    optimize_end_soc_pct: float | None = Field(
        default=None, ge=0, le=100, description="SoC every day's plan ends at; unset = the middle of a device's range."
    )
    optimize_degradation_cost_per_mwh: float = Field(default=0.0, ge=0, description="Wear cost of throughput.")
    optimize_jobs: int = Field(default=1, ge=1, description="Processes solving in-process (without RabbitMQ).")
    optimize_chunk_size: int = Field(default=500, ge=1, description="Devices per solving chunk or RabbitMQ task.")
    optimize_task_timeout_s: float = Field(
        default=600.0, gt=0, description="How long a fleet run waits for its RabbitMQ tasks to be solved."
    )

    @property
    def model_store(self) -> Path:
        """The directory holding trained forecast models."""
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in force: the configured one or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'gridpilot.db').resolve()}"

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.secret_key.get_secret_value() == DEVELOPMENT_SECRET:
            raise ValueError("GRIDPILOT_SECRET_KEY must be set in production (the development default is refused)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: explicit arguments, then environment, then the TOML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get("GRIDPILOT_CONFIG")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)


def load_settings(**overrides: object) -> Settings:
    """Build the settings (environment, then GRIDPILOT_CONFIG's TOML file, then defaults)."""
    toml_file = os.environ.get("GRIDPILOT_CONFIG")
    if toml_file and not Path(toml_file).is_file():
        raise FileNotFoundError(f"GRIDPILOT_CONFIG points to {toml_file!r}, which is not a file")
    return Settings(**overrides)  # type: ignore[arg-type]
