"""Alert rules and channels from the settings (docs/alerts.md lists them). A half-configured
channel (an SMTP host without recipients) is a clear ConfigError, never a silent no-op."""

from __future__ import annotations

from datetime import timedelta

from analysis.alerting import AlertRules
from analysis.spikes import SpikeParams
from pipelines.alerts.channels import SLACK, WEBHOOK, Channel, EmailChannel, WebhookChannel
from pipelines.errors import ConfigError
from pipelines.settings import Settings

_DEFAULT_SMTP_PORTS = {"starttls": 587, "ssl": 465, "plain": 25}


def alert_rules(s: Settings) -> AlertRules:
    try:
        thresholds = tuple(sorted(float(t) for t in s.alert_thresholds.split(",") if t.strip()))
    except ValueError as e:
        raise ConfigError(f"AFTERSHOCK_ALERT_THRESHOLDS must be comma-separated numbers, "
                          f"e.g. 3,10,30: {e}") from e
    if not thresholds or thresholds[0] <= 1:
        raise ConfigError("AFTERSHOCK_ALERT_THRESHOLDS needs ratios above 1, e.g. 3,10,30")
    if s.alert_max_per_run < 1:
        raise ConfigError("AFTERSHOCK_ALERT_MAX_PER_RUN must be at least 1")
    return AlertRules(
        thresholds=thresholds,
        min_interval=timedelta(minutes=s.alert_min_interval_minutes),
        max_per_run=s.alert_max_per_run,
        max_age=timedelta(minutes=s.alert_max_age_minutes),
        per_type=s.alert_per_type,
        cooldown_minutes=SpikeParams().cooldown,
    )


def dashboard_url(s: Settings) -> str:
    return s.alert_dashboard_url or f"http://127.0.0.1:{s.dashboard_port}"


def alert_channels(s: Settings) -> list[Channel]:
    """The configured channels, in sending order."""
    channels: list[Channel] = []
    if s.alert_slack_webhook_url is not None:
        channels.append(WebhookChannel(SLACK, s.alert_slack_webhook_url, s.alert_timeout_s))
    if s.alert_webhook_url is not None:
        channels.append(WebhookChannel(WEBHOOK, s.alert_webhook_url, s.alert_timeout_s))
    if s.alert_smtp_host:
        recipients = tuple(a.strip() for a in (s.alert_smtp_to or "").split(",") if a.strip())
        if not recipients or not s.alert_smtp_from:
            raise ConfigError("AFTERSHOCK_ALERT_SMTP_HOST is set: AFTERSHOCK_ALERT_SMTP_FROM and "
                              "AFTERSHOCK_ALERT_SMTP_TO (comma-separated) are needed too")
        if s.alert_smtp_password is not None and not s.alert_smtp_user:
            raise ConfigError("AFTERSHOCK_ALERT_SMTP_PASSWORD is set without "
                              "AFTERSHOCK_ALERT_SMTP_USER")
        channels.append(EmailChannel(
            host=s.alert_smtp_host,
            port=s.alert_smtp_port or _DEFAULT_SMTP_PORTS[s.alert_smtp_security],
            sender=s.alert_smtp_from, recipients=recipients, security=s.alert_smtp_security,
            user=s.alert_smtp_user, password=s.alert_smtp_password,
            ca_file=s.alert_smtp_ca_file, timeout_s=s.alert_timeout_s))
    return channels
