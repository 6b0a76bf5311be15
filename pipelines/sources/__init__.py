"""Post sources. Each module's `build(settings, config, options)` returns a `PostSource` (see
base.py) or raises `MissingCredentials`; the collect flow looks sources up here by name."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.config import ServicesConfig
    from pipelines.settings import Settings
    from pipelines.sources.base import PostSource

BUILDERS: dict[str, str] = {
    "x": "pipelines.sources.x:build",
    "reddit": "pipelines.sources.reddit:build",
    "bluesky": "pipelines.sources.bluesky:build",
    "jetstream": "pipelines.sources.jetstream:build",
    "mastodon": "pipelines.sources.mastodon:build",
    "hackernews": "pipelines.sources.hackernews:build",
    "file": "pipelines.sources.file:build",
}


def build_source(name: str, settings: Settings, config: ServicesConfig) -> PostSource:
    from pipelines.errors import ConfigError

    if name not in BUILDERS:
        raise ConfigError(f"unknown source {name!r}; known: {', '.join(BUILDERS)}")
    module, func = BUILDERS[name].split(":")
    options: dict[str, Any] = dict(config.sources.get(name, {}))
    options.pop("enabled", None)
    source: PostSource = getattr(importlib.import_module(module), func)(settings, config, options)
    return source
