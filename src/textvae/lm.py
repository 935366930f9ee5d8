"""Training and scoring the plain language model (`textvae lm train|evaluate`).

It shares the VAE's data pipeline (vocabulary, encoding, length-grouped batches). An LM directory
holds config.json (model, training and data settings), vocab.txt, model.safetensors (the weights
with the lowest validation cross-entropy, or the last ones without a validation set) and
metrics.jsonl (one line per epoch). LM runs are short, so they restart rather than resume.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textvae.data.batching import collate, length_grouped_batches
from textvae.data.corpus import EncodedCorpus, encode_corpus, load_corpus, read_sentences, report_corpus
from textvae.data.tokenize import AS_GIVEN, Tokenizer
from textvae.data.vocab import Vocabulary
from textvae.errors import ConfigError, RunDirError
from textvae.models.lm import LanguageModel, LMConfig
from textvae.models.rnn import SAVED_BEFORE_RNN_INIT
from textvae.progress import progress as progress_bar
from textvae.runtime import environment
from textvae.serialization import load_weights, read_json, save_weights, write_atomic, write_json
from textvae.training import DEFAULT_MAX_LENGTH, resolve_device

log = logging.getLogger(__name__)


@dataclass
class LMTrainConfig:
    epochs: int = 5
    max_steps: int | None = None  # stops earlier when set
    batch_size: int = 64
    lr: float = 0.002
    seed: int = 0
    device: str = "auto"
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or (self.max_steps is not None and self.max_steps < 1):
            raise ConfigError("epochs, batch_size, lr and max_steps must be positive")


@dataclass
class LMEvaluation:
    cross_entropy: float  # nats per token, `<eos>` counted
    perplexity: float
    nll: float  # nats per sentence
    sentences: int
    tokens: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@torch.no_grad()
def evaluate_lm(model: LanguageModel, corpus: EncodedCorpus, batch_size: int = 256) -> LMEvaluation:
    """Cross-entropy of a corpus under the model, in nats per token."""
    if len(corpus) == 0:
        raise ConfigError("cannot evaluate a language model on an empty corpus")
    was_training = model.training
    model.eval()
    total = 0.0
    for indices in length_grouped_batches(corpus.lengths, batch_size, None):
        batch = collate(corpus, indices, model.pad_id).to(model.device)
        total += float(model(batch.tokens, batch.lengths).sum())
    model.train(was_training)
    tokens = corpus.num_tokens
    return LMEvaluation(total / tokens, math.exp(total / tokens), total / len(corpus), len(corpus), tokens)


def fit_lm(model: LanguageModel, train: EncodedCorpus, valid: EncodedCorpus | None, training: LMTrainConfig,
           progress: bool = False) -> list[dict[str, Any]]:
    """Adam on mean per-token cross-entropy, epoch by epoch; ends with the best validation weights.
    Returns one record per epoch."""
    torch.manual_seed(training.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=training.lr)
    history, best, best_state, step = [], math.inf, None, 0
    steps_per_epoch = math.ceil(len(train) / training.batch_size)
    total = training.epochs * steps_per_epoch
    if training.max_steps is not None:
        total = min(total, training.max_steps)
    with progress_bar(total=total, unit="step", desc="lm", enabled=progress) as bar:
        for epoch in range(training.epochs):
            model.train()
            rng = np.random.default_rng([training.seed, epoch])
            loss_sum, token_sum = 0.0, 0
            for indices in length_grouped_batches(train.lengths, training.batch_size, rng):
                if step == total:
                    break
                batch = collate(train, indices, model.pad_id).to(model.device)
                nll = model(batch.tokens, batch.lengths).sum()
                optimizer.zero_grad(set_to_none=True)
                (nll / batch.num_tokens).backward()
                optimizer.step()
                step += 1
                loss_sum, token_sum = loss_sum + float(nll.detach()), token_sum + batch.num_tokens
                bar.update(1)
            record: dict[str, Any] = {"epoch": epoch + 1, "step": step, "train_cross_entropy": loss_sum / max(token_sum, 1)}
            if valid is not None:
                record["valid_cross_entropy"] = evaluate_lm(model, valid, training.eval_batch_size).cross_entropy
                if record["valid_cross_entropy"] < best:
                    best, best_state = record["valid_cross_entropy"], copy.deepcopy(model.state_dict())
            history.append(record)
            if step == total:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def train_lm(
    out_dir: Path | str, train: Path | str, valid: Path | str | None = None, vocab: Vocabulary | None = None,
    model: LMConfig | None = None, training: LMTrainConfig | None = None, max_vocab: int | None = None,
    progress: bool = True, tokenizer: Tokenizer = AS_GIVEN, max_length: int | None = DEFAULT_MAX_LENGTH,
) -> list[dict[str, Any]]:
    """Train a language model into `out_dir` (a new directory, or one `train_lm` wrote before)."""
    out = Path(out_dir)
    if (out / "config.json").exists() and "language_model" not in read_json(out / "config.json"):
        raise RunDirError(f"{out} holds something other than a language model")
    training = training or LMTrainConfig()
    sentences = read_sentences(train, tokenizer)
    if vocab is None:
        vocab = Vocabulary.build([s[:max_length] for s in sentences], max_size=max_vocab)
    train_corpus = encode_corpus(sentences, vocab, max_length)
    report_corpus(train_corpus, "train", max_length)
    valid_corpus = load_corpus(valid, vocab, max_length, "valid", tokenizer) if valid is not None else None
    config = LMConfig(**{**asdict(model or LMConfig()), "vocab_size": len(vocab)})
    device = resolve_device(training.device)
    torch.manual_seed(training.seed)
    lm = LanguageModel(config, eos_id=vocab.eos_id, pad_id=vocab.pad_id).to(device)
    history = fit_lm(lm, train_corpus, valid_corpus, training, progress)
    out.mkdir(parents=True, exist_ok=True)
    vocab.save(out / "vocab.txt")
    write_json(out / "config.json", {"language_model": config.to_dict(), "training": asdict(training),
                                     "data": {"train": str(train), "valid": None if valid is None else str(valid),
                                              "max_length": max_length, "tokenize": tokenizer.kind,
                                              "lowercase": tokenizer.lowercase},
                                     "environment": environment(str(device))})
    save_weights(lm, out / "model.safetensors")
    write_atomic(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history).encode("utf-8"))
    return history


def saved_data_settings(lm_dir: Path | str) -> tuple[Tokenizer, int | None]:
    """How a language model's training text was read: its tokenizer and length cut (none for
    models saved before they were recorded)."""
    data = read_json(Path(lm_dir) / "config.json").get("data", {})
    return Tokenizer(data.get("tokenize", "none"), data.get("lowercase", False)), data.get("max_length")


def load_lm(lm_dir: Path | str, device: str = "auto") -> tuple[LanguageModel, Vocabulary]:
    lm_dir = Path(lm_dir)
    if not (lm_dir / "config.json").exists():
        raise RunDirError(f"{lm_dir}: not a language model directory (no config.json)")
    saved = read_json(lm_dir / "config.json")
    if "language_model" not in saved:
        raise RunDirError(f"{lm_dir}: holds no language model (a VAE run? use textvae evaluate)")
    vocab = Vocabulary.load(lm_dir / "vocab.txt")
    config = LMConfig(**{**SAVED_BEFORE_RNN_INIT, **saved["language_model"]})
    lm = LanguageModel(config, eos_id=vocab.eos_id, pad_id=vocab.pad_id)
    load_weights(lm, lm_dir / "model.safetensors")
    return lm.to(resolve_device(device)), vocab
