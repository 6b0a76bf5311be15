"""Competitor mentions and switching intent on tiny hand-checked inputs."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.switching import competitor_mentions, competitor_pattern, has_switching_intent

T = pd.Timestamp


@pytest.mark.parametrize(("name", "text", "hit"), [
    ("Coda", "trying coda today", True),
    ("Coda", "Coda!", True),
    ("Coda", "my codatabase", False),
    ("Microsoft Loop", "Microsoft  Loop looks nice", True),
    ("Microsoft Loop", "microsoft loophole", False),
    ("Microsoft Loop", "stuck in a loop", False),
])
def test_competitor_is_matched_as_whole_words(name, text, hit):
    assert bool(competitor_pattern(name).search(text)) is hit


@pytest.mark.parametrize(("text", "intent"), [
    ("switching to Coda after this", True),
    ("we switched over to GitLab", True),
    ("our community is moving to Discord", True),
    ("moving CI to Codeberg", True),
    ("cancelled my Notion subscription, Obsidian it is", True),
    ("any good alternative to Slack?", True),
    ("ChatGPT got lazy so I'm trying Claude for the rest of the week", True),
    ("me paso a Gemini, ChatGPT no funciona", True),
    ("Coda is nice too", False),
    ("Obsidian release notes are good", False),
])
def test_switching_intent_phrases(text, intent):
    assert has_switching_intent(text) is intent


def _posts(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"service": s, "created_at": T(t), "text": x} for s, t, x in rows],
                        columns=["service", "created_at", "text"])


def test_mentions_in_the_spike_and_its_baseline_window():
    # Spike 10:00..10:09 (window [10:00, 10:10)); baseline [09:50, 10:00).
    spikes = pd.DataFrame([{"spike_id": "s1", "service": "notion",
                            "start": T("2024-06-01T10:00Z"), "end": T("2024-06-01T10:09Z")}])
    posts = _posts(
        ("notion", "2024-06-01T09:49Z", "Coda is fine"),              # before the baseline
        ("notion", "2024-06-01T09:55Z", "coda looks nice"),           # baseline
        ("notion", "2024-06-01T09:58Z", "cancel it all, Obsidian now"),  # baseline, intent
        ("notion", "2024-06-01T10:05Z", "switching to Coda, bye Notion"),
        ("notion", "2024-06-01T10:09:59Z", "Obsidian would never"),
        ("notion", "2024-06-01T10:10Z", "moving to Coda"),            # after the window
        ("slack", "2024-06-01T10:05Z", "switching to Coda"),          # another service
    )
    out = competitor_mentions(spikes, posts, {"notion": ["Coda", "Obsidian", "Microsoft Loop"]})
    counts = {r.competitor: (r.mentions, r.switching_intent, r.baseline_mentions,
                             r.baseline_switching_intent) for r in out.itertuples()}
    assert counts == {"Coda": (1, 1, 1, 0), "Obsidian": (1, 0, 1, 1),
                      "Microsoft Loop": (0, 0, 0, 0)}
    row = out.iloc[0]
    assert row["baseline_start"] == T("2024-06-01T09:50Z")
    assert row["window_end"] == T("2024-06-01T10:10Z")


def test_services_without_competitors_or_posts():
    spikes = pd.DataFrame([
        {"spike_id": "g1", "service": "github", "start": T("2024-06-01T10:00Z"),
         "end": T("2024-06-01T10:09Z")},
        {"spike_id": "c1", "service": "chatgpt", "start": T("2024-06-01T10:00Z"),
         "end": T("2024-06-01T10:09Z")}])
    out = competitor_mentions(spikes, _posts(), {"chatgpt": ["Claude"]})
    assert out[["spike_id", "competitor", "mentions", "baseline_mentions"]].values.tolist() == [
        ["c1", "Claude", 0, 0]]
