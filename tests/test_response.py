"""Response effect of status updates and official posts on tiny hand-checked inputs."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.response import ResponseParams, official_posts, response_effects

T = pd.Timestamp
SPIKES = pd.DataFrame([{"spike_id": "s1", "service": "notion", "start": T("2024-06-01T10:00Z"),
                        "end": T("2024-06-01T10:59Z")}])
LINKS = pd.DataFrame([{"spike_id": "s1", "provider": "anthropic", "incident_id": "a1"}])
NO_OFFICIAL = pd.DataFrame(columns=["service", "id", "created_at"])


def _minutes() -> pd.DataFrame:
    """09:00..11:59: 2 complaints a minute before 10:00, 1 from 10:00; 4 posts a minute, of
    which 3 negative before 10:00 and 1 from 10:00."""
    minutes = pd.date_range(T("2024-06-01T09:00Z"), T("2024-06-01T11:59Z"), freq="min")
    early = minutes < T("2024-06-01T10:00Z")
    return pd.DataFrame({"service": "notion", "minute": minutes, "posts": 4,
                         "complaints": [2 if e else 1 for e in early],
                         "negative": [3 if e else 1 for e in early]})


def _updates(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"provider": "anthropic", "incident_id": i, "update_id": u,
                          "status": "investigating", "created_at": T(t)} for i, u, t in rows])


def test_rates_and_negative_share_before_and_after_an_update():
    out = response_effects(SPIKES, LINKS, _updates(("a1", "u1", "2024-06-01T10:00Z")),
                           NO_OFFICIAL, _minutes())
    row = out.iloc[0]
    assert (row["kind"], row["provider"], row["update_id"]) == ("status_update", "anthropic", "u1")
    assert (row["complaints_before"], row["complaints_after"]) == (60, 30)
    assert (row["rate_before"], row["rate_after"], row["rate_change_pct"]) == (2.0, 1.0, -50.0)
    assert (row["negative_share_before"], row["negative_share_after"]) == (0.75, 0.25)
    assert row["window_minutes"] == 30


def test_an_update_inside_a_minute_leaves_that_minute_out():
    # 09:59:30: before = [09:29, 09:59) all early; after = [10:00, 10:30) all late.
    out = response_effects(SPIKES, LINKS, _updates(("a1", "u1", "2024-06-01T09:59:30Z")),
                           NO_OFFICIAL, _minutes(), ResponseParams(window_minutes=30))
    assert (out.iloc[0]["rate_before"], out.iloc[0]["rate_after"]) == (2.0, 1.0)


def test_only_linked_incidents_updates_within_the_spike_and_official_posts():
    updates = _updates(("a1", "early", "2024-06-01T09:29Z"),   # before start - 30 min
                       ("a1", "u1", "2024-06-01T09:31Z"),
                       ("a1", "late", "2024-06-01T11:30Z"),    # at end + 1 min + 30 min
                       ("other", "x1", "2024-06-01T10:10Z"))   # not linked to the spike
    official = pd.DataFrame([
        {"service": "notion", "id": "p1", "created_at": T("2024-06-01T10:20Z")},
        {"service": "slack", "id": "p2", "created_at": T("2024-06-01T10:20Z")}])
    out = response_effects(SPIKES, LINKS, updates, official, _minutes())
    assert out["update_id"].tolist() == ["u1", "p1"]
    post = out.iloc[1]
    assert post["kind"] == "official_post" and pd.isna(post["provider"])
    # 10:20: before = [09:50, 10:20): 10 minutes at 2 and 20 at 1 = 40; after = 30.
    assert (post["complaints_before"], post["complaints_after"]) == (40, 30)
    assert post["rate_change_pct"] == -25.0


def test_no_complaints_before_gives_no_percentage_and_no_posts_no_share():
    minutes = pd.DataFrame({"service": "notion", "minute": [T("2024-06-01T10:05Z")],
                            "posts": [2], "complaints": [2], "negative": [1]})
    row = response_effects(SPIKES, LINKS, _updates(("a1", "u1", "2024-06-01T10:00Z")),
                           NO_OFFICIAL, minutes).iloc[0]
    assert row["rate_before"] == 0 and pd.isna(row["rate_change_pct"])
    assert pd.isna(row["negative_share_before"]) and row["negative_share_after"] == 0.5


@pytest.mark.parametrize(("service", "author", "official"), [
    ("notion", "NotionHQ", True),
    ("notion", "@notionhq", True),
    ("slack", "NotionHQ", False),      # another service's account
    ("notion", "notionhq_fan", False),
    ("notion", None, False),
])
def test_official_posts_are_by_their_own_services_handles(service, author, official):
    posts = pd.DataFrame([{"service": service, "id": "p", "created_at": T("2024-06-01T10:00Z"),
                           "author": author}])
    found = official_posts(posts, {"notion": ["@NotionHQ"], "slack": ["@SlackHQ"]})
    assert (len(found) == 1) is official


def test_no_official_posts_keeps_the_columns():
    posts = pd.DataFrame(columns=["service", "id", "created_at", "author"])
    assert list(official_posts(posts, {"notion": ["@NotionHQ"]}).columns) == list(posts.columns)
