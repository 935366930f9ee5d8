"""Training procedures that are not a loss: pieces the one training loop (`training.loop.Trainer`)
switches on with options of `TrainConfig`.

- Word dropout (Bowman et al. 2016): decoder input words replaced by `<unk>` at a rate, so the
  decoder cannot lean on the previous words alone and has to read z.
- Aggressive inference-network training (He et al. 2019): before each decoder update, the encoder
  alone is updated on fresh batches until its loss stops improving; switched off once the
  validation MI stops rising.
- AE pretraining, then a decoder reset (Li et al. 2019): the first steps train with no weight on
  the KL, then the decoder starts again from scratch, keeping the encoder it taught.

  He et al.'s procedure in full: the encoder reads an embedding of its own (a run started with
  --aggressive takes one, `ModelConfig.own_encoder_embedding`); the inner loop's batches are drawn
  at random from the training set, and it stops when the loss per word of a window of 15 updates
  is higher than the window's before, or after `max_updates`; the phase ends at the first check
  (each epoch by default) whose validation MI is lower than the check's before, the first check
  being compared with 0. A shared embedding counts as the decoder's, so encoder-only updates
  leave what the decoder reads unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from textvae.data.batching import Batch
from textvae.models.vae import SentenceVAE
from textvae.progress import duration_text

CONVERGENCE_WINDOW = 15  # He et al.: the inner loop compares its mean loss every 15 updates
AGGRESSIVE_PACE_STEPS = 20  # aggressive steps a session times before it says what the phase costs


def drop_words(previous: Tensor, rate: float, unk_id: int, pad_id: int = 0, uniforms: Tensor | None = None) -> Tensor:
    """Decoder input tokens (batch, time) with each word replaced by `<unk>` with probability
    `rate`; the start symbol (column 0) and padding stay. `uniforms` (batch, time) are the draws,
    from the global random stream where not given."""
    if rate <= 0:
        return previous
    if uniforms is None:
        uniforms = torch.rand(previous.shape, device=previous.device)
    dropped = uniforms < rate
    dropped[:, 0] = False
    dropped &= previous != pad_id
    return previous.masked_fill(dropped, unk_id)


def encoder_parameters(model: SentenceVAE) -> Iterator[nn.Parameter]:
    """What q(z|x) alone depends on: the encoder network, the mean and variance heads, and the
    encoder's own embedding where it has one."""
    own = () if model.encoder_embedding is None else (model.encoder_embedding,)
    for module in (*own, model.encoder, model.to_mu, model.to_logvar):
        yield from module.parameters()


def decoder_parameters(model: SentenceVAE) -> Iterator[nn.Parameter]:
    """Everything else: the decoder, the vocabulary projection and the decoder's embedding (shared
    with the encoder unless it has its own)."""
    encoder = {id(p) for p in encoder_parameters(model)}
    return (p for p in model.parameters() if id(p) not in encoder)


def aggressive_encoder_updates(update_encoder: Callable[[Batch], tuple[float, int]], draw_batch: Callable[[int], Batch],
                               first: Batch, max_updates: int = 100) -> int:
    """He et al. 2019's inner loop: encoder-only updates, on `first` (the step's own batch) and then
    on `draw_batch(k)` for the k-th fresh one, until the loss per word of the last
    `CONVERGENCE_WINDOW` updates is higher than that of the window before (the first window is
    compared with no bound), or `max_updates` are done. `update_encoder(batch)` makes one update and
    returns the loss summed over the batch's sentences and the number of words it predicted.
    Returns the number of updates made."""
    previous, loss_sum, words, batch = math.inf, 0.0, 0, first
    for done in range(1, max_updates + 1):
        batch_loss, batch_words = update_encoder(batch)
        loss_sum, words = loss_sum + batch_loss, words + batch_words
        if done % CONVERGENCE_WINDOW == 0:
            per_word = loss_sum / max(words, 1)
            if per_word > previous:
                return done
            previous, loss_sum, words = per_word, 0.0, 0
        if done < max_updates:
            batch = draw_batch(done)
    return max_updates


@dataclass
class AggressivePhase:
    """Whether aggressive training is on, the validation MI it is judged by, and how it ended: at the
    first check whose MI is lower than the check's before (He et al. compare the first with 0), or
    at a compute cap."""

    active: bool
    last_mi: float = 0.0
    ended_at: int | None = None  # the step
    ended_by: str | None = None  # "validation MI" or "cap"

    def check(self, mi: float, step: int = 0) -> bool:
        """Record a check's validation MI; True where the phase ends at it."""
        ends = self.active and mi < self.last_mi
        self.last_mi = mi
        if ends:
            self.end(step, "validation MI")
        return ends

    def end(self, step: int, by: str) -> None:
        self.active, self.ended_at, self.ended_by = False, step, by

    def record(self) -> dict[str, Any]:
        """What metrics.jsonl says of the phase once it has ended."""
        return {} if self.ended_at is None else {"aggressive_ended_at": self.ended_at,
                                                 "aggressive_ended_by": self.ended_by}


@torch.no_grad()
def reset_decoder(model: SentenceVAE, optimizer: torch.optim.Optimizer) -> None:
    """Start the decoder and the vocabulary projection again from a fresh initialisation (drawn
    from the global random stream), and forget their optimizer state."""
    fresh = SentenceVAE(model.config, eos_id=model.eos_id, pad_id=model.pad_id).to(model.device)
    for name in ("decoder", "to_vocab"):
        getattr(model, name).load_state_dict(getattr(fresh, name).state_dict())
        for parameter in getattr(model, name).parameters():
            optimizer.state.pop(parameter, None)


def aggressive_cost_note(run: str, seconds_per_step: float, updates_per_step: float, step: int, next_check: int,
                         cap: int | None = None) -> str:
    """The line a run says once a session about its aggressive phase: the pace so far, and how long
    until the earliest step the phase can end at (its next check of the validation MI, or its cap)."""
    until, why = (cap, "its cap") if cap is not None and cap <= next_check else (
        next_check, "its next check of the validation MI")
    more = duration_text(max(until - step, 0) * seconds_per_step)
    hint = "" if why == "its cap" else "; --aggressive-until STEP caps the phase (every report then says so)"
    return (f"{run}: aggressive training: {updates_per_step:.1f} encoder updates a step on average, "
            f"{seconds_per_step:.2f} s a step here: the phase lasts at least to step {until} ({why}), about {more} "
            f"from now{hint}")
