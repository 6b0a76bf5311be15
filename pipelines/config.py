"""The services config (TOML): watched services, their keywords, competitors and the providers
whose incidents can explain their spikes."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from analysis.linking import Dependency
from analysis.service_match import ServiceMatcher
from pipelines.errors import ConfigError


class Service(BaseModel):
    name: str
    keywords: list[str] = Field(default_factory=list)
    handles: list[str] = Field(default_factory=list)
    competitors: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    # The provider whose status page is the service's own (default: the provider with the
    # service's key, if there is one), and for any provider the components that matter.
    own_provider: str | None = None
    components: dict[str, list[str]] = Field(default_factory=dict)


class Provider(BaseModel):
    name: str
    statuspage: str | None = None
    rss: str | None = None
    gcp: str | None = None
    aws: str | None = None


class ServicesConfig(BaseModel):
    services: dict[str, Service] = Field(default_factory=dict)
    providers: dict[str, Provider] = Field(default_factory=dict)
    # Post sources to collect from, each with its own options (docs/sources.md); credentials
    # never go here but in settings / .env. A source with `enabled = false` is not collected.
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_providers(self) -> ServicesConfig:
        for key, service in self.services.items():
            unknown = [p for p in service.depends_on if p not in self.providers]
            if unknown:
                raise ValueError(f"service {key!r} depends on unknown provider(s) {unknown}")
            stray = [p for p in [*service.components, service.own_provider]
                     if p is not None and p not in service.depends_on]
            if stray:
                raise ValueError(f"service {key!r} names provider(s) {stray} that are not in "
                                 "its depends_on")
        return self

    def own_provider(self, key: str) -> str | None:
        service = self.services[key]
        if service.own_provider is not None:
            return service.own_provider
        return key if key in service.depends_on else None

    def enabled_sources(self) -> list[str]:
        return [name for name, opts in self.sources.items() if opts.get("enabled", True)]

    def matcher(self) -> ServiceMatcher:
        return ServiceMatcher({k: s.keywords + s.handles for k, s in self.services.items()})

    def dependency_map(self) -> dict[str, list[str]]:
        """service key -> providers whose incidents can explain its spikes (own page first)."""
        return {k: list(s.depends_on) for k, s in self.services.items()}

    def dependencies(self) -> dict[str, list[Dependency]]:
        """service key -> its providers with the relation (own | upstream) and components."""
        return {
            key: [Dependency(p, "own" if p == self.own_provider(key) else "upstream",
                             frozenset(s.components.get(p, []))) for p in s.depends_on]
            for key, s in self.services.items()
        }


def load_config(path: Path) -> ServicesConfig:
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError as e:
        raise ConfigError(f"services config not found: {path}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"services config {path} is not valid TOML: {e}") from e
    try:
        return ServicesConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"services config {path} is invalid: {e}") from e
