"""Synthetic data for the benchmarks, two kinds:

- `insert_classified_posts`: N posts with classifications straight into a warehouse by SQL
  (deterministic, no model, about a million rows a second), for the benches that need a big
  *classified* warehouse (dashboard pages, analyze latency).
- `write_demo_like_posts`: N realistic post records as a JSONL file for the end-to-end bench,
  made from the bundled demo stream (simulated posts around real incidents): copy 0 is the demo
  as it is, each further copy is the same stream with every text perturbed (typo, opener,
  suffix, number, case), so the texts stay tweet-like but are mostly distinct.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

SERVICES = ["notion", "slack", "github", "chatgpt", "claude"]
TYPES = ["outage", "errors", "slowness", "access", "quality", "billing", "none", "praise"]
DAYS = 30
START = pd.Timestamp("2025-01-01", tz="UTC")

# Posts spread evenly over DAYS days plus six bursts; labels drawn from a hash so the build is
# deterministic and needs no model.
# Columns named: later migrations add columns (nullable) to both tables.
GENERATE_SQL = f"""
INSERT INTO post_records (source, id, service, created_at, text, author, author_followers, likes,
                          reposts, replies, quotes, lang, url, is_repost, parent_id, raw_page_id,
                          ingested_at)
SELECT CASE WHEN i % 3 = 0 THEN 'x' WHEN i % 3 = 1 THEN 'bluesky' ELSE 'reddit' END,
       'p' || i, s.service,
       ?::TIMESTAMPTZ + to_seconds(CASE
           -- 2% of posts fall into six 30-minute bursts, the rest spread over the days
           WHEN i % 50 = 0 THEN (i // 50) % 6 * 5 * 86400 + 14 * 3600 + (i // 300) % 1800
           ELSE (i * 2654435761) % ({DAYS} * 86400) END::BIGINT),
       'post ' || i || ' about ' || s.service || ': ' ||
           CASE hash(i) % 4 WHEN 0 THEN 'it is down again' WHEN 1 THEN 'so slow today'
                WHEN 2 THEN 'love the new feature' ELSE 'anyone else seeing errors?' END,
       'user' || (hash(i * 7) % 200000), (hash(i * 13) % 100000)::BIGINT,
       (hash(i * 17) % 50)::BIGINT, (hash(i * 19) % 20)::BIGINT, 0, 0,
       CASE WHEN hash(i) % 10 = 0 THEN 'de' ELSE 'en' END,
       'https://example.com/p/' || i, false, NULL, NULL, now()
FROM range(?) t(i)
JOIN (SELECT unnest(?::VARCHAR[]) AS service, generate_subscripts(?::VARCHAR[], 1) - 1 AS k) s
  ON s.k = i % {len(SERVICES)}
"""
CLASSIFY_SQL = f"""
INSERT INTO classifications (source, id, model_version, sentiment, sentiment_scores,
                             is_complaint, complaint_probability, complaint_type,
                             complaint_scores, classified_at)
SELECT source, id, 'bench',
       CASE WHEN t IN ('none') THEN 'neutral' WHEN t = 'praise' THEN 'positive'
            ELSE 'negative' END,
       '{{"negative": 0.6, "neutral": 0.3, "positive": 0.1}}',
       t NOT IN ('none', 'praise'), 0.7, t, '{{}}', now()
FROM (SELECT source, id,
             (?::VARCHAR[])[(1 + hash(id) % {len(TYPES)})::BIGINT] AS t FROM post_records)
"""


def insert_classified_posts(con: duckdb.DuckDBPyConnection, posts: int) -> None:
    """`posts` synthetic posts over DAYS days from START, each with a classification."""
    con.execute(GENERATE_SQL, [START, posts, SERVICES, SERVICES])
    con.execute(CLASSIFY_SQL, [TYPES])


# -- realistic post records from the demo stream -------------------------------------------

# Each copy of the demo stream lands in one of three 10-day slots (so 1M posts span 30 days,
# like the SQL generator's warehouses) and a few minutes later than the copy before it in the
# same slot, so copies overlap in time the way many more posters would.
SLOTS = 3
SLOT_DAYS = 10
COPY_STEP_S = 53

OPENERS = ["ugh", "ok so", "PSA:", "welp,", "lol", "honestly", "not again:", "fyi", "hmm",
           "yikes", "so", "ffs", "wow", "heads up:", "bruh", "update:", "again?!", "great..."]
SUFFIXES = ["rn", "smh", "lol", "again", "today", "this morning", "tonight", "right now",
            "for real", "😩", "🙃", "💀", "🔥", "👀", "🙏", "😂", "!!", "...", "?", "#fail",
            "#outage", "#devlife", "#monday", "#productivity", "anyone?", "pls fix",
            "send help", "of course", "classic", "every single time", "ffs", "👍", "❤️", "🚀",
            "at work", "from home", "in prod", "mid-meeting", "before a deadline", "#wfh"]
NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class GeneratedPosts:
    path: Path
    posts: int
    distinct_texts: int
    copies: int

    @property
    def duplicate_share(self) -> float:
        return 1 - self.distinct_texts / self.posts if self.posts else 0.0


def _typo(rng: random.Random, words: list[str], protected: Sequence[str]) -> None:
    """One keyboard slip in a plain lowercase word that names no service or competitor (the
    importer matches services by keyword, so those must survive)."""
    candidates = [i for i, w in enumerate(words)
                  if len(w) >= 5 and w.isascii() and w.isalpha() and w.islower()
                  and not any(p in w for p in protected)]
    if not candidates:
        return
    i = rng.choice(candidates)
    w = words[i]
    k = rng.randrange(1, len(w) - 1)
    words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2:] if rng.random() < 0.5 else w[:k] + w[k + 1:]


def perturb(text: str, rng: random.Random, protected: Sequence[str]) -> str:
    """The same post as another person might write it: one to three small edits."""
    edits = rng.sample(["typo", "opener", "suffix", "suffix2", "number", "case"],
                       rng.choice([1, 2, 2, 3]))
    words = text.split(" ")
    if "typo" in edits:
        _typo(rng, words, protected)
    if "opener" in edits:
        words.insert(0, rng.choice(OPENERS))
    if "suffix" in edits or "suffix2" in edits:
        words.append(rng.choice(SUFFIXES))
    if "suffix" in edits and "suffix2" in edits:
        words.append(rng.choice(SUFFIXES))
    out = " ".join(words)
    if "number" in edits and NUMBER.search(out):
        out = NUMBER.sub(lambda _: str(rng.randrange(2, 120)), out, count=1)
    elif "number" in edits:
        out = f"{out} ({rng.randrange(2, 60)} min now)"
    if "case" in edits:
        out = out.lower() if rng.random() < 0.8 else out.upper()
    if out == text:  # the edits found nothing to change (no long word, already lowercase)
        out = f"{out} {rng.choice(SUFFIXES)}"
    return out


def _shift(created_at: str, seconds: int) -> str:
    when = datetime.fromisoformat(created_at) + timedelta(seconds=seconds)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _copy_records(demo: list[dict[str, Any]], copy: int, protected: Sequence[str],
                  seed: int) -> Iterator[dict[str, Any]]:
    """Copy `copy` of the demo stream: new ids, shifted times, perturbed texts. A text repeated
    within the demo (reposts, copy-paste) stays repeated within the copy."""
    shift = (copy % SLOTS) * SLOT_DAYS * 86_400 + (copy // SLOTS) * COPY_STEP_S
    texts: dict[str, str] = {}
    for record in demo:
        out = dict(record)
        if copy:
            text = record["text"]
            if text not in texts:
                texts[text] = perturb(text, random.Random(f"{seed}:{copy}:{text}"), protected)
            out["text"] = texts[text]
            out["id"] = f"{record['id']}-c{copy}"
            if record.get("parent_id"):
                out["parent_id"] = f"{record['parent_id']}-c{copy}"
            if record.get("url"):
                out["url"] = f"{record['url']}?c={copy}"
            out["created_at"] = _shift(record["created_at"], shift)
        yield out


def write_demo_like_posts(demo_posts: Path, out: Path, posts: int, protected: Sequence[str],
                          seed: int = 1) -> GeneratedPosts:
    """Writes `posts` records (the demo stream, then perturbed copies of it) to `out`, sorted by
    nothing in particular (copy after copy, as files arriving from several collectors)."""
    with gzip.open(demo_posts, "rt", encoding="utf-8") as f:
        demo = [json.loads(line) for line in f if line.strip()]
    protected = [p.lower() for p in protected]
    distinct: set[str] = set()
    written = copy = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        while written < posts:
            for record in _copy_records(demo[: posts - written], copy, protected, seed):
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                distinct.add(record["text"])
                written += 1
            copy += 1
    return GeneratedPosts(out, written, len(distinct), copy)
