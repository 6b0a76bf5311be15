#!/usr/bin/env python
"""Score a classifier against the demo generator's intended labels: a second, independent check
of the complaint heads beside the seed set's cross-validation.

    python scripts/evaluate_demo_truth.py [--model DIR]

Regenerates the simulated demo stream in memory (scripts/generate_demo_data.py, default seed:
byte-identical to data/demo), keeps each original post's intended complaint type (reposts are
copies and are left out), classifies the texts and prints complaint-type macro F1 and
is-complaint macro F1 against those intentions. The demo's texts come from the generator's own
templates, written apart from the seed set, so no post here was trained on; they are simulated
posts, not real ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import generate_demo_data

from analysis.classifier import Classifier

# The generator's extra intention: praise given back to the team after a fix.
SAME_AS = {"praise_back": "praise"}


def intended_labels() -> list[tuple[str, str]]:
    """(text, intended complaint type) of every original post of the default demo stream."""
    sim = generate_demo_data.simulate(generate_demo_data.DEFAULT_SEED,
                                      generate_demo_data.DEFAULT_ICPE,
                                      generate_demo_data.DEFAULT_CONFIG)
    return [(p.text, SAME_AS.get(p.ctype, p.ctype)) for p in sim.posts if not p.is_repost]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: bundled)")
    args = parser.parse_args(argv)
    from sklearn.metrics import f1_score

    posts = intended_labels()
    clf = Classifier.load(args.model)
    non_complaint = {n for n, m in zip(clf.complaint_types, clf._mask, strict=True) if not m}
    labels = clf.classify([text for text, _ in posts])
    gold = [kind for _, kind in posts]
    predicted = [label.complaint_type for label in labels]
    gold_complaint = [kind not in non_complaint for kind in gold]
    predicted_complaint = [label.is_complaint for label in labels]
    print(f"model {clf.meta['model_version']}: {len(posts)} original demo posts")
    print(f"complaint type (as shipped) macro F1 {f1_score(gold, predicted, average='macro'):.3f}")
    print("is-complaint macro F1 "
          f"{f1_score(gold_complaint, predicted_complaint, average='macro'):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
