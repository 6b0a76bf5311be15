"""Which parser turns a raw page of each format into posts. Landed pages are re-normalised
from here, so a page format once landed must stay parseable. Parsers are pure functions
(parsed JSON in, `Normalised` out) named by dotted path, imported when first used so that
importing a file never loads a client library."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from pipelines.normalize import UNEXPECTED_SHAPE, Normalised, shape_reason

PAGE_PARSERS: dict[str, str] = {
    "x_v2_page": "pipelines.normalize:normalise_x_page",
    "x_counts": "pipelines.sources.x:normalise_counts_page",
    "reddit_listing": "pipelines.normalize:normalise_reddit_listing",
    "bluesky_search": "pipelines.sources.bluesky_format:normalise_search_page",
    "bluesky_jetstream": "pipelines.sources.bluesky_format:normalise_jetstream_page",
    "mastodon_statuses": "pipelines.sources.mastodon_format:normalise_statuses_page",
    "hn_algolia": "pipelines.sources.hackernews_format:normalise_algolia_page",
}


def parser_for(fmt: str) -> Callable[[Any], Normalised]:
    try:
        module, name = PAGE_PARSERS[fmt].split(":")
    except KeyError as e:
        raise ValueError(f"unknown page format {fmt!r}") from e
    parser: Callable[[Any], Normalised] = getattr(importlib.import_module(module), name)
    return parser


def parse_json_page(fmt: str, payload: str) -> Normalised:
    """Normalises one JSON page; a page that is not valid JSON is one quarantined record."""
    try:
        doc = json.loads(payload)
    except json.JSONDecodeError as e:
        return Normalised(rejects=[(payload, f"malformed JSON page: {e.msg} at column {e.colno}")])
    return parse_page(fmt, doc)


def parse_page(fmt: str, doc: Any) -> Normalised:
    """Normalises one parsed page. Records are quarantined one by one inside the parser; a page
    whose outer shape breaks the parser itself becomes one quarantined record, not a crash."""
    parser = parser_for(fmt)
    try:
        return parser(doc)
    except UNEXPECTED_SHAPE as e:
        return Normalised(rejects=[(doc, f"{fmt} page: {shape_reason(e)}")])
