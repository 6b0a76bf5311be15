"""Pure parsers for landed Bluesky pages (named in pipelines/page_formats.py):

- "bluesky_search": what the `bluesky` source lands for one app.bsky.feed.searchPosts call,
  `{"search": <searchPosts output>, "profiles": [<app.bsky.actor.getProfiles output>, ...]}`;
  a bare searchPosts output (`posts` + `cursor`) is read too, without follower counts.
- "bluesky_jetstream": a JSON array of Jetstream events as received from the websocket.

Both give post ids as the post's AT URI (at://DID/app.bsky.feed.post/RKEY), so a post seen by
search and by Jetstream is one row. No client library is imported here.
"""

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

POST_COLLECTION = "app.bsky.feed.post"
QUOTE_EMBEDS = ("app.bsky.embed.record", "app.bsky.embed.record#view")
QUOTE_WITH_MEDIA_EMBEDS = ("app.bsky.embed.recordWithMedia", "app.bsky.embed.recordWithMedia#view")


def normalise_search_page(doc: Any) -> Normalised:
    """Posts of one searchPosts response, with author follower counts from the getProfiles
    responses landed beside it."""
    search, profiles = (doc.get("search"), doc.get("profiles")) if _is_envelope(doc) else (doc, [])
    if not isinstance(search, dict) or not isinstance(search.get("posts"), list):
        return Normalised(rejects=[(doc, "Bluesky search page: no `posts` list")])
    by_did = _profiles_by_did(profiles)
    return normalise_each(search["posts"], lambda v: _post_from_view(v, by_did), "Bluesky post")


def normalise_jetstream_page(doc: Any) -> Normalised:
    """Posts of a JSON array of Jetstream commit events (post creates)."""
    if not isinstance(doc, list):
        return Normalised(rejects=[(doc, "Jetstream page: not a JSON array of events")])
    return normalise_each(doc, _post_from_event, "Jetstream event")


def sort_at(view: Any) -> str | None:
    """The time Bluesky's search sorts and filters `since` on: the earlier of the record's
    createdAt and the AppView's indexedAt (a post cannot sort into the future). None when the
    post view has neither as a valid timestamp."""
    if not isinstance(view, dict):
        return None
    record = view.get("record")
    created = record.get("createdAt") if isinstance(record, dict) else None
    times = []
    for value in (created, view.get("indexedAt")):
        try:
            times.append(parse_timestamp(value))
        except BadRecord:
            continue
    return min(times).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if times else None


def post_url(author: str, rkey: str) -> str:
    """The bsky.app link of a post; `author` is a handle or, when unknown, the DID."""
    return f"https://bsky.app/profile/{author}/post/{rkey}"


def _is_envelope(doc: Any) -> bool:
    return isinstance(doc, dict) and "search" in doc and "posts" not in doc


def _profiles_by_did(responses: Any) -> dict[str, dict[str, Any]]:
    """getProfiles responses -> profileViewDetailed by DID; anything malformed is skipped
    (the posts then have no follower count, a bad count itself rejects its posts)."""
    by_did: dict[str, dict[str, Any]] = {}
    for response in responses if isinstance(responses, list) else []:
        profiles = response.get("profiles") if isinstance(response, dict) else None
        for profile in profiles if isinstance(profiles, list) else []:
            if isinstance(profile, dict) and isinstance(profile.get("did"), str):
                by_did[profile["did"]] = profile
    return by_did


def _post_from_view(view: Any, profiles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One app.bsky.feed.defs#postView."""
    if not isinstance(view, dict):
        raise BadRecord("post view is not an object")
    uri = _id(view.get("uri"))
    did, rkey = _split_post_uri(uri)
    author = view.get("author")
    if not isinstance(author, dict):
        raise BadRecord("author is missing")
    handle = _opt_str(author.get("handle"), "author.handle")
    if not handle or handle == "handle.invalid":  # the AppView's marker for a broken handle
        handle = None
    profile = profiles.get(did, {})
    post = _post_from_record(uri, did, rkey, view.get("record"), handle)
    post.update({
        "author_followers": _count(profile.get("followersCount"), "author_followers"),
        "likes": _count(view.get("likeCount"), "likeCount"),
        "reposts": _count(view.get("repostCount"), "repostCount"),
        "replies": _count(view.get("replyCount"), "replyCount"),
        "quotes": _count(view.get("quoteCount"), "quoteCount"),
    })
    return post


def _post_from_event(event: Any) -> dict[str, Any]:
    """One Jetstream event; only commits that create an app.bsky.feed.post are posts."""
    if isinstance(event, str):
        raise BadRecord("the message is not a JSON object (truncated or malformed)")
    if not isinstance(event, dict):
        raise BadRecord("event is not an object")
    commit = event.get("commit")
    if event.get("kind") != "commit" or not isinstance(commit, dict):
        raise BadRecord(f"kind {event.get('kind')!r} is not a commit")
    if commit.get("operation") != "create" or commit.get("collection") != POST_COLLECTION:
        raise BadRecord(f"{commit.get('operation')!r} of {commit.get('collection')!r} is not a "
                        "post create")
    did, rkey = event.get("did"), commit.get("rkey")
    if not isinstance(did, str) or not did.startswith("did:"):
        raise BadRecord(f"did {did!r} is not a DID")
    if not isinstance(rkey, str) or not rkey or "/" in rkey:
        raise BadRecord(f"rkey {rkey!r} is not a record key")
    uri = _id(f"at://{did}/{POST_COLLECTION}/{rkey}")  # rejects what no column can store
    # A post just created has no engagement yet that we know of: metrics stay unknown (null),
    # so they never overwrite counts that search saw.
    return {**_post_from_record(uri, did, rkey, commit.get("record"), None),
            "author_followers": None, "likes": None, "reposts": None, "replies": None,
            "quotes": None}


def _split_post_uri(uri: str) -> tuple[str, str]:
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3 or not parts[0] or not parts[2]:
        raise BadRecord(f"uri {uri!r} is not an at://AUTHORITY/COLLECTION/RKEY URI")
    if parts[1] != POST_COLLECTION:
        raise BadRecord(f"uri {uri!r} is not an {POST_COLLECTION} record")
    return parts[0], parts[2]


def _post_from_record(uri: str, did: str, rkey: str, record: Any,
                      handle: str | None) -> dict[str, Any]:
    """The fields every Bluesky post has, from its app.bsky.feed.post record."""
    if not isinstance(record, dict):
        raise BadRecord("record is missing")
    if "createdAt" not in record:
        raise BadRecord("record.createdAt is missing")
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs else None
    return {
        "source": "bluesky",
        "id": uri,
        "service": None,
        "created_at": parse_timestamp(record["createdAt"], "record.createdAt"),
        "text": _text(record.get("text"), "record.text"),
        "author": handle or did,
        "lang": _opt_str(lang, "record.langs[0]"),
        "url": post_url(handle or did, rkey),
        "is_repost": False,  # reposts are app.bsky.feed.repost records, never post views
        "parent_id": _opt_str(_parent_uri(record), "parent uri"),
    }


def _parent_uri(record: dict[str, Any]) -> Any:
    """The post this one replies to, else the post it quotes."""
    reply = record.get("reply")
    if isinstance(reply, dict) and isinstance(reply.get("parent"), dict):
        return reply["parent"].get("uri")
    embed = record.get("embed")
    if not isinstance(embed, dict):
        return None
    quoted = embed.get("record")
    if embed.get("$type") in QUOTE_WITH_MEDIA_EMBEDS and isinstance(quoted, dict):
        quoted = quoted.get("record")  # recordWithMedia wraps the quote in one more `record`
    elif embed.get("$type") not in QUOTE_EMBEDS:
        return None
    return quoted.get("uri") if isinstance(quoted, dict) else None
