"""The services config (TOML): watched services, their keywords, competitors and the providers
whose incidents can explain their spikes."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, model_validator

from analysis.service_match import ServiceMatcher
from pipelines.errors import ConfigError


class Service(BaseModel):
    name: str
    keywords: list[str] = Field(default_factory=list)
    handles: list[str] = Field(default_factory=list)
    competitors: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)


class Provider(BaseModel):
    name: str
    statuspage: str | None = None
    rss: str | None = None
    gcp: str | None = None
    aws: str | None = None


class ServicesConfig(BaseModel):
    services: dict[str, Service] = Field(default_factory=dict)
    providers: dict[str, Provider] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_providers(self) -> ServicesConfig:
        for key, service in self.services.items():
            unknown = [p for p in service.depends_on if p not in self.providers]
            if unknown:
                raise ValueError(f"service {key!r} depends on unknown provider(s) {unknown}")
        return self

    def matcher(self) -> ServiceMatcher:
        return ServiceMatcher({k: s.keywords + s.handles for k, s in self.services.items()})

    def dependency_map(self) -> dict[str, list[str]]:
        """service key -> providers whose incidents can explain its spikes (own page first)."""
        return {k: list(s.depends_on) for k, s in self.services.items()}


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
