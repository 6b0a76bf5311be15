"""Mastodon REST API pages as posts (page format "mastodon_statuses"): a timeline page (a JSON
array of Status entities, e.g. /api/v1/timelines/tag/:hashtag) or a /api/v2/search result
(`{"accounts": [], "statuses": [...], "hashtags": []}`).
Status entity: https://docs.joinmastodon.org/entities/Status/

A status's `id` is local to the instance that served it; the same post seen through two
instances has two ids but one `uri` (its ActivityPub id), so the post id is the `uri`: a post
federated to several configured instances is stored once."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

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


def normalise_statuses_page(doc: Any) -> Normalised:
    if isinstance(doc, dict) and isinstance(doc.get("statuses"), list):
        statuses = doc["statuses"]
    elif isinstance(doc, list):
        statuses = doc
    else:
        reason = "Mastodon page: neither a list of statuses nor a search result with `statuses`"
        return Normalised(rejects=[(doc, reason)])
    return normalise_each(statuses, post_from_status, "Mastodon status")


def post_from_status(status: Any) -> dict[str, Any]:
    if not isinstance(status, dict):
        raise BadRecord("status is not an object")
    boosted = status.get("reblog")
    if boosted is not None and not isinstance(boosted, dict):
        raise BadRecord("reblog is not a status object")
    # A boost carries no text of its own: its text, language and URL are the boosted status's.
    body = boosted or status
    missing = [k for k in ("uri", "created_at", "content") if k not in body]
    if missing or "uri" not in status:
        raise BadRecord(f"missing field(s): {', '.join(missing or ['uri'])}")
    account = status.get("account")
    if not isinstance(account, dict):
        raise BadRecord("account missing or not an object")
    return {
        "source": "mastodon",
        "id": _id(status["uri"]),
        "service": None,
        "created_at": parse_timestamp(status.get("created_at")),
        "text": _status_text(body),
        "author": _acct(account),
        "author_followers": _count(account.get("followers_count"), "followers_count"),
        "likes": _count(status.get("favourites_count"), "favourites_count"),
        "reposts": _count(status.get("reblogs_count"), "reblogs_count"),
        "replies": _count(status.get("replies_count"), "replies_count"),
        "quotes": _count(status.get("quotes_count"), "quotes_count"),
        "lang": _opt_str(body.get("language"), "language"),
        "url": _opt_str(body.get("url") or body.get("uri"), "url"),
        "is_repost": boosted is not None,
        # A boost points at the boosted post's uri (its post id). A reply's in_reply_to_id is
        # the serving instance's local id: it marks the post as a reply, it joins nothing.
        "parent_id": (_opt_str(boosted.get("uri"), "reblog.uri") if boosted is not None
                      else _opt_str(status.get("in_reply_to_id"), "in_reply_to_id")),
    }


def _status_text(body: dict[str, Any]) -> str:
    content = html_to_text(_text(body.get("content"), "content"))
    warning = _text(body.get("spoiler_text") or "", "spoiler_text").strip()
    # The content warning often names the topic ("Notion outage"): keep it before the text.
    return f"{warning}\n\n{content}".strip() if warning else content


def _acct(account: dict[str, Any]) -> str | None:
    """`user@host` for every author: local accounts' `acct` has no host, so it comes from the
    account's profile URL."""
    acct = _opt_str(account.get("acct"), "acct")
    if acct is None or "@" in acct:
        return acct
    host = urlparse(str(account.get("url") or "")).hostname
    return f"{acct}@{host}" if host else acct

