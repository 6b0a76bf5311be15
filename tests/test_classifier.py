"""The bundled classifier on the real MiniLM encoder (no mocks); the load takes a few seconds."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from analysis.classifier import (
    SENTIMENT_LABELS,
    Classification,
    Classifier,
    ModelLoadError,
    load_taxonomy,
)
from analysis.classifier.model import DEFAULT_MODEL_DIR

TAXONOMY = [label.name for label in load_taxonomy()]
NON_COMPLAINT = {label.name for label in load_taxonomy() if not label.is_complaint}


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load()


class CountingEncoder:
    """Wraps the real encoder and records every text it is asked to embed."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[attr-defined]
        self.dim = inner.dim  # type: ignore[attr-defined]
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.seen.extend(texts)
        return self.inner.encode(texts, batch_size)  # type: ignore[attr-defined]


def assert_valid(result: Classification) -> None:
    assert result.sentiment in SENTIMENT_LABELS
    assert set(result.sentiment_scores) == set(SENTIMENT_LABELS)
    assert math.isclose(sum(result.sentiment_scores.values()), 1.0, abs_tol=1e-4)
    assert result.sentiment == max(result.sentiment_scores, key=result.sentiment_scores.get)
    assert 0.0 <= result.complaint_probability <= 1.0
    assert result.is_complaint == (result.complaint_probability >= 0.5)
    assert list(result.complaint_scores) == TAXONOMY
    assert math.isclose(sum(result.complaint_scores.values()), 1.0, abs_tol=1e-4)
    assert result.complaint_type in TAXONOMY
    # The consistency rule: the type lies in the group the complaint decision picked.
    assert (result.complaint_type not in NON_COMPLAINT) == result.is_complaint
    complaint_mass = sum(s for k, s in result.complaint_scores.items() if k not in NON_COMPLAINT)
    assert math.isclose(complaint_mass, result.complaint_probability, abs_tol=1e-4)
    json.dumps(result.as_dict())


def test_taxonomy_has_the_design_labels() -> None:
    assert TAXONOMY == [
        "outage",
        "errors",
        "slowness",
        "access",
        "data_loss",
        "quality",
        "billing",
        "switching",
        "communication",
        "humor",
        "praise",
        "none",
    ]
    assert NON_COMPLAINT == {"humor", "praise", "none"}
    assert all(label.description and len(label.examples) >= 2 for label in load_taxonomy())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "🔥🔥💀😭",
        "x" * 10_000,
        "ok " * 3_000,
        "¿Se cayó ChatGPT? No me carga nada",
        "Notionのページが消えた",
        "Slack ist komplett down",
    ],
)
def test_classify_any_text(classifier: Classifier, text: str) -> None:
    [result] = classifier.classify([text])
    assert_valid(result)


def test_as_dict_has_the_contract_fields(classifier: Classifier) -> None:
    [result] = classifier.classify(["hello"])
    assert set(result.as_dict()) == {
        "sentiment",
        "sentiment_scores",
        "is_complaint",
        "complaint_probability",
        "complaint_type",
        "complaint_scores",
    }


def test_obvious_outage_complaint(classifier: Classifier) -> None:
    [result] = classifier.classify(
        ["Claude is down again, 500 errors everywhere, can't get anything done"]
    )
    assert result.sentiment == "negative"
    assert result.is_complaint
    assert result.complaint_type in {"outage", "errors"}


def test_obvious_praise(classifier: Classifier) -> None:
    [result] = classifier.classify(["Huge thanks to the Stripe team, fixed in minutes. Love it!"])
    assert result.sentiment == "positive"
    assert not result.is_complaint


def test_identical_texts_are_encoded_once(classifier: Classifier) -> None:
    counting = CountingEncoder(classifier.encoder)
    clf = Classifier(counting, classifier.heads, classifier.meta)  # type: ignore[arg-type]
    texts = ["github is down", "RT github is down", "github is down", "", "github is down", ""]
    progress: list[int] = []
    results = clf.classify(texts, batch_size=2, progress=progress.append)
    assert sorted(counting.seen) == sorted({"github is down", "RT github is down", ""})
    assert sum(progress) == len(texts) and len(progress) == 2
    assert results[0] == results[2] == results[4] and results[3] == results[5]
    assert len(results) == len(texts)


def test_batches_do_not_change_results(classifier: Classifier) -> None:
    texts = ["zoom keeps freezing", "loving the new figma", "status page is green lol", "hi"]
    one = classifier.classify(texts, batch_size=1)
    many = classifier.classify(texts, batch_size=64)
    for a, b in zip(one, many, strict=True):
        assert a.sentiment == b.sentiment and a.complaint_type == b.complaint_type
        assert math.isclose(a.complaint_probability, b.complaint_probability, abs_tol=1e-4)


def test_empty_input(classifier: Classifier) -> None:
    assert classifier.classify([]) == []


def test_model_version_comes_from_meta(classifier: Classifier) -> None:
    meta = json.loads((DEFAULT_MODEL_DIR / "meta.json").read_text())
    assert classifier.model_version == meta["model_version"]
    assert classifier.model_version.startswith("minilm-l6-v2+heads-")


def test_missing_model_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        Classifier.load(tmp_path / "nope")


@pytest.mark.parametrize("broken", ["sentiment.npz", "meta.json"])
def test_missing_file_raises(tmp_path: Path, broken: str) -> None:
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, model)
    (model / broken).unlink()
    with pytest.raises(ModelLoadError):
        Classifier.load(model)


def test_corrupt_head_raises(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, model)
    (model / "complaint_type.npz").write_bytes(b"not a zip file")
    with pytest.raises(ModelLoadError, match="corrupt"):
        Classifier.load(model)


def test_retrain_complaint_type_on_own_labels(classifier: Classifier, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from analysis.classifier.training import retrain_complaint_type

    posts = {
        "outage": ["notion is down", "slack won't load at all", "github down again"],
        "praise": ["love the new figma", "thanks stripe, great fix", "zoom works great now"],
        "none": ["notion launched a calendar", "reading about aws", "slack tips thread"],
    }
    texts = [t for group in posts.values() for t in group]
    labels = [label for label, group in posts.items() for _ in group]
    retrain_complaint_type(
        classifier.encoder, texts, labels, base_dir=DEFAULT_MODEL_DIR, out_dir=tmp_path / "m"
    )
    custom = Classifier.load(tmp_path / "m", encoder=classifier.encoder)
    assert custom.complaint_types == ("none", "outage", "praise")
    assert custom.model_version.startswith(classifier.model_version + "+custom-")
    [result] = custom.classify(["figma is down, nothing loads"])
    assert set(result.complaint_scores) == {"none", "outage", "praise"}
