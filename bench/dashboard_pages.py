"""How fast each dashboard page renders with a big warehouse: builds a synthetic warehouse of
N posts (classified, aggregated, with spikes) through the real writer, then times every page's
first render in Streamlit's AppTest with a cold cache (median of --runs) and each page's
queries on their own. Target (issue 7): every page's first render under 2 s at 1M posts.

    python bench/dashboard_pages.py --posts 1000000 [--posts 10000000] [--runs 3]

The warehouses are kept in --workdir (default /tmp/aftershock-bench) and reused when the
same size is asked for again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from synthetic import insert_classified_posts

from pipelines.analyze import (
    BUCKET_COLUMNS,
    BUCKETS_SQL,
    COMPLAINT_SERIES_SQL,
    SPAN_SQL,
    SPIKE_COLUMNS,
    find_spikes,
)
from pipelines.warehouse.writer import writing

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def build(path: Path, posts: int) -> None:
    started = time.perf_counter()
    with writing(path) as wh:
        insert_classified_posts(wh.con, posts)
        buckets = wh.con.execute(BUCKETS_SQL).df()
        wh.replace_table("post_buckets", buckets, BUCKET_COLUMNS)
        series = wh.con.execute(COMPLAINT_SERIES_SQL).df()
        span = wh.con.execute(SPAN_SQL).fetchall()[0]
        spikes = find_spikes(series, pd.Timestamp(span[0]), pd.Timestamp(span[1]))
        wh.replace_table("spikes", spikes, SPIKE_COLUMNS)
    print(f"built {posts:,} posts in {time.perf_counter() - started:.0f} s: "
          f"{path.stat().st_size / 2**20:,.0f} MiB on disk")


def time_page(page: str | None, runs: int) -> float:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(runs):
        st.cache_data.clear()
        at = AppTest.from_file(str(APP), default_timeout=120)
        if page is None:
            started = time.perf_counter()
            at.run()
        else:
            at.run()  # the default page first (its queries are cached: clear them)
            st.cache_data.clear()
            at.switch_page(page)
            started = time.perf_counter()
            at.run()
        times.append(time.perf_counter() - started)
        if at.exception:
            raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    return statistics.median(times)


def time_queries(db: Path, runs: int) -> dict[str, float]:
    import streamlit as st

    from dashboard import queries as q
    from dashboard import queries_now as qn
    from dashboard import queries_posts as qp

    snap = q.snapshot(db)
    assert snap is not None
    info = q.overview(snap)
    assert info.first is not None and info.last is not None
    window = q.Window(info.first, info.last)
    calls: dict[str, Callable[[], object]] = {
        "overview": lambda: q.overview(snap),
        "services": lambda: q.services(snap),
        "now.service_status": lambda: qn.service_status(snap, window.end),
        "now.recent_series": lambda: qn.recent_series(snap, window.end, "UTC"),
        "incident.headline": lambda: q.headline(snap, "notion", window),
        "incident.complaint_series": lambda: q.complaint_series(snap, "notion", window, 360,
                                                                "UTC"),
        "incident.top_posts": lambda: q.top_posts(snap, "notion", window, "UTC"),
        "posts.facets": lambda: qp.facets(snap, window),
        "posts.find": lambda: qp.find_posts(snap, window, qp.PostFilter(), "UTC"),
        "posts.count": lambda: qp.count_posts(snap, window, qp.PostFilter(text="down"),
                                              "UTC"),
    }
    out = {}
    for name, call in calls.items():
        times = []
        for _ in range(runs):
            st.cache_data.clear()
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        out[name] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--posts", type=int, action="append", default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/aftershock-bench"))
    args = parser.parse_args()
    for n in args.posts or [1_000_000]:
        db = args.workdir / f"posts-{n}.duckdb"
        if not db.exists():
            build(db, n)
        os.environ["AFTERSHOCK_DB"] = str(db)
        print(f"\n{n:,} posts ({db.stat().st_size / 2**20:,.0f} MiB), median of {args.runs}")
        for name, seconds in time_queries(db, args.runs).items():
            print(f"  query {name:28s} {seconds * 1000:8.0f} ms")
        for page in (None, "views/incident.py", "views/history.py", "views/posts.py",
                     "views/sql.py"):
            seconds = time_page(page, args.runs)
            flag = "ok" if seconds < 2 else "OVER 2 s"
            print(f"  page  {page or 'views/now.py (default)':28s} {seconds * 1000:8.0f} ms  "
                  f"{flag}")


if __name__ == "__main__":
    main()
