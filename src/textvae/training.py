"""Training a sentence VAE: configs, the resumable loop, and what a run directory holds.

A run directory holds
  config.json        model, training and data configs (enough to rebuild the model)
  vocab.txt          one word a line, id = line number - 1
  model.safetensors  weights with the best validation loss
  last.safetensors   weights after the last step
  metrics.jsonl      one JSON object per evaluation (validation) and per training window
  checkpoint.safetensors  everything needed to resume: written atomically
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textvae import __version__, distributed
from textvae.data.batching import Batch, collate, length_grouped_batches, padding_fraction
from textvae.data.corpus import (
    EncodedCorpus, encode_corpus, file_checksum, load_corpus, read_sentences, report_corpus,
)
from textvae.data.tokenize import Tokenizer
from textvae.data.vocab import Vocabulary
from textvae.errors import ConfigError, DataError, DivergenceError, RunDirError
from textvae.evaluation import CorpusMetrics, evaluate_corpus
from textvae.models.config import ModelConfig
from textvae.models.decoders import previous_tokens
from textvae.models.vae import SentenceVAE
from textvae.objectives import Constant, Objective, WeightedKL, build_objective
from textvae.precision import autocast, check_precision, resolve_precision
from textvae.procedures import (
    aggressive_encoder_updates, decoder_parameters, drop_words, encoder_parameters, reset_decoder,
)
from textvae.progress import progress as progress_bar
from textvae.progress import say
from textvae.locking import run_lock
from textvae.distributed import global_means, share
from textvae.runtime import describe_environment, environment, set_threads
from textvae.serialization import (
    load_checkpoint, optimizer_state_from_checkpoint, read_json, remove_partial_writes, save_checkpoint, save_weights,
    write_atomic, write_json,
)

log = logging.getLogger(__name__)

CONFIG_FILE, VOCAB_FILE, BEST_WEIGHTS, LAST_WEIGHTS = "config.json", "vocab.txt", "model.safetensors", "last.safetensors"
METRICS_FILE, CHECKPOINT_FILE = "metrics.jsonl", "checkpoint.safetensors"
DEFAULT_EPOCHS = 10
CHECKPOINT_SECONDS = 60.0  # a crash loses at most about this much training, by default
AUTOENCODER = WeightedKL(Constant(0.0))  # the objective of AE pretraining: distortion only
# Longer sentences are cut to this many words unless --max-length says otherwise. The paper's
# corpora stay well below it (Yelp: at most 15 tokens; its reconstruction buckets end at 30), and
# it bounds a batch's memory whatever a corpus holds (one 429-word line of raw WikiText made
# every batch of its length cost 21 s and gigabytes).
DEFAULT_MAX_LENGTH = 50


@dataclass
class DataConfig:
    train: str
    valid: str
    vocab: str | None = None  # a vocabulary file; None builds one from the training split
    min_count: int = 1
    max_vocab: int | None = None
    max_length: int | None = DEFAULT_MAX_LENGTH  # words kept per sentence (before `<eos>`); None: all
    tokenize: str = "none"  # none (split on whitespace) | moses
    lowercase: bool = False
    # SHA-256 of the corpora ("train", "valid"), so that resuming on changed data is refused; filled
    # in when training starts (None in configs saved before it was recorded).
    checksums: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if self.max_length is not None and self.max_length < 1:
            raise ConfigError(f"max_length must be at least 1, got {self.max_length}")
        if self.min_count < 1 or (self.max_vocab is not None and self.max_vocab < 4):
            raise ConfigError("min_count must be at least 1 and max_vocab at least 4 (3 special entries and a word)")
        self.tokenizer  # validates `tokenize`

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.tokenize, self.lowercase)

    def with_absolute_paths(self) -> "DataConfig":
        """The same files named by absolute paths, so that --resume works from any directory."""
        return replace(self, train=os.path.abspath(self.train), valid=os.path.abspath(self.valid),
                       vocab=None if self.vocab is None else os.path.abspath(self.vocab))

    def current_checksums(self) -> dict[str, str]:
        return {"train": file_checksum(self.train), "valid": file_checksum(self.valid)}

    def check_unchanged(self) -> None:
        """Refuse to resume on corpora that differ from what the run started on."""
        for name, path in (("train", self.train), ("valid", self.valid)):
            if not Path(path).exists():
                raise DataError(path, f"the {name} file this run started from is gone (config.json names it); "
                                      "restore it to resume")
            if self.checksums and name in self.checksums and file_checksum(path) != self.checksums[name]:
                raise DataError(path, f"the {name} file changed since this run started (its checksum differs "
                                      "from the one in config.json); restore it, or start a new run on the new data")


@dataclass
class TrainConfig:
    objective: str = "beta-c"  # beta-c | elbo | beta | anneal | cyclical | free-bits (textvae.objectives)
    kl_target: float = 15.0  # C
    beta: float = 1.0  # beta-c: weight of |KL - C|; beta: weight of KL
    anneal_steps: int | None = None  # steps for C (beta-c) or the KL weight (anneal) to rise; None: anneal_epochs
    anneal_epochs: float = 2.0
    anneal_shape: str = "linear"  # anneal: linear | logistic
    cycles: int = 4  # cyclical: cycles over the whole run
    cycle_ratio: float = 0.5  # cyclical: share of each cycle over which the weight rises
    free_bits: float | None = None  # nats: a floor under the KL (elbo, beta, anneal, cyclical, free-bits)
    fb_mode: str = "dim"  # dim (per latent dimension) | batch (the whole KL)
    # Training procedures (textvae.procedures)
    word_dropout: float = 0.0  # share of decoder input words replaced by <unk>
    aggressive: bool = False  # He et al. 2019's aggressive inference-network training
    aggressive_max_updates: int = 100  # encoder-only updates before each step, at most
    aggressive_until: int | None = None  # the step aggressive training ends at the latest (a compute budget)
    ae_pretrain_steps: int = 0  # Li et al. 2019: steps with no weight on the KL, then the decoder is reset
    epochs: int | None = None  # None and no max_steps: DEFAULT_EPOCHS
    max_steps: int | None = None
    batch_size: int = 128
    lr: float = 0.00075
    seed: int = 0
    eval_every: int | None = None  # steps between evaluations; None: at the end of each epoch
    # Steps between resumable checkpoints (and one at each evaluation). None: one every CHECKPOINT_SECONDS
    # of training, whatever a step costs (on a GPU, 100 steps can take two seconds and a checkpoint one).
    checkpoint_every: int | None = None
    eval_batch_size: int = 256
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (autocast) | auto (bf16 where this machine runs it faster)
    # Seconds of training per invocation; past it the run evaluates, checkpoints and stops early
    # (a later resume continues it). None: no limit.
    time_budget: float | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "max_steps", "anneal_steps", "eval_every"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "anneal_steps" else 1):
                raise ConfigError(f"{name} must be positive, got {value}")
        if self.batch_size < 1 or (self.checkpoint_every is not None and self.checkpoint_every < 1) or \
                self.eval_batch_size < 1:
            raise ConfigError("batch_size, checkpoint_every and eval_batch_size must be positive")
        for name, flag, zero_allowed in (("lr", "--lr", False), ("beta", "--beta", False), ("kl_target", "--C", True),
                                         ("anneal_epochs", "--anneal-epochs", True)):
            value = getattr(self, name)
            if not (math.isfinite(value) and (value >= 0 if zero_allowed else value > 0)):
                bound = "at least 0" if zero_allowed else "positive"
                raise ConfigError(f"{name} ({flag}) must be a finite number, {bound}; got {value}")
        check_precision(self.precision)
        if self.time_budget is not None and not (math.isfinite(self.time_budget) and self.time_budget > 0):
            raise ConfigError(f"time_budget must be a positive number of seconds, got {self.time_budget}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ConfigError(f"word_dropout (--word-dropout) must be in [0, 1), got {self.word_dropout}")
        if self.ae_pretrain_steps < 0 or self.aggressive_max_updates < 1:
            raise ConfigError("ae_pretrain_steps must be at least 0 and aggressive_max_updates at least 1")
        self.build_objective(total_steps=1, steps_per_epoch=1)  # validates the objective and its options

    def build_objective(self, total_steps: int, steps_per_epoch: int) -> Objective:
        return build_objective(
            self.objective, self.kl_target, self.beta, self.annealing_steps(steps_per_epoch), total_steps=total_steps,
            anneal_shape=self.anneal_shape, cycles=self.cycles, cycle_ratio=self.cycle_ratio,
            free_bits=self.free_bits, fb_mode=self.fb_mode)

    def total_steps(self, steps_per_epoch: int) -> int:
        limits = [self.epochs * steps_per_epoch] if self.epochs else []
        if self.max_steps:
            limits.append(self.max_steps)
        return min(limits) if limits else DEFAULT_EPOCHS * steps_per_epoch

    def annealing_steps(self, steps_per_epoch: int) -> int:
        if self.anneal_steps is not None:
            return self.anneal_steps
        return round(self.anneal_epochs * steps_per_epoch)


@dataclass
class RunConfig:
    model: ModelConfig
    training: TrainConfig
    data: DataConfig
    version: str = field(default=__version__)
    # Where the run trained: one record (versions, CPU, threads, precision used) per start or resume.
    environments: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"textvae_version": self.version, "model": asdict(self.model), "training": asdict(self.training),
                "data": asdict(self.data), "environments": self.environments}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        # Configs saved before max_length had a default meant no limit.
        data = {"max_length": None, **d["data"]}
        return cls(ModelConfig.from_dict(d["model"]), _from_dict(TrainConfig, d["training"]),
                   _from_dict(DataConfig, data), d.get("textvae_version", "unknown"), d.get("environments", []))

    def save(self, run_dir: Path) -> None:
        write_json(run_dir / CONFIG_FILE, self.to_dict())

    @classmethod
    def load(cls, run_dir: Path | str) -> "RunConfig":
        path = Path(run_dir) / CONFIG_FILE
        if not path.exists():
            raise RunDirError(f"{run_dir}: not a textvae run directory (no {CONFIG_FILE})")
        saved = read_json(path)
        try:
            return cls.from_dict(saved)
        except ConfigError as err:
            raise RunDirError(f"{path}: {err}") from None
        except (KeyError, TypeError, AttributeError) as err:
            raise RunDirError(f"{path}: damaged, not a run config ({type(err).__name__}: {err})") from None


def _from_dict(cls: type, d: dict[str, Any]) -> Any:
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    return cls(**d)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for, but PyTorch sees no CUDA device")
    return device


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    valid: CorpusMetrics  # after the last step
    best_valid_loss: float
    total_steps: int  # what the run trains to; more than `steps` where a time budget stopped it early

    @property
    def finished(self) -> bool:
        return self.steps >= self.total_steps


class Trainer:
    """The training loop for one run directory. State that resuming needs lives in attributes
    that `state_dict` / `load_state_dict` save and restore."""

    def __init__(
        self, run_dir: Path, config: RunConfig, model: SentenceVAE, vocab: Vocabulary,
        train_corpus: EncodedCorpus, valid_corpus: EncodedCorpus, progress: bool = True,
    ):
        self.run_dir, self.config, self.model, self.vocab = run_dir, config, model, vocab
        self.train_corpus, self.valid_corpus = train_corpus, valid_corpus
        self.group = distributed.current()  # this process's rank among those training the model
        self.progress = progress and self.group.main
        tc = config.training
        self.device = model.device
        # What the forward pass runs through: the model, or DistributedDataParallel around it (which
        # averages the gradients over ranks; it starts every rank from rank 0's weights).
        self.network: torch.nn.Module = (
            torch.nn.parallel.DistributedDataParallel(model, device_ids=[self.device] if self.device.type == "cuda"
                                                      else None) if self.group.distributed else model)
        self.precision = resolve_precision(tc.precision, self.device)  # "auto" decided for this machine
        self.optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr)
        self.steps_per_epoch = math.ceil(len(train_corpus) / tc.batch_size)
        self.total_steps = tc.total_steps(self.steps_per_epoch)
        self.objective: Objective = tc.build_objective(self.total_steps, self.steps_per_epoch)
        self.aggressive = tc.aggressive  # until the validation MI stops rising
        self.last_mi: float | None = None  # at the previous evaluation
        self.warned_collapse = False  # the collapse diagnostic is said once a session
        self.step = 0
        self.epoch = 0
        self.epoch_batches: list[np.ndarray] = self.batches_for_epoch(0)
        self.batch_in_epoch = 0
        self.best_valid_loss = math.inf
        self.window = _empty_window()  # training averages since the last evaluation
        self.finished = False
        self.saved_step: int | None = None  # the step the checkpoint on disk holds
        self.saved_at = time.monotonic()  # when it was written (or the trainer started)
        self.last_valid: CorpusMetrics | None = None  # the latest validation measurements

    # -- data order -------------------------------------------------------------------------
    def batches_for_epoch(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.config.training.seed, epoch])
        batches = length_grouped_batches(self.train_corpus.lengths, self.config.training.batch_size, rng)
        return distributed.usable_batches(batches, self.group)

    def next_batch(self) -> Batch:
        if self.batch_in_epoch == len(self.epoch_batches):
            self.epoch += 1
            self.epoch_batches = self.batches_for_epoch(self.epoch)
            self.batch_in_epoch = 0
        indices = self.epoch_batches[self.batch_in_epoch]
        self.batch_in_epoch += 1
        return collate(self.train_corpus, indices, self.vocab.pad_id).to(self.device)

    # -- the loop -----------------------------------------------------------------------------
    def describe_target(self) -> str:
        """How the objective's target rate moves over this run, in words (and a warning where the
        run ends before the target reaches C)."""
        tc = self.config.training
        if self.objective.target_at(None) is None:
            return f"objective {tc.objective}"
        anneal = tc.annealing_steps(self.steps_per_epoch)
        if anneal <= self.total_steps:
            return f"target C={tc.kl_target:g} reached after {anneal} steps"
        last = self.objective.target_at(self.total_steps)
        log.warning("training stops after %d steps, before the target rate reaches C=%g (after %d steps): its last "
                    "value is C_t=%.3g; lower --anneal-steps / --anneal-epochs or train longer",
                    self.total_steps, tc.kl_target, anneal, last)
        return f"target rises towards C={tc.kl_target:g} and ends at C_t={last:.3g}"

    def fit(self) -> TrainResult:
        lengths = self.train_corpus.lengths
        log.info(
            "training %s on %d sentences: %d steps (%d per epoch), %s, padding %.1f%% of batch tokens, %s",
            self.config.model.model, len(self.train_corpus), self.total_steps, self.steps_per_epoch,
            self.describe_target(), 100 * padding_fraction(lengths, self.epoch_batches),
            "bf16 autocast" if self.precision == "bf16" else "fp32",
        )
        tc = self.config.training
        deadline = None if tc.time_budget is None else time.monotonic() + tc.time_budget
        self.model.train()
        bar = progress_bar(total=self.total_steps, initial=self.step, enabled=self.progress, unit="step", desc="train")
        with bar:  # closed however the loop ends, so no reporting thread outlives it
            while self.step < self.total_steps:
                stats = self.train_step(self.next_batch())
                self.window["steps"] += 1
                for key in ("loss", "distortion", "rate"):
                    self.window[key] += stats[key]
                bar.update(1)
                if self.step % 10 == 0 or self.step == self.total_steps:
                    steering = {"C": stats["kl_target"]} if "kl_target" in stats else {"w": stats.get("kl_weight", 1.0)}
                    bar.set_postfix(loss=f"{stats['loss']:.2f}", D=f"{stats['distortion']:.2f}",
                                    R=f"{stats['rate']:.2f}", **{k: f"{v:.2f}" for k, v in steering.items()})
                end_of_epoch = self.batch_in_epoch == len(self.epoch_batches)
                due = self.step % tc.eval_every == 0 if tc.eval_every else end_of_epoch
                out_of_time = deadline is not None and self.step < self.total_steps and bool(
                    distributed.same_everywhere(float(time.monotonic() > deadline), self.group))  # rank 0's clock
                if due or out_of_time or self.step == self.total_steps:
                    self.evaluate_and_save()
                elif self.checkpoint_due():
                    self.save_checkpoint()
                if out_of_time:
                    log.warning("time budget of %g s used up at step %d of %d: stopped there (resuming continues "
                                "the run)", tc.time_budget, self.step, self.total_steps)
                    break
        self.finished = self.step == self.total_steps
        self.save_checkpoint()
        valid = self.last_valid or _metrics_from_record(self.read_metrics()[-1])
        return TrainResult(self.run_dir, self.step, valid, self.best_valid_loss, self.total_steps)

    def train_step(self, batch: Batch) -> dict[str, float]:
        """One training step on one batch; returns the objective's statistics. Where the options
        say so, the step is preceded by the aggressive encoder updates and its own update touches
        the decoder only, or (at the end of AE pretraining) the decoder is reset first."""
        tc = self.config.training
        if tc.ae_pretrain_steps and self.step == tc.ae_pretrain_steps:
            reset_decoder(self.model, self.optimizer)
            log.info("step %d: autoencoder pretraining over; the decoder starts again from scratch", self.step)
        if self.aggressive and tc.aggressive_until is not None and self.step >= tc.aggressive_until:
            self.aggressive = False
            log.info("step %d: aggressive training ends here (--aggressive-until)", self.step)
        if self.aggressive:
            inner = aggressive_encoder_updates(
                lambda b: self.update(b, encoder_parameters(self.model))["loss"], self.next_batch, batch,
                tc.aggressive_max_updates)
            stats = self.update(batch, decoder_parameters(self.model)) | {"encoder_updates": inner}
        else:
            stats = self.update(batch)
        self.step += 1
        return stats

    def objective_now(self) -> Objective:
        """The objective of the current step: no weight on the KL while pretraining an autoencoder."""
        return AUTOENCODER if self.step < self.config.training.ae_pretrain_steps else self.objective

    def update(self, batch: Batch, only: Iterable[torch.nn.Parameter] | None = None) -> dict[str, float]:
        """One optimizer update on one batch (of the parameters `only`, where given): forward, the
        objective, checks that every number is finite, backward, step. Across processes each rank
        computes its share of the batch's rows, with the noise drawn for the whole batch
        (`textvae.distributed`)."""
        rate = self.config.training.word_dropout
        uniforms = torch.rand(batch.tokens.shape, device=self.device) if rate > 0 else None
        eps = torch.randn(batch.tokens.size(0), self.model.config.latent_dim, device=self.device)
        mine = share(batch.tokens.size(0), self.group)
        tokens, lengths = batch.tokens[mine], batch.lengths[mine]
        previous = drop_words(previous_tokens(tokens, self.model.eos_id), rate, self.vocab.unk_id, self.vocab.pad_id,
                              None if uniforms is None else uniforms[mine])
        with autocast(self.device, self.precision), self.rank_random_stream():
            out = self.network(tokens, lengths, previous=previous, eps=eps[mine])
        distortion, kl = global_means(out.distortion.float(), out.kl.float(), self.group)
        result = self.objective_now()(distortion, kl, self.step)
        stats = result.stats()
        for term in ("distortion", "rate", "loss"):
            if not math.isfinite(stats[term]):
                raise self.divergence(term, stats[term])
        self.optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        gradient_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), math.inf))
        if not math.isfinite(gradient_norm):
            raise self.divergence("gradient norm", gradient_norm)
        if only is not None:  # Adam skips parameters without a gradient, moments included
            kept = {id(p) for p in only}
            for parameter in self.model.parameters():
                if id(parameter) not in kept:
                    parameter.grad = None
        self.optimizer.step()
        return stats

    @contextmanager
    def rank_random_stream(self) -> Iterator[None]:
        """Across processes, what a forward pass draws (the CNN decoder's dropout) comes from a stream
        of this rank and step, so that the stream every rank shares stays in lockstep."""
        if not self.group.distributed:
            yield
            return
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(int(np.random.SeedSequence([self.config.training.seed, self.step, self.group.rank])
                                  .generate_state(1)[0]))
            yield

    def divergence(self, term: str, value: float | str, when: str = "training") -> DivergenceError:
        """The error that stops a run whose numbers stopped being finite: nothing of it is saved."""
        kept = (f"{CHECKPOINT_FILE} still holds step {self.saved_step}, all finite"
                if self.saved_step is not None else "no checkpoint had been written yet")
        return DivergenceError(
            f"{self.run_dir}: training diverged at step {self.step + (when == 'training')}: the {when} {term} is "
            f"{value}; nothing from it was saved ({kept}). Lower --lr (now {self.config.training.lr:g}) and start a "
            "new run, or --resume to try again from the checkpoint")

    def evaluate_and_save(self) -> CorpusMetrics:
        """Validation measurements (D, R, ELBO, PPL, and MI and AU: the collapse diagnostic) into
        metrics.jsonl and the log; then the best and last weights and the checkpoint."""
        tc = self.config.training
        metrics = evaluate_corpus(self.model, self.valid_corpus, tc.eval_batch_size, seed=tc.seed, latent=True,
                                  group=self.group)
        for term in ("distortion", "rate"):
            if not math.isfinite(getattr(metrics, term)):
                raise self.divergence(term, getattr(metrics, term), "validation")
        valid_loss = float(self.objective(torch.tensor([metrics.distortion]), torch.tensor([[metrics.rate]]), None).loss)
        epoch = round(self.step / self.steps_per_epoch, 4)
        schedule = {"kl_target": self.objective.target_at(self.step), "kl_weight": self.objective_now().weight_at(self.step)}
        n = max(self.window["steps"], 1)
        train_record = {"step": self.step, "epoch": epoch, "split": "train", **schedule,
                        **{k: self.window[k] / n for k in ("loss", "distortion", "rate")}}
        valid_record = {"step": self.step, "epoch": epoch, "split": "valid", **schedule, "loss": valid_loss,
                        "aggressive": self.aggressive, **metrics.to_dict()}
        if self.group.main:
            with open(self.run_dir / METRICS_FILE, "a", encoding="utf-8") as f:
                f.write(_json_line(train_record) + _json_line(valid_record))
        self.window = _empty_window()
        steering = (f"C_t {schedule['kl_target']:.2f}" if schedule["kl_target"] is not None else
                    f"KL weight {schedule['kl_weight']:.2f}")
        self.say(f"{self.run_dir.name}: step {self.step} (epoch {epoch:.2f}): valid D {metrics.distortion:.3f}  "
            f"R {metrics.rate:.3f}  {steering}  ELBO {metrics.elbo:.3f}  PPL {metrics.ppl_elbo:.2f}  "
            f"MI {metrics.mi:.2f}  AU {metrics.au}")
        note = metrics.collapse_note()
        if note is not None and not self.warned_collapse and self.group.main:
            log.warning("%s: step %d: %s", self.run_dir.name, self.step, note)
            self.warned_collapse = True
        self.update_aggressive(metrics.mi)
        self.last_valid = metrics
        self.check_finite_weights()
        if valid_loss < self.best_valid_loss:
            self.best_valid_loss = valid_loss
            if self.group.main:
                save_weights(self.model, self.run_dir / BEST_WEIGHTS)
        if self.group.main:
            save_weights(self.model, self.run_dir / LAST_WEIGHTS)
        self.save_checkpoint()
        return metrics

    def say(self, message: str) -> None:
        if self.group.main:
            say(message)

    def update_aggressive(self, mi: float | None) -> None:
        """He et al. 2019: aggressive training stops once the validation MI stops rising."""
        if self.aggressive and mi is not None and self.last_mi is not None and mi < self.last_mi:
            self.aggressive = False
            log.info("%s: step %d: validation MI fell (%.3f after %.3f): aggressive training ends here",
                     self.run_dir.name, self.step, mi, self.last_mi)
        self.last_mi = mi

    # -- resuming -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "epoch_order": torch.from_numpy(np.concatenate(self.epoch_batches)),
            "epoch_batch_sizes": torch.tensor([len(b) for b in self.epoch_batches]),
            "best_valid_loss": self.best_valid_loss, "window": dict(self.window), "finished": self.finished,
            "aggressive": self.aggressive, "last_mi": self.last_mi, "world_size": self.group.world,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "rng": rng,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        distributed.check_world(state.get("world_size", 1), self.group, str(self.run_dir))
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        order, sizes = state["epoch_order"].numpy(), state["epoch_batch_sizes"].tolist()
        self.epoch_batches = np.split(order, np.cumsum(sizes)[:-1])
        self.best_valid_loss, self.window, self.finished = state["best_valid_loss"], state["window"], state["finished"]
        self.aggressive = state.get("aggressive", self.aggressive)  # checkpoints from before these fields
        self.last_mi = state.get("last_mi")
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError:
            raise RunDirError(f"{self.run_dir / CHECKPOINT_FILE}: its weights do not fit the model config.json "
                              "describes") from None
        self.saved_step = self.step
        self.optimizer.load_state_dict(optimizer_state_from_checkpoint(state["optimizer"]))
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        # Evaluations written after this checkpoint will be redone: drop them.
        if self.group.main:
            records = [r for r in read_metrics(self.run_dir, repair=True) if r["step"] <= self.step]
            write_atomic(self.run_dir / METRICS_FILE, "".join(_json_line(r) for r in records).encode("utf-8"))

    def checkpoint_due(self) -> bool:
        every = self.config.training.checkpoint_every
        if every is not None:
            return self.step % every == 0
        # Each rank reads its own clock: rank 0 alone writes, and saving involves no collective.
        return time.monotonic() - self.saved_at >= CHECKPOINT_SECONDS

    def save_checkpoint(self) -> None:
        """The state every rank resumes from (they share it: see textvae.distributed); rank 0 writes it."""
        self.check_finite_weights()
        if self.group.main:
            save_checkpoint(self.run_dir / CHECKPOINT_FILE, self.state_dict())
        self.saved_step, self.saved_at = self.step, time.monotonic()

    def check_finite_weights(self) -> None:
        """Never save weights that are not all finite (a last guard; the loss and gradients are
        checked at every step)."""
        for name, parameter in self.model.named_parameters():
            if not bool(torch.isfinite(parameter).all()):
                raise self.divergence(f"weight {name}", "not finite", "model")

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.run_dir)


def _empty_window() -> dict[str, float]:
    return {"steps": 0, "loss": 0.0, "distortion": 0.0, "rate": 0.0}


def _json_line(record: dict[str, Any]) -> str:
    """One JSON object a line; a non-finite number becomes null, so the file stays valid JSON."""
    clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
    return json.dumps(clean, allow_nan=False) + "\n"


def _metrics_from_record(record: dict[str, Any]) -> CorpusMetrics:
    return CorpusMetrics(**{f.name: record.get(f.name) for f in fields(CorpusMetrics)})


def read_metrics(run_dir: Path | str, repair: bool = False) -> list[dict[str, Any]]:
    """The records of metrics.jsonl. A last line cut short (the process was killed while appending)
    is dropped, with a warning, and with `repair` also removed from the file; a damaged line
    elsewhere is a RunDirError naming it."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise RunDirError(f"{path}: damaged, not UTF-8 text") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                log.warning("%s: its last line was cut short (an interrupted write)%s", path,
                            "; removed" if repair else "; ignored")
                if repair:
                    write_atomic(path, "".join(_json_line(r) for r in records).encode("utf-8"))
                break
            raise RunDirError(f"{path}:{number}: damaged, not a JSON object") from None
        if not isinstance(record, dict) or "step" not in record:
            raise RunDirError(f"{path}:{number}: damaged, not a metrics record")
        records.append(record)
    return records


def prepare_vocabulary(data: DataConfig, sentences: Sequence[Sequence[str]] | None = None) -> Vocabulary:
    """The vocabulary file named by `data`, or one built from the training split (`sentences`,
    when already read)."""
    if data.vocab is not None:
        return Vocabulary.load(data.vocab)
    if sentences is None:
        sentences = read_sentences(data.train, data.tokenizer)
    if data.max_length is not None:
        sentences = [s[: data.max_length] for s in sentences]
    return Vocabulary.build(sentences, min_count=data.min_count, max_size=data.max_vocab)


def train(
    out_dir: Path | str,
    data: DataConfig | None = None,
    model: ModelConfig | None = None,
    training: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    threads: int | None = None,
) -> TrainResult:
    """Train a VAE into `out_dir`; with `resume=True` continue the run already there.
    `threads`: CPU threads for PyTorch (None keeps the current setting).

    One process at a time writes a run directory (`textvae.locking`); nothing is written before
    both corpora are read; a corpus that changed since the run started is refused on resume."""
    set_threads(threads)
    run_dir = Path(out_dir)
    main = distributed.current().main  # under torchrun, rank 0 alone writes the run directory
    if resume:
        if not (run_dir / CONFIG_FILE).is_file():
            raise RunDirError(f"{run_dir}: not a textvae run directory (no {CONFIG_FILE})")
        with run_lock(run_dir) if main else nullcontext():
            return _resume(run_dir, progress)
    if data is None:
        raise ValueError("train() needs a DataConfig unless resume=True")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"--out {run_dir} is a file; a run is a directory")
    if (run_dir / CONFIG_FILE).exists():
        raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another --out")
    data = data.with_absolute_paths()
    train_sentences = read_sentences(data.train, data.tokenizer)
    vocab = prepare_vocabulary(data, train_sentences)
    config = RunConfig(replace(model or ModelConfig(), vocab_size=len(vocab)), training or TrainConfig(), data)
    trainer = _trainer(run_dir, config, vocab, train_sentences, progress)
    config.data.checksums = config.data.current_checksums()  # both corpora were read without error
    if not main:
        return _fit(trainer)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(run_dir):
            if (run_dir / CONFIG_FILE).exists():  # another process started a run here since the check above
                raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it, or choose "
                                  "another --out")
            vocab.save(run_dir / VOCAB_FILE)
            return _fit(trainer)
    except RunDirError:
        if created and not any(run_dir.iterdir()):
            run_dir.rmdir()  # refused before writing anything: leave no empty directory behind
        raise


def _resume(run_dir: Path, progress: bool) -> TrainResult:
    config = RunConfig.load(run_dir)  # a resumed run keeps the configs it started with
    main = distributed.current().main
    litter = remove_partial_writes(run_dir) if main else []
    if litter:
        log.info("removed %d partly written file%s left by the interrupted run: %s", len(litter),
                 "" if len(litter) == 1 else "s", ", ".join(p.name for p in litter))
    vocab = Vocabulary.load(run_dir / VOCAB_FILE)
    check_vocabulary(run_dir, vocab, config)
    config.data.check_unchanged()
    train_sentences = read_sentences(config.data.train, config.data.tokenizer)
    trainer = _trainer(run_dir, config, vocab, train_sentences, progress)
    checkpoint = run_dir / CHECKPOINT_FILE
    if checkpoint.exists():
        trainer.load_state_dict(load_checkpoint(checkpoint))
        log.info("resumed %s at step %d of %d", run_dir, trainer.step, trainer.total_steps)
        if trainer.finished:
            log.info("%s had already finished", run_dir)
            last = trainer.read_metrics()[-1]
            return TrainResult(run_dir, trainer.step, _metrics_from_record(last), trainer.best_valid_loss,
                               trainer.total_steps)
    else:
        log.info("%s has no checkpoint yet: starting it from step 0", run_dir)
        if main:
            (run_dir / METRICS_FILE).unlink(missing_ok=True)
    return _fit(trainer)


def _trainer(run_dir: Path, config: RunConfig, vocab: Vocabulary, train_sentences: list[list[str]],
             progress: bool) -> Trainer:
    """The model and its trainer, from corpora read in full; nothing is written yet."""
    tc = config.training
    device = resolve_device(tc.device)
    train_corpus = encode_corpus(train_sentences, vocab, config.data.max_length)
    report_corpus(train_corpus, "train", config.data.max_length)
    valid_corpus = load_corpus(config.data.valid, vocab, config.data.max_length, name="valid",
                               tokenizer=config.data.tokenizer)
    torch.manual_seed(tc.seed)
    net = SentenceVAE(config.model, eos_id=vocab.eos_id, pad_id=vocab.pad_id).to(device)
    return Trainer(run_dir, config, net, vocab, train_corpus, valid_corpus, progress)


def _fit(trainer: Trainer) -> TrainResult:
    """Record where this session runs in config.json, then train."""
    here = environment(str(trainer.device)) | {"precision": trainer.precision, "from_step": trainer.step,
                                               "processes": trainer.group.world}
    trainer.config.environments.append(here)
    if trainer.group.main:
        trainer.config.save(trainer.run_dir)
    log.info("running on %s", describe_environment(here))
    return trainer.fit()


def check_vocabulary(run_dir: Path, vocab: Vocabulary, config: RunConfig) -> None:
    """A vocab.txt that does not match the model's vocabulary size is a damaged run directory."""
    if len(vocab) != config.model.vocab_size:
        raise RunDirError(f"{run_dir / VOCAB_FILE}: holds {len(vocab)} words, but the model in {CONFIG_FILE} was "
                          f"built for {config.model.vocab_size}; the file is damaged or from another run")
