#!/usr/bin/env python
"""Can a big teacher, fine-tuned inside each fold, lift the shipped-size student's is-complaint?
all-mpnet-base-v2 fine-tuned in the fold reaches what the 3-layer student cannot, but runs at a
sixteenth of its speed; this asks how much of that a student takes from the teacher's labels.

    pip install -e '.[train]'
    python scripts/probe_complaint_finetune.py --checkpoint all-mpnet-base-v2 --epochs 1 \\
        --save .cache/mpnet-ft-folds --keep-encoders            # the teachers, hours on 2 cores
    python scripts/probe_complaint_distill.py --teachers .cache/mpnet-ft-folds --student .cache/ft3

The evaluation's protocol (docs/model-card.md, "Evaluation"): the same 5 folds of the complaints
data, every head on the fold's training rows plus the whole seed set, vector + character
n-grams. For each fold with a teacher checkpoint (DIR/fold-N/, fine-tuned on that fold's
training rows only), the teacher's head labels a transfer set of tweets that are not in the
complaints data (the airline tweets, optionally SemEval tweets); the student's head is then
fitted on its usual rows plus the transfer tweets the teacher is sure of, and, as the control,
plus those the student's own head is sure of (self-training: is it the teacher, or just more
confidently labelled tweets?). With
--finetune-student the student's encoder is also fine-tuned in the fold on those rows first.
Prints each fold's macro F1 for the teacher, the student as the evaluation fits it, the
student with the teacher's labels and with its own (the control), then pooled over the folds
run (per-fold predictions are not saved, so separate --only runs are not pooled).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from evaluate_classifier import (
    DEFAULT_CACHE,
    DEFAULT_DATA,
    DEFAULT_SEED,
    evaluation_folds,
    fold_list,
    print_fold,
    print_pooled,
)

from analysis.classifier.finetune import FinetuneConfig, Task, finetuned_encoder
from analysis.classifier.heads import LinearHead
from analysis.classifier.model import COMPLAINT_LABELS
from analysis.classifier.torch_encoder import TorchMiniLMEncoder
from analysis.classifier.training import embed, fit_logreg, ngram_texts
from analysis.classifier.training_data import (
    dedupe_key,
    read_complaints,
    read_seed,
    read_semeval_sentiment,
    seed_as_complaints,
)

COMPLAINT = COMPLAINT_LABELS.index("complaint")  # 1: a P >= 0.5 row predicts index 1


def transfer_texts(data: Path, complaints: list[str], semeval: int) -> list[str]:
    """Unlabelled tweets for the teacher to label: every distinct airline tweet, plus `semeval`
    SemEval sentiment tweets (a fixed sample), none equal to a complaints tweet."""
    import pandas as pd

    airline = pd.read_csv(data / "airline" / "tweets_train.csv", dtype=str,
                          keep_default_na=False)["text"].tolist()
    pool = airline
    if semeval:
        tweets = read_semeval_sentiment(data).texts
        rows = np.random.default_rng(0).permutation(len(tweets))[:semeval]
        pool = pool + [tweets[i] for i in sorted(rows)]
    taken = {dedupe_key(t) for t in complaints}
    out = []
    for text in pool:
        key = dedupe_key(text)
        if key and key not in taken:
            taken.add(key)
            out.append(text)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teachers", type=Path, required=True, metavar="DIR",
                        help="DIR/fold-N/: each fold's fine-tuned teacher (probe_complaint_"
                        "finetune.py --save DIR --keep-encoders)")
    parser.add_argument("--student", type=Path, required=True,
                        help="the student's fp32 checkpoint (e.g. .cache/ft3, made by "
                        "train_model.py --keep-finetuned)")
    parser.add_argument("--sure", type=float, default=0.8,
                        help="keep transfer tweets the teacher gives P >= this or <= 1 - this")
    parser.add_argument("--semeval", type=int, default=0, metavar="N",
                        help="also N SemEval sentiment tweets in the transfer set")
    parser.add_argument("--finetune-student", type=float, default=0.0, metavar="EPOCHS",
                        help="also fine-tune the student's encoder in the fold on its rows and "
                        "the teacher-labelled ones (0: heads only)")
    parser.add_argument("--only", type=fold_list, default=None,
                        metavar="3,4,...", help="run only these folds (default: every fold "
                        "with a teacher)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    complaints, _ = read_complaints(args.data)
    seed = seed_as_complaints(read_seed(args.seed_csv))
    transfer = transfer_texts(args.data, complaints.texts, args.semeval)
    print(f"transfer set: {len(transfer)} tweets", flush=True)
    everything = complaints.texts + seed.texts + transfer
    grams = ngram_texts(everything)
    n_c, n_s = len(complaints.texts), len(seed.texts)
    seed_rows = np.arange(n_c, n_c + n_s)
    transfer_rows = np.arange(n_c + n_s, len(everything))
    gold = np.array([COMPLAINT_LABELS.index(label) for label in complaints.labels])
    labels = list(complaints.labels) + list(seed.labels)  # rows < n_c + n_s

    def head_on(x: np.ndarray, rows: np.ndarray, row_labels: list[str]) -> LinearHead:
        head, _ = fit_logreg(x[rows], row_labels, COMPLAINT_LABELS, scoring="f1_macro",
                             texts_for_ngrams=[grams[i] for i in rows])
        return head

    def complaint_p(head: LinearHead, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.asarray(head.predict_proba(x[rows], [grams[i] for i in rows]))[:, COMPLAINT]

    def sure_of(head: LinearHead, x: np.ndarray, who: str, fold: int
                ) -> tuple[np.ndarray, list[str]]:
        """The transfer rows `head` is sure of, with its labels for them."""
        p = complaint_p(head, x, transfer_rows)
        sure = (p >= args.sure) | (p <= 1 - args.sure)
        print(f"fold {fold}: {who} sure of {sure.sum()} of {len(p)} transfer tweets, "
              f"{np.mean(p[sure] >= 0.5):.1%} of them complaints", flush=True)
        return transfer_rows[sure], ["complaint" if q >= 0.5 else "not_complaint"
                                     for q in p[sure]]

    student = TorchMiniLMEncoder(args.student, name=f"student fp32 {args.student.resolve()}",
                                 threads=2)
    x_student = embed(student, everything, desc="student", cache_dir=args.cache_dir)
    names = ["teacher", "student", "student + teacher's labels", "student + its own labels"]
    if args.finetune_student:
        names.append("student fine-tuned + teacher's labels")
    predicted = {name: np.full(len(gold), -1) for name in names}
    for fold, (train, test) in evaluation_folds(gold).items():
        if args.only is not None and fold not in args.only:
            continue
        teacher_dir = args.teachers / f"fold-{fold}"
        if not (teacher_dir / "model.safetensors").exists():
            if args.only is not None:
                parser.error(f"no teacher for fold {fold}: {teacher_dir}/model.safetensors")
            continue
        started = time.monotonic()
        teacher = TorchMiniLMEncoder(teacher_dir, name=f"teacher {teacher_dir.resolve()}",
                                     threads=2)
        x_teacher = embed(teacher, everything, desc=f"fold {fold} teacher",
                          cache_dir=args.cache_dir)
        rows = np.concatenate([train, seed_rows])
        row_labels = [labels[i] for i in rows]
        teacher_head = head_on(x_teacher, rows, row_labels)
        predicted["teacher"][test] = complaint_p(teacher_head, x_teacher, test) >= 0.5
        taught, taught_labels = sure_of(teacher_head, x_teacher, "teacher", fold)
        student_head = head_on(x_student, rows, row_labels)
        predicted["student"][test] = complaint_p(student_head, x_student, test) >= 0.5
        with_taught = np.concatenate([rows, taught])
        predicted["student + teacher's labels"][test] = complaint_p(
            head_on(x_student, with_taught, row_labels + taught_labels), x_student, test) >= 0.5
        # The control: is it the teacher, or any extra confidently labelled tweets?
        own, own_labels = sure_of(student_head, x_student, "student", fold)
        predicted["student + its own labels"][test] = complaint_p(
            head_on(x_student, np.concatenate([rows, own]), row_labels + own_labels),
            x_student, test) >= 0.5
        if args.finetune_student:
            tuned = finetuned_encoder(
                [Task("complaint", [everything[i] for i in with_taught],
                      row_labels + taught_labels, COMPLAINT_LABELS)],
                FinetuneConfig(epochs=args.finetune_student, start_from=args.student,
                               desc=f"fold {fold}: fine-tuning the student"))
            x_tuned = embed(tuned, everything, desc=f"fold {fold} tuned student")
            predicted["student fine-tuned + teacher's labels"][test] = complaint_p(
                head_on(x_tuned, with_taught, row_labels + taught_labels), x_tuned, test) >= 0.5
        print_fold(fold, predicted, gold, test, time.monotonic() - started)
    print_pooled(predicted, gold, "tweets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
