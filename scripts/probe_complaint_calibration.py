#!/usr/bin/env python
"""Where is the served P(complaint) off, and would a temperature on its logit fix it? The
evaluation's out-of-fold probabilities on the complaints data (the blend as served, and the
is-complaint head alone without the seed set), binned into a reliability table, then a
temperature on logit(P) fitted on one random half and scored on the other, both ways round.

    python scripts/probe_complaint_calibration.py        # about 6 minutes on 2 cores

Prints each bin's mean P and the share of complaints in it, ECE, the share of posts inside the
uncertain band (P within 0.5 +- 0.2), and the same after the cross-fitted temperature.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import evaluate_classifier
from evaluate_classifier import DEFAULT_CACHE, DEFAULT_DATA, DEFAULT_SEED, ece, is_complaint_oof

from analysis.classifier import Classifier
from analysis.classifier.model import Uncertainty
from analysis.classifier.training import best_temperature

SYSTEMS = {"minilm": "as served (train + seed, blended)", "minilm_only": "head alone, no seed"}


def uncertain_share(p: np.ndarray) -> float:
    return float(np.mean(np.abs(p - 0.5) < Uncertainty().complaint_margin))


def cross_fitted(p: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """P after a temperature on logit(P) fitted on the other random half."""
    logit = np.log(p / (1 - p))
    half = np.random.default_rng(0).permutation(len(p)) < len(p) // 2
    out, temperatures = np.zeros_like(p), []
    for fit, score in ((half, ~half), (~half, half)):
        t = best_temperature(np.stack([np.zeros(fit.sum()), logit[fit]], axis=1), gold[fit])
        temperatures.append(t)
        out[score] = 1 / (1 + np.exp(-logit[score] / t))
    return out, temperatures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: bundled)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    evaluate_classifier.SKIP_BASELINES = True

    clf = Classifier.load(args.model)
    probs, gold, _ = is_complaint_oof(clf, args.data, args.seed_csv, DEFAULT_CACHE)
    for key, title in SYSTEMS.items():
        p = np.clip(probs[key][:, 1], 1e-6, 1 - 1e-6)
        print(f"\n{title}: ECE {ece(probs[key], gold):.4f}, "
              f"uncertain band {uncertain_share(p):.1%}")
        print(f"  {'P bin':>9} {'posts':>6} {'mean P':>7} {'complaints':>10}")
        for lo in np.arange(0.0, 1.0, 0.1):
            in_bin = (p >= lo) & (p < lo + 0.1)
            if in_bin.any():
                print(f"  {lo:.1f}-{lo + 0.1:.1f} {in_bin.sum():>6} {p[in_bin].mean():>7.3f} "
                      f"{gold[in_bin].mean():>10.3f}")
        tuned, temperatures = cross_fitted(p, gold)
        print(f"  temperature on logit(P), cross-fitted (T = "
              f"{', '.join(f'{t:.3f}' for t in temperatures)}): ECE "
              f"{ece(np.stack([1 - tuned, tuned], axis=1), gold):.4f}, "
              f"uncertain band {uncertain_share(tuned):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
