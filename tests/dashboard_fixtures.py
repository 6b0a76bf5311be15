"""A small warehouse for the dashboard tests, built through the real writer: two services over
two UTC days, a complaint burst during an upstream incident, its spike and incident link, a
demo run record, and one post whose text tries to be HTML/markdown."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.warehouse.writer import writing

DAY1 = pd.Timestamp("2025-03-10 00:00", tz="UTC")
INCIDENT_START = DAY1 + pd.Timedelta(hours=14)
HOSTILE_TEXT = "<script>alert(1)</script>**bold**"
TOP_NOTION_TEXT = "Notion AI is down for everyone on our team, every AI block just spins"
COMPLAINTS = ["outage", "errors", "slowness", "access", "quality"]
SPIKE_COLUMNS = ["spike_id", "service", "complaint_type", "start", "peak", "end", "peak_rate",
                 "expected_rate", "score", "posts"]
LINK_COLUMNS = ["spike_id", "incident_id", "provider", "service", "relation", "lead_minutes",
                "overlap_minutes", "confidence"]
BUCKET_COLUMNS = ["service", "minute", "complaint_type", "sentiment", "is_complaint", "posts",
                  "reach"]


@dataclass(frozen=True)
class SmallWarehouse:
    path: Path
    posts: pd.DataFrame  # every post with its classification columns (None if unclassified)


def build_small_warehouse(path: Path, classified: bool = True, demo: bool = True,
                          seed: int = 7) -> SmallWarehouse:
    posts = _posts(random.Random(seed))
    with writing(path) as wh:
        wh.upsert_posts(posts)
        if classified:
            wh.write_classifications(_classifications(posts))
            wh.replace_table("post_buckets", _buckets(posts), BUCKET_COLUMNS)
            wh.replace_table("spikes", _spikes(), SPIKE_COLUMNS)
            wh.replace_table("incident_links", _links(), LINK_COLUMNS)
        wh.upsert_incidents(_incidents(), pd.DataFrame())
        if demo:
            wh.record_run("demo-1", "demo", pd.Timestamp.now(tz="UTC"), "completed", "{}")
    if not classified:
        posts = posts.assign(sentiment=None, complaint_type=None)
    return SmallWarehouse(path, posts)


def build_empty_warehouse(path: Path) -> Path:
    """The schema and nothing else."""
    with writing(path):
        pass
    return path


def _posts(rng: random.Random) -> pd.DataFrame:
    rows = []
    # Background chatter on both days for both services, plus a burst of Notion complaints
    # between 14:00 and 14:30 on day 1 (the upstream incident).
    for i in range(220):
        service = "notion" if i % 3 else "slack"
        at = DAY1 + pd.Timedelta(minutes=rng.randrange(0, 2 * 24 * 60))
        rows.append(_post(rng, i, service, at, complaint=rng.random() < 0.3))
    for i in range(220, 300):
        at = INCIDENT_START + pd.Timedelta(minutes=rng.randrange(0, 30))
        rows.append(_post(rng, i, "notion", at, complaint=True))
    rows.append(_post(rng, 300, "notion", INCIDENT_START + pd.Timedelta(minutes=5),
                      complaint=True, text=TOP_NOTION_TEXT, followers=900_000))
    rows.append(_post(rng, 301, "notion", INCIDENT_START + pd.Timedelta(minutes=7),
                      complaint=True, text=HOSTILE_TEXT, followers=500_000))
    return pd.DataFrame(rows)


def _post(rng: random.Random, i: int, service: str, at: pd.Timestamp, complaint: bool,
          text: str | None = None, followers: int | None = None) -> dict[str, object]:
    kind = rng.choice(COMPLAINTS) if complaint else rng.choice(["none", "none", "praise"])
    sentiment = "negative" if complaint else ("positive" if kind == "praise" else "neutral")
    return {
        "source": "x" if i % 2 else "bluesky",
        "id": f"p{i}",
        "service": service,
        "created_at": at,
        "text": text or f"post {i} about {service}: {kind}",
        "author": f"user{i}",
        "author_followers": followers if followers is not None else rng.randrange(0, 5000),
        "likes": rng.randrange(0, 50),
        "reposts": rng.randrange(0, 20),
        "replies": 0,
        "quotes": 0,
        "lang": "en",
        "url": f"https://example.com/{service}/{i}",
        "is_repost": False,
        "parent_id": None,
        "raw_page_id": None,
        # Kept for the classifications and the tests' expected values; the writer ignores them.
        "sentiment": sentiment,
        "complaint_type": kind,
        # As the taxonomy says: none, praise and humor are not complaints.
        "is_complaint": kind not in ("none", "praise", "humor"),
    }


def _classifications(posts: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "source": posts["source"],
        "id": posts["id"],
        "model_version": "test",
        "sentiment": posts["sentiment"],
        "sentiment_scores": json.dumps({"negative": 0.3, "neutral": 0.4, "positive": 0.3}),
        "is_complaint": posts["is_complaint"],
        "complaint_probability": 0.5,
        "complaint_type": posts["complaint_type"],
        "complaint_scores": json.dumps({}),
    })


def _buckets(posts: pd.DataFrame) -> pd.DataFrame:
    frame = posts.assign(
        minute=posts["created_at"].dt.floor("min"),
        reach=posts["author_followers"] + posts["reposts"],
    )
    return (
        frame.groupby(["service", "minute", "complaint_type", "sentiment", "is_complaint"],
                      as_index=False)
        .agg(posts=("id", "count"), reach=("reach", "sum"))
    )


def _spikes() -> pd.DataFrame:
    return pd.DataFrame([{
        "spike_id": "s-notion-1", "service": "notion", "complaint_type": None,
        "start": INCIDENT_START, "peak": INCIDENT_START + pd.Timedelta(minutes=10),
        "end": INCIDENT_START + pd.Timedelta(minutes=30), "peak_rate": 6.0,
        "expected_rate": 0.1, "score": 12.5, "posts": 82,
    }])


def _links() -> pd.DataFrame:
    return pd.DataFrame([{
        "spike_id": "s-notion-1", "incident_id": "inc-a1", "provider": "anthropic",
        "service": "notion", "relation": "upstream", "lead_minutes": 3.0,
        "overlap_minutes": 27.0, "confidence": 0.9,
    }])


def _incidents() -> pd.DataFrame:
    def incident(provider: str, incident_id: str, title: str, start: pd.Timestamp,
                 minutes: int) -> dict[str, object]:
        return {
            "provider": provider, "incident_id": incident_id, "title": title,
            "impact": "major", "status": "resolved", "components": ["API"],
            "url": f"https://status.example.com/{incident_id}", "created_at": start,
            "started_at": start, "resolved_at": start + pd.Timedelta(minutes=minutes),
            "updated_at": start + pd.Timedelta(minutes=minutes),
        }

    return pd.DataFrame([
        incident("anthropic", "inc-a1", "Elevated errors on Claude API",
                 INCIDENT_START + pd.Timedelta(minutes=3), 70),
        incident("aws", "inc-aws1", "Increased latency in us-east-1",
                 DAY1 + pd.Timedelta(hours=30), 45),
    ])
