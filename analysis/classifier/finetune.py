"""Fine-tune MiniLM on labelled tweets (torch; the `train` extra), for scripts/train_model.py.

Each task is a linear head on the mean-pooled sentence vector; batches cycle through the tasks in
proportion to their sizes, with class-weighted cross-entropy (the metrics are macro-averaged).
Only the encoder is kept: the served heads are refitted afterwards on the int8 export's vectors.

With a teacher (a deeper fine-tuned checkpoint), each batch also pulls the model's sentence
vector towards the teacher's (cosine loss): a truncated encoder then keeps what the teacher's
vectors carry beyond the task labels, which the complaint heads fitted later rely on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.classifier.text import normalise
from analysis.classifier.torch_encoder import base_model_dir, keep_layers, mean_pool


@dataclass
class Task:
    name: str
    texts: list[str]
    labels: list[str]
    label_set: tuple[str, ...]


def sentiment_sample(data_dir: Path, n: int) -> Task:
    """n sentiment training tweets (never the calibration slice or TweetEval), drawn with a fixed
    seed: a second task that keeps what the sentiment head reads while fine-tuning on another."""
    from analysis.classifier.model import SENTIMENT_LABELS
    from analysis.classifier.training_data import calibration_split, sentiment_splits

    tweets, _ = calibration_split(sentiment_splits(data_dir)[0])
    rows = random.Random(0).sample(range(len(tweets.texts)), n)
    return Task("sentiment", [tweets.texts[i] for i in rows], [tweets.labels[i] for i in rows],
                SENTIMENT_LABELS)


@dataclass
class FinetuneConfig:
    epochs: float = 1.0
    batch_size: int = 32
    max_tokens: int = 64  # tweets; longer posts are truncated only while training
    learning_rate: float = 4e-5
    warmup: float = 0.06
    seed: int = 0
    threads: int | None = None
    layers: int | None = None  # keep only the first N transformer layers (faster to serve)
    start_from: Path | None = None  # a transformers checkpoint to start from (default: stock)
    desc: str = "fine-tuning MiniLM"  # the progress bar's label
    teacher: Path | None = None  # a checkpoint whose sentence vectors the model also learns
    distill_weight: float = 5.0  # weight of the (1 - cosine to the teacher) loss


def finetune(tasks: Sequence[Task], out_dir: Path, config: FinetuneConfig) -> dict[str, Any]:
    """Train and save a transformers checkpoint (model + tokenizer) to out_dir."""
    import torch
    from tqdm import tqdm
    from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    source = config.start_from or base_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    model = AutoModel.from_pretrained(str(source))
    if config.layers is not None:
        keep_layers(model, config.layers)  # fine-tuning adapts them to the dropped top layers
    teacher = None
    if config.teacher is not None:
        teacher = AutoModel.from_pretrained(str(config.teacher)).eval()
        for parameter in teacher.parameters():
            parameter.requires_grad_(False)
    heads = torch.nn.ModuleDict(
        {t.name: torch.nn.Linear(model.config.hidden_size, len(t.label_set)) for t in tasks}
    )
    losses = {t.name: torch.nn.CrossEntropyLoss(weight=_class_weights(t)) for t in tasks}
    batches = _schedule(tasks, config)
    params = list(model.parameters()) + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup * len(batches)), len(batches)
    )
    by_name = {t.name: t for t in tasks}
    model.train()
    running: dict[str, float] = {}
    with tqdm(batches, desc=config.desc, unit="batch") as bar:
        for name, rows in bar:
            task = by_name[name]
            encoded = tokenizer(
                [normalise(task.texts[i]) for i in rows],
                padding=True,
                truncation=True,
                max_length=config.max_tokens,
                return_tensors="pt",
            )
            vectors = mean_pool(model(**encoded).last_hidden_state, encoded["attention_mask"])
            target = torch.tensor([task.label_set.index(task.labels[i]) for i in rows])
            task_loss = losses[name](heads[name](vectors * 20.0), target)
            loss = task_loss
            if teacher is not None:
                with torch.no_grad():
                    wanted = mean_pool(teacher(**encoded).last_hidden_state,
                                       encoded["attention_mask"])
                gap = 1.0 - (vectors * wanted).sum(dim=1).mean()
                _smooth(running, "distill", float(gap.detach()))
                loss = loss + config.distill_weight * gap
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            _smooth(running, name, float(task_loss.detach()))
            bar.set_postfix({k: f"{v:.3f}" for k, v in running.items()})
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return {
        "tasks": {t.name: len(t.texts) for t in tasks},
        "batches": len(batches),
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "max_tokens": config.max_tokens,
        "layers": model.config.num_hidden_layers,
        "learning_rate": config.learning_rate,
        "seed": config.seed,
        **({"distilled_from": str(config.teacher), "distill_weight": config.distill_weight}
           if config.teacher is not None else {}),
        "final_loss": {k: round(v, 4) for k, v in running.items()},
    }


def finetuned_encoder(tasks: Sequence[Task], config: FinetuneConfig, threads: int = 2,
                      keep_in: Path | None = None) -> Any:
    """A fine-tune for probes: trained in a temporary directory and loaded from it
    (TorchMiniLMEncoder reads everything at load, so the directory can go), or kept in
    `keep_in` for a later probe to read (e.g. as a teacher)."""
    import tempfile

    from analysis.classifier.torch_encoder import TorchMiniLMEncoder

    if keep_in is not None:
        finetune(tasks, keep_in, config)
        return TorchMiniLMEncoder(keep_in, threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        finetune(tasks, Path(tmp), config)
        return TorchMiniLMEncoder(Path(tmp), threads=threads)


def _smooth(running: dict[str, float], key: str, value: float) -> None:
    """An exponential moving average of a loss, for the progress bar and the final record."""
    running[key] = 0.98 * running.get(key, value) + 0.02 * value


def _class_weights(task: Task) -> Any:
    import torch

    counts = [max(task.labels.count(label), 1) for label in task.label_set]
    total = sum(counts)
    return torch.tensor([total / (len(counts) * c) for c in counts], dtype=torch.float32)


def _schedule(tasks: Sequence[Task], config: FinetuneConfig) -> list[tuple[str, list[int]]]:
    """Shuffled (task, row indices) batches: `epochs` passes over every task, interleaved."""
    rng = random.Random(config.seed)
    batches: list[tuple[str, list[int]]] = []
    for task in tasks:
        rows: list[int] = []
        whole, part = divmod(config.epochs, 1.0)
        for _ in range(int(whole)):
            rows += rng.sample(range(len(task.texts)), len(task.texts))
        rows += rng.sample(range(len(task.texts)), int(part * len(task.texts)))
        size = config.batch_size
        batches += [(task.name, rows[i : i + size]) for i in range(0, len(rows), size)]
    rng.shuffle(batches)
    return batches
