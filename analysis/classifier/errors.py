"""Exceptions raised at the classifier's boundary."""

from __future__ import annotations


class ModelLoadError(Exception):
    """The model directory, a head file or the encoder is missing or unreadable."""


class TaxonomyError(ValueError):
    """The complaint taxonomy file is missing or malformed."""
