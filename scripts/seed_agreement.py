#!/usr/bin/env python
"""How far two annotators agree on the complaint-type seed set: the ceiling a model's
cross-validated macro F1 on it should be read against.

    python scripts/seed_agreement.py [--seed-csv data/labels/complaint_type_seed.csv]

Every row of the seed set has the label its writer gave it (`label`) and a second, blind label
(`second_label`) from an annotator who saw the text only, never the writer's label. Prints raw
agreement, Cohen's kappa, the second annotator's macro F1 against the writer's labels, the
agreement per label and per batch (writer), and the most frequent disagreements.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = REPO_ROOT / "data" / "labels" / "complaint_type_seed.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    parser.add_argument("--top", type=int, default=12, help="disagreement pairs to list")
    args = parser.parse_args(argv)
    from sklearn.metrics import cohen_kappa_score, f1_score

    with args.seed_csv.open(encoding="utf-8", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row.get("second_label")]
    if not rows:
        print(f"{args.seed_csv}: no row has a second_label", file=sys.stderr)
        return 1
    first = [row["label"] for row in rows]
    second = [row["second_label"] for row in rows]
    agree = [a == b for a, b in zip(first, second, strict=True)]
    print(f"{len(rows)} posts with two labels")
    print(f"raw agreement      {sum(agree) / len(rows):.3f}")
    print(f"Cohen's kappa      {cohen_kappa_score(first, second):.3f}")
    print(f"second vs writer   macro F1 {f1_score(first, second, average='macro'):.3f}")

    print("\nper writer label: agreement (n), most frequent second label when they differ")
    for label in sorted(set(first)):
        idx = [i for i, a in enumerate(first) if a == label]
        others = Counter(second[i] for i in idx if second[i] != label).most_common(2)
        shown = ", ".join(f"{name} {n}" for name, n in others) or "-"
        print(f"  {label:<14} {sum(agree[i] for i in idx) / len(idx):.2f} ({len(idx):>3})  {shown}")

    print("\nper batch: agreement (n)")
    for batch in sorted({row.get("batch", "") for row in rows}, key=lambda b: (len(b), b)):
        idx = [i for i, row in enumerate(rows) if row.get("batch", "") == batch]
        print(f"  {batch or '-':<6} {sum(agree[i] for i in idx) / len(idx):.2f} ({len(idx)})")

    print(f"\nmost frequent disagreements (writer -> second), top {args.top}")
    pairs = Counter((a, b) for a, b in zip(first, second, strict=True) if a != b)
    for (a, b), n in pairs.most_common(args.top):
        print(f"  {a:>14} -> {b:<14} {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
