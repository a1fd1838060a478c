"""Configuration, from the environment (``RAPPORT_*``) and the command line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.policy import ContactPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAPPORT_", extra="ignore")

    db: Path = Path("rapport.db")
    """The SQLite file of the embedded default."""
    database_url: str | None = None
    """``postgresql://user:password@host:port/dbname``: use PostgreSQL instead of SQLite."""
    database_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """PostgreSQL schema of the ledger's tables (several ledgers can share a database)."""
    max_outreach: int = Field(default=3, ge=1)
    outreach_window_days: float = Field(default=14, gt=0)
    views_db: Path | None = None
    """The SQLite file of the views (default: ``<ledger>.views.db`` beside the ledger)."""
    views_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """PostgreSQL schema of the views (default: the ledger's schema)."""
    kafka_bootstrap: str = "127.0.0.1:59092"
    """``host:port[,host:port]`` of the Kafka brokers (the project's own broker by default)."""
    kafka_topic_prefix: str = Field(default="rapport", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,100}$")
    """Topics are ``<prefix>.touchpoints.v2`` and so on (tests give each run its own prefix)."""
    kafka_partitions: int = Field(default=6, ge=1, le=1000)
    """Partitions of the touchpoint and alert topics when Rapport creates them."""
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_min_insync_replicas: int = Field(default=1, ge=1)
    api_tokens_file: Path | None = None
    """The API tokens of ``rapport serve`` (default: ``<ledger>.tokens.json`` beside the SQLite
    ledger, ``rapport-tokens.json`` here with PostgreSQL)."""
    chain_key: SecretStr | None = None
    """The secret of the keyed hash chain, 64 hex digits (else ``chain_key_file``)."""
    chain_key_file: Path | None = None
    """Where the chain's secret is kept, created 0600 with a ledger's first events (default:
    ``<ledger>.chain.key`` beside the SQLite ledger, ``rapport-<schema>.chain.key`` here with
    PostgreSQL). Keep it where the database's users cannot read it."""
    checkpoint_file: Path | None = None
    """The ledger's latest keyed checkpoint (position, head link), rewritten with every write
    (default: ``<ledger>.checkpoint.json`` beside the SQLite ledger,
    ``rapport-<schema>.checkpoint.json`` here with PostgreSQL)."""
    inbound_erasures: bool = False
    """Whether ``rapport inbound`` records ``erasure_requested`` messages (else dead letters):
    whoever can produce to the inbound topic could otherwise erase anyone."""
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=1024**3)
    """The largest request body ``rapport serve`` reads (413 beyond it)."""
    alert_rules: Path | None = None
    """A TOML file overriding the stale-contact rules' defaults (``projections/alert_rules.py``
    documents its keys); unset or empty: the defaults."""
    match_weights: Path | None = None
    """A TOML file overriding the matching formula's weights (``projections/matching.py``
    documents its keys); unset or empty: the defaults."""
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("alert_rules", "match_weights", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, url: str | None) -> str | None:
        if url and urlsplit(url).scheme not in ("postgres", "postgresql"):
            raise ValueError("RAPPORT_DATABASE_URL must be a postgresql:// URL")
        return url or None

    @field_validator("kafka_bootstrap")
    @classmethod
    def _host_ports(cls, servers: str) -> str:
        for server in servers.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return servers

    @property
    def policy(self) -> ContactPolicy:
        return ContactPolicy(
            max_outreach=self.max_outreach,
            outreach_window=timedelta(days=self.outreach_window_days),
        )

    @property
    def tokens_path(self) -> Path:
        if self.api_tokens_file is not None:
            return self.api_tokens_file
        if self.database_url:
            return Path("rapport-tokens.json")
        return self.db.with_name(f"{self.db.stem}.tokens.json")

    @property
    def chain_key_path(self) -> Path:
        return self._outside_the_database(self.chain_key_file, "chain.key")

    @property
    def checkpoint_path(self) -> Path:
        return self._outside_the_database(self.checkpoint_file, "checkpoint.json")

    def _outside_the_database(self, configured: Path | None, name: str) -> Path:
        """A ledger's file kept outside its database: where configured, else beside the SQLite
        ledger, else ``rapport-<schema>.<name>`` here."""
        if configured is not None:
            return configured
        if self.database_url:
            return Path(f"rapport-{self.database_schema}.{name}")
        return self.db.with_name(f"{self.db.stem}.{name}")

    @property
    def store_description(self) -> str:
        """Where the ledger lives, without the password."""
        if self.database_url:
            url = urlsplit(self.database_url)
            return f"postgresql://{url.hostname}:{url.port or 5432}{url.path}"
        return f"sqlite:{self.db}"

    def event_store_environment(self) -> dict[str, str]:
        """The ``eventsourcing`` library's settings for this ledger."""
        env = {
            "MAPPER_TOPIC": "infra.store.persistence:PydanticMapper",
            "TRANSCODER_TOPIC": "infra.store.persistence:OrjsonTranscoder",
            # Recently used candidates stay in memory, brought up to date from the store
            # (fast-forward) instead of being replayed from their first event.
            "AGGREGATE_CACHE_MAXSIZE": "10000",
            "AGGREGATE_CACHE_FASTFORWARD": "y",
        }
        if not self.database_url:
            return env | {
                "PERSISTENCE_MODULE": "infra.store.sqlite_recorder:SQLiteLedgerFactory",
                "APPLICATION_RECORDER_TOPIC": "infra.store.sqlite_recorder:SQLiteLedgerRecorder",
                "SQLITE_DBNAME": str(self.db),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        url = urlsplit(self.database_url)
        return env | {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": "infra.store.postgres_recorder:PostgresLedgerRecorder",
            "POSTGRES_DBNAME": url.path.lstrip("/") or "rapport",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "rapport"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_POOL_SIZE": "4",
            "POSTGRES_SCHEMA": self.database_schema,
        }
