"""The training loop of one run: a `Trainer` holds the model, the optimizer, the objective and the
data order, takes steps, evaluates, and saves what a resume needs (`state_dict`).

One step: the batch's share for this process, the forward pass, the objective, the checks that
every number is finite, backward, the optimizer. The procedures that are not a loss (word dropout,
aggressive encoder updates, AE pretraining) switch on from `TrainConfig`
(`textvae.training.procedures`). `textvae.training.session` starts and resumes runs with it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textvae import distributed
from textvae.data.batching import Batch, collate, epoch_batches, padding_fraction
from textvae.data.corpus import EncodedCorpus
from textvae.data.vocab import TokenVocabulary
from textvae.distributed import global_means, share
from textvae.errors import DivergenceError, RunDirError
from textvae.evaluation import CorpusMetrics, evaluate_corpus
from textvae.generation.decoding import decode, prior_codes
from textvae.models.decoders import previous_tokens
from textvae.models.vae import SentenceVAE
from textvae.objectives import Constant, Objective, WeightedKL
from textvae.precision import autocast, resolve_precision
from textvae.progress import progress as progress_bar
from textvae.progress import say
from textvae.serialization import optimizer_state_from_checkpoint, save_checkpoint, save_weights
from textvae.training.config import BEST_WEIGHTS, CHECKPOINT_FILE, CHECKPOINT_SECONDS, LAST_WEIGHTS, RunConfig
from textvae.training.optim import build_lr_schedule, build_optimizer, clip_gradient
from textvae.training.tracking import TensorBoardLog
from textvae.training.procedures import (
    AGGRESSIVE_PACE_STEPS, AggressivePhase, aggressive_cost_note, aggressive_encoder_updates, decoder_parameters,
    drop_words, encoder_parameters, reset_decoder,
)
from textvae.training.rundir import (
    append_metrics, clear_divergence, keep_metrics_until, read_metrics, record_divergence,
)

log = logging.getLogger(__name__)

AUTOENCODER = WeightedKL(Constant(0.0))  # the objective of AE pretraining: distortion only
PRIOR_SAMPLES = 3  # greedy sentences from fixed prior draws in each validation record: what the decoder makes of z


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
        self, run_dir: Path, config: RunConfig, model: SentenceVAE, vocab: TokenVocabulary,
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
        self.optimizer = build_optimizer(model.parameters(), tc)
        self.lr_schedule = build_lr_schedule(self.optimizer, tc)
        self.steps_per_epoch = math.ceil(len(train_corpus) / tc.batch_size)
        self.total_steps = tc.total_steps(self.steps_per_epoch)
        self.objective: Objective = tc.build_objective(self.total_steps, self.steps_per_epoch)
        self.aggressive = AggressivePhase(tc.aggressive)  # until the validation MI stops rising
        self.aggressive_pace = [0, 0.0, 0.0]  # this session's aggressive steps, their seconds and encoder updates
        self.seconds = 0.0  # steps, evaluations and saving over every session of the run: its cost, for reports
        self.warned_collapse = False  # the collapse diagnostic is said once a session
        self.step = 0
        self.epoch = 0
        self.epoch_batches: list[np.ndarray] = self.batches_for_epoch(0)
        self.batch_in_epoch = 0
        self.best_valid_loss = math.inf
        self.window = empty_window()  # training averages since the last evaluation
        self.finished = False
        self.stopped_by: str | None = None  # "time budget" where this session stopped short of total_steps
        self.tensorboard: TensorBoardLog | None = None  # while fit runs with --tensorboard, on rank 0
        self.saved_step: int | None = None  # the step the checkpoint on disk holds
        self.saved_at = time.monotonic()  # when it was written (or the trainer started)
        self.last_valid: CorpusMetrics | None = None  # the latest validation measurements

    # -- data order -------------------------------------------------------------------------
    def batches_for_epoch(self, epoch: int) -> list[np.ndarray]:
        batches = epoch_batches(self.train_corpus.lengths, self.config.training.batch_size, self.config.training.seed,
                                epoch)
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
    def fit(self) -> TrainResult:
        """Train to total_steps (or the time budget). A divergence is recorded in the run directory
        (DIVERGED_FILE, for `textvae runs`) before its error goes up; a later session clears it."""
        if self.group.main:
            clear_divergence(self.run_dir)
            if self.config.training.tensorboard:
                self.tensorboard = TensorBoardLog(self.run_dir, self.config.to_dict(), read_metrics(self.run_dir))
        try:
            return self._fit()
        except DivergenceError as err:
            if self.group.main:
                record_divergence(self.run_dir, self.step, str(err))
            raise
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
                self.tensorboard = None

    def _fit(self) -> TrainResult:
        lengths = self.train_corpus.lengths
        log.info(
            "training %s on %d sentences: %d steps (%d per epoch), %s, padding %.1f%% of batch tokens, %s",
            self.config.model.model, len(self.train_corpus), self.total_steps, self.steps_per_epoch,
            self.objective.describe(self.total_steps) or f"objective {self.config.training.objective}",
            100 * padding_fraction(lengths, self.epoch_batches),
            "bf16 autocast" if self.precision == "bf16" else "fp32",
        )
        tc = self.config.training
        deadline = None if tc.time_budget is None else time.monotonic() + tc.time_budget
        self.model.train()
        bar = progress_bar(total=self.total_steps, initial=self.step, enabled=self.progress, unit="step", desc="train")
        with bar:  # closed however the loop ends, so no reporting thread outlives it
            while self.step < self.total_steps:
                started = time.perf_counter()
                stats = self.train_step(self.next_batch())
                self.seconds += time.perf_counter() - started
                if "encoder_updates" in stats:
                    self.time_aggressive_step(time.perf_counter() - started, stats["encoder_updates"])
                started = time.perf_counter()
                self.window["steps"] += 1
                for key in ("loss", "distortion", "rate", "encoder_updates"):
                    self.window[key] += stats.get(key, 0)
                bar.update(1)
                if self.step % 10 == 0 or self.step == self.total_steps:
                    steering = {"C": stats["kl_target"]} if "kl_target" in stats else {"w": stats.get("kl_weight", 1.0)}
                    bar.set_postfix(loss=f"{stats['loss']:.2f}", D=f"{stats['distortion']:.2f}",
                                    R=f"{stats['rate']:.2f}", **{k: f"{v:.2f}" for k, v in steering.items()})
                end_of_epoch = self.batch_in_epoch == len(self.epoch_batches)
                due = self.step % tc.eval_every == 0 if tc.eval_every else end_of_epoch
                check = self.aggressive.active and (self.step % tc.aggressive_check_every == 0
                                                    if tc.aggressive_check_every else end_of_epoch)
                out_of_time = deadline is not None and self.step < self.total_steps and bool(
                    distributed.same_everywhere(float(time.monotonic() > deadline), self.group))  # rank 0's clock
                if due or check or out_of_time or self.step == self.total_steps:
                    self.evaluate_and_save(check)
                elif self.checkpoint_due():
                    self.save_checkpoint()
                self.seconds += time.perf_counter() - started  # evaluating and saving are part of the cost
                if out_of_time:
                    self.stopped_by = "time budget"
                    log.warning("time budget of %g s used up at step %d of %d: stopped there (resuming continues "
                                "the run)", tc.time_budget, self.step, self.total_steps)
                    break
        self.finished = self.step == self.total_steps
        self.save_checkpoint()
        valid = self.last_valid or metrics_from_record(read_metrics(self.run_dir)[-1])
        return TrainResult(self.run_dir, self.step, valid, self.best_valid_loss, self.total_steps)

    def train_step(self, batch: Batch) -> dict[str, float]:
        """One training step on one batch; returns the objective's statistics. Where the options
        say so, the step is preceded by the aggressive encoder updates and its own update touches
        the decoder only, or (at the end of AE pretraining) the decoder is reset first."""
        tc = self.config.training
        if tc.ae_pretrain_steps and self.step == tc.ae_pretrain_steps:
            reset_decoder(self.model, self.optimizer)
            log.info("step %d: autoencoder pretraining over; the decoder starts again from scratch", self.step)
        if self.aggressive.active and tc.aggressive_until is not None and self.step >= tc.aggressive_until:
            self.aggressive.end(self.step, "cap")
            self.say(f"{self.run_dir.name}: step {self.step}: aggressive training ends here, at its compute cap "
                     "(--aggressive-until), whatever the MI does")
        if self.aggressive.active:
            inner = aggressive_encoder_updates(self.update_encoder, self.random_batch, batch,
                                               tc.aggressive_max_updates)
            stats = self.update(batch, decoder_parameters(self.model)) | {"encoder_updates": inner}
        else:
            stats = self.update(batch)
        self.step += 1
        return stats

    def time_aggressive_step(self, seconds: float, updates: float) -> None:
        """Once a session, after AGGRESSIVE_PACE_STEPS aggressive steps, say what the phase costs:
        tens of encoder updates a step make it the run's longest part by far."""
        pace = self.aggressive_pace
        pace[0], pace[1], pace[2] = pace[0] + 1, pace[1] + seconds, pace[2] + updates
        if pace[0] != AGGRESSIVE_PACE_STEPS:
            return
        tc = self.config.training
        every = tc.aggressive_check_every or self.steps_per_epoch
        self.say(aggressive_cost_note(self.run_dir.name, pace[1] / pace[0], pace[2] / pace[0], self.step,
                                      min((self.step // every + 1) * every, self.total_steps), tc.aggressive_until))

    def update_encoder(self, batch: Batch) -> tuple[float, int]:
        """An encoder-only update; the loss summed over the batch's sentences and the words it predicted."""
        stats = self.update(batch, encoder_parameters(self.model))
        return stats["loss"] * batch.tokens.size(0), int(batch.lengths.sum())

    def random_batch(self, draw: int) -> Batch:
        """The `draw`-th batch of this step's aggressive inner loop: one of the epoch's batches chosen
        uniformly (He et al.), from a stream of the seed and step alone, so the decoder's steps keep
        the epoch's order and a resumed run draws the same ones."""
        pick = np.random.default_rng([self.config.training.seed, self.step, draw]).integers(len(self.epoch_batches))
        return collate(self.train_corpus, self.epoch_batches[pick], self.vocab.pad_id).to(self.device)

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
        gradient_norm = clip_gradient(self.model.parameters(), self.config.training.grad_clip)
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
        """Across processes, what a forward pass draws (a decoder's dropout) comes from a stream
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

    def evaluate_and_save(self, aggressive_check: bool = False) -> CorpusMetrics:
        """Validation measurements (D, R, ELBO, PPL, and MI and AU: the collapse diagnostic) into
        metrics.jsonl and the log; then the best and last weights and the checkpoint. At an
        `aggressive_check`, the MI also decides whether aggressive training goes on."""
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
                        **{k: self.window[k] / n for k in ("loss", "distortion", "rate")},
                        **({"encoder_updates": self.window["encoder_updates"] / n} if tc.aggressive else {}),
                        "lr": self.optimizer.param_groups[0]["lr"], "seconds": round(self.seconds, 1)}
        # "aggressive": whether the steps before this evaluation were; once the phase ended, how (MI or cap)
        aggressive = self.aggressive.active
        if aggressive_check:
            self.check_aggressive(metrics.mi)
        valid_record = {"step": self.step, "epoch": epoch, "split": "valid", **schedule, "loss": valid_loss,
                        "aggressive": aggressive, **self.aggressive.record(), **metrics.to_dict()}
        if self.group.main:
            valid_record["samples"] = self.prior_samples()
            append_metrics(self.run_dir, [train_record, valid_record])
            if self.tensorboard is not None:
                self.tensorboard.add([train_record, valid_record])
        self.window = empty_window()
        steering = (f"C_t {schedule['kl_target']:.2f}" if schedule["kl_target"] is not None else
                    f"KL weight {schedule['kl_weight']:.2f}")
        self.say(f"{self.run_dir.name}: step {self.step} (epoch {epoch:.2f}): valid D {metrics.distortion:.3f}  "
            f"R {metrics.rate:.3f}  {steering}  ELBO {metrics.elbo:.3f}  PPL {metrics.ppl_elbo:.2f}  "
            f"MI {metrics.mi:.2f}  AU {metrics.au}")
        note = metrics.collapse_note()
        if note is not None and not self.warned_collapse and self.group.main:
            log.warning("%s: step %d: %s", self.run_dir.name, self.step, note)
            self.warned_collapse = True
        if self.lr_schedule is not None:
            self.decay_lr(valid_loss)
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

    def prior_samples(self) -> list[str]:
        """Greedy sentences from the same PRIOR_SAMPLES prior draws at every evaluation (drawn from
        their own streams: the training's random state is untouched)."""
        z = prior_codes(self.config.training.seed, PRIOR_SAMPLES, self.config.model.latent_dim).to(self.device)
        return [" ".join(self.vocab.decode(ids)) for ids in decode(self.model, z)]

    def say(self, message: str) -> None:
        if self.group.main:
            say(message)

    def check_aggressive(self, mi: float) -> None:
        """He et al. 2019: aggressive training stops once the validation MI stops rising."""
        before = self.aggressive.last_mi
        if self.aggressive.check(mi, self.step):
            self.say(f"{self.run_dir.name}: step {self.step}: validation MI fell ({mi:.3f} after {before:.3f}): "
                     "aggressive training ends here")

    def decay_lr(self, valid_loss: float) -> None:
        before = self.optimizer.param_groups[0]["lr"]
        self.lr_schedule.step(valid_loss)
        after = self.optimizer.param_groups[0]["lr"]
        if after != before:
            self.say(f"{self.run_dir.name}: step {self.step}: no better validation loss for "
                     f"{self.config.training.lr_patience} evaluations: learning rate {before:g} -> {after:g}")

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
            "total_steps": self.total_steps, "stopped_by": self.stopped_by,  # read by `textvae runs`
            "aggressive": self.aggressive.active, "last_mi": self.aggressive.last_mi,
            "aggressive_ended": [self.aggressive.ended_at, self.aggressive.ended_by], "world_size": self.group.world,
            "seconds": self.seconds, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "rng": rng, **({"lr_schedule": self.lr_schedule.state_dict()} if self.lr_schedule is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        distributed.check_world(state.get("world_size", 1), self.group, str(self.run_dir))
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        order, sizes = state["epoch_order"].numpy(), state["epoch_batch_sizes"].tolist()
        self.epoch_batches = np.split(order, np.cumsum(sizes)[:-1])
        self.best_valid_loss, self.finished = state["best_valid_loss"], state["finished"]
        self.window = empty_window() | state["window"]  # a window saved before encoder_updates lacks it
        # Checkpoints from before these fields: no MI measured (the first check then compares with 0).
        self.aggressive = AggressivePhase(state.get("aggressive", self.aggressive.active), state.get("last_mi") or 0.0,
                                          *state.get("aggressive_ended", [None, None]))
        self.seconds = state.get("seconds", 0.0)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError:
            raise RunDirError(f"{self.run_dir / CHECKPOINT_FILE}: its weights do not fit the model config.json "
                              "describes") from None
        self.saved_step = self.step
        self.optimizer.load_state_dict(optimizer_state_from_checkpoint(state["optimizer"]))
        if self.lr_schedule is not None and "lr_schedule" in state:
            self.lr_schedule.load_state_dict(state["lr_schedule"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        # Evaluations written after this checkpoint will be redone: drop them.
        if self.group.main:
            keep_metrics_until(self.run_dir, self.step)

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


def empty_window() -> dict[str, float]:
    return {"steps": 0, "loss": 0.0, "distortion": 0.0, "rate": 0.0, "encoder_updates": 0.0}


def metrics_from_record(record: dict[str, Any]) -> CorpusMetrics:
    """A validation record of metrics.jsonl as the measurements it holds."""
    return CorpusMetrics(**{f.name: record.get(f.name) for f in fields(CorpusMetrics)})
