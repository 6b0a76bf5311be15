"""What `aftershock alerts` prints: the outcome of a run, or with --dry-run the alerts that are
due now and their text, read from the published warehouse without sending or recording."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from pipelines.alerts.options import alert_channels
from pipelines.alerts.step import plan_alerts
from pipelines.config import load_config
from pipelines.settings import Settings
from pipelines.warehouse.connection import open_reader


def print_dry_run(s: Settings, now: datetime) -> None:
    names = [c.name for c in alert_channels(s)]
    con = open_reader(s.db)
    try:
        run = plan_alerts(con, s, load_config(s.config_path()), now, names)
    finally:
        con.close()
    target = ", ".join(names) if names else "no channel (none configured: nothing would be sent)"
    click.echo(f"{len(run.messages)} alert message(s) due now -> {target}")
    for message in run.messages:
        click.echo(f"\n--- {message.kind} {message.spike_id}")
        click.echo(message.text)
    if run.plan.waiting:
        click.echo(f"\n{len(run.plan.waiting)} follow-up(s) wait for the minimum interval: "
                   + ", ".join(f"{a.kind} {a.spike.spike_id}" for a in run.plan.waiting))
    if run.plan.too_old:
        click.echo(f"\n{len(run.plan.too_old)} spike(s) never alerted: inactive for longer than "
                   f"{s.alert_max_age_minutes:g} min when first seen")


def print_summary(r: dict[str, Any]) -> bool:
    """Prints a run's outcome; False when some delivery failed."""
    if not r["channels"]:
        click.echo("no alert channel configured (see docs/alerts.md): nothing sent")
        return True
    click.echo(f"{r['alerts']} alerts sent, {r['digested']} summarised in a digest, "
               f"{r['waiting']} follow-ups waiting, {r['too_old']} old spikes skipped; "
               f"{r['delivered']} deliveries ok, {r['failed']} failed "
               f"({', '.join(r['channels'])})")
    for note in r["notes"]:
        click.echo(f"  failed: {note}")
    return not r["failed"]
