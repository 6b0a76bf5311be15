"""Post classification: sentiment, is-complaint and complaint type from one MiniLM embedding."""

from analysis.classifier.errors import ModelLoadError, TaxonomyError
from analysis.classifier.model import (
    DEFAULT_MODEL_DIR,
    SENTIMENT_LABELS,
    Classification,
    Classifier,
)
from analysis.classifier.taxonomy import TaxonomyLabel, load_taxonomy

__all__ = [
    "DEFAULT_MODEL_DIR",
    "SENTIMENT_LABELS",
    "Classification",
    "Classifier",
    "ModelLoadError",
    "TaxonomyError",
    "TaxonomyLabel",
    "load_taxonomy",
]
