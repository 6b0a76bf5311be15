"""The `aftershock` command line. Thin: each command parses options, calls the library and turns
Aftershock errors into one-line messages."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pipelines.errors import AftershockError
from pipelines.prefect_env import apply_defaults
from pipelines.settings import Settings, load_settings

apply_defaults()

DB_OPTION = click.option(
    "--db", type=click.Path(path_type=Path), default=None,
    help="Warehouse file (default: $AFTERSHOCK_DB or data/aftershock.duckdb).")
CONFIG_OPTION = click.option(
    "--config", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
    help="Services config TOML (default: $AFTERSHOCK_CONFIG, ./aftershock.toml, or the bundled "
         "example).")


class AftershockGroup(click.Group):
    """Shows Aftershock errors as one line on stderr and exits 1, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AftershockError as e:
            click.secho(f"error: {e}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=AftershockGroup)
@click.version_option(package_name="aftershock")
def main() -> None:
    """Aftershock: see the social fallout of a service incident.

    Collects public posts about watched services, classifies their sentiment and complaint type,
    stores them in a DuckDB warehouse, detects complaint spikes and links them to provider
    status-page incidents (upstream ones too). Start with `aftershock demo`.
    """


@main.command()
@DB_OPTION
@click.option("--no-dashboard", is_flag=True, help="Only build the warehouse; do not serve.")
@click.option("--port", type=int, default=None, help="Dashboard port (default 8501).")
def demo(db: Path | None, no_dashboard: bool, port: int | None) -> None:
    """Build the demo warehouse from the bundled data and open the dashboard.

    Imports the simulated post stream and the real ICPE'25 incidents in data/demo, classifies
    every post, aggregates, detects spikes and links them to incidents, all as Prefect flows.
    Running it again adds nothing (imports are idempotent).
    """
    from pipelines.flows import demo_flow

    s = load_settings(db=db, dashboard_port=port)
    click.echo(f"Building the demo warehouse at {s.db} from {s.demo_dir} ...")
    demo_flow(str(s.db), str(s.demo_dir), str(s.config_path()),
              str(s.model) if s.model else None)
    click.echo(f"Demo warehouse ready: {s.db}")
    if not no_dashboard:
        _serve_dashboard(s)


@main.group(name="import", cls=AftershockGroup)
def import_() -> None:
    """Import posts or provider status history from files."""


@import_.command(name="posts")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@DB_OPTION
@CONFIG_OPTION
def import_posts_cmd(file: Path, db: Path | None, config: Path | None) -> None:
    """Import a post file: JSON Lines post records, X API v2 search pages (data +
    includes.users) or Reddit Listing JSON, detected automatically; gzip is fine.

    Importing the same file twice changes nothing. Bad records go to the quarantine table with a
    reason; the good records beside them are kept.
    """
    from pipelines.flows import import_posts_flow

    s = load_settings(db=db, config=config)
    summary = import_posts_flow(str(s.db), str(file), str(s.config_path()))
    click.echo(f"{summary['read']} records read: {summary['imported']} imported, "
               f"{summary['duplicates']} skipped as duplicates, "
               f"{summary['quarantined']} quarantined")
    for reason, count in sorted(summary["reasons"].items(), key=lambda kv: -kv[1]):
        click.echo(f"  quarantined {count}: {reason}")


@import_.command(name="status")
@click.argument("file_or_url", required=False)
@click.option("--provider", default=None,
              help="Provider key (e.g. anthropic). Required for Statuspage JSON and RSS/Atom "
                   "feeds; defaults to gcp / aws for those snapshots; selects the rows of the "
                   "ICPE CSV or a CSV incident log (default: all).")
@click.option("--icpe-history", "icpe_history", is_flag=False, flag_value="", default=None,
              metavar="[PATH]",
              help="Load the ICPE'25 history (542 OpenAI, Anthropic and Character.AI incidents, "
                   "2021-2024) instead of FILE_OR_URL: its incident_stages.csv or a folder "
                   "above it (default: ../shared/data/status/llm_status_incidents/clean beside "
                   "the repository).")
@DB_OPTION
def import_status_cmd(file_or_url: str | None, provider: str | None, icpe_history: str | None,
                      db: Path | None) -> None:
    """Import provider incidents from a file or URL, format detected: Atlassian Statuspage v2
    JSON (incidents.json, summary.json, components.json, scheduled-maintenances.json), an RSS
    or Atom status feed, Google Cloud incidents.json, the old AWS Service Health Dashboard
    data.json, the ICPE'25 incident_stages.csv, or a CSV incident log (docs/status.md lists its
    columns). Incidents seen again are updated in place; their update history is kept."""
    from pipelines.flows import import_status_flow
    from pipelines.status_import import find_icpe_history

    if (file_or_url is None) == (icpe_history is None):
        raise click.UsageError("give either FILE_OR_URL or --icpe-history [PATH]")
    if icpe_history is not None:
        file_or_url = str(find_icpe_history(Path(icpe_history) if icpe_history else None))
        click.echo(f"Loading the ICPE'25 history from {file_or_url}")
    s = load_settings(db=db)
    r = import_status_flow(str(s.db), str(file_or_url), provider)
    components = f", {r['components']} components" if r.get("components") else ""
    click.echo(f"{r['incidents']} incidents ({r['new_incidents']} new), {r['updates']} updates "
               f"({r['new_updates']} new){components}, {r['quarantined']} quarantined")


@main.command()
@DB_OPTION
@CONFIG_OPTION
@click.option("--source", "sources", multiple=True,
              help="Collect only this source (repeatable): x, reddit, bluesky, jetstream, "
                   "mastodon, hackernews, file. Default: every source enabled in the config.")
@click.option("--since", default=None,
              help="Backfill from this long ago (2h, 30m, 3d, 1w) or this ISO 8601 time, "
                   "whatever the checkpoints say. Default: from each source's checkpoint.")
def collect(db: Path | None, config: Path | None, sources: tuple[str, ...],
            since: str | None) -> None:
    """One collection run of the post sources.

    Each source searches for every watched service (keywords and handles from the services
    config), lands the raw pages, stores new posts and advances its checkpoint in the same
    transaction, so re-running never duplicates. A source without credentials is skipped with
    one line; one that fails is retried, then reported, and the others still run. Credentials
    come from the environment or .env (docs/sources.md).
    """
    from pipelines.flows import collect_flow
    from pipelines.sources.base import parse_since

    s = load_settings(db=db, config=config)
    parse_since(since)
    results = collect_flow(str(s.db), str(s.config_path()), list(sources) or None, since)
    failed = False
    for name, r in results.items():
        if r["status"] == "collected":
            notes = "".join(f"; {n}" for n in r["notes"])
            click.echo(f"{name}: {r['read']} posts read, {r['imported']} new, "
                       f"{r['duplicates']} already stored, {r['quarantined']} quarantined{notes}")
        else:
            failed |= r["status"] == "failed"
            click.echo(f"{name}: {r['status']}, {r['message']}")
    if failed:
        sys.exit(1)


@main.command()
@DB_OPTION
@click.option("--all", "everything", is_flag=True, help="Re-classify every post.")
@click.option("--in", "in_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Classify this post file (JSON Lines) instead of the warehouse.")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the classified posts (with --in).")
@click.option("--model", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=None, help="Model directory (default: the bundled heads).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--dask-address", default=None, metavar="tcp://HOST:8786",
              help="Label the posts in batches on this Dask scheduler (pip install "
                   "'aftershock[dask]'; docs/scaling.md). Default: $AFTERSHOCK_DASK_ADDRESS, "
                   "else in this process.")
def classify(db: Path | None, everything: bool, in_file: Path | None, out_file: Path | None,
             model: Path | None, batch_size: int, dask_address: str | None) -> None:
    """Classify sentiment and complaint type.

    Without --in: the warehouse's unclassified posts (--all: every post). With --in FILE --out
    FILE: each output line is the input record plus sentiment, sentiment_scores, is_complaint,
    complaint_probability, complaint_type, complaint_scores, uncertain, language and
    unsupported_language.

    --all after a model change re-labels the whole warehouse in key order, committing as it
    goes; interrupted, the next --all with the same model continues where it stopped.
    """
    s = load_settings(db=db, model=model, dask_address=dask_address)
    if in_file is not None or out_file is not None:
        if in_file is None or out_file is None:
            raise click.UsageError("--in and --out go together")
        from tqdm import tqdm

        from pipelines.classify import classify_file, load_classifier

        classifier = load_classifier(s.model)
        with tqdm(desc="classify", unit=" posts") as bar:
            n = classify_file(in_file, out_file, classifier, batch_size, bar.update)
        click.echo(f"{n} posts classified -> {out_file}")
        return
    from pipelines.flows import classify_flow

    r = classify_flow(str(s.db), everything, str(s.model) if s.model else None, batch_size,
                      s.dask_address, s.classify_group_size)
    click.echo(f"{r['classified']} posts classified with {r['model_version']} "
               f"({r['encoded']} distinct texts encoded)")


@main.group(cls=AftershockGroup)
def train() -> None:
    """Train classifier heads on your own labelled posts."""


@train.command(name="complaint")
@click.option("--data", "data_file", required=True,
              type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="CSV of labelled posts.")
@click.option("--text-col", default="text", show_default=True, help="Column with the post text.")
@click.option("--label-col", default="label", show_default=True,
              help="Column with the complaint type (your own taxonomy).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Model directory to write (use it with classify --model).")
@click.option("--base", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=None, help="Model whose encoder and other heads to reuse (default: bundled).")
def train_complaint_cmd(data_file: Path, text_col: str, label_col: str, out_dir: Path,
                        base: Path | None) -> None:
    """Train the complaint-type head on your labels; the sentiment and is-complaint heads and
    the encoder come from the base model. Labels humor, praise and none count as
    non-complaints."""
    from pipelines.classify import train_complaint_csv

    click.echo(train_complaint_csv(data_file, text_col, label_col, out_dir, base).line())


@main.command(name="analyze")
@DB_OPTION
@CONFIG_OPTION
def analyze_cmd(db: Path | None, config: Path | None) -> None:
    """Aggregate posts per minute, detect complaint spikes and link them to incidents of each
    service's own and upstream providers."""
    from pipelines.analyze import AnalyzeSummary
    from pipelines.flows import analyze_flow

    s = load_settings(db=db, config=config)
    r = analyze_flow(str(s.db), str(s.config_path()))
    click.echo(AnalyzeSummary(**r).line())


@main.command(name="serve")
@DB_OPTION
@CONFIG_OPTION
@click.option("--model", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=None, help="Model directory (default: the bundled heads).")
@click.option("--no-server", "own_server", is_flag=True,
              help="No separate Prefect server: start a temporary one on 127.0.0.1 for as "
                   "long as this runs (its UI address is printed; runs are forgotten).")
@click.option("--collect-every", "collect_interval_s", type=float, default=None,
              metavar="SECONDS", help="Collect interval (default 300, "
                                      "$AFTERSHOCK_COLLECT_INTERVAL_S).")
@click.option("--poll-every", "poll_status_interval_s", type=float, default=None,
              metavar="SECONDS", help="Status poll interval (default 60, "
                                      "$AFTERSHOCK_POLL_STATUS_INTERVAL_S).")
@click.option("--process-every", "process_interval_s", type=float, default=None,
              metavar="SECONDS", help="Classify -> analyze -> alerts interval (default 60, "
                                      "$AFTERSHOCK_PROCESS_INTERVAL_S).")
def serve_cmd(db: Path | None, config: Path | None, model: Path | None, own_server: bool,
              collect_interval_s: float | None, poll_status_interval_s: float | None,
              process_interval_s: float | None) -> None:
    """Run the pipeline on its schedules as Prefect deployments, until Ctrl+C.

    collect (every 5 min), poll-status (every minute) and process: classify the new posts,
    analyze, send the alerts due (every minute; returns at once when nothing is new). One run
    of each at a time (a run due while the last still runs is cancelled) and each with a
    timeout (AFTERSHOCK_COLLECT_TIMEOUT_S, ..._POLL_STATUS_TIMEOUT_S, ..._PROCESS_TIMEOUT_S).

    To keep runs and see them in the Prefect UI, start a server and point serve at it:

      prefect server start --host 127.0.0.1     # UI on http://127.0.0.1:4200

      PREFECT_API_URL=http://127.0.0.1:4200/api aftershock serve

    Without a server, --no-server starts a temporary one for as long as this runs.
    """
    import signal

    from pipelines.serve import run_serve

    s = load_settings(db=db, config=config, model=model, collect_interval_s=collect_interval_s,
                      poll_status_interval_s=poll_status_interval_s,
                      process_interval_s=process_interval_s)
    # SIGTERM stops as Ctrl+C does (the runner takes it over once it runs), so a temporary
    # server is stopped even when the signal comes while it starts.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run_serve(s, own_server, click.echo)


@main.command()
@DB_OPTION
@CONFIG_OPTION
@click.option("--dry-run", is_flag=True,
              help="Print the alerts that are due and what they would say; send and record "
                   "nothing (reads the published warehouse only).")
def alerts(db: Path | None, config: Path | None, dry_run: bool) -> None:
    """Send the alerts due for the spikes `aftershock analyze` found: a new spike, one that
    escalated, got explained by an incident or is over. Slack, a JSON webhook and/or email,
    configured by AFTERSHOCK_ALERT_* settings (docs/alerts.md). Each alert is sent once per
    channel; a channel that failed is retried on the next run."""
    from datetime import UTC, datetime

    from pipelines.alerts.cli_output import print_dry_run, print_summary

    s = load_settings(db=db, config=config)
    if dry_run:
        print_dry_run(s, datetime.now(UTC))
        return
    from pipelines.flows import alerts_flow

    if not print_summary(alerts_flow(str(s.db), str(s.config_path()))):
        sys.exit(1)  # some channel failed; it is retried on the next run


@main.command()
@click.option("--in", "in_file", required=True,
              type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="CSV with columns timestamp,value (any regular interval).")
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path, dir_okay=False))
def detect(in_file: Path, out_file: Path) -> None:
    """Run the spike detector on any time series. Each output row has start, peak, end
    (timestamps as in the input) and score, plus peak_rate and expected_rate."""
    from pipelines.detect_csv import detect_csv

    n = detect_csv(in_file, out_file)
    click.echo(f"{n} spikes -> {out_file}")


@main.command()
@click.argument("target", metavar="INCIDENT_OR_SPIKE")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md",
              show_default=True, help="Markdown, or a standalone HTML page.")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Write the brief here instead of printing it.")
@DB_OPTION
@CONFIG_OPTION
def brief(target: str, fmt: str, out_file: Path | None, db: Path | None,
          config: Path | None) -> None:
    """Write a comms brief for a complaint spike and the incident behind it.

    INCIDENT_OR_SPIKE is a spike_id (e.g. notion:all:20240813T1540), an incident_id
    (provider:incident_id when ids clash), `latest` (the most recent complaint spike) or
    `largest` (the incident with the most complaints in the spikes it explains).

    The brief has a headline with the numbers, a timeline merging the spike and the status
    updates, size versus the service's history, complaint mix, themes with a representative
    post each, competitor mentions, sentiment before/during/after, which updates were followed
    by falling complaints, and talking points grounded in those numbers. Post text is shown as
    text, never rendered. Reads the warehouse only; run `aftershock analyze` first.
    """
    from analysis.brief import render_html, render_markdown
    from pipelines.brief import gather
    from pipelines.config import load_config

    s = load_settings(db=db, config=config)
    data = gather(s.db, target, load_config(s.config_path()))
    text = render_html(data) if fmt == "html" else render_markdown(data)
    if out_file is None:
        click.echo(text, nl=False)
    else:
        out_file.write_text(text, encoding="utf-8")
        click.echo(f"brief for {data.spike.spike_id} -> {out_file}")


@main.command()
@DB_OPTION
@click.option("--port", type=int, default=None, help="Port (default 8501).")
@click.option("--host", default=None,
              help="Address to listen on (default 127.0.0.1, this machine only). Any other "
                   "address exposes the dashboard and needs AFTERSHOCK_DASHBOARD_PASSWORD.")
def dashboard(db: Path | None, port: int | None, host: str | None) -> None:
    """Serve the dashboard (a read-only view of the warehouse) on 127.0.0.1."""
    _serve_dashboard(load_settings(db=db, dashboard_port=port, dashboard_host=host))


def _serve_dashboard(s: Settings) -> None:
    from pipelines.dashboard_server import start_dashboard, wait_until_ready

    local = "127.0.0.1" if s.dashboard_host in ("0.0.0.0", "::") else s.dashboard_host
    url = f"http://{local}:{s.dashboard_port}"
    password = s.dashboard_password.get_secret_value() if s.dashboard_password else None
    process = start_dashboard(s.db, s.dashboard_port, s.dashboard_host, password)
    try:
        wait_until_ready(url)
        click.echo(f"Dashboard: {url}  (Ctrl+C to stop)")
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        process.terminate()
        process.wait(timeout=10)


@main.command()
@click.argument("query")
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
def sql(query: str, db: Path | None, fmt: str) -> None:
    """Run read-only SQL on the warehouse, e.g.

    aftershock sql "SELECT service, count(*) FROM posts GROUP BY 1"

    Views: posts, quarantine, incidents, incident_updates, spikes, incident_links,
    post_buckets (see docs/schema.md). Writes, COPY, ATTACH, INSTALL/LOAD, file readers and
    settings changes are refused.
    """
    from pipelines.warehouse.reader import run_user_sql

    frame = run_user_sql(load_settings(db=db).db, query)
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", force_ascii=False))
    else:
        with_rows = frame.to_string(index=False, max_colwidth=80) if len(frame) else "(no rows)"
        click.echo(with_rows)


if __name__ == "__main__":
    main()
