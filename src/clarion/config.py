"""One typed Settings object (pydantic-settings, ``CLARION_`` environment prefix).

Every knob Clarion reads lives here and is documented in the README table. Nothing
reads the environment anywhere else; ``create_app(settings)`` and
``build_dispatcher(settings)`` receive it explicitly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./clarion.db"


class Settings(BaseSettings):
    """Runtime configuration. Field descriptions double as the README table."""

    model_config = SettingsConfigDict(env_prefix="CLARION_", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite:///path (embedded) or postgresql://user@host/db.",
    )
    host: str = Field("127.0.0.1", description="Address `clarion serve` listens on.")
    port: int = Field(8080, description="Port `clarion serve` listens on.")
    default_channel: str = Field("sim_sms", description="Channel used for new SMS campaigns.")
    price_per_segment: Decimal = Field(
        Decimal("0.05"), description="Flat price debited per SMS segment when submitted."
    )
    max_campaign_rate: int = Field(
        100, description="Ceiling on a campaign's send rate in msg/s (0 = no ceiling)."
    )
    batch_size: int = Field(500, description="Messages claimed per dispatcher batch.")
    poll_interval: float = Field(0.2, description="Seconds the dispatcher idles when no work.")
    throttle_backoff: float = Field(
        1.0,
        description="Seconds a campaign waits after the carrier throttles or defers part "
        "of a batch, paced or not (0 = retry at once).",
    )
    claim_timeout: float = Field(
        300.0,
        description="Seconds after which a SENDING message is reconciled (never resent blindly).",
    )
    max_status_wait: float = Field(
        86400.0,
        description="Seconds after SENT that a campaign waits for delivery reports before DONE.",
    )
    housekeeping_interval: float = Field(
        1.0, description="Seconds between expiry / completion sweeps."
    )
    max_recipients_per_request: int = Field(
        10_000, description="Recipients accepted by one add-recipients request."
    )
    import_workers: int = Field(
        2, description="Processes screening imported rows (0 = a thread in the server)."
    )
    max_import_bytes: int = Field(
        100 * 1024 * 1024, description="Largest recipient file accepted for import, bytes."
    )
    data_dir: str = Field(
        ".clarion", description="Directory for uploaded import files (kept until imported)."
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8080",
        description="Public address of this server; short links are {public_base_url}/{code}.",
    )
    sim_seed: int = Field(1, description="Seed of the simulated carriers (reproducible runs).")
    sim_submit_latency: float = Field(0.0, description="Simulated carrier submit latency (s).")
    sim_dlr_min_delay: float = Field(0.5, description="Simulated delivery report min delay (s).")
    sim_dlr_max_delay: float = Field(3.0, description="Simulated delivery report max delay (s).")
    sim_undelivered_rate: float = Field(
        0.03, description="Share of simulated messages that end UNDELIVERED."
    )
    sim_rejected_rate: float = Field(
        0.0, description="Share of simulated submissions the carrier rejects outright."
    )
    sim_ledger: str = Field(
        "",
        description="File (SQLite) where the simulated SMS carrier records every submission "
        "it accepts, shared by all processes; makes its look-ups authoritative. Empty: kept "
        "in memory.",
    )
    rcs_channel: str = Field("sim_rcs", description="Channel used for new RCS campaigns.")
    voice_channel: str = Field("sim_voice", description="Channel used for new voice campaigns.")
    price_per_minute: Decimal = Field(
        Decimal("0.02"),
        description="Flat price of a voice call per started minute when no price rule matches.",
    )
    voice_timezone: str = Field(
        "",
        description="Time zone of voice campaigns' calling windows when a campaign names "
        "none; empty: the account's zone.",
    )
    sim_voice_answer: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Share of simulated calls a person answers (the rest: busy, ...).",
    )
    sim_voice_speed: float = Field(
        1.0,
        gt=0.0,
        description="Simulated call times are divided by this (60: a minute of ringing and "
        "talk takes a second); for demos.",
    )
    sim_rcs_capable_share: float = Field(
        0.7, description="Share of numbers the simulated RCS carrier can reach (fixed per number)."
    )
    sim_rcs_read_share: float = Field(
        0.5, description="Share of delivered simulated RCS messages reported READ."
    )
    sim_rcs_undelivered_rate: float = Field(
        0.03, description="Share of simulated RCS messages to capable numbers that end UNDELIVERED."
    )
    lease_seconds: float = Field(
        15.0,
        description="Seconds a worker's campaign lease lasts without renewal (a dead "
        "worker's campaigns are taken over after this); keep well below "
        "CLARION_CLAIM_TIMEOUT.",
    )
    routes_config: str = Field(
        "",
        description="Path of the routes file (TOML or JSON) of the `routed` channel: per "
        "account / country / prefix to SMPP connections or channels, with failover.",
    )
    mo_stop_keywords: list[str] = Field(
        default_factory=list,
        description="More opt-out keywords (JSON list) besides STOP, UNSUBSCRIBE, СТОП, "
        "STOPALL, CANCEL, END, QUIT: an inbound SMS that is one of them stop-lists its sender.",
    )
    webhook_timeout: float = Field(10.0, description="Seconds a webhook delivery may take.")
    webhook_retry_base: float = Field(
        10.0,
        description="Seconds before a failed webhook delivery's first retry (x3 each "
        "retry, at most an hour).",
    )
    webhook_max_attempts: int = Field(
        10, description="Attempts of a webhook delivery before it is marked failed."
    )
    webhook_poll_interval: float = Field(
        1.0, description="Seconds the webhook sender idles when nothing is due."
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhook URLs resolving to loopback / private / link-local "
        "addresses (off: such targets are refused, against SSRF).",
    )
    moderation_patterns: list[str] = Field(
        default_factory=list,
        description=(
            "Content rules (JSON list of case-insensitive regular expressions): a campaign "
            "whose text matches one is held for moderation (BSG `spam`) when started."
        ),
    )
    web_secret: str = Field(
        "",
        description="Key signing dashboard session cookies; empty = a random one kept in "
        "{data_dir}/web-secret.",
    )
    web_session_hours: float = Field(
        12.0, description="Hours a dashboard sign-in lasts before the key is asked again."
    )
    smpp_config: str = Field(
        "",
        description="Path of the SMPP connections file (TOML or JSON) used by the `smpp` "
        "channel; see docs/channels/smpp.md.",
    )
    metrics_enabled: bool = Field(
        True,
        description="Serve Prometheus metrics at /metrics (unauthenticated) and time every "
        "request; see docs/operations.md.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as readable text, or one JSON object per line."
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024,
        description="Largest /v1 request body (JSON, CSV), bytes; larger is a 413 problem.",
    )
    max_connections: int = Field(
        1000,
        description="Connections and requests `clarion serve` handles at once; beyond, 503.",
    )
    keep_alive_timeout: int = Field(
        5, description="Seconds an idle keep-alive connection of `clarion serve` stays open."
    )
    header_timeout: float = Field(
        10.0,
        description="Seconds a client of `clarion serve` has to send a complete request head "
        "(slowloris guard); the connection is closed after.",
    )
