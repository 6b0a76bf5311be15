"""The Posts page: every post in the picked range, filtered by service, source, sentiment,
complaint type, language and text; each with its link, metrics and labels with their scores.
Post text is shown in a table, as text, never rendered."""

from __future__ import annotations

import streamlit as st

from dashboard import context
from dashboard import queries_posts as qp
from dashboard.context import Context


def render(ctx: Context) -> None:
    st.subheader("Posts")
    options = qp.facets(ctx.snap, ctx.window)
    with st.sidebar:
        st.header("Filters")
        chosen = qp.PostFilter(
            services=tuple(st.multiselect(
                "Service", options.get("services", []), key="posts-service",
                format_func=ctx.name, placeholder="all services")),
            sources=tuple(st.multiselect("Source", options.get("sources", []),
                                         key="posts-source", placeholder="all sources")),
            sentiments=tuple(st.multiselect("Sentiment", options.get("sentiments", []),
                                            key="posts-sentiment", placeholder="any")),
            complaint_types=tuple(st.multiselect(
                "Complaint type", options.get("complaint_types", []), key="posts-type",
                placeholder="any")),
            langs=tuple(st.multiselect("Language", options.get("langs", []),
                                       key="posts-lang", placeholder="any")),
            order=str(st.radio("Order", ["reach", "newest"], key="posts-order",
                               horizontal=True)),
        )
    needle = st.text_input("Search the text", key="posts-text",
                           placeholder="e.g. timeout, switching to, refund")
    chosen = chosen._replace(text=needle)
    total = qp.count_posts(ctx.snap, ctx.window, chosen, ctx.tz)
    posts = qp.find_posts(ctx.snap, ctx.window, chosen, ctx.tz)
    shown = f"showing the first {len(posts):,}" if total > len(posts) else "all shown"
    st.caption(f"{total:,} posts match ({shown}). Reach = author followers + reposts; "
               "scores are the model's probability of the label shown.")
    if posts.empty:
        st.info("No posts match these filters in the picked range.")
        return
    st.dataframe(posts, hide_index=True, placeholder="–", column_config={
        "time": st.column_config.DatetimeColumn(f"time ({ctx.tz})", format="MM-DD HH:mm"),
        "text": st.column_config.TextColumn(width="large"),
        "reach": st.column_config.NumberColumn(format="compact"),
        "followers": st.column_config.NumberColumn(format="compact"),
        "sentiment_score": st.column_config.NumberColumn("p(sentiment)", format="%.2f"),
        "complaint_probability": st.column_config.NumberColumn("p(complaint)",
                                                               format="%.2f"),
        "type_score": st.column_config.NumberColumn("p(type)", format="%.2f"),
        "link": st.column_config.LinkColumn(display_text="open"),
    })


if (ctx := context.current()) is not None:
    render(ctx)
