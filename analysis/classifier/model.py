"""Sentiment + complaint classification: one MiniLM embedding per text, three linear heads."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analysis.classifier.encoder import (
    DEFAULT_MODEL_DIR,
    ENCODER_NAME,
    ONNX_FILE,
    Encoder,
    OnnxEncoder,
    file_sha256,
)
from analysis.classifier.errors import ModelLoadError
from analysis.classifier.heads import FloatArray, LinearHead
from analysis.classifier.language import UNKNOWN, is_supported
from analysis.classifier.text import PREPROCESS_NAME, normalise

SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
COMPLAINT_LABELS: tuple[str, ...] = ("not_complaint", "complaint")

# Distinct texts go to the encoder in groups of this many batches: big enough for the
# encoder's length sort to pay off, small enough for a steady progress bar.
GROUP_BATCHES = 16

HEAD_FILES = {
    "sentiment": "sentiment.npz",
    "is_complaint": "is_complaint.npz",
    "complaint_type": "complaint_type.npz",
}


@dataclass(frozen=True)
class Classification:
    sentiment: str  # negative | neutral | positive
    sentiment_scores: dict[str, float]  # all three, sum to 1
    is_complaint: bool
    complaint_probability: float
    complaint_type: str  # one of the taxonomy labels
    complaint_scores: dict[str, float]  # every taxonomy label, sum to 1
    uncertain: bool = False  # some decision is close to its threshold (see Uncertainty)
    language: str = UNKNOWN  # ISO 639-1 from the record's tag or the heuristic, "und": unknown
    unsupported_language: bool = False  # not a language the model reads well: labels unreliable

    def as_dict(self) -> dict[str, Any]:
        return {
            "sentiment": self.sentiment,
            "sentiment_scores": dict(self.sentiment_scores),
            "is_complaint": self.is_complaint,
            "complaint_probability": self.complaint_probability,
            "complaint_type": self.complaint_type,
            "complaint_scores": dict(self.complaint_scores),
            "uncertain": self.uncertain,
            "language": self.language,
            "unsupported_language": self.unsupported_language,
        }


@dataclass(frozen=True)
class Uncertainty:
    """When a post says the model is unsure: any one of these. Scores are calibrated
    (temperature-scaled), so a threshold reads as a probability of being right."""

    sentiment_min: float = 0.55  # top sentiment score below this
    complaint_margin: float = 0.2  # complaint_probability within 0.5 +- this
    type_min: float = 0.5  # the type's share of its group's mass below this

    def is_uncertain(self, sentiment_top: float, p_complaint: float, type_share: float) -> bool:
        return (
            sentiment_top < self.sentiment_min
            or abs(p_complaint - 0.5) < self.complaint_margin
            or type_share < self.type_min
        )


def has_both_groups(mask: np.ndarray) -> bool:
    """Whether a taxonomy has complaint and non-complaint labels, so a complaint mass to split."""
    return bool(mask.any() and not mask.all())


def mix_complaint(
    p_head: NDArray[np.floating[Any]], type_probs: NDArray[np.floating[Any]], mask: np.ndarray,
    mix: float,
) -> NDArray[np.floating[Any]]:
    """P(complaint) as served: `mix` x the is-complaint head's probability + (1 - mix) x the
    complaint-type head's mass on the complaint labels. The two heads err on different posts
    (the type head knows outage posts better, the is-complaint head brand complaints), so the
    blend decides better than either (docs/model-card.md, "How the complaint outputs fit
    together"). A taxonomy without both groups has no complaint mass to blend: the head alone."""
    if mix >= 1.0 or not has_both_groups(mask):
        return p_head
    mass = type_probs[..., mask].sum(axis=-1)
    return (mix * p_head + (1.0 - mix) * mass).astype(p_head.dtype)


def combine_complaint(p_complaint: float, type_probs: FloatArray, mask: np.ndarray) -> FloatArray:
    """Joint complaint-type scores that agree with the is-complaint head.

    Rule: P(complaint) (`mix_complaint`) decides complaint vs not. The type head only splits
    that mass within each group:
    score(label) = P(complaint) * P(label | complaint group) for complaint labels, and
    (1 - P(complaint)) * P(label | other group) for humor/praise/none. So the complaint labels'
    scores always sum to complaint_probability.
    """
    if not has_both_groups(mask):
        return type_probs.astype(np.float32)  # a taxonomy without both groups: nothing to split
    eps = 1e-12
    in_group = type_probs * mask
    out_group = type_probs * ~mask
    joint = p_complaint * in_group / max(float(in_group.sum()), eps)
    joint = joint + (1.0 - p_complaint) * out_group / max(float(out_group.sum()), eps)
    return (joint / joint.sum()).astype(np.float32)


def pick_type(is_complaint: bool, joint: FloatArray, mask: np.ndarray) -> int:
    """The primary type is the best label *within the group the binary head chose*, so a post is
    never is_complaint=True with type "praise", nor is_complaint=False with type "outage"."""
    allowed = mask if is_complaint else ~mask
    if not allowed.any():  # degenerate taxonomy (e.g. only complaint reasons): plain argmax
        return int(np.argmax(joint))
    return int(np.argmax(np.where(allowed, joint, -1.0)))


class Classifier:
    """Loads the encoder and heads once; `classify` is safe to call many times."""

    def __init__(self, encoder: Encoder, heads: dict[str, LinearHead], meta: dict[str, Any]):
        self.encoder = encoder
        self.heads = heads
        self.meta = meta
        self.model_version: str = str(meta["model_version"])
        type_head = heads["complaint_type"]
        assert type_head.complaint_mask is not None  # checked by _load_heads
        self.complaint_types: tuple[str, ...] = type_head.labels
        self._mask = type_head.complaint_mask
        self.uncertainty = Uncertainty(**meta.get("uncertainty", {}))
        self.complaint_mix = complaint_mix(meta)

    @classmethod
    def load(
        cls,
        model_dir: Path | None = None,
        encoder: Encoder | None = None,
        threads: int | None = None,
    ) -> Classifier:
        """Read meta.json and the heads from `model_dir` (default: the bundled model), then the
        ONNX encoder beside them unless one is passed in (to share it between models). Raises
        ModelLoadError if any file is bad or the encoder is not the one the heads were trained
        on (the sha256 in meta.json)."""
        directory = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        meta = read_meta(directory)
        heads = _load_heads(directory, meta)
        if encoder is None:
            check_encoder_file(directory, meta)
            encoder = OnnxEncoder(directory, threads=threads)
        return cls(encoder, heads, meta)

    def classify(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
        langs: Sequence[str | None] | None = None,
    ) -> list[Classification]:
        """Classify `texts`, in input order. `langs`, when given, are the records' own
        language tags (None where absent); untagged posts get the heuristic's language.

        Each distinct (normalised) text is encoded once, so reposts cost nothing. After every
        group of encoder batches `progress(n)` gets the number of *input* texts it completed (an
        increment, so `progress=tqdm_bar.update` works); the increments sum to len(texts).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        keys = [normalise(t if isinstance(t, str) else "") for t in texts]
        uses: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            uses.setdefault(key, []).append(i)
        # Similar lengths in one batch means less padding: sort the distinct texts by length;
        # the encoder sorts each group again by token count.
        distinct = sorted(uses, key=len)
        group = batch_size * GROUP_BATCHES
        results: list[Classification | None] = [None] * len(keys)
        for start in range(0, len(distinct), group):
            batch = distinct[start : start + group]
            embeddings = self.encoder.encode(batch, batch_size=batch_size)
            done = 0
            rows = self._classify_embeddings(embeddings, batch)
            for key, row in zip(batch, rows, strict=True):
                for i in uses[key]:
                    results[i] = row
                done += len(uses[key])
            if progress is not None:
                progress(done)
        tags = langs if langs is not None else [None] * len(keys)
        if len(tags) != len(keys):
            raise ValueError(f"{len(keys)} texts but {len(tags)} language tags")
        return [
            _with_language(r, tag, key)
            for r, tag, key in zip(results, tags, keys, strict=True)
            if r is not None
        ]

    def _classify_embeddings(
        self, embeddings: FloatArray, texts: Sequence[str]
    ) -> list[Classification]:
        sentiment = self.heads["sentiment"].predict_proba(embeddings, texts)
        types = self.heads["complaint_type"].predict_proba(embeddings, texts)
        complaint = mix_complaint(
            self.heads["is_complaint"].predict_proba(embeddings, texts)[:, 1],
            types, self._mask, self.complaint_mix,
        )
        return [
            self._one(sentiment[i], float(complaint[i]), types[i]) for i in range(len(embeddings))
        ]

    def _one(self, sentiment: FloatArray, p_complaint: float, types: FloatArray) -> Classification:
        is_complaint = p_complaint >= 0.5
        joint = combine_complaint(p_complaint, types, self._mask)
        labels = self.heads["sentiment"].labels
        picked = pick_type(is_complaint, joint, self._mask)
        group = self._mask if is_complaint else ~self._mask
        group_mass = float(joint[group].sum()) if group.any() else 1.0
        share = float(joint[picked]) / max(group_mass, 1e-12)
        return Classification(
            sentiment=labels[int(np.argmax(sentiment))],
            sentiment_scores={label: float(s) for label, s in zip(labels, sentiment, strict=True)},
            is_complaint=is_complaint,
            complaint_probability=p_complaint,
            complaint_type=self.complaint_types[picked],
            complaint_scores={
                label: float(s) for label, s in zip(self.complaint_types, joint, strict=True)
            },
            uncertain=self.uncertainty.is_uncertain(float(sentiment.max()), p_complaint, share),
        )


def _with_language(result: Classification, tag: str | None, text: str) -> Classification:
    language, supported = is_supported(tag, text)
    return replace(result, language=language, unsupported_language=not supported)


def read_meta(directory: Path) -> dict[str, Any]:
    if not directory.is_dir():
        raise ModelLoadError(f"model directory not found: {directory}")
    path = directory / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ModelLoadError(f"{path} is missing") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"{path} is unreadable: {e}") from e
    if not isinstance(meta, dict) or not isinstance(meta.get("model_version"), str):
        raise ModelLoadError(f"{path} has no model_version")
    encoder = meta.get("encoder", {})
    if not isinstance(encoder, dict) or encoder.get("name") != ENCODER_NAME:
        raise ModelLoadError(
            f"{path}: heads were trained for encoder {encoder!r}, not {ENCODER_NAME}"
        )
    if meta.get("preprocess", PREPROCESS_NAME) != PREPROCESS_NAME:
        raise ModelLoadError(f"{path}: unknown preprocessing {meta.get('preprocess')!r}")
    return meta


def complaint_mix(meta: dict[str, Any]) -> float:
    """The is-complaint head's weight in P(complaint) (`mix_complaint`); 1 (the head alone)
    for models written before the blend."""
    mix = meta.get("complaint_mix", 1.0)
    if isinstance(mix, bool) or not isinstance(mix, int | float) or not 0.0 <= mix <= 1.0:
        raise ModelLoadError(f"meta.json: complaint_mix must be a number in [0, 1], not {mix!r}")
    return float(mix)


def check_encoder_file(directory: Path, meta: dict[str, Any]) -> None:
    """Quantisation and fine-tuning move the embeddings: heads only fit their own encoder."""
    path = directory / ONNX_FILE
    if not path.is_file():
        raise ModelLoadError(f"encoder file missing: {path}")
    expected = meta["encoder"].get("sha256")
    if expected is not None and file_sha256(path) != expected:
        raise ModelLoadError(
            f"{path} is not the encoder the heads in {directory} were trained on (sha256 differs)"
        )


def _load_heads(directory: Path, meta: dict[str, Any]) -> dict[str, LinearHead]:
    dim = int(meta["encoder"].get("dim", 384))
    heads = {name: LinearHead.load(directory / file) for name, file in HEAD_FILES.items()}
    for name, head in heads.items():
        if head.dim != dim:
            raise ModelLoadError(
                f"head {name} expects {head.dim}-d embeddings, encoder gives {dim}"
            )
    if set(heads["sentiment"].labels) != set(SENTIMENT_LABELS):
        raise ModelLoadError(
            f"sentiment head labels {heads['sentiment'].labels} != {SENTIMENT_LABELS}"
        )
    if heads["is_complaint"].labels != COMPLAINT_LABELS:
        raise ModelLoadError(f"is_complaint head labels must be {COMPLAINT_LABELS}")
    if heads["complaint_type"].complaint_mask is None:
        raise ModelLoadError("complaint_type head lacks its complaint_mask array")
    return heads
