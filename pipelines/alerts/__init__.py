"""Alerts: decide (analysis.alerting), render, deliver to Slack / a JSON webhook / email, and
record what was sent (docs/alerts.md)."""

from pipelines.alerts.step import AlertSummary, plan_alerts, send_alerts

__all__ = ["AlertSummary", "plan_alerts", "send_alerts"]
