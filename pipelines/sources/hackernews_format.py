"""Hacker News search pages of the Algolia HN Search API as posts (page format "hn_algolia"):
`/api/v1/search_by_date` (or `/search`) responses, `{"hits": [...], "page", "nbPages", ...}`,
with stories (title, story_text, url, points, num_comments) and comments (comment_text,
story_id, parent_id). API: https://hn.algolia.com/api"""

from __future__ import annotations

from typing import Any

from pipelines.normalize import (
    BadRecord,
    Normalised,
    _count,
    _id,
    _opt_str,
    _text,
    normalise_each,
    parse_timestamp,
)
from pipelines.sources.html_text import html_to_text

ITEM_URL = "https://news.ycombinator.com/item?id={}"


def normalise_algolia_page(doc: Any) -> Normalised:
    if not isinstance(doc, dict) or not isinstance(doc.get("hits"), list):
        return Normalised(rejects=[(doc, "HN page: not an Algolia search result with `hits`")])
    return normalise_each(doc["hits"], post_from_hit, "HN hit")


def post_from_hit(hit: Any) -> dict[str, Any]:
    if not isinstance(hit, dict):
        raise BadRecord("hit is not an object")
    item_id = _id(hit.get("objectID"))
    tags = hit.get("_tags")
    tags = tags if isinstance(tags, list) else []
    is_comment = hit.get("comment_text") is not None or "comment" in tags
    if is_comment:
        text = html_to_text(_text(hit.get("comment_text"), "comment_text"))
    else:
        if hit.get("title") is None:
            raise BadRecord("a story needs a title (and a comment needs comment_text)")
        title = _text(hit.get("title"), "title").strip()
        body = html_to_text(_text(hit.get("story_text") or "", "story_text"))
        text = f"{title}\n\n{body}".strip()
    # created_at_i (epoch seconds) is what the API filters on; created_at is the same time.
    when = hit.get("created_at_i", hit.get("created_at"))
    return {
        "source": "hackernews",
        "id": item_id,
        "service": None,
        "created_at": parse_timestamp(when, "created_at_i" if "created_at_i" in hit
                                      else "created_at"),
        "text": text,
        "author": _opt_str(hit.get("author"), "author"),
        "author_followers": None,  # HN has karma, not followers
        "likes": _count(hit.get("points"), "points"),
        "reposts": None,
        "replies": _count(hit.get("num_comments"), "num_comments"),
        "quotes": None,
        "lang": None,
        "url": ITEM_URL.format(item_id),
        "is_repost": False,
        "parent_id": _opt_str(hit.get("parent_id"), "parent_id") if is_comment else None,
    }
