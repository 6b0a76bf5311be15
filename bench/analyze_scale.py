"""Analyze latency at scale and the warehouse's size on disk per million posts.

    python bench/analyze_scale.py                                   # 1M (median of 3) and 10M (1 run)
    python bench/analyze_scale.py --posts 1000000 --runs 3 --posts 10000000 --runs 1

Each size gets a synthetic *classified* warehouse built through the real writer by SQL
(bench/synthetic.py, the generator the dashboard bench uses: 5 services, 30 days, six bursts,
hash-drawn labels; no incidents), kept in --workdir and reused. Then `analyze()` with the
bundled services config runs in a fresh subprocess per run (its peak RSS is the child's
ru_maxrss), inside `writing(db)`, so the published snapshot's copy is timed too (printed on its
own). analyze() keeps the spike themes of spikes whose posts did not change, so each run
first empties `spike_themes` (a cold run, as after new posts arrive: up to 2,000 complaints per
spike encoded with the sentence encoder and clustered), then runs analyze() once more warm (themes
kept, the cost of a re-run on unchanged data). Sizes: the published file (what readers open) and the writer's working file, after
analyze, in MiB per million posts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def build(db: Path, posts: int) -> float:
    from synthetic import insert_classified_posts

    from pipelines.warehouse.writer import writing

    started = time.perf_counter()
    with writing(db) as wh:
        insert_classified_posts(wh.con, posts)
    return time.perf_counter() - started


def child(db: Path) -> None:
    """One cold and one warm analyze run; prints one JSON line."""
    from pipelines.analyze import analyze
    from pipelines.config import load_config
    from pipelines.settings import BUNDLED_CONFIG
    from pipelines.warehouse.writer import writing

    config = load_config(BUNDLED_CONFIG)
    started = time.perf_counter()
    with writing(db) as wh:
        # Cold: spike themes are kept for spikes whose posts did not change, so a run after
        # new posts arrive encodes them all; clearing the table makes every run such a run.
        wh.con.execute("DELETE FROM spike_themes")
        summary = analyze(wh, config.dependencies(), config.services)
        cold_s = time.perf_counter() - started
        warm_started = time.perf_counter()
        analyze(wh, config.dependencies(), config.services)
        warm_s = time.perf_counter() - warm_started
        publish_started = time.perf_counter()
    publish_s = time.perf_counter() - publish_started
    print(json.dumps({
        "analyze_s": cold_s, "warm_s": warm_s, "publish_s": publish_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "summary": summary.line(),
    }))


def run_once(db: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", str(db)], capture_output=True,
                          text=True, cwd=REPO_ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"analyze on {db} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def mib(path: Path) -> float:
    return path.stat().st_size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, action="append", default=None)
    parser.add_argument("--runs", type=int, action="append", default=None,
                        help="runs per --posts, in the same order (default 3 at 1M, 1 above)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-e2e/scale"))
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    sizes = args.posts or [1_000_000, 10_000_000]
    runs = args.runs or [3 if n <= 1_000_000 else 1 for n in sizes]
    if len(runs) != len(sizes):
        parser.error("give one --runs per --posts (or none)")
    print(f"machine: {os.cpu_count()} cores; load average before: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    for n, repeats in zip(sizes, runs, strict=True):
        db = args.workdir / f"posts-{n}" / "bench.duckdb"
        if not db.exists():
            db.parent.mkdir(parents=True, exist_ok=True)
            print(f"built {n:,} classified posts in {build(db, n):.0f} s", flush=True)
        results = []
        for _ in range(repeats):
            results.append(run_once(db))
            print(f"  run: analyze {results[-1]['analyze_s']:.1f} s, re-run "
                  f"{results[-1]['warm_s']:.1f} s, publish {results[-1]['publish_s']:.1f} s",
                  flush=True)
        med = {k: statistics.median(r[k] for r in results)
               for k in ("analyze_s", "warm_s", "publish_s", "peak_rss_mib")}
        writer = db.with_name(db.stem + ".writer" + db.suffix)
        per_million = 1_000_000 / n
        print(f"{n:,} posts, median of {repeats}: analyze() {med['analyze_s']:.1f} s, re-run "
              f"with the themes kept {med['warm_s']:.1f} s (the difference: encoding and "
              f"clustering the spikes' complaints), then publishing the snapshot "
              f"{med['publish_s']:.1f} s; peak RSS {med['peak_rss_mib']:,.0f} MiB")
        print(f"  {results[-1]['summary']}")
        print(f"  on disk: published {mib(db):,.0f} MiB ({mib(db) * per_million:,.0f} MiB per "
              f"million posts), writer file {mib(writer):,.0f} MiB "
              f"({mib(writer) * per_million:,.0f} MiB per million)", flush=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
