#!/usr/bin/env python
"""Build the served classifier from ../shared/data in one command: MiniLM fine-tuned on
sentiment and cut to its lower 3 layers, exported to int8 ONNX, then the three heads fitted on
that int8 encoder's vectors.

    pip install -e '.[train]'
    python scripts/train_model.py                  # the shipped model (about 45 min, 2 cores)
    python scripts/train_model.py --layers 6 --out /tmp/l6     # all 6 layers: 1.7x slower to
                                                               # serve, a little more accurate
    python scripts/train_model.py --frozen --out /tmp/frozen   # stock MiniLM, no fine-tuning

Steps, each with a progress bar, on a 2-core CPU with no GPU:
1. fine-tune all-MiniLM-L6-v2 on SemEval 2013-2016 sentiment (TweetEval validation tweets and
   their near copies removed, and one tweet in 20 held out to calibrate the sentiment head's
   probabilities on), optionally with the complaints data and the seed set (--with-complaints:
   one post in 5 of each, chosen by a hash of its text, is held out, and the evaluation scores
   the complaint heads on that fifth only); --frozen skips this step;
   then (--layers 3, the default) fine-tune its lower 3 layers alone for another epoch, their
   sentence vectors also pulled towards the 6-layer model's (distillation, --distill-weight);
2. export the encoder to ONNX with pooling in the graph, static int8 (activation scales
   calibrated on complaints training texts, never the seed set: batch-independent);
3. fit the sentiment, is-complaint and complaint-type heads on the int8 vectors (the complaint
   heads also on character n-grams; scripts/train_heads.py), with C and temperature chosen by
   cross-validation.
Never reads any TweetEval / SemEval-2017 test set. Measure the result with
scripts/evaluate_classifier.py --model OUT.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from train_heads import (
    DEFAULT_CACHE,
    DEFAULT_DATA,
    DEFAULT_OUT,
    DEFAULT_SEED,
    calibration_texts,
    train_heads,
)

from analysis.classifier.encoder import OnnxEncoder
from analysis.classifier.export import export_encoder
from analysis.classifier.model import COMPLAINT_LABELS, SENTIMENT_LABELS
from analysis.classifier.taxonomy import DEFAULT_TAXONOMY_PATH, load_taxonomy
from analysis.classifier.training_data import (
    COMPLAINT_HOLDOUT_ONE_IN,
    calibration_split,
    hash_split,
    read_complaints,
    read_seed,
    seed_as_complaints,
    sentiment_splits,
)

FULL_DEPTH = 6  # MiniLM-L6's transformer layers
DEFAULT_LAYERS = 3  # 1.7x faster to serve than 6, at a small cost (docs/model-card.md)
DISTILL_WEIGHT = 5.0
FINETUNING_INFO = "fine_tuning.json"  # kept beside a saved checkpoint, for --finetuned


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    parser.add_argument("--taxonomy", type=Path, default=DEFAULT_TAXONOMY_PATH)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--version", default=None)
    parser.add_argument("--frozen", action="store_true",
                        help="skip fine-tuning: heads on the stock MiniLM (minutes, lower scores)")
    parser.add_argument("--with-complaints", action="store_true",
                        help="also fine-tune on the complaints data and the seed set, all "
                        "but a held-out fifth that the evaluation scores")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--sentiment-limit", type=int, default=None,
                        help="fine-tune on a random subset of this many sentiment tweets")
    parser.add_argument("--layers", type=int, default=None,
                        help=f"ship only the first N of MiniLM's 6 layers (default "
                        f"{DEFAULT_LAYERS}: 1.7x faster to serve than 6, sentiment and "
                        "is-complaint 0.006-0.007 lower, see the model card); fewer than 6 first "
                        "fine-tunes all 6 layers, then the lower N")
    parser.add_argument("--start-from", type=Path, default=None, metavar="DIR",
                        help="fine-tune this transformers checkpoint instead of the stock "
                        "MiniLM (e.g. one saved by --keep-finetuned)")
    parser.add_argument("--distill-weight", type=float, default=DISTILL_WEIGHT, metavar="W",
                        help="with fewer than 6 layers: also pull the shallow encoder's vectors "
                        "towards the full-depth model's (weight of the 1 - cosine loss; 0: off; "
                        f"default {DISTILL_WEIGHT})")
    parser.add_argument("--finetuned", type=Path, default=None, metavar="DIR",
                        help="skip fine-tuning: export and fit heads on this already fine-tuned "
                        "checkpoint (one saved by --keep-finetuned)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--keep-finetuned", type=Path, default=None, metavar="DIR",
                        help="also save the fine-tuned fp32 transformers checkpoint in DIR "
                        "(to re-export it later without fine-tuning again)")
    args = parser.parse_args(argv)
    if args.finetuned is not None and (args.frozen or args.layers or args.start_from):
        parser.error("--finetuned exports a finished checkpoint: no --frozen/--layers/--start-from")
    if args.layers is not None and args.frozen and args.layers < FULL_DEPTH:
        parser.error("--layers needs fine-tuning (a truncated encoder must be retrained)")
    if args.layers is None:
        fixed = args.frozen or args.finetuned is not None  # nothing to truncate and retrain
        args.layers = FULL_DEPTH if fixed else DEFAULT_LAYERS
    return args


def finetune_tasks(args: argparse.Namespace) -> list:  # type: ignore[type-arg]
    from analysis.classifier.finetune import Task

    train, _ = calibration_split(sentiment_splits(args.data)[0])  # the slice stays unseen
    rows = list(range(len(train.texts)))
    if args.sentiment_limit is not None and args.sentiment_limit < len(rows):
        rows = sorted(random.Random(0).sample(rows, args.sentiment_limit))
    tasks = [Task("sentiment", [train.texts[i] for i in rows], [train.labels[i] for i in rows],
                  SENTIMENT_LABELS)]
    if args.with_complaints:
        taxonomy = load_taxonomy(args.taxonomy)
        # The held-out fifth stays unseen, so the complaint heads can still be scored honestly
        # (scripts/evaluate_classifier.py scores only it for such an encoder).
        seed = hash_split(read_seed(args.seed_csv), COMPLAINT_HOLDOUT_ONE_IN)[0]
        complaints = hash_split(read_complaints(args.data)[0], COMPLAINT_HOLDOUT_ONE_IN)[0]
        non_complaint = {label.name for label in taxonomy if not label.is_complaint}
        binary = seed_as_complaints(seed, non_complaint)
        tasks.append(Task("is_complaint", complaints.texts + binary.texts,
                          complaints.labels + binary.labels, COMPLAINT_LABELS))
        tasks.append(Task("complaint_type", seed.texts, seed.labels,
                          tuple(label.name for label in taxonomy)))
    return tasks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    encoder_info: dict[str, object] = {"fine_tuned": False}
    with tempfile.TemporaryDirectory() as tmp:
        hf_dir = None
        if args.finetuned is not None:
            hf_dir = args.finetuned
            encoder_info = {"fine_tuned": True, "fine_tuning": read_finetuning_info(hf_dir)}
        elif not args.frozen:
            hf_dir = Path(tmp) / "finetuned"
            info = run_finetuning(args, hf_dir, Path(tmp) / "full-depth")
            encoder_info = {"fine_tuned": True, "fine_tuning": info}
            print(f"fine-tuned: {info}", flush=True)
            if args.keep_finetuned is not None:
                shutil.copytree(hf_dir, args.keep_finetuned, dirs_exist_ok=True)
        print("exporting the encoder to int8 ONNX...", flush=True)
        export_encoder(
            args.out, hf_dir, calibration_texts=calibration_texts(args.data)
        )
    train_heads(
        args.out,
        OnnxEncoder(args.out, threads=args.threads),
        data=args.data,
        seed_csv=args.seed_csv,
        taxonomy_path=args.taxonomy,
        cache=args.cache_dir,
        version=args.version,
        encoder_info=encoder_info,
    )
    print(f"model written to {args.out} in {(time.monotonic() - started) / 60:.1f} min")
    return 0


def run_finetuning(args: argparse.Namespace, hf_dir: Path, full_depth_dir: Path) -> dict:  # type: ignore[type-arg]
    """Fine-tune into hf_dir; returns what meta.json records about it (also saved in hf_dir)."""
    from analysis.classifier.finetune import FinetuneConfig, finetune

    tasks = finetune_tasks(args)
    start, first_stage = args.start_from, None
    shallower = args.layers < FULL_DEPTH
    if shallower and start is None:
        # Stage 1: the whole encoder learns the task, then its lower layers are kept and tuned
        # on, with it as their teacher (3 layers: docs/model-card.md).
        start = full_depth_dir
        first_stage = finetune(tasks, start, FinetuneConfig(
            epochs=args.epochs, threads=args.threads, desc="stage 1: all 6 layers"))
    teacher = start if shallower and args.distill_weight > 0 else None
    config = FinetuneConfig(epochs=args.epochs, threads=args.threads, layers=args.layers,
                            start_from=start, teacher=teacher, distill_weight=args.distill_weight)
    info = finetune(tasks, hf_dir, config)
    if args.with_complaints:
        info["complaints_held_out"] = f"1 post in {COMPLAINT_HOLDOUT_ONE_IN}, by text hash"
    if first_stage is None and start is not None:
        first_stage = read_finetuning_info(start)
    if first_stage is not None:
        info["started_from"] = {"full_depth_fine_tuning" if shallower else "checkpoint": first_stage}
    info.pop("distilled_from", None)  # the teacher is the checkpoint it started from (above)
    (hf_dir / FINETUNING_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def read_finetuning_info(hf_dir: Path) -> dict:  # type: ignore[type-arg]
    """What fine-tuning made hf_dir, as saved by --keep-finetuned (older checkpoints: unknown)."""
    path = hf_dir / FINETUNING_INFO
    if not path.exists():
        return {"checkpoint": str(hf_dir), "details": "unknown (no fine_tuning.json)"}
    info: dict = json.loads(path.read_text(encoding="utf-8"))  # type: ignore[type-arg]
    return info


if __name__ == "__main__":
    raise SystemExit(main())
