"""Training helpers: the sentiment calibration slice and temperatures fitted on held-out rows."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from analysis.classifier.training import fit_logreg
from analysis.classifier.training_data import (
    CALIBRATION_ONE_IN,
    COMPLAINT_HOLDOUT_ONE_IN,
    LabelledTexts,
    calibration_split,
    in_hash_slice,
)


def _tweets(n: int) -> LabelledTexts:
    data = LabelledTexts()
    for i in range(n):
        data.add(f"tweet number {i} about the outage", ("negative", "neutral", "positive")[i % 3])
    return data


def test_calibration_slice_is_chosen_by_content_not_position() -> None:
    data = _tweets(4000)
    fit, held_out = calibration_split(data)
    assert len(fit.texts) + len(held_out.texts) == 4000
    assert not set(fit.texts) & set(held_out.texts)
    assert 0.5 / CALIBRATION_ONE_IN < len(held_out.texts) / 4000 < 1.5 / CALIBRATION_ONE_IN
    assert fit.notes["held_out_for_calibration"] == len(held_out.texts)
    reordered = LabelledTexts(list(reversed(data.texts)), list(reversed(data.labels)))
    assert set(calibration_split(reordered)[1].texts) == set(held_out.texts)
    # The identity ignores case, links and handles, like the leak filter's dedupe key.
    variant = LabelledTexts([t.upper() + " https://t.co/x @someone" for t in held_out.texts],
                            list(held_out.labels))
    assert len(calibration_split(variant)[1].texts) == len(held_out.texts)


def test_temperature_comes_from_the_held_out_rows() -> None:
    rng = np.random.default_rng(0)
    labels = ("no", "yes")
    y = rng.integers(0, 2, 400)
    x = np.c_[y * 2.0 - 1.0, rng.normal(size=400)].astype(np.float32)  # separable training rows
    y_cal = rng.integers(0, 2, 400)
    noisy = np.where(rng.random(400) < 0.3, 1 - y_cal, y_cal)  # 30% of held-out rows flipped
    x_cal = np.c_[noisy * 2.0 - 1.0, rng.normal(size=400)].astype(np.float32)
    names = [labels[i] for i in y]
    _, oof = fit_logreg(x, names, labels, scoring="f1_macro", cs=(1.0,), folds=3)
    _, held = fit_logreg(x, names, labels, scoring="f1_macro", cs=(1.0,), folds=3,
                         calibration=(x_cal, [labels[i] for i in y_cal]))
    assert held["temperature_fitted_on"] == "400 held-out rows"
    assert held["temperature"] > 2 * oof["temperature"]  # unseen rows: far less sure
    with pytest.raises(ValueError, match="vector-only"):
        fit_logreg(x, names, labels, scoring="f1_macro", cs=(1.0,), folds=3,
                   texts_for_ngrams=["a"] * 400, calibration=(x_cal, names))


def _script(name: str):  # type: ignore[no-untyped-def]
    """scripts/NAME.py as a module (scripts/ is not a package)."""
    import importlib.util
    import sys
    from pathlib import Path

    scripts = Path(__file__).resolve().parent.parent / "scripts"
    sys.path.insert(0, str(scripts))
    spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def _train_model_script():  # type: ignore[no-untyped-def]
    return _script("train_model")


def test_with_complaints_fine_tunes_without_the_fifth_the_evaluation_scores(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    train_model = _train_model_script()
    complaints = LabelledTexts()
    for i in range(500):
        complaints.add(f"@airline my bag number {i} is lost", ("not_complaint", "complaint")[i % 2])
    seed = LabelledTexts()
    for i in range(200):
        seed.add(f"notion is down again, attempt {i}", ("outage", "praise")[i % 2])
    monkeypatch.setattr(train_model, "sentiment_splits", lambda data: (_tweets(100), None))
    monkeypatch.setattr(train_model, "read_complaints", lambda data: (complaints, None))
    monkeypatch.setattr(train_model, "read_seed", lambda path: seed)

    tasks = {t.name: t for t in train_model.finetune_tasks(
        train_model.parse_args(["--with-complaints"]))}
    texts = complaints.texts + seed.texts
    held_out = [in_hash_slice(t, COMPLAINT_HOLDOUT_ONE_IN) for t in texts]
    assert 0.5 / COMPLAINT_HOLDOUT_ONE_IN < sum(held_out) / len(texts) < 1.5 / COMPLAINT_HOLDOUT_ONE_IN
    tuned_on = set(tasks["is_complaint"].texts) | set(tasks["complaint_type"].texts)
    assert tuned_on == {t for t, out in zip(texts, held_out, strict=True) if not out}

    # The evaluation scores exactly those posts once the encoder (any stage) saw complaints.
    evaluate = _script("evaluate_classifier")
    stage_1 = {"tasks": {"sentiment": 100, "is_complaint": 560}}
    tuned = SimpleNamespace(meta={"encoder": {"fine_tuning": {
        "tasks": {"sentiment": 100}, "started_from": {"full_depth_fine_tuning": stage_1}}}})
    rows, note = evaluate.unseen_rows(tuned, texts)
    assert rows.tolist() == held_out and note == f", {sum(held_out)} posts unseen by the encoder"
    sentiment_only = SimpleNamespace(meta={"encoder": {"fine_tuning": {"tasks": {"sentiment": 1}}}})
    assert evaluate.unseen_rows(sentiment_only, texts)[0].all()
    # --unseen-fifth: the same posts for any model, to compare the two on equal terms.
    assert evaluate.unseen_rows(sentiment_only, texts, always=True)[0].tolist() == held_out
    assert evaluate.unseen_rows(SimpleNamespace(meta={"encoder": {}}), texts)[0].all()


def test_train_model_defaults_to_the_distilled_three_layer_encoder() -> None:
    train_model = _train_model_script()
    default = train_model.parse_args([])
    assert (default.layers, default.distill_weight) == (3, 5.0)
    assert train_model.parse_args(["--layers", "6"]).layers == 6
    # Nothing is fine-tuned, so nothing is cut: the stock depth.
    assert train_model.parse_args(["--frozen"]).layers == 6
    assert train_model.parse_args(["--finetuned", "ckpt"]).layers == 6
    with pytest.raises(SystemExit):
        train_model.parse_args(["--finetuned", "ckpt", "--layers", "3"])
    with pytest.raises(SystemExit):
        train_model.parse_args(["--frozen", "--layers", "3"])


@pytest.mark.slow
def test_distillation_trains_a_shallow_student_and_records_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json  # needs the train extra (torch), which scripts/test.sh installs

    from analysis.classifier.finetune import FinetuneConfig, Task, finetune
    from analysis.classifier.torch_encoder import base_model_dir

    texts = [f"service {i} is down again, nothing loads" for i in range(6)] + [
        f"service {i} works great today" for i in range(6)
    ]
    task = Task("sentiment", texts, ["negative"] * 6 + ["positive"] * 6, ("negative", "positive"))
    config = FinetuneConfig(batch_size=4, layers=2, teacher=base_model_dir(), threads=1)
    info = finetune([task], tmp_path, config)
    assert info["layers"] == 2 and info["distill_weight"] == 5.0
    assert 0.0 < info["final_loss"]["distill"] < 1.0  # 1 - cosine to the 6-layer teacher
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["num_hidden_layers"] == 2
