"""The Incident page's sections for one spike in focus: what it is and how big, status updates
and their effect, themes, amplifiers, competitors, and the comms brief to download. Post text
and authors reach the page only through st.dataframe (shown as text, never rendered)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import charts
from dashboard import queries_incident as qi
from dashboard.context import Context, plain
from pipelines.errors import AftershockError


def title(ctx: Context, service: str, spike: pd.Series) -> None:
    start = pd.Timestamp(spike["start"])
    st.subheader(f"{plain(ctx.name(service))} · complaint spike of {start:%b %d, %H:%M}")
    incident = spike.get("incident")
    if isinstance(incident, str):
        lead = spike.get("lead_minutes")
        when = ("" if pd.isna(lead) else
                f"; social media saw it {abs(lead):.0f} min "
                f"{'before' if lead > 0 else 'after'} the status page")
        st.markdown(f"Explained by **{plain(incident)}** ({spike['relation']}, "
                    f"confidence {spike['confidence']:.2f}){when}.")
    else:
        st.warning("Unexplained: no incident of the status pages this service depends on "
                   "overlaps this spike (the status page may be silent).",
                   icon=":material/help:")


def summary(ctx: Context, spike: pd.Series) -> None:
    reaction = qi.reaction(ctx.snap, str(spike["spike_id"]))
    cols = st.columns(5)
    ratio = spike["ratio"]
    cols[0].metric("Peak", f"{spike['peak_rate']:.1f}/min",
                   delta=None if pd.isna(ratio) else f"{ratio:.1f}x expected",
                   delta_color="inverse", help=f"Expected {spike['expected_rate']:.2f}/min.")
    cols[1].metric("Complaints", f"{int(spike['complaints']):,}")
    minutes = (pd.Timestamp(spike["end"]) - pd.Timestamp(spike["start"])).total_seconds() / 60
    cols[2].metric("Duration", f"{minutes:.0f} min")
    if reaction is None:
        st.caption("Reach and amplifiers appear after `aftershock analyze`.")
        return
    cols[3].metric("Reach", f"{int(reaction['reach']):,}",
                   help="Followers of the distinct authors posting during the spike.")
    size = reaction.get("size_vs_median")
    cols[4].metric("vs earlier spikes", "first" if pd.isna(size) else f"{size:.1f}x median",
                   help="Complaints in this spike against the median of the service's earlier "
                        "spikes.")
    st.caption(f"{int(reaction['distinct_authors']):,} distinct authors, "
               f"{int(reaction['reposts']):,} reposts, {int(reaction['quotes']):,} quotes, "
               f"up to {int(reaction['velocity_per_min']):,} posts in one minute.")


def updates_section(ctx: Context, spike: pd.Series) -> None:
    st.markdown("#### Status updates and their effect")
    effects = qi.response_effects(ctx.snap, str(spike["spike_id"]), ctx.tz)
    if effects.empty:
        st.caption("No status update or official post during this spike.")
        return
    st.dataframe(effects, hide_index=True, column_config={
        "time": st.column_config.DatetimeColumn(f"time ({ctx.tz})", format="MM-DD HH:mm"),
        "window_minutes": st.column_config.NumberColumn("window (min)"),
        "rate_before": st.column_config.NumberColumn("complaints/min before", format="%.2f"),
        "rate_after": st.column_config.NumberColumn("after", format="%.2f"),
        "rate_change_pct": st.column_config.NumberColumn("change", format="%+.0f%%"),
        "negative_share_before": st.column_config.NumberColumn("negative before",
                                                               format="percent"),
        "negative_share_after": st.column_config.NumberColumn("after", format="percent"),
    })
    st.caption("Complaint rate and negative share in the windows before and after each "
               "update: a falling rate after an update suggests it helped.")


def themes_section(ctx: Context, spike: pd.Series) -> None:
    st.markdown("#### What people complain about")
    themes = qi.themes(ctx.snap, str(spike["spike_id"]))
    if themes.empty:
        st.caption("No themes for this spike (too few complaints, or `aftershock analyze` "
                   "has not run since it was detected).")
        return
    st.dataframe(themes[["label", "posts", "share", "representative_text"]], hide_index=True,
                 column_config={
                     "label": st.column_config.TextColumn("theme"),
                     "share": st.column_config.NumberColumn(format="percent"),
                     "representative_text": st.column_config.TextColumn(
                         "representative post", width="large"),
                 })


def amplifiers_section(ctx: Context, spike: pd.Series) -> None:
    reaction = qi.reaction(ctx.snap, str(spike["spike_id"]))
    if reaction is None:
        return
    amplifiers = pd.DataFrame(json.loads(reaction["top_amplifiers"] or "[]"))
    if amplifiers.empty:
        return
    st.markdown("#### Top amplifiers")
    st.dataframe(amplifiers, hide_index=True)


def competitors_section(ctx: Context, spike: pd.Series) -> None:
    st.markdown("#### Competitors mentioned")
    mentions = qi.competitors(ctx.snap, str(spike["spike_id"]))
    if mentions.empty or not mentions[["mentions", "baseline_mentions"]].to_numpy().any():
        st.caption("No competitor from the services config was mentioned during the spike "
                   "or the same time before it.")
        return
    st.altair_chart(charts.competitors_chart(mentions), width="stretch")


def brief_downloads(ctx: Context, spike: pd.Series) -> None:
    """The comms brief (analysis.brief over pipelines.brief's read of the warehouse)."""
    from analysis.brief import render_html, render_markdown
    from pipelines.brief import gather
    from pipelines.config import load_config

    st.markdown("#### Comms brief")
    try:
        data = gather(Path(ctx.snap.path), str(spike["spike_id"]),
                      load_config(ctx.settings.config_path()))
    except AftershockError as e:
        st.caption(f"No brief for this spike: {e}")
        return
    stem = f"aftershock-brief-{str(spike['spike_id']).replace(':', '-')}"
    cols = st.columns(2)
    cols[0].download_button("Download brief (Markdown)", render_markdown(data),
                            file_name=f"{stem}.md", mime="text/markdown")
    cols[1].download_button("Download brief (HTML)", render_html(data),
                            file_name=f"{stem}.html", mime="text/html")
