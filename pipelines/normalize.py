"""Normalising raw pages into post rows. Each parser takes one parsed page and returns the good
posts and the bad records with a reason; a bad record never stops the records beside it.
Re-running a parser on the same page gives the same rows (landing first makes this re-runnable)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SOURCES = ("x", "reddit", "bluesky", "mastodon", "hackernews", "file")
MAX_TEXT_CHARS = 100_000
# Posts dated before social networks existed, or more than a day ahead, are clock errors.
EARLIEST = datetime(2004, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
COUNT_FIELDS = ("author_followers", "likes", "reposts", "replies", "quotes")


@dataclass
class Normalised:
    posts: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[tuple[Any, str]] = field(default_factory=list)  # (record, reason)

    def extend(self, other: Normalised) -> None:
        self.posts.extend(other.posts)
        self.rejects.extend(other.rejects)


class BadRecord(ValueError):
    """One record cannot be used; its message is the quarantine reason."""


# What a builder meeting a shape it did not expect raises (a list where a string was, ...).
# Builders check the shapes they know; this keeps one odd record from costing the rows beside it.
UNEXPECTED_SHAPE = (TypeError, KeyError, AttributeError, IndexError, OverflowError, ValueError)


def shape_reason(error: Exception) -> str:
    """The quarantine reason for an error no builder foresaw."""
    return f"unexpected shape ({type(error).__name__}: {error})"


def normalise_each(records: Iterable[Any], build: Callable[[Any], dict[str, Any]],
                   label: str | None) -> Normalised:
    """Posts built from each record; a record that cannot be built is a reject with the reason
    (prefixed with `label: ` when there is one)."""
    prefix = f"{label}: " if label else ""
    out = Normalised()
    for record in records:
        try:
            out.posts.append(build(record))
        except BadRecord as e:
            out.rejects.append((record, f"{prefix}{e}"))
        except UNEXPECTED_SHAPE as e:
            out.rejects.append((record, prefix + shape_reason(e)))
    return out


def record_hash(record: Any) -> str:
    text = record if isinstance(record, str) else json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def parse_timestamp(value: Any, name: str = "created_at") -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            ts = datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError) as e:
            raise BadRecord(f"{name} {value!r} is not a valid epoch time") from e
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.strip())
        except ValueError as e:
            raise BadRecord(f"{name} {value!r} is not an ISO 8601 timestamp") from e
        if ts.tzinfo is None:
            raise BadRecord(f"{name} {value!r} has no UTC offset (use Z or +HH:MM)")
    else:
        raise BadRecord(f"{name} must be an ISO 8601 string, got {type(value).__name__}")
    ts = ts.astimezone(UTC)
    if ts < EARLIEST or ts > datetime.now(UTC) + FUTURE_SLACK:
        raise BadRecord(f"{name} {value!r} is out of range ({EARLIEST.year} to tomorrow)")
    return ts


def _text(value: Any, name: str = "text") -> str:
    if not isinstance(value, str):
        raise BadRecord(f"{name} must be a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT_CHARS:
        raise BadRecord(f"{name} is {len(value)} characters, more than {MAX_TEXT_CHARS}")
    # NUL bytes break downstream tools (terminals, CSV) and carry no meaning in a post.
    return _unicode(value, name).replace("\x00", "")


def _unicode(value: str, name: str) -> str:
    """JSON's \\ud800 escapes decode to lone surrogates, which no UTF-8 column can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise BadRecord(f"{name} is not valid Unicode (lone surrogate at {e.start})") from e
    return value


def _count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRecord(f"{name} must be a non-negative integer, got {type(value).__name__}")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError) as e:  # OverflowError: int(inf)
        raise BadRecord(f"{name} must be a non-negative integer, got {value!r}") from e
    if number < 0 or number != float(value) or number > 2**62:
        raise BadRecord(f"{name} must be a non-negative integer, got {value!r}")
    return number


def _opt_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise BadRecord(f"{name} must be a string, got {type(value).__name__}")
    return _unicode(value, name).replace("\x00", "")


def _id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise BadRecord("id is missing or not a string")
    return _unicode(str(value).strip(), "id")


def post_from_record(record: Any, default_source: str | None = None) -> dict[str, Any]:
    """One post from DESIGN.md's post record (the JSONL import format)."""
    if not isinstance(record, dict):
        raise BadRecord(f"a post record must be a JSON object, got {type(record).__name__}")
    missing = [k for k in ("id", "created_at", "text") if k not in record]
    if missing:
        raise BadRecord(f"missing required field(s): {', '.join(missing)}")
    source = record.get("source", default_source)
    if source not in SOURCES:
        raise BadRecord(f"source {source!r} is not one of {', '.join(SOURCES)}")
    post = {
        "source": source,
        "id": _id(record["id"]),
        "service": (_opt_str(record.get("service"), "service") or None),
        "created_at": parse_timestamp(record["created_at"]),
        "text": _text(record["text"]),
        "author": _opt_str(record.get("author"), "author"),
        "lang": _opt_str(record.get("lang"), "lang"),
        "url": _opt_str(record.get("url"), "url"),
        "parent_id": _opt_str(record.get("parent_id"), "parent_id"),
        "is_repost": bool(record.get("is_repost") or False),
    }
    if post["service"]:
        post["service"] = post["service"].strip().lower()
    for name in COUNT_FIELDS:
        post[name] = _count(record.get(name), name)
    return post


def normalise_records(records: list[Any], default_source: str | None = None) -> Normalised:
    return normalise_each(records, lambda r: post_from_record(r, default_source), None)


def normalise_x_page(page: Any) -> Normalised:
    """An X API v2 search page as recorded by twarc/tweepy: `data` tweets, `includes.users`."""
    out = Normalised()
    if not isinstance(page, dict) or not isinstance(page.get("data") or [], list):
        out.rejects.append((page, "X page: not an object with a data list"))
        return out
    includes = page.get("includes")
    listed = includes.get("users") if isinstance(includes, dict) else None
    users = {
        str(u.get("id")): u
        for u in (listed if isinstance(listed, list) else [])
        if isinstance(u, dict)
    }
    out.extend(normalise_each(page.get("data") or [], lambda t: _post_from_tweet(t, users),
                              "X tweet"))
    return out


def _post_from_tweet(tweet: Any, users: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if not isinstance(tweet, dict):
        raise BadRecord("tweet is not an object")
    if "created_at" not in tweet:
        raise BadRecord("created_at missing (request tweet.fields=created_at)")
    tweet_id = _id(tweet.get("id"))
    metrics = _object(tweet.get("public_metrics"), "public_metrics")
    user = users.get(str(tweet.get("author_id")), {})
    username = user.get("username")
    references = tweet.get("referenced_tweets") or []
    if not isinstance(references, list):
        raise BadRecord("referenced_tweets must be a list")
    # A retweet's parent is the retweeted post; a quote's the quoted one; a reply's its parent.
    refs = {r["type"]: str(r["id"]) for r in references
            if isinstance(r, dict) and isinstance(r.get("type"), str) and r.get("id") is not None}
    parent = refs.get("retweeted") or refs.get("quoted") or refs.get("replied_to")
    return {
        "source": "x",
        "id": tweet_id,
        "service": None,
        "created_at": parse_timestamp(tweet["created_at"]),
        "text": _text(tweet.get("text")),
        "author": _opt_str(username, "author"),
        "author_followers": _count(_object(user.get("public_metrics"), "user public_metrics")
                                   .get("followers_count"), "author_followers"),
        "likes": _count(metrics.get("like_count"), "likes"),
        "reposts": _count(metrics.get("retweet_count"), "reposts"),
        "replies": _count(metrics.get("reply_count"), "replies"),
        "quotes": _count(metrics.get("quote_count"), "quotes"),
        "lang": _opt_str(tweet.get("lang"), "lang"),
        "url": f"https://x.com/{username or 'i/web'}/status/{tweet_id}",
        "is_repost": "retweeted" in refs,
        "parent_id": parent,
    }


def _object(value: Any, name: str) -> dict[str, Any]:
    """An optional nested object of an API record ({} when absent)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f"{name} must be an object, got {type(value).__name__}")
    return value


def _non_negative(value: Any) -> Any:
    """Reddit scores go below zero (downvotes); as a like count that is zero."""
    return 0 if isinstance(value, int | float) and not isinstance(value, bool) and value < 0 else value


def normalise_reddit_listing(listing: Any) -> Normalised:
    """A Reddit Listing: t3 submissions (title + selftext) and t1 comments (body)."""
    data = listing.get("data") if isinstance(listing, dict) else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(children, list):
        # An error body, an empty response or any other JSON where a Listing should be.
        return Normalised(rejects=[(listing, "not a Reddit Listing (no data.children list)")])
    return normalise_each(children, _post_from_reddit, "Reddit thing")


def _post_from_reddit(child: Any) -> dict[str, Any]:
    if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
        raise BadRecord("child is not a {kind, data} object")
    kind, data = child.get("kind"), child["data"]
    if kind == "t3":
        title = _text(data.get("title", ""), "title")
        body = _text(data.get("selftext") or "", "selftext")
        text = f"{title}\n\n{body}".strip()
    elif kind == "t1":
        text = _text(data.get("body"), "body")
    else:
        raise BadRecord(f"kind {kind!r} is not a submission (t3) or comment (t1)")
    if "created_utc" not in data:
        raise BadRecord("created_utc missing")
    parent = data.get("parent_id") if kind == "t1" else None
    return {
        "source": "reddit",
        # Fullnames (t3_abc, t1_xyz) keep submissions and comments apart.
        "id": _id(data.get("name") or f"{kind}_{data.get('id')}"),
        "service": None,
        "created_at": parse_timestamp(data["created_utc"], "created_utc"),
        "text": text,
        "author": _opt_str(data.get("author"), "author"),
        "author_followers": None,
        "likes": _count(_non_negative(data.get("score")), "score"),
        "reposts": _count(data.get("num_crossposts"), "num_crossposts"),
        "replies": _count(data.get("num_comments"), "num_comments"),
        "quotes": None,
        "lang": None,
        "url": _reddit_url(kind, data),
        "is_repost": bool(data.get("crosspost_parent")),
        "parent_id": _opt_str(parent, "parent_id"),
    }


def _reddit_url(kind: str, data: dict[str, Any]) -> str | None:
    """The thing's permalink; comments in older listings carry none, but their link id and
    id address them just as well."""
    permalink = data.get("permalink")
    if isinstance(permalink, str):
        return f"https://www.reddit.com{permalink}"
    link, comment = data.get("link_id"), data.get("id")
    if kind == "t1" and isinstance(link, str) and isinstance(comment, str):
        return f"https://www.reddit.com/comments/{link.removeprefix('t3_')}/_/{comment}/"
    return None
