"""The Now page: every watched service at a glance at the end of the picked range (the newest
data by default): complaint rate against its expected level, active spikes, open incidents of
the service and its providers, and the health of the sources. Refreshes itself every 45 s
without reloading the page."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import charts, context
from dashboard import queries as q
from dashboard import queries_now as qn
from dashboard.context import Context, plain

REFRESH_S = 45
STALE_AFTER = timedelta(hours=1)


def render(ctx: Context) -> None:
    as_of = ctx.window.end
    local = pd.Timestamp(as_of).tz_convert(ctx.tz)
    st.subheader("Now")
    if datetime.now(as_of.tzinfo) - as_of > STALE_AFTER:
        st.caption(f"As of {local:%Y-%m-%d %H:%M} {ctx.tz}, the end of the picked range "
                   "(the newest data). Pick an earlier range to see the state at its end.")
    status = qn.service_status(ctx.snap, as_of)
    if status.empty:
        st.info("No aggregated complaints yet: run `aftershock classify` and "
                "`aftershock analyze`.")
        return
    service_cards(ctx, status)
    st.markdown(f"#### Complaints per minute, last {qn.SPARK_HOURS} hours")
    series = qn.recent_series(ctx.snap, as_of, ctx.tz)
    st.altair_chart(charts.recent_chart(series, ctx.names), width="stretch")
    incidents_section(ctx, status, as_of)
    health_section(ctx)


def service_cards(ctx: Context, status: pd.DataFrame) -> None:
    cols = st.columns(min(len(status), 4))
    for i, row in enumerate(status.itertuples(index=False)):
        col = cols[i % len(cols)]
        expected = "no history" if pd.isna(row.expected) else f"{row.expected:.1f}/min expected"
        delta = None if pd.isna(row.ratio) else f"{row.ratio - 1:+.0%} vs expected"
        col.metric(plain(ctx.name(str(row.service))), f"{row.rate:.1f}/min", delta=delta,
                   delta_color="inverse", help=f"Complaints per minute over the last "
                   f"{qn.RECENT_MINUTES} min; {expected} (median of the same hour over "
                   f"{qn.HISTORY_DAYS} days).")
        if row.active_spikes:
            col.error(f"Spike active ({row.active_spikes})", icon=":material/trending_up:")
        share = "n/a" if pd.isna(row.negative_share_1h) else f"{row.negative_share_1h:.0%}"
        col.caption(f"{row.posts_1h:,} posts in the last hour, {share} negative")


def incidents_section(ctx: Context, status: pd.DataFrame, as_of: datetime) -> None:
    st.markdown("#### Open incidents of the services and their providers")
    providers = sorted({p for s in status["service"] for p in ctx.dependencies.get(s, [])})
    if not providers:
        st.caption("No providers configured for these services (depends_on in the config).")
        return
    incidents = qn.open_incidents(ctx.snap, tuple(providers), as_of, ctx.tz)
    if incidents.empty:
        st.success(f"No open incident on {', '.join(providers)}.", icon=":material/check:")
        return
    st.dataframe(incidents, hide_index=True, column_config={
        "started": st.column_config.DatetimeColumn(f"started ({ctx.tz})",
                                                   format="MM-DD HH:mm"),
        "minutes_open": st.column_config.NumberColumn("open (min)"),
        "url": st.column_config.LinkColumn(display_text="status page"),
    })


def health_section(ctx: Context) -> None:
    st.markdown("#### Sources")
    health = qn.source_health(ctx.snap, ctx.tz)
    if health.empty:
        st.caption("No collect or status-poll runs recorded yet (`aftershock collect`, "
                   "`aftershock serve`). Imported files do not show here.")
        return
    st.dataframe(health, hide_index=True, column_config={
        "last_success": st.column_config.DatetimeColumn(f"last success ({ctx.tz})",
                                                        format="MM-DD HH:mm"),
        "last_failure": st.column_config.DatetimeColumn(f"last failure ({ctx.tz})",
                                                        format="MM-DD HH:mm"),
        "failures_of_last_10": st.column_config.NumberColumn("failed (last 10)"),
    })


@st.fragment(run_every=REFRESH_S)
def _live(ctx: Context) -> None:
    # A refresh reruns only this fragment: pick up a snapshot published since the page ran.
    render(replace(ctx, snap=q.snapshot(ctx.settings.db) or ctx.snap))


if (ctx := context.current()) is not None:
    _live(ctx)
