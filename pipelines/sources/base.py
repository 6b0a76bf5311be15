"""The one protocol every post source implements (X, Reddit, Bluesky, Mastodon, Hacker News and
file replay), and the pieces they share: pages with the checkpoint they advance, clear errors
that never carry a secret, and bounded waits.

A source only talks to its API and yields raw pages as received; it never touches the
warehouse. `pipelines.collect` lands each page, normalises it and commits the page's
checkpoint in the same transaction as its posts, so a crash loses nothing and a re-run
duplicates nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from pipelines.errors import AftershockError

# Every HTTP call a source makes uses this timeout (seconds) unless its options say otherwise.
HTTP_TIMEOUT_S = 30.0
# The longest a source may sleep for a rate limit before giving up for this run.
MAX_RATE_LIMIT_WAIT_S = 900.0


@dataclass(frozen=True)
class SourcePage:
    """One API response, as received, and what storing it advances."""

    source: str                 # x | reddit | bluesky | mastodon | hackernews | file
    format: str                 # a key of pipelines.page_formats.PAGE_PARSERS
    origin: str                 # where it came from, for people: "x search notion", never secrets
    payload: str                # the response body as received (JSON text)
    service: str | None = None  # the watched service whose query produced it, if any
    # Checkpoint key -> value, committed with this page's posts. A source puts a cursor here
    # only once every post before it has been yielded (e.g. X's newest since_id goes on the
    # last page of a query), so a run that stops half-way repeats work but never skips any.
    checkpoint: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class PostSource(Protocol):
    """A post source. `pages` yields raw pages, newest state in `checkpoint`; with `since` set
    (a backfill) it fetches from that time on whatever the checkpoints say, and never moves a
    checkpoint backwards. It may append one-line notes for the run summary (e.g. "monthly
    post budget spent: stopped after 1,000 posts")."""

    name: str
    notes: list[str]

    def pages(self, checkpoints: Mapping[str, str],
              since: datetime | None) -> Iterator[SourcePage]: ...

    def secrets(self) -> Iterable[str]:
        """The credential strings this source holds, so errors can be scrubbed of them."""
        ...


class SourceError(AftershockError):
    """A source failed in a way a later retry may fix (5xx, timeout, connection refused)."""


class SourceAuthError(SourceError):
    """The API refused our credentials (revoked, wrong, or the plan lacks the endpoint).
    Retrying does not help, so the collect flow does not retry it."""


class MissingCredentials(AftershockError):
    """The source needs credentials that are not in the settings: it is skipped, not failed."""


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and its URL-encoded form) replaced by ***."""
    from urllib.parse import quote, quote_plus

    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, "***")
    return text


def bounded_sleep(seconds: float, limit: float = MAX_RATE_LIMIT_WAIT_S,
                  sleep: object = time.sleep) -> float:
    """Sleeps min(seconds, limit) (never negative) and returns how long it slept."""
    wait = max(0.0, min(float(seconds), limit))
    if wait:
        sleep(wait)  # type: ignore[operator]
    return wait


def newest_id(ids: Iterable[str], current: str | None = None) -> str | None:
    """The largest numeric id (X snowflakes, HN ids) of `ids` and `current`: compared as
    numbers, because "999" < "1000" as strings."""
    best = current
    for value in ids:
        if best is None or int(value) > int(best):
            best = value
    return best


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """`2h`, `30m`, `3d`, `1w` before now, or an ISO 8601 time with an offset."""
    from datetime import UTC, timedelta

    if value is None:
        return None
    now = now or datetime.now(UTC)
    text = value.strip().lower()
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if text[-1:] in units and text[:-1].isdigit():
        return now - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        ts = datetime.fromisoformat(value.strip())
    except ValueError as e:
        raise AftershockError(
            f"--since {value!r}: use a duration like 2h, 30m, 3d or an ISO 8601 time") from e
    if ts.tzinfo is None:
        raise AftershockError(f"--since {value!r} has no UTC offset (use Z or +HH:MM)")
    return ts
