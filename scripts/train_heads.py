#!/usr/bin/env python
"""Retrain the sentiment, is-complaint and complaint-type heads on the served (int8 ONNX)
encoder's embeddings.

    python scripts/train_heads.py                  # writes analysis/models/default/
    python scripts/train_heads.py --out /tmp/heads --data /path/to/shared/data
    python scripts/train_heads.py --encoder-dir DIR   # heads for the encoder.onnx in DIR

The encoder is read from --encoder-dir (default: the --out dir); when that holds no
encoder.onnx, the stock all-MiniLM-L6-v2 is exported to int8 ONNX first (needs torch). The heads
are trained on exactly the vectors the served encoder gives (quantisation shifts them). Needs
the train extra (pip install -e '.[train]'). Never reads any TweetEval/SemEval-2017 test set;
the TweetEval validation split is only scored, and its texts are removed from training.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from analysis.classifier.encoder import (
    EMBEDDING_DIM,
    ENCODER_NAME,
    ENCODER_PACKAGE,
    MAX_TOKENS,
    ONNX_FILE,
    OnnxEncoder,
)
from analysis.classifier.heads import LinearHead
from analysis.classifier.model import COMPLAINT_LABELS, SENTIMENT_LABELS
from analysis.classifier.taxonomy import DEFAULT_TAXONOMY_PATH, load_taxonomy
from analysis.classifier.text import PREPROCESS_NAME, normalise
from analysis.classifier.training import (
    copy_encoder,
    embed,
    fit_logreg,
    ngram_texts,
    ngram_texts_for,
    weights_digest,
    write_model,
)
from analysis.classifier.training_data import (
    CALIBRATION_ONE_IN,
    calibration_split,
    read_complaints,
    read_seed,
    seed_as_complaints,
    sentiment_splits,
)

DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
DEFAULT_SEED = REPO_ROOT / "data" / "labels" / "complaint_type_seed.csv"
DEFAULT_OUT = REPO_ROOT / "analysis" / "models" / "default"
DEFAULT_CACHE = REPO_ROOT / ".cache" / "embeddings"
TRAINING_DATA = {
    "sentiment": "SemEval-2013..2016 Task 4 subtask A English tweets (Nakov et al. 2013, "
    "Rosenthal et al. 2014, 2015, Nakov et al. 2016), deduplicated; exact and near copies "
    "(TF-IDF cosine > 0.8) of the TweetEval validation split (Barbieri et al. 2020) removed; "
    "no SemEval-2017 / TweetEval test data",
    "is_complaint": "Preotiuc-Pietro, Gaman and Aletras, 'Automatically Identifying Complaints "
    "in Social Media', ACL 2019 (training split as provided) + the seed set",
    "complaint_type": "data/labels/complaint_type_seed.csv: hand-written posts, one per "
    "taxonomy label row (analysis/taxonomy/complaint_types.toml)",
    "not_used": "airline negativereason (Twitter US Airline Sentiment): no honest mapping "
    "onto the online-service taxonomy",
}
# The is-complaint head's weight in P(complaint), beside the type head's complaint mass
# (analysis.classifier.model.mix_complaint). Picked from 1 / 0.85 / 0.75 / 0.65 / 0.5 by
# scripts/probe_complaint_gate.py on the 5,017-post seed set: 0.75 lifts the complaint type as
# shipped by 0.019 and is-complaint on the seed posts by 0.025, and moves is-complaint on the
# complaints data by -0.002 (noise: 0.003).
COMPLAINT_MIX = 0.75
# Sentiment has ~48k rows: 3 folds and a shorter C grid keep training well under 15 minutes.
SENTIMENT_CS = (0.3, 1.0, 3.0, 10.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    parser.add_argument("--taxonomy", type=Path, default=DEFAULT_TAXONOMY_PATH)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--encoder-dir", type=Path, default=None, help="dir with encoder.onnx (default: --out)"
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--no-cache", action="store_true", help="do not read or write embeddings")
    parser.add_argument("--version", help="model_version (default minilm-l6-v2+heads-YYYY.MM.DD)")
    return parser.parse_args(argv)


def train_sentiment(
    encoder: OnnxEncoder, data: Path, cache: Path | None
) -> tuple[LinearHead, dict[str, Any]]:
    train, val = sentiment_splits(data)
    train, held_out = calibration_split(train)
    x = embed(encoder, train.texts, desc="SemEval 2013-16", cache_dir=cache)
    x_cal = embed(encoder, held_out.texts, desc="calibration slice", cache_dir=cache)
    # No n-grams here: on the fine-tuned encoder they moved TweetEval macro recall by +0.0004
    # (0.7377 -> 0.7381) for 151k more weights; they help the complaint heads (model card).
    head, info = fit_logreg(
        x, train.labels, SENTIMENT_LABELS, scoring="recall_macro", cs=SENTIMENT_CS, folds=3,
        calibration=(x_cal, held_out.labels),
    )
    x_val = embed(encoder, val.texts, desc="TweetEval val", cache_dir=cache)
    info["tweeteval_val_macro_recall"] = round(macro_recall(head, x_val, val.texts, val.labels), 4)
    info["data_notes"] = train.notes
    return head, info


def macro_recall(head: LinearHead, x: np.ndarray, texts: list[str], gold: list[str]) -> float:
    probs = head.predict_proba(x, ngram_texts_for(head, texts))
    predicted = np.array(head.labels)[probs.argmax(axis=1)]
    gold_arr = np.array(gold)
    return float(np.mean([(predicted[gold_arr == c] == c).mean() for c in sorted(set(gold))]))


def train_is_complaint(
    encoder: OnnxEncoder, data: Path, seed_csv: Path, non_complaint: set[str], cache: Path | None
) -> tuple[LinearHead, dict[str, Any]]:
    complaints, _ = read_complaints(data)
    seed = seed_as_complaints(read_seed(seed_csv), non_complaint)
    texts, labels = complaints.texts + seed.texts, complaints.labels + seed.labels
    x = embed(encoder, texts, desc="complaints + seed", cache_dir=cache)
    head, info = fit_logreg(
        x, labels, COMPLAINT_LABELS, scoring="f1_macro", texts_for_ngrams=ngram_texts(texts)
    )
    info["sources"] = {"preotiuc_pietro_2019": len(complaints.texts), "seed": len(seed.texts)}
    return head, info


def train_complaint_type(
    encoder: OnnxEncoder, seed_csv: Path, taxonomy: Path, cache: Path | None
) -> tuple[LinearHead, dict[str, Any]]:
    labels = load_taxonomy(taxonomy)
    names = [label.name for label in labels]
    mask = np.array([label.is_complaint for label in labels])
    seed = read_seed(seed_csv)
    x = embed(encoder, seed.texts, desc="complaint-type seed", cache_dir=cache)
    return fit_logreg(
        x,
        seed.labels,
        names,
        scoring="f1_macro",
        complaint_mask=mask,
        texts_for_ngrams=ngram_texts(seed.texts),
    )


def calibration_texts(data: Path) -> list[str]:
    """Training texts (the complaints training split, never TweetEval) that fix the static int8
    encoder's activation scales. Not the seed set: editing the taxonomy's posts and retraining
    must not move the encoder."""
    complaints, _ = read_complaints(data)
    return [normalise(t) for t in complaints.texts]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    encoder_dir = args.encoder_dir or args.out
    if not (encoder_dir / ONNX_FILE).is_file():
        from analysis.classifier.export import export_encoder

        print(f"exporting the stock {ENCODER_NAME} to int8 ONNX in {encoder_dir}", flush=True)
        export_encoder(
            encoder_dir, calibration_texts=calibration_texts(args.data)
        )
    train_heads(
        args.out,
        OnnxEncoder(encoder_dir),
        data=args.data,
        seed_csv=args.seed_csv,
        taxonomy_path=args.taxonomy,
        cache=None if args.no_cache else args.cache_dir,
        version=args.version,
    )
    if encoder_dir.resolve() != args.out.resolve():
        copy_encoder(encoder_dir, args.out)
    return 0


def train_heads(
    out: Path,
    encoder: OnnxEncoder,
    *,
    data: Path = DEFAULT_DATA,
    seed_csv: Path = DEFAULT_SEED,
    taxonomy_path: Path = DEFAULT_TAXONOMY_PATH,
    cache: Path | None = DEFAULT_CACHE,
    version: str | None = None,
    encoder_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit the three heads on `encoder`'s vectors and write them with meta.json into `out`."""
    started = time.monotonic()
    taxonomy = load_taxonomy(taxonomy_path)
    non_complaint = {label.name for label in taxonomy if not label.is_complaint}

    sentiment, sentiment_info = train_sentiment(encoder, data, cache)
    print(f"sentiment: {sentiment_info}")
    complaint, complaint_info = train_is_complaint(encoder, data, seed_csv, non_complaint, cache)
    print(f"is_complaint: {complaint_info}")
    types, types_info = train_complaint_type(encoder, seed_csv, taxonomy_path, cache)
    print(f"complaint_type: {types_info}")

    today = datetime.now(UTC)
    digest = weights_digest(
        encoder.sha256, {"sentiment": sentiment, "is_complaint": complaint, "complaint_type": types}
    )
    fine_tuned = bool((encoder_info or {}).get("fine_tuned"))
    layers = (encoder_info or {}).get("fine_tuning", {}).get("layers", 6)
    default_version = "minilm-l6-v2-int8s"
    if fine_tuned:
        default_version = "minilm-l6-v2-ft" if layers == 6 else f"minilm-l6-v2-ft-l{layers}"
    meta = {
        "format_version": 2,
        "model_version": version or f"{default_version}+heads-{today:%Y.%m.%d}.{digest}",
        "trained_at": today.isoformat(timespec="seconds"),
        "encoder": {
            "name": ENCODER_NAME,
            "package": ENCODER_PACKAGE,
            "dim": EMBEDDING_DIM,
            "normalization": "l2",
            "pooling": "mean",
            "file": ONNX_FILE,
            "sha256": encoder.sha256,
            "runtime": "onnxruntime",
            "precision": "int8 (static QDQ, per-channel weights, calibrated activation scales)",
            "max_seq_length": MAX_TOKENS,
            "fine_tuned": fine_tuned,
            **(encoder_info or {}),
        },
        "preprocess": PREPROCESS_NAME,
        "training_data": TRAINING_DATA,
        "heads": {
            "sentiment": {
                "labels": list(sentiment.labels),
                "training": sentiment_info,
                "data": "SemEval-2013..2016 Task 4A (train/dev/test files), minus "
                "TweetEval validation texts and their near copies; one tweet in "
                f"{CALIBRATION_ONE_IN} held out of fine-tuning and weights, for the temperature",
            },
            "is_complaint": {
                "labels": list(complaint.labels),
                "training": complaint_info,
                "data": "Preotiuc-Pietro et al. ACL 2019 complaints + seed set "
                f"(types other than {sorted(non_complaint)} = complaint)",
            },
            "complaint_type": {
                "labels": list(types.labels),
                "non_complaint_labels": sorted(non_complaint),
                "training": types_info,
                "data": str(seed_csv.name),
            },
        },
        "complaint_mix": COMPLAINT_MIX,
        "complaint_rule": "P(complaint) = complaint_mix * the is_complaint head's probability + "
        "(1 - complaint_mix) * the complaint_type head's mass on the complaint labels; "
        "is_complaint = P(complaint) >= 0.5; complaint_scores = P(complaint) * P(type | complaint group) and "
        "(1 - P(complaint)) * P(type | non-complaint group); complaint_type "
        "= best label within the chosen group",
        "validation": {
            "tweeteval_val_sentiment_macro_recall": sentiment_info["tweeteval_val_macro_recall"],
            "see": "scripts/evaluate_classifier.py and docs/model-card.md",
        },
    }
    write_model(
        out, {"sentiment": sentiment, "is_complaint": complaint, "complaint_type": types}, meta
    )
    print(f"wrote {out} ({meta['model_version']}) in {time.monotonic() - started:.0f}s")
    return meta


if __name__ == "__main__":
    raise SystemExit(main())
