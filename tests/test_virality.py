"""Spike reaction (virality) on tiny hand-checked inputs."""

from __future__ import annotations

import json

import pandas as pd

from analysis.virality import SPIKE_POST_COLUMNS, ViralityParams, spike_reaction

T = pd.Timestamp


def _spikes(*rows: tuple[str, str, str | None, str]) -> pd.DataFrame:
    return pd.DataFrame([{"spike_id": s, "service": svc, "complaint_type": ctype,
                          "start": T(start)} for s, svc, ctype, start in rows])


def _post(spike: str, pid: str, at: str, author: str | None, followers: int | None,
          likes: int = 0, reposts: int = 0, quotes: int = 0, repost: bool = False,
          complaint: bool = True) -> dict[str, object]:
    return {"spike_id": spike, "post_id": pid, "created_at": T(at), "author": author,
            "author_followers": followers, "likes": likes, "reposts": reposts, "quotes": quotes,
            "is_repost": repost, "is_complaint": complaint}


def _posts(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=SPIKE_POST_COLUMNS)


def test_counts_engagement_reach_and_velocity():
    spikes = _spikes(("s1", "notion", None, "2024-06-01T10:00Z"))
    posts = _posts(
        _post("s1", "p1", "2024-06-01T10:00:05Z", "ann", 100, likes=10, reposts=3, quotes=1),
        _post("s1", "p2", "2024-06-01T10:00:40Z", "ann", 100, likes=2),
        # A repost record carries its original's counters: they must not count twice.
        _post("s1", "p3", "2024-06-01T10:00:50Z", "bob", 1000, likes=10, reposts=3, repost=True),
        _post("s1", "p4", "2024-06-01T10:02:00Z", "cid", None, complaint=False),
        _post("s1", "p5", "2024-06-01T10:02:10Z", None, 70, likes=1),
    )
    row = spike_reaction(spikes, posts, explained_ids={"s1"}).iloc[0]
    assert (row["posts"], row["complaints"], row["distinct_authors"]) == (5, 4, 3)
    assert (row["likes"], row["reposts"], row["quotes"], row["repost_records"]) == (13, 3, 1, 1)
    # ann counted once (100), bob 1000, cid unknown (0); the post with no author adds nothing.
    assert row["reach"] == 1100
    assert row["velocity_per_min"] == 3  # 10:00 has three posts
    assert row["explained"] and pd.isna(row["size_vs_median"])


def test_top_amplifiers_rank_by_spread_then_followers_one_post_per_author():
    spikes = _spikes(("s1", "notion", None, "2024-06-01T10:00Z"))
    posts = _posts(
        _post("s1", "a1", "2024-06-01T10:00Z", "ann", 100, reposts=2, quotes=0),
        _post("s1", "a2", "2024-06-01T10:01Z", "ann", 100, reposts=9, quotes=1),
        _post("s1", "b1", "2024-06-01T10:02Z", "bob", 5000, reposts=0),
        _post("s1", "c1", "2024-06-01T10:03Z", "cid", 10, reposts=5, quotes=5),
        _post("s1", "d1", "2024-06-01T10:04Z", "dan", 20, reposts=0),
    )
    top = json.loads(spike_reaction(spikes, posts, set(), ViralityParams(top_amplifiers=3))
                     .iloc[0]["top_amplifiers"])
    assert top == [
        {"author": "ann", "followers": 100, "reposts": 9, "quotes": 1, "post_id": "a2"},
        {"author": "cid", "followers": 10, "reposts": 5, "quotes": 5, "post_id": "c1"},
        {"author": "bob", "followers": 5000, "reposts": 0, "quotes": 0, "post_id": "b1"},
    ]


def test_size_against_the_median_of_earlier_spikes_of_the_same_service_and_type():
    spikes = _spikes(("n3", "notion", None, "2024-06-03T10:00Z"),
                     ("n1", "notion", None, "2024-06-01T10:00Z"),
                     ("n2", "notion", None, "2024-06-02T10:00Z"),
                     ("t3", "notion", "billing", "2024-06-03T11:00Z"),
                     ("s3", "slack", None, "2024-06-03T10:00Z"))
    complaints = {"n1": 2, "n2": 4, "n3": 12, "t3": 6, "s3": 8}
    posts = _posts(*[_post(s, f"{s}-{i}", "2024-06-01T10:00Z", f"u{i}", 1)
                     for s, n in complaints.items() for i in range(n)])
    result = spike_reaction(spikes, posts, set())
    assert result["spike_id"].tolist() == ["n3", "n1", "n2", "t3", "s3"]  # input order kept
    out = result.set_index("spike_id")
    assert pd.isna(out.loc["n1", "size_vs_median"])
    assert out.loc["n2", "size_vs_median"] == 2.0           # 4 / median(2)
    assert out.loc["n3", "size_vs_median"] == 4.0           # 12 / median(2, 4)
    assert pd.isna(out.loc["t3", "size_vs_median"])         # no earlier billing spike
    assert pd.isna(out.loc["s3", "size_vs_median"])         # no earlier slack spike


def test_spike_without_posts_has_zeros_and_no_amplifiers():
    spikes = _spikes(("s1", "notion", None, "2024-06-01T10:00Z"))
    row = spike_reaction(spikes, _posts(), set()).iloc[0]
    assert row["posts"] == 0 and row["reach"] == 0 and row["velocity_per_min"] == 0
    assert row["top_amplifiers"] == "[]" and not row["explained"]
