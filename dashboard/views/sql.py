"""The SQL page: a read-only console over the analyst views (docs/schema.md). Queries run on a
read-only connection that cannot write, reach files or the network, or change settings
(pipelines.warehouse.reader.run_user_sql); results show as a table, a chart where one fits,
and CSV / Parquet downloads."""

from __future__ import annotations

import io
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import context
from dashboard.charts import OKABE_ITO
from dashboard.context import Context
from dashboard.queries import Snapshot
from dashboard.sql_examples import EXAMPLES
from pipelines.errors import AftershockError
from pipelines.warehouse.reader import run_user_sql

MAX_CHART_ROWS = 5000


@st.cache_data(ttl=30, show_spinner="Running the query…")
def _run(snap: Snapshot, sql: str) -> pd.DataFrame:
    return run_user_sql(Path(snap.path), sql)


def render(ctx: Context) -> None:
    st.subheader("SQL")
    st.caption("Read-only DuckDB SQL over the views posts, quarantine, incidents, "
               "incident_updates, spikes, incident_links and post_buckets (see "
               "docs/schema.md). Writes, COPY, ATTACH, extensions, file readers and settings "
               "changes are refused.")
    example = st.selectbox("Example", list(EXAMPLES), key="sql-example")
    sql = st.text_area("Query", value=EXAMPLES[str(example)], height=180, key=f"sql-{example}")
    if not sql.strip():
        return
    try:
        result = _run(ctx.snap, sql)
    except AftershockError as e:
        st.error(str(e))
        return
    st.caption(f"{len(result):,} rows")
    st.dataframe(result, hide_index=True)
    chart = auto_chart(result)
    if chart is not None:
        st.altair_chart(chart, width="stretch")
    downloads(result)


def auto_chart(df: pd.DataFrame) -> alt.Chart | None:
    """A line over time when the first column is a time, else bars of the first numeric
    column by the first text column; coloured by a second text column if there is one.
    None when no such columns exist or there are too many rows to draw."""
    if df.empty or len(df) > MAX_CHART_ROWS:
        return None
    times = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
    numbers = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])
               and not pd.api.types.is_bool_dtype(df[c])]
    texts = [c for c in df.columns if pd.api.types.is_string_dtype(df[c])
             or df[c].dtype == object]
    if not numbers or not (times or texts):
        return None
    data = df.copy()
    for c in times:  # Vega-Lite needs naive or ISO times; show them as UTC
        if getattr(data[c].dt, "tz", None) is not None:
            data[c] = data[c].dt.tz_convert("UTC").dt.tz_localize(None)
    y = alt.Y(f"{numbers[0]}:Q")
    if times:
        chart = alt.Chart(data).mark_line(point=len(data) < 60).encode(
            x=alt.X(f"{times[0]}:T"), y=y)
        colour = texts[0] if texts else None
    else:
        chart = alt.Chart(data).mark_bar().encode(x=alt.X(f"{texts[0]}:N", sort="-y"), y=y)
        colour = texts[1] if len(texts) > 1 else None
    if colour is not None:
        chart = chart.encode(color=alt.Color(f"{colour}:N",
                                             scale=alt.Scale(range=list(OKABE_ITO))))
    return chart.properties(height=280)


def downloads(df: pd.DataFrame) -> None:
    cols = st.columns(2)
    cols[0].download_button("Download CSV", df.to_csv(index=False).encode("utf-8"),
                            file_name="aftershock-query.csv", mime="text/csv")
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    cols[1].download_button("Download Parquet", buffer.getvalue(),
                            file_name="aftershock-query.parquet",
                            mime="application/vnd.apache.parquet")


if (ctx := context.current()) is not None:
    render(ctx)
