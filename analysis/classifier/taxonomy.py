"""The complaint taxonomy: ordered labels with descriptions, read from a TOML file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from analysis.classifier.errors import TaxonomyError

DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parent.parent / "taxonomy" / "complaint_types.toml"

# Used when a label set comes without a taxonomy file (e.g. a user's own CSV).
DEFAULT_NON_COMPLAINT_LABELS = frozenset({"humor", "praise", "none"})


@dataclass(frozen=True)
class TaxonomyLabel:
    name: str
    description: str
    examples: tuple[str, ...]
    is_complaint: bool


def load_taxonomy(path: Path | str | None = None) -> list[TaxonomyLabel]:
    """Return the taxonomy's labels in file order (the order of the classifier's scores)."""
    toml_path = Path(path) if path is not None else DEFAULT_TAXONOMY_PATH
    try:
        raw = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise TaxonomyError(f"cannot read taxonomy {toml_path}: {e}") from e
    entries = raw.get("labels")
    if not isinstance(entries, list) or not entries:
        raise TaxonomyError(f"{toml_path}: expected a non-empty [[labels]] array")
    labels = [_parse_label(entry, toml_path) for entry in entries]
    names = [label.name for label in labels]
    if len(set(names)) != len(names):
        raise TaxonomyError(f"{toml_path}: duplicate label names in {names}")
    return labels


def _parse_label(entry: object, source: Path) -> TaxonomyLabel:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise TaxonomyError(f"{source}: every [[labels]] entry needs a non-empty name")
    name = entry["name"]
    examples = entry.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(x, str) for x in examples):
        raise TaxonomyError(f"{source}: examples of {name!r} must be a list of strings")
    is_complaint = entry.get("complaint", name not in DEFAULT_NON_COMPLAINT_LABELS)
    if not isinstance(is_complaint, bool):
        raise TaxonomyError(f"{source}: 'complaint' of {name!r} must be true or false")
    return TaxonomyLabel(
        name=name,
        description=str(entry.get("description", "")),
        examples=tuple(examples),
        is_complaint=is_complaint,
    )
