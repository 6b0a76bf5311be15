"""Export a (fine-tuned or stock) MiniLM to ONNX with pooling inside the graph, then dynamic
int8 quantisation. Needs the `train` extra (torch, transformers, onnx); serving only reads the
result. DESIGN.md: torch.onnx.export + onnxruntime.quantization.quantize_dynamic, no optimum."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from analysis.classifier.encoder import ONNX_FILE, TOKENIZER_FILE
from analysis.classifier.torch_encoder import base_model_dir, mean_pool

OPSET = 17


def export_encoder(out_dir: Path, hf_dir: Path | None = None, quantize: bool = True) -> Path:
    """Write `encoder.onnx` (int8 unless quantize=False) and `tokenizer.json` into out_dir from
    the transformers checkpoint in hf_dir (default: the stock all-MiniLM-L6-v2). Returns the
    ONNX path."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    source = Path(hf_dir) if hf_dir is not None else base_model_dir()
    model = AutoModel.from_pretrained(str(source)).eval()
    wrapper = _Pooled(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / ONNX_FILE
    example = torch.tensor([[101, 7592, 2088, 102]], dtype=torch.long)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            wrapper,
            (example, torch.ones_like(example)),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "sentence_embedding": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
        if quantize:
            # Per-channel scales keep the int8 vectors at cosine ~0.99 to fp32 (per-tensor: ~0.96).
            quantize_dynamic(
                str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True
            )
        else:
            shutil.copyfile(fp32, target)
    shutil.copyfile(source / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    return target


class _Pooled:
    """Wraps AutoModel so the graph outputs mean-pooled, L2-normalised sentence vectors."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                hidden = self.model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=torch.zeros_like(input_ids),
                ).last_hidden_state
                return mean_pool(hidden, attention_mask)

        return Pooled()
