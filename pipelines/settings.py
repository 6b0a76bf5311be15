"""One settings object for the whole project (prefix AFTERSHOCK_, optional .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
BUNDLED_CONFIG = PACKAGE_DIR / "services.example.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AFTERSHOCK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # The published warehouse that readers (dashboard, `aftershock sql`, analysts) open.
    db: Path = Path("data/aftershock.duckdb")
    # Services config; when unset, ./aftershock.toml if present, else the bundled example.
    config: Path | None = None
    # Classifier model directory; when unset, the heads bundled in analysis/models.
    model: Path | None = None
    demo_dir: Path = REPO_DIR / "data" / "demo"
    dashboard_port: int = 8501
    # The dashboard listens on loopback only. Any other address (e.g. 0.0.0.0) exposes it to
    # the network and is refused unless dashboard_password is set; the page then asks for it.
    dashboard_host: str = "127.0.0.1"
    dashboard_password: SecretStr | None = None
    classify_batch_size: int = 64
    # Seconds a writer waits for another writer to release the warehouse before giving up.
    writer_lock_timeout_s: float = 600.0
    # `aftershock serve`: seconds between scheduled runs, and the most one run may take before
    # Prefect fails it (a hung source must not hold the warehouse forever).
    collect_interval_s: float = 300.0
    poll_status_interval_s: float = 60.0
    process_interval_s: float = 60.0
    collect_timeout_s: float = 1800.0
    poll_status_timeout_s: float = 300.0
    process_timeout_s: float = 3600.0
    # A Dask scheduler (tcp://host:8786) to classify on; unset: in this process. Either way the
    # classifier labels groups of this many distinct texts (one Dask task each).
    dask_address: str | None = None
    classify_group_size: int = 512

    # Source credentials (docs/sources.md). Only ever read from the environment or .env; a
    # source whose credentials are unset is skipped with one line when collect runs.
    x_bearer_token: SecretStr | None = None
    reddit_client_id: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_user_agent: str = "aftershock/0.1 (social incident monitor)"
    bluesky_handle: str | None = None
    bluesky_app_password: SecretStr | None = None
    mastodon_access_token: SecretStr | None = None

    # Alerts (docs/alerts.md). Webhook URLs embed their own credentials, so they are secrets
    # like the SMTP password: never logged, stored or shown in an error.
    alert_slack_webhook_url: SecretStr | None = None
    alert_webhook_url: SecretStr | None = None
    alert_smtp_host: str | None = None
    alert_smtp_port: int | None = None  # default: 587 starttls, 465 ssl, 25 plain
    alert_smtp_security: Literal["starttls", "ssl", "plain"] = "starttls"
    alert_smtp_user: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_smtp_from: str | None = None
    alert_smtp_to: str | None = None  # comma-separated addresses
    alert_smtp_ca_file: Path | None = None  # extra CA certificates (a private mail relay)
    alert_dashboard_url: str | None = None  # default: http://127.0.0.1:<dashboard_port>
    alert_thresholds: str = "3,10,30"  # peak / expected ratios that escalate, comma-separated
    alert_max_per_run: int = 10
    alert_max_age_minutes: float = 120.0
    alert_min_interval_minutes: float = 15.0
    alert_per_type: bool = False  # also alert spikes of single complaint types
    alert_timeout_s: float = 10.0
    alert_max_attempts: int = 5  # deliveries of one alert to one channel before giving up

    def config_path(self) -> Path:
        if self.config is not None:
            return self.config
        local = Path("aftershock.toml")
        return local if local.exists() else BUNDLED_CONFIG


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and .env, with explicit (CLI) overrides that are not None."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
