"""Training the plain language model (`textvae lm train`; the scorer of Table 3 and the floor of
`experiment compare`) on the parts the VAE trains with: its data config and vocabulary, the
epoch order of its batches, the run directory's files, and the evaluation layer's cross-entropy.

An LM directory holds config.json (`language_model`, `training`, `data`, `environment`), vocab.txt,
model.safetensors (the weights with the lowest validation cross-entropy, or the last ones without
a validation set) and metrics.jsonl (one line per epoch). LM runs are short, so they restart
rather than resume.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from textvae.data.batching import collate, epoch_batches
from textvae.data.corpus import EncodedCorpus, encode_corpus, load_corpus, read_sentences, report_corpus
from textvae.data.tokenize import Tokenizer
from textvae.data.vocab import Vocabulary
from textvae.errors import RunDirError
from textvae.evaluation import evaluate_lm
from textvae.models.lm import LanguageModel, LMConfig
from textvae.models.rnn import SAVED_BEFORE_RNN_INIT
from textvae.progress import progress as progress_bar
from textvae.runtime import environment, resolve_device
from textvae.serialization import load_weights, read_json, save_weights, write_json
from textvae.training.config import BEST_WEIGHTS, CONFIG_FILE, VOCAB_FILE, DataConfig, LMTrainConfig
from textvae.training.rundir import check_new_directory, prepare_vocabulary, write_metrics

LM_KEY = "language_model"  # the key of config.json that tells an LM directory from a VAE run


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
            loss_sum, token_sum = 0.0, 0
            for indices in epoch_batches(train.lengths, training.batch_size, training.seed, epoch):
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


def train_lm(out_dir: Path | str, data: DataConfig, model: LMConfig | None = None,
             training: LMTrainConfig | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Train a language model into `out_dir` (a new directory, or one `train_lm` wrote before) on
    `data` (its vocabulary file, or one built from the training split)."""
    out = Path(out_dir)
    if (out / CONFIG_FILE).exists() and LM_KEY not in read_json(out / CONFIG_FILE):
        raise RunDirError(f"{out} holds something other than a language model")
    if not (out / CONFIG_FILE).exists():
        check_new_directory(out, "a language model")
    training = training or LMTrainConfig()
    sentences = read_sentences(data.train, data.tokenizer)
    vocab = prepare_vocabulary(data, sentences)
    train_corpus = encode_corpus(sentences, vocab, data.max_length)
    report_corpus(train_corpus, "train", data.max_length)
    valid_corpus = None if data.valid is None else load_corpus(data.valid, vocab, data.max_length, "valid",
                                                                data.tokenizer)
    config = LMConfig(**{**asdict(model or LMConfig()), "vocab_size": len(vocab)})
    device = resolve_device(training.device)
    torch.manual_seed(training.seed)
    lm = LanguageModel(config, eos_id=vocab.eos_id, pad_id=vocab.pad_id).to(device)
    history = fit_lm(lm, train_corpus, valid_corpus, training, progress)
    out.mkdir(parents=True, exist_ok=True)
    vocab.save(out / VOCAB_FILE)
    write_json(out / CONFIG_FILE, {LM_KEY: config.to_dict(), "training": asdict(training), "data": asdict(data),
                                   "environment": environment(str(device))})
    save_weights(lm, out / BEST_WEIGHTS)
    write_metrics(out, history)
    return history


def saved_data_settings(lm_dir: Path | str) -> tuple[Tokenizer, int | None]:
    """How a language model's training text was read: its tokenizer and length cut (none for
    models saved before they were recorded)."""
    data = read_json(Path(lm_dir) / CONFIG_FILE).get("data", {})
    return Tokenizer(data.get("tokenize", "none"), data.get("lowercase", False)), data.get("max_length")


def load_lm(lm_dir: Path | str, device: str = "auto") -> tuple[LanguageModel, Vocabulary]:
    lm_dir = Path(lm_dir)
    if not (lm_dir / CONFIG_FILE).exists():
        raise RunDirError(f"{lm_dir}: not a language model directory (no {CONFIG_FILE})")
    saved = read_json(lm_dir / CONFIG_FILE)
    if LM_KEY not in saved:
        raise RunDirError(f"{lm_dir}: holds no language model (a VAE run? use textvae evaluate)")
    vocab = Vocabulary.load(lm_dir / VOCAB_FILE)
    config = LMConfig(**{**SAVED_BEFORE_RNN_INIT, **saved[LM_KEY]})
    lm = LanguageModel(config, eos_id=vocab.eos_id, pad_id=vocab.pad_id)
    load_weights(lm, lm_dir / BEST_WEIGHTS)
    return lm.to(resolve_device(device)), vocab
