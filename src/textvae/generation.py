"""Decoding sentences from latent codes: one batched loop for every decoder kind.

A decoding strategy is a chain of logits processors (functions from (batch, vocab) scores to
scores) followed by a choice: the argmax (greedy) or a draw from the softmax (sampling).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from textvae.models.vae import SentenceVAE

LogitsProcessor = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Temperature:
    """Divide scores by a temperature: < 1 sharpens the distribution, > 1 flattens it."""

    temperature: float

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError("temperature must be positive")

    def __call__(self, scores: Tensor) -> Tensor:
        return scores / self.temperature


@torch.no_grad()
def decode(
    model: SentenceVAE,
    z: Tensor,
    max_length: int = 30,
    sample: bool = False,
    processors: Sequence[LogitsProcessor] = (),
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Token ids for each row of z (without `<eos>`), at most `max_length` tokens each.

    Finished sentences leave the batch, so the loop costs what the longest sentence needs.
    """
    was_training = model.training
    model.eval()
    batch = z.size(0)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    rows = torch.arange(batch, device=z.device)  # which sentences are still being decoded
    previous = torch.full((batch,), model.eos_id, dtype=torch.long, device=z.device)
    state = None
    for _ in range(max_length):
        features, state = model.decoder(model.decoder_inputs(previous.unsqueeze(1), z), state)
        scores = model.to_vocab(features[:, -1]).float()
        for process in processors:
            scores = process(scores)
        if sample:
            chosen = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator).squeeze(1)
        else:
            chosen = scores.argmax(dim=-1)
        for row, token in zip(rows.tolist(), chosen.tolist()):
            if token != model.eos_id:
                outputs[row].append(token)
        going = (chosen != model.eos_id).nonzero().squeeze(1)
        if going.numel() == 0:
            break
        if going.numel() < rows.numel():
            rows, z, previous = rows[going], z[going], chosen[going]
            state = model.decoder.reorder_state(state, going)
        else:
            previous = chosen
    model.train(was_training)
    return outputs
