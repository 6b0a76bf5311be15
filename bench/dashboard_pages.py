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
SERVICES = ["notion", "slack", "github", "chatgpt", "claude"]
TYPES = ["outage", "errors", "slowness", "access", "quality", "billing", "none", "praise"]
DAYS = 30
START = pd.Timestamp("2025-01-01", tz="UTC")

# Posts spread evenly over DAYS days plus six bursts; labels drawn from a hash so the build is deterministic and needs no model.
GENERATE_SQL = f"""
INSERT INTO post_records
SELECT CASE WHEN i % 3 = 0 THEN 'x' WHEN i % 3 = 1 THEN 'bluesky' ELSE 'reddit' END,
       'p' || i, s.service,
       ?::TIMESTAMPTZ + to_seconds(CASE
           -- 2% of posts fall into six 30-minute bursts, the rest spread over the days
           WHEN i % 50 = 0 THEN (i // 50) % 6 * 5 * 86400 + 14 * 3600 + (i // 300) % 1800
           ELSE (i * 2654435761) % ({DAYS} * 86400) END::BIGINT),
       'post ' || i || ' about ' || s.service || ': ' ||
           CASE hash(i) % 4 WHEN 0 THEN 'it is down again' WHEN 1 THEN 'so slow today'
                WHEN 2 THEN 'love the new feature' ELSE 'anyone else seeing errors?' END,
       'user' || (hash(i * 7) % 200000), (hash(i * 13) % 100000)::BIGINT,
       (hash(i * 17) % 50)::BIGINT, (hash(i * 19) % 20)::BIGINT, 0, 0,
       CASE WHEN hash(i) % 10 = 0 THEN 'de' ELSE 'en' END,
       'https://example.com/p/' || i, false, NULL, NULL, now()
FROM range(?) t(i)
JOIN (SELECT unnest(?::VARCHAR[]) AS service, generate_subscripts(?::VARCHAR[], 1) - 1 AS k) s
  ON s.k = i % {len(SERVICES)}
"""
CLASSIFY_SQL = f"""
INSERT INTO classifications
SELECT source, id, 'bench',
       CASE WHEN t IN ('none') THEN 'neutral' WHEN t = 'praise' THEN 'positive'
            ELSE 'negative' END,
       '{{"negative": 0.6, "neutral": 0.3, "positive": 0.1}}',
       t NOT IN ('none', 'praise'), 0.7, t, '{{}}', now()
FROM (SELECT source, id,
             (?::VARCHAR[])[(1 + hash(id) % {len(TYPES)})::BIGINT] AS t FROM post_records)
"""


def build(path: Path, posts: int) -> None:
    started = time.perf_counter()
    with writing(path) as wh:
        wh.con.execute(GENERATE_SQL, [START, posts, SERVICES, SERVICES])
        wh.con.execute(CLASSIFY_SQL, [TYPES])
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
        for page in (None, "views/incident.py", "views/posts.py", "views/sql.py"):
            seconds = time_page(page, args.runs)
            flag = "ok" if seconds < 2 else "OVER 2 s"
            print(f"  page  {page or 'views/now.py (default)':28s} {seconds * 1000:8.0f} ms  "
                  f"{flag}")


if __name__ == "__main__":
    main()
