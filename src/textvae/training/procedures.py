"""Training procedures that are not a loss: pieces the one training loop (`training.loop.Trainer`)
switches on with options of `TrainConfig`.

- Word dropout (Bowman et al. 2016): decoder input words replaced by `<unk>` at a rate, so the
  decoder cannot lean on the previous words alone and has to read z.
- Aggressive inference-network training (He et al. 2019): before each decoder update, the encoder
  alone is updated on fresh batches until its loss stops improving; switched off once the
  validation MI stops rising.
- AE pretraining, then a decoder reset (Li et al. 2019): the first steps train with no weight on
  the KL, then the decoder starts again from scratch, keeping the encoder it taught.

The embedding is shared by the encoder and the decoder here (He et al. gave each its own); it
counts as the decoder's, so encoder-only updates leave what the decoder reads unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from textvae.data.batching import Batch
from textvae.models.vae import SentenceVAE

CONVERGENCE_WINDOW = 15  # He et al.: the inner loop compares its mean loss every 15 updates


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
    """What q(z|x) alone depends on: the encoder network and the mean and variance heads."""
    for module in (model.encoder, model.to_mu, model.to_logvar):
        yield from module.parameters()


def decoder_parameters(model: SentenceVAE) -> Iterator[nn.Parameter]:
    """Everything else: the decoder, the vocabulary projection and the shared embedding."""
    encoder = {id(p) for p in encoder_parameters(model)}
    return (p for p in model.parameters() if id(p) not in encoder)


def aggressive_encoder_updates(update_encoder: Callable[[Batch], float], next_batch: Callable[[], Batch],
                               first: Batch, max_updates: int = 100) -> int:
    """He et al. 2019's inner loop: encoder-only updates, on `first` and then fresh batches, until
    the mean loss of the last `CONVERGENCE_WINDOW` updates is no lower than that of the window
    before, or `max_updates` are done. `update_encoder(batch)` makes one update and returns its
    loss. Returns the number of updates made."""
    previous_mean, window_sum, batch = float("inf"), 0.0, first
    for done in range(1, max_updates + 1):
        window_sum += update_encoder(batch)
        if done % CONVERGENCE_WINDOW == 0:
            mean = window_sum / CONVERGENCE_WINDOW
            if mean >= previous_mean:
                return done
            previous_mean, window_sum = mean, 0.0
        if done < max_updates:
            batch = next_batch()
    return max_updates


@torch.no_grad()
def reset_decoder(model: SentenceVAE, optimizer: torch.optim.Optimizer) -> None:
    """Start the decoder and the vocabulary projection again from a fresh initialisation (drawn
    from the global random stream), and forget their optimizer state."""
    fresh = SentenceVAE(model.config, eos_id=model.eos_id, pad_id=model.pad_id).to(model.device)
    for name in ("decoder", "to_vocab"):
        getattr(model, name).load_state_dict(getattr(fresh, name).state_dict())
        for parameter in getattr(model, name).parameters():
            optimizer.state.pop(parameter, None)
