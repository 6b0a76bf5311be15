#!/usr/bin/env python
"""Classifier speed: posts/s and peak memory, served int8 ONNX vs the plain fp32 torch path.

    python bench/classify_speed.py                       # 10,000 and 100,000 posts, 3 repeats
    python bench/classify_speed.py --sizes 10000 --repeats 1 --baseline-limit 2000
    python bench/classify_speed.py --model OTHER_DIR --no-baseline   # another model directory

Each measurement runs in a fresh subprocess limited to --threads intra-op threads (default 2),
so its peak RSS (getrusage high-water mark) is its own. The posts are *distinct* tweets from
../shared/data (SemEval sentiment, complaints, airline), extended with a service hashtag when
more are needed than the corpora hold, so dedup never inflates the count.

- int8 end to end: `Classifier.classify` as served (tokenisation, encoder, all three heads,
  dedup, language flag), after `Classifier.load`, whose time is reported as the load time.
- fp32 baseline: the plain transformers AutoModel (torch) encoder with the same batch size and
  length sorting, plus the heads (needs the train extra). It runs the stock all-MiniLM-L6-v2
  weights cut to the served model's depth (meta.json), so both run the same graph shape. --baseline-limit caps its posts, since
  at ~200 posts/s 100,000 posts take minutes; its rate barely depends on the count.
Medians over --repeats are printed, with posts per CPU-second (user + system time of the
measuring process): on a machine shared with other work, wall-clock posts/s drops with the load
while posts per CPU-second does not, and on 2 idle cores wall posts/s is close to twice it.
The load average is printed too, to read the wall-clock figures by.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
TAGS = ("notion", "slack", "github", "claude", "chatgpt", "figma", "zoom", "discord", "aws",
        "stripe", "spotify", "vercel", "jira", "dropbox", "teams", "gmail")


def corpus_texts(data: Path) -> list[str]:
    """Distinct real tweets from the shared corpora, in a fixed order."""
    texts: list[str] = []
    for path in sorted((data / "sentiment").glob("twitter-*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                texts.append(parts[2])
    for path, column in ((data / "complaints" / "complaints_train.csv", "text"),
                         (data / "airline" / "tweets_train.csv", "text")):
        with path.open(encoding="utf-8", newline="") as f:
            texts.extend(row[column] for row in csv.DictReader(f))
    return list(dict.fromkeys(t.strip() for t in texts if t.strip()))


def distinct_posts(data: Path, n: int) -> list[str]:
    pool = corpus_texts(data)
    posts = list(pool[:n])
    round_ = 0
    while len(posts) < n:  # more than the corpora hold: the same tweets about another service
        tag = TAGS[round_ % len(TAGS)]
        posts.extend(f"{t} #{tag}{round_ // len(TAGS) or ''}" for t in pool[: n - len(posts)])
        round_ += 1
    return posts


def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints one JSON line."""
    import resource

    posts = distinct_posts(args.data, args.n)
    started = time.perf_counter()
    cpu_started = time.process_time()
    if args.child == "int8":
        from analysis.classifier import Classifier

        clf = Classifier.load(args.model, threads=args.threads)
        load_s = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        results = clf.classify(posts, batch_size=args.batch_size)
        elapsed = time.perf_counter() - started
        torch_loaded = "torch" in sys.modules
    else:
        from analysis.classifier.heads import LinearHead
        from analysis.classifier.model import DEFAULT_MODEL_DIR, HEAD_FILES
        from analysis.classifier.text import normalise
        from analysis.classifier.torch_encoder import TorchMiniLMEncoder

        model_dir = args.model or DEFAULT_MODEL_DIR
        encoder = TorchMiniLMEncoder(threads=args.threads, layers=served_depth(model_dir))
        heads = {k: LinearHead.load(model_dir / f) for k, f in HEAD_FILES.items()}
        load_s = time.perf_counter() - started
        started, cpu_started = time.perf_counter(), time.process_time()
        texts = [normalise(p) for p in posts]
        vectors = encoder.encode(texts, batch_size=args.batch_size)
        results = [head.predict_proba(vectors, texts) for head in heads.values()]
        elapsed = time.perf_counter() - started
        torch_loaded = True
    if len(results[0] if args.child == "fp32" else results) != len(posts):
        raise SystemExit(f"{args.child}: {len(posts)} posts in, a different count out")
    cpu_s = time.process_time() - cpu_started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "config": args.child, "posts": len(posts), "seconds": elapsed,
        "posts_per_s": len(posts) / elapsed, "load_s": load_s,
        "posts_per_cpu_s": len(posts) / cpu_s,
        "peak_rss_mib": peak_kib / 1024, "torch_loaded": torch_loaded,
    }))


def served_depth(model_dir: Path) -> int | None:
    """The served encoder's layer count (meta.json), so the baseline runs as many layers."""
    meta = json.loads((model_dir / "meta.json").read_text(encoding="utf-8"))
    layers = meta["encoder"].get("fine_tuning", {}).get("layers")
    return int(layers) if layers is not None else None


def measure(config: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", config, "--n", str(n),
               "--threads", str(args.threads), "--batch-size", str(args.batch_size),
               "--data", str(args.data)]
    if args.model is not None:
        command += ["--model", str(args.model)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{config} n={n} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--baseline-limit", type=int, default=None,
                        help="cap on the fp32 baseline's posts per size (default: no cap)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: bundled)")
    parser.add_argument("--child", choices=["int8", "fp32"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.path.insert(0, str(REPO_ROOT))
        child(args)
        return 0

    print(f"{'config':28} {'posts':>8} {'posts/s':>8} {'/cpu-s':>7} {'peak MiB':>9} "
          f"{'load s':>7} {'torch?':>6}  (median of {args.repeats}, {args.threads} threads)")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    depth = served_depth(args.model or (REPO_ROOT / "analysis" / "models" / "default"))
    for n in args.sizes:
        configs = [("int8", n, "int8 ONNX, end to end")]
        if not args.no_baseline:
            base_n = min(n, args.baseline_limit or n)
            configs.append(("fp32", base_n, f"fp32 torch, {depth or 6} layers, + heads"))
        medians: dict[str, tuple[float, float]] = {}
        for config, count, label in configs:
            runs = [measure(config, count, args) for _ in range(args.repeats)]
            rate = statistics.median(r["posts_per_s"] for r in runs)
            per_cpu = statistics.median(r["posts_per_cpu_s"] for r in runs)
            peak = statistics.median(r["peak_rss_mib"] for r in runs)
            load = statistics.median(r["load_s"] for r in runs)
            medians[config] = (rate, per_cpu)
            print(f"{label:28} {count:>8} {rate:>8.0f} {per_cpu:>7.0f} {peak:>9.0f} {load:>7.2f} "
                  f"{'yes' if runs[0]['torch_loaded'] else 'no':>6}", flush=True)
        if "fp32" in medians:
            (rate, per_cpu), (base_rate, base_per_cpu) = medians["int8"], medians["fp32"]
            print(f"{'int8 / fp32 baseline':28} {'':>8} {rate / base_rate:>7.2f}x "
                  f"{per_cpu / base_per_cpu:>6.2f}x", flush=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
