"""The Incident page: one service over the picked range (or one spike of it) in depth:
complaints per minute stacked by complaint type with incident bands and spike markers,
sentiment, and the posts with the most reach."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard import charts, context
from dashboard import queries as q
from dashboard.context import Context, plain

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
    with st.sidebar:
        st.header("Incident")
        service = st.selectbox(
            "Service", list(services["service"]), index=0, key="service",
            format_func=lambda key: (f"{ctx.names[key]} ({key})" if key in ctx.names
                                     else key),
            help="Services with posts, most complaints first.",
        )
        bucket = bucket_picker(ctx.window)
    view = View(str(service), ctx.tz, ctx.window, bucket, ctx.domain())
    st.subheader(f"Overview · {plain(ctx.name(view.service))}")
    classification_notes(ctx.info)
    headline(ctx.snap, view)
    complaints_section(ctx.snap, view, tuple(ctx.dependencies.get(view.service, [])))
    sentiment_section(ctx.snap, view)
    top_posts_section(ctx.snap, view)


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


def complaints_section(snap: q.Snapshot, view: View, providers: tuple[str, ...]) -> None:
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
    st.altair_chart(
        charts.complaints_chart(series, bands, spikes, view.domain(), view.bucket_minutes),
        width="stretch",
    )
    watched = ", ".join(providers) if providers else "none configured"
    st.caption(
        f"{q.COMPLAINT_NOTE} Shaded bands: status-page incidents of the providers this service "
        f"depends on ({watched}). ▼ marks a detected spike's peak; hover for its linked incident."
        f" Times in {view.tz}."
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
