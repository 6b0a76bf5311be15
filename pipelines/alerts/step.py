"""The alert step, run after analyze: retry deliveries that failed, decide the alerts due now
(analysis.alerting), render them for each configured channel, send, and record every attempt
in alerts_sent. One channel failing never stops the others; it is recorded and retried on the
next run. With no channel configured nothing is decided, so nothing is lost for later."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from analysis.alerting import DIGEST, Alert, AlertPlan, decide_alerts
from pipelines.alerts import facts, render
from pipelines.alerts.channels import EMAIL, SLACK, WEBHOOK, AlertDeliveryError, Channel
from pipelines.alerts.options import alert_channels, alert_rules, dashboard_url
from pipelines.alerts.store import Delivery, Retry, due_retries, record, record_retries
from pipelines.config import ServicesConfig, load_config
from pipelines.settings import Settings
from pipelines.warehouse.writer import Warehouse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One alert (or the run's digest) rendered for every channel."""

    spike_id: str
    kind: str
    level: int
    rung: int
    complaints: int
    incident: str | None
    summary: str
    text: str                   # the plain-text version, for people (dry runs, logs)
    payloads: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class PlannedRun:
    plan: AlertPlan
    messages: list[Message]     # the individual alerts, then the digest if any


@dataclass
class AlertSummary:
    channels: list[str]
    alerts: int = 0             # individual alerts sent this run
    digested: int = 0           # alerts summarised in the digest
    delivered: int = 0          # channel deliveries that succeeded (retries included)
    failed: int = 0             # channel deliveries that failed (retries included)
    too_old: int = 0            # spikes first seen past the maximum age: never alerted
    waiting: int = 0            # follow-ups held back by the minimum interval
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        if not self.channels:
            return "alerts: no channel configured (docs/alerts.md), nothing sent"
        return (f"alerts: {self.alerts} sent, {self.digested} in a digest, {self.waiting} "
                f"waiting, {self.too_old} too old; {self.delivered} deliveries ok, "
                f"{self.failed} failed ({', '.join(self.channels)})")


def _utc(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def plan_alerts(con: duckdb.DuckDBPyConnection, settings: Settings, config: ServicesConfig,
                now: datetime, channel_names: list[str]) -> PlannedRun:
    """Decides the alerts due now and renders them for `channel_names`; sends nothing."""
    now = _utc(now)
    rules = alert_rules(settings)
    plan = decide_alerts(facts.spike_states(con, rules.cooldown_minutes),
                         facts.sent_alerts(con), now, rules)
    base = dashboard_url(settings)
    messages = [_message(_content(con, alert, config, base), channel_names, now)
                for alert in plan.send]
    if plan.digest:
        messages.append(_digest(plan.digest, config, base, channel_names, now))
    return PlannedRun(plan, messages)


def send_alerts(wh: Warehouse, settings: Settings, now: datetime,
                config: ServicesConfig | None = None) -> AlertSummary:
    """Retries failed deliveries, then sends and records the alerts due now."""
    now = _utc(now)
    channels = alert_channels(settings)
    summary = AlertSummary([c.name for c in channels])
    if not channels:
        return summary
    config = config or load_config(settings.config_path())
    by_name = {c.name: c for c in channels}
    _retry(wh, by_name, settings.alert_max_attempts, now, summary)
    run = plan_alerts(wh.con, settings, config, now, list(by_name))
    summary.too_old, summary.waiting = len(run.plan.too_old), len(run.plan.waiting)
    for message in run.messages:
        deliveries = [_deliver(by_name[name], message, payload, summary)
                      for name, payload in message.payloads.items()]
        if message.kind == DIGEST:
            deliveries += [Delivery(a.spike.spike_id, a.kind, a.level, DIGEST, True, None,
                                    a.rung, a.spike.complaints, _incident(a),
                                    {"digest": message.spike_id}) for a in run.plan.digest]
            summary.digested = len(run.plan.digest)
        else:
            summary.alerts += 1
        record(wh, deliveries, now)
    return summary


def _deliver(channel: Channel, message: Message, payload: dict[str, Any],
             summary: AlertSummary) -> Delivery:
    error = _send(channel, payload)
    if error is None:
        summary.delivered += 1
        log.info("%s alert for %s sent to %s", message.kind, message.spike_id, channel.name)
    else:
        summary.failed += 1
        summary.notes.append(error)
        log.warning("%s alert for %s not delivered: %s", message.kind, message.spike_id, error)
    return Delivery(message.spike_id, message.kind, message.level, channel.name,
                    error is None, error, message.rung, message.complaints, message.incident,
                    payload)


def _send(channel: Channel, payload: dict[str, Any]) -> str | None:
    try:
        channel.send(payload)
    except AlertDeliveryError as e:
        return str(e)
    return None


def _retry(wh: Warehouse, channels: dict[str, Channel], max_attempts: int, now: datetime,
           summary: AlertSummary) -> None:
    outcomes: list[tuple[Retry, str | None]] = []
    for retry in due_retries(wh.con, list(channels), max_attempts):
        error = _send(channels[retry.channel], retry.payload)
        outcomes.append((retry, error))
        if error is None:
            summary.delivered += 1
        else:
            summary.failed += 1
            summary.notes.append(error)
    record_retries(wh, outcomes, now)


def _incident(alert: Alert) -> str | None:
    return alert.spike.link.key if alert.spike.link is not None else None


def _names(config: ServicesConfig, alert: Alert) -> tuple[str, str | None]:
    service = config.services.get(alert.spike.service)
    link = alert.spike.link
    provider = config.providers.get(link.provider) if link is not None else None
    return (service.name if service else alert.spike.service,
            provider.name if provider else (link.provider if link is not None else None))


def _content(con: duckdb.DuckDBPyConnection, alert: Alert, config: ServicesConfig,
             base_url: str) -> render.AlertContent:
    service_name, provider_name = _names(config, alert)
    reaction = facts.reaction(con, alert.spike.spike_id) or {}
    amplifiers = reaction.get("top_amplifiers")

    def number(key: str) -> Any:
        value = reaction.get(key)
        return None if value is None or pd.isna(value) else value  # NaN: unknown

    reach, authors, size = number("reach"), number("distinct_authors"), number("size_vs_median")
    return render.AlertContent(
        alert=alert, service_name=service_name, provider_name=provider_name,
        top_posts=facts.top_posts(con, alert.spike, amplifiers if amplifiers else None),
        link=render.dashboard_link(base_url, alert.spike.spike_id),
        reach=int(reach) if reach is not None else None,
        distinct_authors=int(authors) if authors is not None else None,
        size_vs_median=float(size) if size is not None else None)


def _message(c: render.AlertContent, channel_names: list[str], now: datetime) -> Message:
    renderers = {SLACK: lambda: render.slack_payload(c),
                 WEBHOOK: lambda: render.webhook_payload(c, now),
                 EMAIL: lambda: render.email_payload(c)}
    a = c.alert
    return Message(a.spike.spike_id, a.kind, a.level, a.rung, a.spike.complaints, _incident(a),
                   render.summary(c), render.email_payload(c)["text"],
                   {name: renderers[name]() for name in channel_names})


def _digest(alerts: list[Alert], config: ServicesConfig, base_url: str,
            channel_names: list[str], now: datetime) -> Message:
    entries = [render.DigestEntry(a, _names(config, a)[0],
                                  render.dashboard_link(base_url, a.spike.spike_id))
               for a in alerts]
    total = len(entries)
    renderers = {SLACK: lambda: render.slack_digest(entries, total),
                 WEBHOOK: lambda: render.webhook_digest(entries, total, now),
                 EMAIL: lambda: render.email_digest(entries, total)}
    return Message(f"{DIGEST}:{now:%Y%m%dT%H%M%S}", DIGEST, 0, 0,
                   sum(a.spike.complaints for a in alerts), None, render.digest_title(total),
                   render.email_digest(entries, total)["text"],
                   {name: renderers[name]() for name in channel_names})
