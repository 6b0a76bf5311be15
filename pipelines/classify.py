"""The classify step: runs the classifier over the warehouse's unclassified posts (or all of
them) in chunks, each chunk committed on its own, so an interrupted run resumes where it stopped.
Also classifies a post file without a warehouse."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.classifier import Classifier, ModelLoadError
from pipelines.errors import ImportFormatError, ModelError
from pipelines.warehouse.writer import Warehouse

CHUNK = 2048


@dataclass
class ClassifySummary:
    classified: int
    model_version: str

    def line(self) -> str:
        return f"{self.classified} posts classified with {self.model_version}"


def load_classifier(model_dir: Path | None) -> Classifier:
    try:
        return Classifier.load(model_dir)
    except ModelLoadError as e:
        raise ModelError(f"cannot load the classifier: {e}") from e


def count_to_classify(wh: Warehouse, everything: bool) -> int:
    sql = ("SELECT count(*) FROM post_records" if everything else
           "SELECT count(*) FROM post_records p ANTI JOIN classifications c USING (source, id)")
    return int(wh.con.execute(sql).fetchall()[0][0])


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
        })
    return pd.DataFrame(rows)


def classify_warehouse(wh: Warehouse, classifier: Classifier, everything: bool = False,
                       batch_size: int = 64, progress: Callable[[int], None] | None = None
                       ) -> ClassifySummary:
    done = 0
    after: tuple[str, str] | None = None
    while True:
        chunk = wh.unclassified_posts(CHUNK, everything=everything, after=after)
        if chunk.empty:
            break
        results = classifier.classify(chunk["text"].tolist(), batch_size=batch_size,
                                      progress=progress)
        with wh.transaction():
            wh.write_classifications(
                classification_rows(chunk, results, classifier.model_version))
        done += len(chunk)
        last = chunk.iloc[-1]
        after = (str(last["source"]), str(last["id"]))
    return ClassifySummary(done, classifier.model_version)


def classify_file(in_path: Path, out_path: Path, classifier: Classifier, batch_size: int = 64,
                  progress: Callable[[int], None] | None = None) -> int:
    """Each output line is the input record plus the classification fields. Lines that are not
    JSON objects with a string `text` are reported, not guessed at."""
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
    results = classifier.classify([r["text"] for r in records], batch_size=batch_size,
                                  progress=progress)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as out:
        for record, result in zip(records, results, strict=True):
            out.write(json.dumps({**record, **result.as_dict()}, ensure_ascii=False) + "\n")
    return len(records)
