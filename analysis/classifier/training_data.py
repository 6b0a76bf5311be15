"""Readers for the training corpora in ../shared/data (used by scripts/, never at inference).

Every reader returns (texts, labels) with raw texts; the model's own normalisation is applied
later, at embedding time, exactly as at inference.
"""

from __future__ import annotations

import csv
import hashlib
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.classifier.taxonomy import DEFAULT_NON_COMPLAINT_LABELS

SEMEVAL_FILES = (
    "twitter-2013train-A.tsv",
    "twitter-2013dev-A.tsv",
    "twitter-2013test-A.tsv",
    "twitter-2014test-A.tsv",
    "twitter-2014sarcasm-A.tsv",
    "twitter-2015train-A.tsv",
    "twitter-2015test-A.tsv",
    "twitter-2016train-A.tsv",
    "twitter-2016dev-A.tsv",
    "twitter-2016devtest-A.tsv",
    "twitter-2016test-A.tsv",
)
TWEETEVAL_LABELS = ("negative", "neutral", "positive")  # tweeteval_mapping.txt: 0, 1, 2
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_NON_WORD = re.compile(r"\W+")
_LINK_OR_HANDLE = re.compile(r"https?://\S+|www\.\S+|@\w+|\bhttps?\b|\brt\b")


@dataclass
class LabelledTexts:
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)

    def add(self, text: str, label: str) -> None:
        self.texts.append(text)
        self.labels.append(label)


def dedupe_key(text: str) -> str:
    """Identity for leak checks, robust to how each corpus anonymised its tweets.

    TweetEval dropped links and turned handles into "@user"; the SemEval files keep both and
    escape commas as "\\u002c". So: unescape, drop links, handles and stray "http", lower-case,
    ignore punctuation and spacing.
    """
    text = html.unescape(_unescape(text)).lower()
    text = _LINK_OR_HANDLE.sub(" ", text)
    return _NON_WORD.sub(" ", text).strip()


def leak_prefixes(keys: Iterable[str], length: int = 60) -> set[str]:
    """Prefixes of long keys, to also catch validation tweets that were truncated or edited."""
    return {key[:length] for key in keys if len(key) >= length}


def _unescape(text: str) -> str:
    # The 2013 SemEval files carry literal "\u002c"-style escapes.
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def read_tweeteval_val(data_dir: Path) -> LabelledTexts:
    folder = data_dir / "sentiment"
    texts = (folder / "tweeteval_val_text.txt").read_text(encoding="utf-8").splitlines()
    ids = (folder / "tweeteval_val_labels.txt").read_text(encoding="utf-8").split()
    if len(texts) != len(ids):
        raise ValueError(f"tweeteval val: {len(texts)} texts but {len(ids)} labels")
    out = LabelledTexts()
    for text, label_id in zip(texts, ids, strict=True):
        out.add(text.strip(), TWEETEVAL_LABELS[int(label_id)])
    return out


def read_semeval_sentiment(data_dir: Path, exclude: Iterable[str] = ()) -> LabelledTexts:
    """SemEval 2013-2016 Task 4A, deduplicated; drops texts whose dedupe_key is in `exclude`
    (the TweetEval validation texts, which were drawn from these same tweets) and texts that
    appear with conflicting labels."""
    excluded = set(exclude)
    prefixes = leak_prefixes(excluded)
    by_key: dict[str, tuple[str, set[str]]] = {}
    rows = 0
    for name in SEMEVAL_FILES:
        for line in (data_dir / "sentiment" / name).read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or parts[1] not in TWEETEVAL_LABELS:
                continue
            rows += 1
            text = _unescape(parts[2]).strip().strip('"').strip()
            key = dedupe_key(text)
            if key:
                by_key.setdefault(key, (text, set()))[1].add(parts[1])
    out = LabelledTexts(notes={"rows_read": rows})
    leaked = conflicting = 0
    for key, (text, labels) in by_key.items():
        if key in excluded or key[:60] in prefixes:
            leaked += 1
        elif len(labels) > 1:
            conflicting += 1
        else:
            out.add(text, next(iter(labels)))
    out.notes |= {"dropped_in_validation": leaked, "dropped_conflicting": conflicting}
    return out


def read_complaints(data_dir: Path) -> tuple[LabelledTexts, list[str]]:
    """Preotiuc-Pietro et al. (2019): label 1 complaint, 0 not. Also returns each row's domain."""
    out = LabelledTexts()
    domains: list[str] = []
    with (data_dir / "complaints" / "complaints_train.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out.add(row["text"], "complaint" if row["label"] == "1" else "not_complaint")
            domains.append(row["domain"])
    return out, domains


def read_seed(path: Path) -> LabelledTexts:
    """The hand-written complaint-type seed set (text,label,platform,lang)."""
    out = LabelledTexts()
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out.add(row["text"], row["label"])
    return out


def read_seed_batches(path: Path) -> list[str]:
    """Each seed row's `batch`: who wrote it (one writer per batch), "" where the column is absent.
    Lets an evaluation hold out a whole writer's posts, not only a random fifth."""
    with path.open(encoding="utf-8", newline="") as f:
        return [row.get("batch") or "" for row in csv.DictReader(f)]


def seed_as_complaints(seed: LabelledTexts, non_complaint: Iterable[str] = ()) -> LabelledTexts:
    """Seed rows as is-complaint examples: every type except humor/praise/none is a complaint."""
    others = set(non_complaint) or set(DEFAULT_NON_COMPLAINT_LABELS)
    out = LabelledTexts()
    for text, label in zip(seed.texts, seed.labels, strict=True):
        out.add(text, "not_complaint" if label in others else "complaint")
    return out


def drop_near_duplicates(
    train: LabelledTexts, held_out: Sequence[str], threshold: float = 0.8
) -> LabelledTexts:
    """Remove training texts whose word 1-2gram TF-IDF cosine to any held-out text exceeds
    `threshold`: quote-tweets, "RT @x:" copies and "@brand's" -> "@user" rewrites of a
    validation tweet that exact-key matching misses. Needs scikit-learn."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), preprocessor=dedupe_key)
    vectorizer.fit([*train.texts, *held_out])
    similarity = vectorizer.transform(train.texts) @ vectorizer.transform(held_out).T
    nearest = np.asarray(similarity.max(axis=1).todense()).ravel()
    out = LabelledTexts(notes=dict(train.notes))
    for text, label, score in zip(train.texts, train.labels, nearest, strict=True):
        if score <= threshold:
            out.add(text, label)
    out.notes["dropped_near_validation"] = len(train.texts) - len(out.texts)
    return out


def sentiment_splits(data_dir: Path) -> tuple[LabelledTexts, LabelledTexts]:
    """(train, validation) for sentiment: SemEval 2013-2016 minus every exact and near copy of
    a TweetEval validation tweet, and the validation split itself. Training and evaluation both
    take it from here, so the leak filter cannot differ between them."""
    val = read_tweeteval_val(data_dir)
    train = drop_near_duplicates(
        read_semeval_sentiment(data_dir, exclude={dedupe_key(t) for t in val.texts}), val.texts
    )
    return train, val


# One tweet in this many is held out of fine-tuning and of the sentiment head's weights: the
# head's temperature is fitted on it, since vectors of tweets the encoder was tuned on come out
# more separable (and the probabilities over-confident) than those of unseen posts.
CALIBRATION_ONE_IN = 20


# With --with-complaints, one complaints/seed post in this many is held out of fine-tuning, so
# the complaint heads can still be scored on posts the encoder never saw.
COMPLAINT_HOLDOUT_ONE_IN = 5


def in_hash_slice(text: str, one_in: int) -> bool:
    """True for about one text in `one_in`, chosen by a hash of its dedupe_key: by content, not
    position, so a slice survives reordered or added files and catches near copies too."""
    digest = hashlib.sha256(dedupe_key(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % one_in == 0


def hash_split(data: LabelledTexts, one_in: int) -> tuple[LabelledTexts, LabelledTexts]:
    """(rest, slice): the texts in_hash_slice(text, one_in) go to the slice."""
    rest, held_out = LabelledTexts(notes=dict(data.notes)), LabelledTexts()
    for text, label in zip(data.texts, data.labels, strict=True):
        (held_out if in_hash_slice(text, one_in) else rest).add(text, label)
    return rest, held_out


def calibration_split(train: LabelledTexts) -> tuple[LabelledTexts, LabelledTexts]:
    """(fit, calibration): one tweet in CALIBRATION_ONE_IN, by hash, goes to calibration."""
    fit, calibration = hash_split(train, CALIBRATION_ONE_IN)
    fit.notes["held_out_for_calibration"] = len(calibration.texts)
    return fit, calibration
