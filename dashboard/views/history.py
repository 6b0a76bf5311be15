"""The History page: incidents side by side (size, duration, lead time, sentiment, switching),
how each ranks among its service's incidents, and the incidents nobody reacted to."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, context
from dashboard import queries_history as qh
from dashboard.context import Context


def render(ctx: Context) -> None:
    st.subheader("History")
    with st.sidebar:
        st.header("History")
        services = tuple(st.multiselect(
            "Service", sorted(ctx.names), key="history-service", format_func=ctx.name,
            placeholder="all services"))
    table = qh.incidents(ctx.snap, ctx.window, ctx.tz, services)
    if table.empty:
        st.info("No incident in the picked range had a social reaction (a linked complaint "
                "spike). Widen the range, or run `aftershock analyze` after importing status "
                "history (`aftershock import status`).")
    else:
        table = table.assign(name=table["service"].map(ctx.name))
        st.altair_chart(charts.history_chart(table), width="stretch")
        st.caption("Each dot an incident with a social reaction: complaints against how long "
                   "before the status page's first update social media saw it (left of 0: "
                   "the status page was first). Size: peak against expected.")
        st.dataframe(
            table[["name", "provider", "title", "relation", "started", "complaints", "rank",
                   "of", "duration_min", "peak_ratio", "reach", "negative_share",
                   "lead_minutes", "minutes_to_recovery", "switching"]],
            hide_index=True,
            column_config={
                "name": st.column_config.TextColumn("service"),
                "title": st.column_config.TextColumn(width="large"),
                "started": st.column_config.DatetimeColumn(f"started ({ctx.tz})",
                                                           format="YYYY-MM-DD HH:mm"),
                "rank": st.column_config.NumberColumn(help="By complaints, among the "
                                                      "service's incidents shown."),
                "duration_min": st.column_config.NumberColumn("duration (min)"),
                "peak_ratio": st.column_config.NumberColumn("peak vs expected",
                                                            format="%.1fx"),
                "reach": st.column_config.NumberColumn(format="compact"),
                "negative_share": st.column_config.NumberColumn("negative",
                                                                format="percent"),
                "lead_minutes": st.column_config.NumberColumn(
                    "social lead (min)", format="%.0f",
                    help="First complaint to the first status update; > 0: social first."),
                "minutes_to_recovery": st.column_config.NumberColumn("recovery (min)",
                                                                     format="%.0f"),
                "switching": st.column_config.NumberColumn(
                    help="Posts with switching intent towards a competitor."),
            },
        )
    silent = qh.silent_incidents(ctx.snap, ctx.window, ctx.tz)
    with st.expander(f"Incidents with no social reaction ({len(silent)})"):
        st.dataframe(silent, hide_index=True)


if (ctx := context.current()) is not None:
    render(ctx)
