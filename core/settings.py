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
from sqlalchemy.engine import make_url

DEV_MASTER_KEY = "dev-only-master-key-change-me"
# Created by migration 0005_accounts_audit; owns nothing, may only append to audit_log.
API_DATABASE_ROLE = "ecm_api"


def default_state_dir() -> Path:
    return Path(os.environ.get("ECM_STATE_DIR", Path.cwd() / ".state")).resolve()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ECM_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    state_dir: Path = Field(default_factory=default_state_dir)

    database_url: str = "postgresql://ecm@127.0.0.1:5432/ecm"
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    # The MQTT client's TLS identity (gateway.pki.identity). Unset, each role uses the files the
    # local stack created under <state_dir>/pki (services/<role>.pem and .key, ca.pem).
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    # Extra host names in the broker's server certificate, comma-separated (compose: mosquitto).
    mqtt_server_names: str = ""

    # Which broker the deployment runs: one Mosquitto, or the clustered NATS JetStream
    # (docs/scaling.md). Provisioning and revocation change the broker named here.
    broker: Literal["mosquitto", "nats"] = "mosquitto"
    # The cluster's NATS client URLs (tls://host:port, comma-separated): ingest's JetStream
    # consumer connects to any of them and moves to another when one fails.
    nats_urls: str = ""
    # The cluster's MQTT ports on mqtt_host, comma-separated: a handset moves to another node
    # when its node fails (firmware-sim's uplink).
    mqtt_cluster_ports: str = ""
    # Messages the local Mosquitto queues per session before it drops (gateway.broker).
    mqtt_max_queued_messages: int = 1_000_000

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Ingest batching: a batch is committed when it is full or when its oldest message has
    # waited this long, whichever comes first. Messages are acked only after that commit.
    ingest_batch_size: int = 500
    ingest_batch_wait_ms: int = 50
    ingest_share_group: str = "ecm-ingest"
    # Where ingest takes events from: the broker's MQTT shared subscription (one Mosquitto) or
    # the cluster's JetStream durable pull consumer (ingest/jetstream.py).
    ingest_transport: Literal["mqtt", "jetstream"] = "mqtt"
    # How stale ingest's registry cache may get: a revoked device or replaced key takes effect
    # within this many seconds without restarting the workers.
    ingest_registry_refresh_s: float = 30.0
    # Handsets' clocks disagree by a little: a tap may be this far out of time order with
    # another tap of its tag before its counter counts as contradicting the time it claims.
    ingest_tag_clock_tolerance_s: float = 120.0

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
    # Receipts to handsets after each commit (protocol v1.1, ingest/receipts.py). Off only to
    # measure what they cost (make bench); handsets that rely on them resend until receipted.
    ingest_receipts: bool = True

    # The API connects as its own role (created by migration 0005_accounts_audit), which may
    # only append to the audit trail. Unset: the database URL above with the user swapped for
    # that role.
    api_database_url: str | None = None
    api_database_password: str | None = None
    # Sign-in: access tokens are short-lived. Failed sign-ins slow down the (account, address)
    # pair that made them, with delays doubling from first_delay_s to max_delay_s after the free
    # failures, and an address trying many accounts likewise (api/auth/throttle.py).
    access_token_ttl_s: int = 900
    login_window_s: int = 86400
    login_free_failures: int = 3
    login_free_failures_per_client: int = 20
    login_first_delay_s: float = 1.0
    login_max_delay_s: float = 900.0
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated);
    # none by default, so the header counts for nothing unless a proxy is named.
    trusted_proxies: str = ""
    # Password hashing runs in worker processes at a lower CPU priority, kept to the last
    # `password_worker_cpus` cores (0: any) (api/auth/passwords.py): how many, how many
    # sign-ins may wait for one, their niceness. 0 workers: in the request thread (as before).
    password_workers: int = 1
    password_queue_max: int = 16
    password_worker_nice: int = 10
    password_worker_cpus: int = 1
    # How long the one-time code of an administrator's forced password reset stays valid.
    password_reset_ttl_s: int = 86400

    # Visits (issue 5): matching, anomaly and alert thresholds. Per-council late, missed and
    # approval thresholds live in the council_policy table; these are the defaults.
    visits_match_window_minutes: int = 60
    visits_late_after_minutes: int = 15
    visits_missed_cutoff: str = "23:00"
    visits_correction_approval_minutes: int = 30
    visits_short_fraction: float = 0.75
    visits_max_speed_kmh: float = 80.0
    visits_clock_skew_s: float = 300.0
    visits_tag_far_m: float = 500.0
    visits_shared_handset_minutes: int = 30
    visits_build_interval_s: float = 5.0
    # Extra re-read margin; only needed when pg_stat_activity hides other roles' transactions.
    visits_build_lookback_s: float = 0.0
    alerts_interval_s: float = 15.0
    # An open alert nobody resolved this long after it was raised goes to the council
    # (a council's own policy may say otherwise: PUT /councils/{id}/policy).
    alerts_escalate_after_minutes: int = 60
    webhook_max_attempts: int = 8
    webhook_backoff_s: float = 2.0
    webhook_timeout_s: float = 5.0
    # Webhook URLs may name loopback, private and link-local addresses (a receiver on this
    # machine or the LAN). Outside production they always may; in production only when set.
    webhook_allow_private_addresses: bool = False

    # The audit checkpoint key (Ed25519) and the checkpoint log live here, apart from the
    # database (api/audit/checkpoints.py). Unset: <state_dir>/audit.
    audit_key_dir: Path | None = None

    # Prometheus metrics: with a token set, /metrics answers only `Authorization: Bearer
    # <token>`; without one the API serves them only on its loopback metrics port.
    metrics_token: str | None = None
    api_metrics_port: int = 9300
    api_metrics_host: str = "127.0.0.1"

    # The housekeeping role (`ecm housekeeping run`): how often it signs the audit chain's head,
    # applies the retention policies, and looks for certificates about to expire.
    housekeeping_checkpoint_interval_s: float = 300.0
    housekeeping_retention_interval_s: float = 86400.0
    housekeeping_certificates_interval_s: float = 3600.0
    # Device certificates expiring within this many days are warned about (and counted in the
    # metric), and `ecm devices rotate --due` rotates them.
    certificate_warning_days: int = 30
    # During a rotation the previous certificate stays valid this long, so the handset can
    # move to the new one without ever losing its connection.
    certificate_rotation_overlap_days: int = 7

    # Telephone check-in (`ecm telephony`, docs/telephony.md). The provider's auth token signs
    # its webhooks (the previous one is accepted too while a rotation is under way); the
    # public URL is the base the provider calls, which the signature covers.
    telephony_host: str = "127.0.0.1"
    telephony_port: int = 8010
    telephony_auth_token: str | None = None
    telephony_previous_auth_token: str | None = None
    telephony_public_url: str | None = None
    # A request about a call first seen longer ago than this is refused as stale: our calls
    # last a minute or two, and the provider's signature carries no time of its own.
    telephony_max_call_age_s: float = 600.0
    # Wrong PINs within the window: per carer (since their last right one) and per line.
    telephony_pin_window_s: float = 900.0
    telephony_max_pin_failures_per_carer: int = 5
    telephony_max_pin_failures_per_line: int = 10
    # Carer number and PIN tries within one call before the bridge hangs up.
    telephony_max_tries_per_call: int = 3
    # A second right call by the same carer from the same home within this is a repeat.
    telephony_repeat_window_s: float = 120.0
    # A call is a check-out when the carer's last event at this home within this many hours
    # is a check-in; otherwise it is a check-in.
    telephony_open_stay_hours: float = 12.0

    # The carer's day (docs/carer-day.md): National Living Wage by date, GBP per hour
    # ("YYYY-MM-DD=rate" from that date on, comma-separated); gaps between visits up to this
    # many minutes are travel, longer ones are a break minus the travel they must contain.
    pay_floor_table: str = "2024-04-01=11.44,2025-04-01=12.21,2026-04-01=12.71"
    carer_day_max_travel_gap_minutes: int = 60
    carer_day_travel_speed_kmh: float = 20.0
    # Aggregates for councils are withheld for a provider with fewer carer-days than this.
    carer_day_min_cell: int = 3
    # Service requests (docs/service-requests.md): how often `ecm requests run` expires offers,
    # rolls packages' planned visits forward and delivers request webhooks, and how far ahead a
    # package's visits are planned.
    requests_interval_s: float = 15.0
    requests_plan_horizon_days: int = 28

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

    @property
    def api_sqlalchemy_url(self) -> str:
        if self.api_database_url:
            return to_sqlalchemy_url(self.api_database_url)
        url = make_url(self.sqlalchemy_url).set(
            username=API_DATABASE_ROLE, password=self.api_database_password
        )
        return url.render_as_string(hide_password=False)


def to_sqlalchemy_url(database_url: str) -> str:
    """psycopg 3 is the driver everywhere; SQLAlchemy needs it named in the URL scheme.

    A libpq multi-host URL (`postgresql://u@h1:p1,h2:p2/db?target_session_attrs=read-write`,
    a primary and its standby) is rewritten to SQLAlchemy's form of the same thing, one `host`
    query parameter per server, which psycopg hands back to libpq unchanged.
    """
    if not database_url.startswith("postgresql://"):
        return database_url
    rest = database_url.removeprefix("postgresql://")
    authority, _, tail = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if "," not in hosts:
        return "postgresql+psycopg://" + rest
    database, _, query = tail.partition("?")
    params = [f"host={host}" for host in hosts.split(",")]
    if query:
        params.append(query)
    return f"postgresql+psycopg://{userinfo}{at}/{database}?{'&'.join(params)}"


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
