"""Times each stage of the demo pipeline (import, status, classify, analyze, publish included)
on the bundled demo data, in this process, without Prefect, and prints posts/s and peak memory.

Baseline, run in the same process: classifying a sample of the demo posts one text at a time
with no de-duplication (what a naive loop over the posts would do), against the pipeline's
batched, de-duplicated classify on the same sample.

    python bench/demo_pipeline.py [--sample 2000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from pipelines.analyze import analyze
from pipelines.classify import load_classifier
from pipelines.classify_run import classify_planned, local_labeller, plan_classification
from pipelines.config import load_config
from pipelines.importers import import_posts
from pipelines.settings import BUNDLED_CONFIG, load_settings
from pipelines.status_import import parse_status, read_source
from pipelines.warehouse.writer import writing


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, n: int | None, fn):  # type: ignore[no-untyped-def]
    """Runs fn, printing its time, its throughput over n posts (if it handles posts) and the
    process's peak memory so far."""
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    rate = f"{n / seconds:9.0f} posts/s" if n else " " * 16
    print(f"{label:<10} {seconds:8.1f} s  {rate}  peak RSS {peak_rss_mib():7.0f} MiB")
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sample", type=int, default=2000, help="posts in the baseline comparison")
    parser.add_argument("--repeats", type=int, default=3, help="baseline repeats (median quoted)")
    args = parser.parse_args()
    demo = load_settings().demo_dir
    config = load_config(BUNDLED_CONFIG)
    with gzip.open(demo / "posts.jsonl.gz", "rt") as f:
        texts = [json.loads(line)["text"] for line in f]
    n_posts = len(texts)
    db = Path(tempfile.mkdtemp()) / "bench.duckdb"
    classifier = load_classifier(None)
    total = 0.0
    print(f"demo: {n_posts} posts, warehouse {db}")

    def run_import():  # type: ignore[no-untyped-def]
        with writing(db) as wh:
            return import_posts(wh, demo / "posts.jsonl.gz", config.matcher())

    def run_status():  # type: ignore[no-untyped-def]
        batch = parse_status(read_source(str(demo / "incidents_icpe.csv")), None, "demo")
        with writing(db) as wh:
            return wh.upsert_incidents(batch.incidents, batch.updates)

    def run_classify():  # type: ignore[no-untyped-def]
        with writing(db) as wh:
            plan = plan_classification(wh, classifier.model_version, everything=False)
            return classify_planned(wh, local_labeller(classifier, 64), plan)

    def run_analyze():  # type: ignore[no-untyped-def]
        with writing(db) as wh:
            return analyze(wh, config.dependencies(), config.services)

    for label, fn in [("import", run_import), ("status", run_status),
                      ("classify", run_classify), ("analyze", run_analyze)]:
        seconds, _ = timed(label, None if label == "status" else n_posts, fn)
        total += seconds
    print(f"{'total':<10} {total:8.1f} s  {n_posts / total:9.0f} posts/s")

    texts = texts[: args.sample]
    ours, naive = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        classifier.classify(texts)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        for text in texts:
            classifier.classify([text])
        naive.append(time.perf_counter() - start)
    o, b = statistics.median(ours), statistics.median(naive)
    print(f"classify {len(texts)} demo posts, median of {args.repeats}: batched+deduplicated "
          f"{len(texts) / o:.0f} posts/s, baseline one-at-a-time {len(texts) / b:.0f} posts/s, "
          f"ratio {b / o:.1f}x")


if __name__ == "__main__":
    main()
