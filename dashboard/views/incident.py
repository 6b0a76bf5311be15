"""The Incident page: one service over the picked range, or one of its spikes in depth
(dashboard.spike_view): complaints per minute stacked by complaint type with incident bands,
spike markers, the expected level and status updates, sentiment, and the posts with the most
reach. `?spike=<spike_id>` (the alerts' link) opens that spike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, context, spike_view
from dashboard import queries as q
from dashboard import queries_incident as qi
from dashboard.context import Context, local_domain, plain

NOT_CLASSIFIED = (
    "{classified} of {posts} posts are classified, so sentiment and complaint types are "
    "missing (empty in the table below). Run `aftershock classify`, then `aftershock analyze`."
)
NOT_ANALYSED = (
    "Posts are classified but not aggregated yet: run `aftershock analyze` to fill the "
    "complaint and sentiment charts and detect spikes."
)
SENTIMENT_BARS = 200
MAX_OVERRIDE_POINTS = 20 * q.MAX_POINTS  # a finer bucket than this would stall the browser


@dataclass(frozen=True)
class View:
    """The service and bucket picked on this page, within the shared context."""

    service: str
    tz: str
    window: q.Window
    bucket_minutes: int
    domain_: tuple[datetime, datetime]

    def domain(self) -> tuple[datetime, datetime]:
        return self.domain_


def render(ctx: Context) -> None:
    services = q.services(ctx.snap)
    if services.empty:
        st.info("No services with posts in the warehouse yet.")
        return
    keys = [str(s) for s in services["service"]]
    requested = requested_spike(ctx, keys)
    with st.sidebar:
        st.header("Incident")
        service = st.selectbox(
            "Service", keys, index=keys.index(requested[0]) if requested else 0,
            key="service",
            format_func=lambda key: (f"{ctx.names[key]} ({key})" if key in ctx.names
                                     else key),
            help="Services with posts, most complaints first.",
        )
        spikes = qi.spikes(ctx.snap, str(service), ctx.window, ctx.tz)
        spike = focus_picker(spikes, requested[1] if requested else None)
        window = (ctx.window if spike is None
                  else qi.focus_window(spike, ctx.info.first, ctx.info.last))
        bucket = bucket_picker(window)
    view = View(str(service), ctx.tz, window, bucket, local_domain(window, ctx.tz))
    classification_notes(ctx.info)
    providers = tuple(ctx.dependencies.get(view.service, []))
    if spike is None:
        st.subheader(f"Overview · {plain(ctx.name(view.service))}")
        headline(ctx.snap, view)
        complaints_section(ctx.snap, view, providers)
        sentiment_section(ctx.snap, view)
        top_posts_section(ctx.snap, view)
        return
    spike_view.title(ctx, view.service, spike)
    spike_view.summary(ctx, spike)
    complaints_section(ctx.snap, view, providers, spike_id=str(spike["spike_id"]))
    spike_view.updates_section(ctx, spike)
    spike_view.themes_section(ctx, spike)
    top_posts_section(ctx.snap, view)
    spike_view.amplifiers_section(ctx, spike)
    spike_view.competitors_section(ctx, spike)
    sentiment_section(ctx.snap, view)
    spike_view.brief_downloads(ctx, spike)


def requested_spike(ctx: Context, services: list[str]) -> tuple[str, str] | None:
    """(service, spike_id) of a `?spike=` link on first arrival; the pickers rule after."""
    wanted = st.query_params.get("spike")
    if not wanted or st.session_state.get("spike-link-used") == wanted:
        return None
    st.session_state["spike-link-used"] = wanted
    service = q.spike_service(ctx.snap, wanted)
    if service is None or service not in services:
        st.warning("The linked spike is not in this warehouse (it may have been re-detected "
                   "with other times): showing the whole range.")
        return None
    st.session_state["service"] = service
    st.session_state["focus"] = wanted
    return service, wanted


def focus_picker(spikes: pd.DataFrame, requested: str | None) -> pd.Series | None:
    """The spike in focus, or None for the whole range. Spikes largest first."""
    options = ["range", *spikes["spike_id"]]
    labels = {row.spike_id: spike_label(row) for row in spikes.itertuples(index=False)}
    if st.session_state.get("focus") not in options:
        st.session_state["focus"] = requested if requested in options else "range"
    choice = st.selectbox(
        "Focus", options, key="focus",
        format_func=lambda k: "the whole range" if k == "range" else labels[k],
        help="A spike of this service in the picked range (largest first), shown with two "
             "hours either side, or the whole range.")
    if choice == "range":
        return None
    return spikes.set_index("spike_id").loc[choice].rename(choice).to_frame().T.assign(
        spike_id=choice).iloc[0]


def spike_label(row: Any) -> str:
    ratio = row.ratio
    times = f"{row.start:%b %d %H:%M}"
    size = "" if pd.isna(ratio) else f" · {ratio:.1f}x expected"
    return f"spike {times}{size}"


def bucket_picker(window: q.Window) -> int:
    auto = q.auto_bucket_minutes(window)
    choice = st.selectbox(
        "Bucket", ("auto", *q.BUCKET_CHOICES), index=0, key="bucket",
        format_func=lambda b: f"auto ({auto} min)" if b == "auto" else f"{b} min",
        help=f"Auto keeps each chart at or under {q.MAX_POINTS} points.",
    )
    if not isinstance(choice, int):  # "auto"
        return auto
    minutes = (window.end - window.start).total_seconds() / 60
    if minutes / choice > MAX_OVERRIDE_POINTS:
        st.caption(f"{choice} min would be too many points for this range; using {auto} min.")
        return auto
    return choice


def classification_notes(info: q.Overview) -> None:
    if info.classified < info.posts:
        st.info(NOT_CLASSIFIED.format(classified=info.classified, posts=info.posts))
    elif info.buckets == 0:
        st.info(NOT_ANALYSED)


def headline(snap: q.Snapshot, view: View) -> None:
    h = q.headline(snap, view.service, view.window)
    share = "n/a" if h.negative_share is None else f"{h.negative_share:.0%}"
    cols = st.columns(5)
    cols[0].metric("Posts", f"{h.posts:,}")
    cols[1].metric("Complaints", f"{h.complaints:,}", help=q.COMPLAINT_NOTE)
    cols[2].metric("Negative share", share, help="Of the classified posts in the range.")
    cols[3].metric("Spikes", f"{h.spikes:,}", help="All-complaint spikes peaking in the range.")
    cols[4].metric("Linked incidents", f"{h.linked_incidents:,}",
                   help="Distinct status-page incidents linked to those spikes.")


def complaints_section(snap: q.Snapshot, view: View, providers: tuple[str, ...],
                       spike_id: str | None = None) -> None:
    st.markdown("#### Complaints per minute")
    bands = q.incident_bands(snap, view.service, providers, view.window, view.tz)
    series = q.complaint_series(snap, view.service, view.window, view.bucket_minutes,
                                view.tz)
    if series.empty:
        st.caption("No complaints aggregated for this range: all posts per minute instead.")
        posts = q.post_series(snap, view.service, view.window, view.bucket_minutes, view.tz)
        st.altair_chart(charts.posts_chart(posts, bands, view.domain(), view.bucket_minutes),
                        width="stretch")
        incidents_table(bands)
        return
    spikes = q.spike_markers(snap, view.service, view.window, view.tz)
    updates = None if spike_id is None else qi.status_updates(snap, spike_id, view.tz)
    st.altair_chart(
        charts.complaints_chart(series, bands, spikes, view.domain(), view.bucket_minutes,
                                updates),
        width="stretch",
    )
    watched = ", ".join(providers) if providers else "none configured"
    st.caption(
        f"{q.COMPLAINT_NOTE} Shaded bands: status-page incidents of the providers this service "
        f"depends on ({watched}). ▼ marks a detected spike's peak; hover for its linked incident."
        + (" The dotted line is the expected level; ◆ marks a status update."
           if updates is not None else "")
        + f" Times in {view.tz}."
    )
    incidents_table(bands)
    if not spikes.empty:
        spikes_table(spikes)


def incidents_table(bands: pd.DataFrame) -> None:
    if bands.empty:
        return
    with st.expander(f"Incidents in range ({len(bands)})"):
        st.dataframe(bands[["provider", "title", "impact", "start", "end"]], hide_index=True,
                     column_config={"title": st.column_config.TextColumn(width="large")})


def spikes_table(spikes: pd.DataFrame) -> None:
    with st.expander(f"Spikes in range ({len(spikes)})"):
        st.dataframe(
            spikes[["peak", "start", "end", "peak_rate", "expected_rate", "score", "posts",
                    "incident", "relation", "lead_minutes", "confidence"]],
            hide_index=True,
            column_config={
                "peak_rate": st.column_config.NumberColumn("peak / min", format="%.1f"),
                "expected_rate": st.column_config.NumberColumn("expected / min", format="%.1f"),
                "score": st.column_config.NumberColumn(format="%.1f"),
                "lead_minutes": st.column_config.NumberColumn("lead (min)", format="%.0f"),
                "confidence": st.column_config.NumberColumn(format="%.2f"),
            },
        )


def sentiment_section(snap: q.Snapshot, view: View) -> None:
    st.markdown("#### Sentiment over time")
    # Shares of a handful of posts are noise: use buckets coarse enough for ~200 bars.
    bucket = max(view.bucket_minutes, q.auto_bucket_minutes(view.window, SENTIMENT_BARS))
    series = q.sentiment_series(snap, view.service, view.window, bucket, view.tz)
    if series.empty:
        st.caption("No classified posts aggregated for this range.")
        return
    st.altair_chart(charts.sentiment_chart(series, view.domain()), width="stretch")
    st.caption(f"Share of each sentiment among all posts per {bucket}-min bucket.")


def top_posts_section(snap: q.Snapshot, view: View) -> None:
    st.markdown("#### Top posts by reach")
    posts = q.top_posts(snap, view.service, view.window, view.tz)
    if posts.empty:
        st.caption("No posts in this range.")
        return
    st.caption("Reach = author followers + reposts. Post text is shown exactly as posted.")
    st.dataframe(
        posts,
        hide_index=True,
        placeholder="–",  # not classified yet
        # Pixel widths that fit the wide layout on a 1440-px screen; the text gets the most.
        column_config={
            "time": st.column_config.DatetimeColumn(f"time ({view.tz})",
                                                    format="MM-DD HH:mm", width=100),
            "source": st.column_config.TextColumn(width=70),
            "author": st.column_config.TextColumn(width=95),
            "text": st.column_config.TextColumn(width=300),
            "likes": st.column_config.NumberColumn(width=55),
            "reposts": st.column_config.NumberColumn(width=65),
            "reach": st.column_config.NumberColumn(width=65, format="compact",
                                                   help="author followers + reposts"),
            "sentiment": st.column_config.TextColumn(width=80),
            "complaint_type": st.column_config.TextColumn("complaint", width=90),
            "link": st.column_config.LinkColumn(display_text="open", width=50),
        },
    )



if (ctx := context.current()) is not None:
    render(ctx)
