"""One settings class for every process role, read from ECM_* environment variables.

`ecm services up` (and the test harness) write the addresses of the local PostgreSQL and
Mosquitto to `<state_dir>/ecm.env`, so every role started afterwards finds them without flags.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_MASTER_KEY = "dev-only-master-key-change-me"


def default_state_dir() -> Path:
    return Path(os.environ.get("ECM_STATE_DIR", Path.cwd() / ".state")).resolve()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECM_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    state_dir: Path = Field(default_factory=default_state_dir)

    database_url: str = "postgresql://ecm@127.0.0.1:5432/ecm"
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Ingest batching: a batch is committed when it is full or when its oldest message has
    # waited this long, whichever comes first. Messages are acked only after that commit.
    ingest_batch_size: int = 500
    ingest_batch_wait_ms: int = 50
    ingest_share_group: str = "ecm-ingest"
    # How stale ingest's registry cache may get: a revoked device or replaced key takes effect
    # within this many seconds without restarting the workers.
    ingest_registry_refresh_s: float = 30.0
    # Sequence rules: an event whose seq is more than this far behind the highest seq stored for
    # its device is quarantined as seq_too_old (an outbox backlog is far smaller than this).
    ingest_seq_window: int = 1000
    # Clock rules: a device clock more than this far ahead of the receive time (or a handset's
    # sent-at more than this far from it) is clock_skew; an event older than late_after_s when
    # received is stored as late-arriving (the handset was offline), not refused.
    ingest_clock_skew_tolerance_s: float = 300.0
    ingest_late_after_s: float = 900.0
    # Prometheus metrics of the ingest role: worker i serves on metrics_port + i; 0 turns it off.
    ingest_metrics_port: int = 9310
    # Loopback by default; a container deployment sets 0.0.0.0 so Prometheus can scrape it.
    ingest_metrics_host: str = "127.0.0.1"
    # Most unacknowledged messages the broker may have in flight to one worker (MQTT v5
    # Receive Maximum); 0 means twice the batch size.
    ingest_receive_maximum: int = 0

    # Envelope-encryption master key for secrets at rest (tag keys, later issues).
    master_key: str = DEV_MASTER_KEY

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_prod(self) -> Settings:
        if self.env == "prod" and self.master_key == DEV_MASTER_KEY:
            raise ValueError("ECM_MASTER_KEY must be set to a real secret when ECM_ENV=prod")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        return to_sqlalchemy_url(self.database_url)


def to_sqlalchemy_url(database_url: str) -> str:
    """psycopg 3 is the driver everywhere; SQLAlchemy needs it named in the URL scheme."""
    if database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    return database_url


def env_file(state_dir: Path) -> Path:
    return state_dir / "ecm.env"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, falling back to what `ecm services up` recorded."""
    state_dir = default_state_dir()
    recorded = env_file(state_dir)
    if recorded.exists():
        return Settings(_env_file=recorded)  # type: ignore[call-arg]
    return Settings()
