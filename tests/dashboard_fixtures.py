"""A small warehouse for the dashboard tests, built through the real writer: two services over
two UTC days, a complaint burst during an upstream incident, its spike and incident link, a
demo run record, and one post whose text tries to be HTML/markdown."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
            _reaction_tables(wh)
        wh.upsert_incidents(_incidents(), _updates())
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
        "uncertain": False,
        "language": "en",
        "unsupported_language": False,
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


def _updates() -> pd.DataFrame:
    def update(i: int, minutes: int, status: str, body: str) -> dict[str, object]:
        return {"provider": "anthropic", "incident_id": "inc-a1", "update_id": f"u{i}",
                "status": status, "body": body,
                "created_at": INCIDENT_START + pd.Timedelta(minutes=minutes)}

    return pd.DataFrame([
        update(1, 3, "investigating", "We are investigating elevated errors on the API."),
        update(2, 20, "identified", "The issue has been identified and a fix is rolling out."),
        update(3, 73, "resolved", "This incident has been resolved."),
    ])


def _reaction_tables(wh: object) -> None:
    """What `aftershock analyze` derives for the spike, written as the analysis would."""
    from analysis.attribution import INCIDENT_METRIC_COLUMNS
    from analysis.response import EFFECT_COLUMNS
    from analysis.switching import MENTION_COLUMNS
    from analysis.virality import REACTION_COLUMNS
    from pipelines.themes_step import SPIKE_THEME_COLUMNS

    start, end = INCIDENT_START, INCIDENT_START + pd.Timedelta(minutes=30)
    reaction = pd.DataFrame([{
        "spike_id": "s-notion-1", "service": "notion", "complaint_type": None, "posts": 84,
        "complaints": 82, "distinct_authors": 82, "reposts": 640, "repost_records": 0,
        "quotes": 12, "likes": 2100, "reach": 1_650_000, "velocity_per_min": 7,
        "size_vs_median": 4.0, "explained": True,
        "top_amplifiers": json.dumps([{"author": "user300", "followers": 900_000,
                                       "reposts": 10, "quotes": 0, "post_id": "p300"}]),
    }])
    mentions = pd.DataFrame([
        {"spike_id": "s-notion-1", "service": "notion", "competitor": competitor,
         "mentions": n, "switching_intent": k, "baseline_mentions": b,
         "baseline_switching_intent": 0, "baseline_start": start - (end - start),
         "window_start": start, "window_end": end}
        for competitor, n, k, b in [("Coda", 9, 4, 1), ("Microsoft Loop", 3, 1, 0),
                                    ("Obsidian", 0, 0, 0)]
    ])
    effects = pd.DataFrame([{
        "spike_id": "s-notion-1", "service": "notion", "kind": "status_update",
        "provider": "anthropic", "incident_id": "inc-a1", "update_id": "u2",
        "update_at": start + pd.Timedelta(minutes=20), "status": "identified",
        "window_minutes": 10, "complaints_before": 40, "complaints_after": 12,
        "rate_before": 4.0, "rate_after": 1.2, "negative_share_before": 0.9,
        "negative_share_after": 0.6, "rate_change_pct": -70.0,
    }])
    metrics = pd.DataFrame([
        {"provider": "anthropic", "incident_id": "inc-a1", "service": "notion",
         "relation": "upstream", "started_at": start + pd.Timedelta(minutes=3),
         "first_complaint_at": start, "first_update_at": start + pd.Timedelta(minutes=3),
         "resolved_at": start + pd.Timedelta(minutes=73), "recovered_at": end,
         "minutes_to_first_update": 3.0, "minutes_to_resolution": 73.0,
         "minutes_to_recovery": 30.0, "linked_spikes": 1, "max_confidence": 0.9,
         "complaints": 82, "silent": False},
        {"provider": "aws", "incident_id": "inc-aws1", "service": "slack",
         "relation": "upstream", "started_at": DAY1 + pd.Timedelta(hours=30),
         "first_complaint_at": None, "first_update_at": None, "resolved_at": None,
         "recovered_at": None, "minutes_to_first_update": None,
         "minutes_to_resolution": None, "minutes_to_recovery": None, "linked_spikes": 0,
         "max_confidence": None, "complaints": 0, "silent": True},
    ])
    themes = pd.DataFrame([
        {"spike_id": "s-notion-1", "theme_id": i + 1, "label": label, "posts": n,
         "distinct_texts": n, "share": n / 82, "representative_id": rep,
         "representative_source": "x", "representative_text": text,
         "sample_ids": json.dumps([]), "posts_signature": None}
        for i, (label, n, rep, text) in enumerate([
            ("down, spins, blocks", 50, "p300", TOP_NOTION_TEXT),
            ("script, bold", 32, "p301", HOSTILE_TEXT),
        ])
    ])
    w = wh  # a pipelines.warehouse.writer.Warehouse
    w.replace_table("spike_themes", themes, SPIKE_THEME_COLUMNS)  # type: ignore[attr-defined]
    w.replace_table("spike_reaction", reaction, REACTION_COLUMNS)  # type: ignore[attr-defined]
    w.replace_table("competitor_mentions", mentions, MENTION_COLUMNS)  # type: ignore[attr-defined]
    w.replace_table("response_effects", effects, EFFECT_COLUMNS)  # type: ignore[attr-defined]
    w.replace_table("incident_metrics", metrics, INCIDENT_METRIC_COLUMNS)  # type: ignore[attr-defined]


def rendered_texts(at: Any) -> list[str]:
    """Everything an AppTest page rendered as markdown (which would interpret HTML or markup):
    untrusted text must never appear here."""
    kinds = [at.title, at.header, at.subheader, at.markdown, at.caption, at.info, at.warning,
             at.error, at.success]
    return [str(el.value) for kind in kinds for el in kind]
