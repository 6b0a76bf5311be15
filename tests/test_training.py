"""Training helpers: the sentiment calibration slice and temperatures fitted on held-out rows."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.classifier.training import fit_logreg
from analysis.classifier.training_data import (
    CALIBRATION_ONE_IN,
    LabelledTexts,
    calibration_split,
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
