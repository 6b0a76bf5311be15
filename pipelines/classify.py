"""The classify step's pieces: loading the classifier, the warehouse rows of its labels,
classifying a post file without a warehouse, and training a complaint-type head on a user's
CSV. Runs over the warehouse are `pipelines.classify_run`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.classifier import Classifier, ModelLoadError
from pipelines.errors import ImportFormatError, ModelError


@dataclass
class ClassifySummary:
    classified: int
    model_version: str
    encoded: int  # distinct texts the encoder read: reposts and copies are read once

    def line(self) -> str:
        return (f"{self.classified} posts classified with {self.model_version} "
                f"({self.encoded} distinct texts encoded)")


def load_classifier(model_dir: Path | None) -> Classifier:
    try:
        return Classifier.load(model_dir)
    except ModelLoadError as e:
        raise ModelError(f"cannot load the classifier: {e}") from e


def classification_rows(keys: pd.DataFrame, results: list[Any], model_version: str
                        ) -> pd.DataFrame:
    rows = []
    for (source, post_id), r in zip(keys[["source", "id"]].itertuples(index=False), results,
                                    strict=True):
        rows.append({
            "source": source, "id": post_id, "model_version": model_version,
            "sentiment": r.sentiment, "sentiment_scores": json.dumps(r.sentiment_scores),
            "is_complaint": r.is_complaint, "complaint_probability": r.complaint_probability,
            "complaint_type": r.complaint_type, "complaint_scores": json.dumps(r.complaint_scores),
            "uncertain": r.uncertain, "language": r.language,
            "unsupported_language": r.unsupported_language,
        })
    return pd.DataFrame(rows)


def classify_file(in_path: Path, out_path: Path, classifier: Classifier, batch_size: int = 64,
                  progress: Callable[[int], None] | None = None) -> int:
    """Each output line is the input record plus the classification fields (the DESIGN.md six,
    then uncertain, language, unsupported_language). Lines that are not JSON objects with a
    string `text` are reported, not guessed at."""
    records: list[dict[str, Any]] = []
    try:
        lines = in_path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ImportFormatError(f"cannot read {in_path}: {e}") from e
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ImportFormatError(f"{in_path}:{lineno}: malformed JSON: {e.msg}") from e
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ImportFormatError(f"{in_path}:{lineno}: expected an object with a `text`")
        records.append(record)
    langs = [r.get("lang") if isinstance(r.get("lang"), str) else None for r in records]
    results = classifier.classify([r["text"] for r in records], batch_size=batch_size,
                                  progress=progress, langs=langs)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as out:
        for record, result in zip(records, results, strict=True):
            out.write(json.dumps({**record, **result.as_dict()}, ensure_ascii=False) + "\n")
    return len(records)


@dataclass
class TrainSummary:
    rows: int
    skipped: int
    labels: dict[str, int]
    cv_macro_f1: float
    out_dir: Path

    def line(self) -> str:
        counts = ", ".join(f"{label} {n}" for label, n in self.labels.items())
        return (f"trained on {self.rows} posts ({self.skipped} rows without text or label "
                f"skipped; {counts}); cross-validated macro F1 {self.cv_macro_f1:.3f} -> "
                f"{self.out_dir}")


def read_labelled_csv(path: Path, text_col: str, label_col: str
                      ) -> tuple[list[str], list[str], int]:
    """(texts, labels, rows skipped) from a user's CSV; rows missing either value are skipped."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ImportFormatError(f"cannot read {path} as CSV: {e}") from e
    missing = [c for c in (text_col, label_col) if c not in frame.columns]
    if missing:
        raise ImportFormatError(
            f"{path} has no column {', '.join(missing)} (columns: {', '.join(frame.columns)})")
    texts = frame[text_col].str.strip()
    labels = frame[label_col].str.strip()
    keep = (texts != "") & (labels != "")
    return texts[keep].tolist(), labels[keep].tolist(), int((~keep).sum())


def train_complaint_csv(path: Path, text_col: str, label_col: str, out_dir: Path,
                        base_dir: Path | None = None) -> TrainSummary:
    """`aftershock train complaint`: a complaint-type head on the user's labelled posts, written
    with the base model's encoder and other heads into `out_dir` for `classify --model`."""
    from analysis.classifier.model import DEFAULT_MODEL_DIR
    from analysis.classifier.training import retrain_complaint_type

    texts, labels, skipped = read_labelled_csv(path, text_col, label_col)
    counts = {label: labels.count(label) for label in sorted(set(labels))}
    too_few = [label for label, n in counts.items() if n < 2]
    if len(counts) < 2 or too_few:
        raise ImportFormatError(
            f"{path}: need at least 2 labels with 2+ posts each; counts are {counts}")
    base = base_dir or DEFAULT_MODEL_DIR
    classifier = load_classifier(base)
    try:
        info = retrain_complaint_type(classifier.encoder, texts, labels, base_dir=base,
                                      out_dir=out_dir, data_note=f"{path.name}: {label_col}")
    except ValueError as e:
        raise ImportFormatError(f"cannot train on {path}: {e}") from e
    return TrainSummary(len(texts), skipped, counts, float(info["cv_score"]), out_dir)
