"""Settings: one typed object, built once (from `CALLSCOPE_*` variables) and passed in.

`docs/settings.md` is generated from this model (`callscope settings --markdown`), and a test
fails when the two differ, so every field's `description` is the documentation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callscope.errors import ConfigError

# Publicly known values: fine for `--demo` on a laptop, refused anywhere else.
DEMO_TOKEN_SECRET = "callscope-demo-token-secret"  # noqa: S105
DEMO_ADMIN_TOKEN = "callscope-demo-admin-token"  # noqa: S105


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "callscope"


class JanusNodeSettings(BaseModel):
    """An external Janus node (`CALLSCOPE_JANUS_NODES`, a JSON list of these)."""

    model_config = {"extra": "forbid", "frozen": True}

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    api_url: str = Field(description="Janus API, e.g. `http://10.0.0.5:8088/janus`")
    public_url: str = Field("", description="Janus API as clients reach it; default `api_url`")
    admin_url: str = Field(description="Admin API, e.g. `http://10.0.0.5:7088/admin`")
    admin_secret: SecretStr
    admin_key: SecretStr
    events_secret: SecretStr = Field(description="Basic-auth password its event handler sends")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLSCOPE_", extra="forbid", frozen=True)

    demo: bool = Field(
        False,
        description="Demo mode: allows the built-in demo secrets and creates a demo app. "
        "Never use in production.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Directory for the embedded store and generated files.",
    )
    store_url: str = Field(
        "",
        description="Where samples live: `chdb:///path` (embedded, default `<data_dir>/store`) "
        "or `clickhouse://user:password@host:8123/database`.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8080, ge=0, le=65535, description="Port the HTTP server binds (0 = any).")
    public_url: str = Field(
        "",
        description="Base URL clients use to reach this server; default `http://<host>:<port>`.",
    )
    token_secret: SecretStr = Field(
        SecretStr(DEMO_TOKEN_SECRET),
        description="Secret that signs ingest tokens (at least 32 characters outside demo mode).",
    )
    admin_token: SecretStr = Field(
        SecretStr(DEMO_ADMIN_TOKEN),
        description="Bearer token for `/v1/admin/*` (the CLI uses it when the server owns the "
        "store). At least 32 characters outside demo mode.",
    )
    ingest_token_default_ttl_s: int = Field(
        3600, ge=60, description="Lifetime of an ingest token when the request names none."
    )
    ingest_token_max_ttl_s: int = Field(
        86_400, ge=60, description="Longest lifetime an ingest token may be issued for."
    )
    join_token_default_ttl_s: int = Field(
        3600, ge=60, description="Lifetime of a media-room join token when the request names none."
    )
    join_token_max_ttl_s: int = Field(
        86_400, ge=60, description="Longest lifetime a media-room join token may be issued for."
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above it)."
    )
    max_items_per_batch: int = Field(
        10_000, ge=1, description="Most samples or events one ingest request may carry."
    )
    max_clock_skew_s: int = Field(
        300, ge=0, description="How far in the future a timestamp may be (client clocks drift)."
    )
    max_sample_age_s: int = Field(
        30 * 86_400,
        ge=60,
        description="Oldest timestamp accepted; older data would fall straight out of retention.",
    )
    writer_queue_max_rows: int = Field(
        400_000,
        ge=1000,
        description="Rows waiting for the writer before ingest answers 429 (bounds memory).",
    )
    writer_max_batch_rows: int = Field(
        200_000, ge=100, description="Most rows one group commit writes per table."
    )
    writer_threads: int = Field(
        2,
        ge=1,
        le=8,
        description="Group commits that may run at once. One INSERT runs largely on one core; "
        "two concurrent ones stored 1.7x the rows per second of one on 2 cores.",
    )
    writer_linger_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="How long a commit waits for more requests once one is queued (trades "
        "latency for larger, cheaper commits under heavy load).",
    )
    dedupe_memory_keys: int = Field(
        2_000_000,
        ge=1000,
        description="Recently stored item keys kept in memory to drop retried items.",
    )
    dedupe_reload_window_s: int = Field(
        3600,
        ge=0,
        description="At start-up, item keys stored in this many seconds are reloaded so "
        "retries across a crash are still caught.",
    )
    idempotency_ttl_s: int = Field(
        7 * 86_400,
        ge=3600,
        description="How long an `Idempotency-Key` is remembered (bulk-import keys never expire).",
    )
    sample_retention_days: int = Field(
        14,
        ge=1,
        le=3650,
        description="Days raw samples are kept (the engine's TTL drops older ones; SparkRTC and "
        "TRTC keep per-user detail 14 days). Per-minute rollups outlive them.",
    )
    minute_rollup_retention_days: int = Field(
        31,
        ge=31,
        le=3650,
        description="Days the per-minute metric rollups are kept (the engine's TTL drops older "
        "minutes; at least 31, the vendors' history window).",
    )
    day_rollup_retention_days: int = Field(
        400,
        ge=400,
        le=36500,
        description="Days the per-day metric rollups are kept (history and usage queries; at "
        "least 400, a year of daily history plus a month).",
    )
    fsync: bool = Field(
        True,
        description="fsync every commit before acknowledging (survives power loss, not just a "
        "crash). Turn off only on disposable stores.",
    )
    rollups: bool = Field(
        True,
        description="Maintain the per-minute and per-day rollups as samples arrive (metric "
        "queries read them). Off only to measure what they cost ingest (`bench/ingest.py` "
        "does): samples stored while off never reach the rollups.",
    )
    abnormal_detection: bool = Field(
        True,
        description="Detect abnormal events (slow joins, freezes; docs/abnormal.md) continuously "
        "in this process. With several processes on one ClickHouse store, leave it on in one.",
    )
    abnormal_poll_s: float = Field(
        2.0,
        gt=0,
        le=5,
        description="Seconds between abnormal-event detection passes (events are stored within "
        "about this plus 1 s of their data being ingested).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Minimum level of log records."
    )
    log_format: Literal["json", "console"] = Field(
        "json", description="`json` (one object per line) or `console` (for humans)."
    )

    janus_managed: bool = Field(
        False,
        description="Run Janus (Debian `janus`) as a supervised child of `callscope serve`, "
        "configured in `<data_dir>/janus/` (docs/media.md). Off: no media server is started.",
    )
    janus_binary: str = Field("janus", description="The Janus executable a managed node runs.")
    janus_api_host: str = Field(
        "127.0.0.1", description="Address the managed Janus API (HTTP) binds; its admin API is loopback only."
    )
    janus_api_port: int = Field(8088, ge=1, le=65535, description="Port of the managed Janus API.")
    janus_admin_port: int = Field(7088, ge=1, le=65535, description="Port of the managed Janus admin API.")
    janus_public_url: str = Field(
        "",
        description="Janus API URL handed to clients for the managed node; default "
        "`http://<janus_api_host>:<janus_api_port>/janus`.",
    )
    janus_ice_ip: str = Field(
        "", description="Address the managed Janus puts in its SDP and ICE candidates (its `interface`)."
    )
    janus_ice_enforce_list: str = Field(
        "",
        description="Interfaces or addresses the managed Janus gathers ICE candidates on (all when empty).",
    )
    janus_rtp_port_range: str = Field(
        "20000-40000", pattern=r"^\d+-\d+$", description="UDP ports the managed Janus uses for media."
    )
    janus_stats_period_s: int = Field(
        2, ge=1, le=5, description="Seconds between the media stats Janus reports per stream."
    )
    janus_health_interval_s: float = Field(
        1.0, gt=0, le=10, description="Seconds between health checks of each Janus node (admin API)."
    )
    janus_secrets: SecretStr | None = Field(
        None,
        description="Seed of the managed Janus's admin secret, VideoRoom admin key and event "
        "handler password; when unset one is generated once into `<data_dir>/janus/seed`.",
    )
    janus_nodes: list[JanusNodeSettings] = Field(
        default_factory=list,
        description="External Janus nodes, a JSON list of `{name, api_url, public_url, admin_url, "
        "admin_secret, admin_key, events_secret}`; new rooms go to the least loaded healthy node.",
    )

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.demo:
            return self
        for name, default in (
            ("token_secret", DEMO_TOKEN_SECRET),
            ("admin_token", DEMO_ADMIN_TOKEN),
        ):
            value = getattr(self, name).get_secret_value()
            if value == default or len(value) < 32:
                raise ConfigError(
                    f"CALLSCOPE_{name.upper()} must be set to a secret of at least 32 characters "
                    "outside demo mode (run with --demo to use the built-in demo secrets)"
                )
        return self

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or f"chdb://{self.data_dir / 'store'}"

    @property
    def resolved_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"
