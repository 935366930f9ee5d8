"""Decoding sentences from latent codes, batched, for every decoder kind.

Two loops cover every strategy:
- `sample_tokens`: one token per step for each row, the argmax (greedy) or a draw from the
  softmax of the processed scores (sampling, top-k, top-p). Finished rows leave the batch.
- `beam_search`: the `beam_size` best partial sentences per row, ranked by summed log-probability;
  finished ones are compared after length normalisation.
Both stop a row at its first `<eos>` or after `max_length` tokens, and return token ids
without `<eos>`. `Decoding` names a strategy and its settings; `decode` runs it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from textvae.errors import ConfigError
from textvae.generation.processors import LogitsProcessor, Temperature, TopK, TopP
from textvae.models.vae import SentenceVAE
from textvae.options import check_options, option
from textvae.precision import autocast

STRATEGIES = ("greedy", "sample", "top-k", "top-p", "beam")
DEFAULT_TOP_K = 15
DEFAULT_TOP_P = 0.9


@dataclass(frozen=True)
class Decoding:
    """A decoding strategy and its settings.

    - greedy: the most likely token at each step.
    - sample: a draw from softmax(scores / temperature), filtered by top_k and then top_p when set.
    - top-k / top-p: sampling with only that filter (k defaults to 15, p to 0.9).
    - beam: beam search with `beam_size` hypotheses, ranked at the end by
      log p / length ** length_penalty (length counts `<eos>`).
    """

    strategy: str = option("greedy", "Decoding strategy.", flags=("--decode",), choices=STRATEGIES)
    temperature: float = option(1.0, "Sampling temperature (sample, top-k, top-p).", min=0, min_open=True)
    top_k: int | None = option(None, "top-k: tokens kept; with --decode sample, an extra filter.", flags=("--k",),
                               min=1, default_text=str(DEFAULT_TOP_K))
    top_p: float | None = option(None, "top-p: probability mass kept; with --decode sample, an extra filter.",
                                 flags=("--p",), min=0, max=1, min_open=True, default_text=str(DEFAULT_TOP_P))
    beam_size: int = option(5, "Hypotheses kept by beam search.", min=1)
    length_penalty: float = option(1.0, "Beam search ranks by log p / length ** this.")
    max_length: int = option(30, "Longest sentence, in tokens (at most 10,000).", min=1, max=10_000)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown decoding strategy {self.strategy!r}; choose from {', '.join(STRATEGIES)}")
        check_options(self, ranges=False)
        self.processors()  # validates temperature, k and p where the strategy uses them, in its own words
        check_options(self)

    @property
    def samples(self) -> bool:
        return self.strategy in ("sample", "top-k", "top-p")

    def processors(self) -> list[LogitsProcessor]:
        """The filters applied to the scores before a draw, in order."""
        if not self.samples:
            return []
        top_k = self.top_k if self.strategy != "top-p" else None
        top_p = self.top_p if self.strategy != "top-k" else None
        if self.strategy == "top-k" and top_k is None:
            top_k = DEFAULT_TOP_K
        if self.strategy == "top-p" and top_p is None:
            top_p = DEFAULT_TOP_P
        chain: list[LogitsProcessor] = [Temperature(self.temperature)]
        if top_k is not None:
            chain.append(TopK(top_k))
        if top_p is not None:
            chain.append(TopP(top_p))
        return chain

    def describe(self) -> str:
        """A short label, e.g. "top-p (p=0.9)"."""
        if self.strategy == "beam":
            return f"beam (size {self.beam_size}, length penalty {self.length_penalty:g})"
        details = []
        for process in self.processors():
            if isinstance(process, Temperature) and process.temperature != 1.0:
                details.append(f"T={process.temperature:g}")
            elif isinstance(process, TopK):
                details.append(f"k={process.k}")
            elif isinstance(process, TopP):
                details.append(f"p={process.p:g}")
        return self.strategy + (f" ({', '.join(details)})" if details else "")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@contextmanager
def _eval_mode(model: SentenceVAE) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _next_scores(model: SentenceVAE, previous: Tensor, z: Tensor, state: object) -> tuple[Tensor, object]:
    """Scores over the vocabulary for the token after `previous` (batch,), and the new state."""
    features, state = model.decoder_features(previous.unsqueeze(1), z, state)
    return model.to_vocab(features[:, -1]).float(), state


# Keys of the per-row random streams (see `row_stream`).
PRIOR_STREAM, DECODING_STREAM = 0, 1


def row_stream(seed: int, purpose: int, row: int) -> np.random.Generator:
    """The random stream of one row (one sentence) for one purpose. It depends on the seed, the
    purpose and the row's index only, so sentence i comes out the same whatever else is drawn
    with it (`sample -n 3` and `-n 4` agree on their first three)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"a seed is a whole number, at least 0; got {seed!r}")
    return np.random.default_rng([seed, purpose, row])


def fresh_seed() -> int:
    """A seed from the operating system's entropy, for draws that need not repeat."""
    return int(np.random.SeedSequence().entropy)


def prior_codes(seed: int, rows: int, latent_dim: int, first_row: int = 0) -> Tensor:
    """z ~ N(0, I), one row per sentence, each from its own stream: (rows, latent_dim)."""
    codes = [row_stream(seed, PRIOR_STREAM, first_row + i).standard_normal(latent_dim) for i in range(rows)]
    return torch.from_numpy(np.stack(codes).astype(np.float32)) if rows else torch.zeros(0, latent_dim)


class RowUniforms:
    """The draws of sampling decoding, u in (0, 1], one per row and step, each row from its own
    stream. They are drawn DRAWN_AT_ONCE steps at a time as decoding reaches them (the same values
    as drawing every step at once), so a long `max_length` costs only the steps a sentence takes."""

    DRAWN_AT_ONCE = 32

    def __init__(self, seed: int, rows: int, first_row: int = 0):
        self.streams = [row_stream(seed, DECODING_STREAM, first_row + i) for i in range(rows)]
        self.drawn = np.empty((rows, 0), dtype=np.float32)

    def __call__(self, step: int, rows: Tensor) -> Tensor:
        """The draws at `step` of the rows `rows` (indices into the batch): (len(rows),)."""
        while step >= self.drawn.shape[1]:
            block = np.stack([1.0 - s.random(self.DRAWN_AT_ONCE) for s in self.streams]).astype(np.float32)
            self.drawn = np.concatenate([self.drawn, block], axis=1)
        return torch.from_numpy(self.drawn[rows.cpu().numpy(), step])


def draw(scores: Tensor, generator: torch.Generator | None = None, u: Tensor | None = None) -> Tensor:
    """One token per row from softmax(scores), by inverting the cumulative distribution, with
    u (batch,) in (0, 1] given or drawn from `generator`.

    Equivalent to `torch.multinomial(softmax(scores), 1)` but many times faster over a large
    vocabulary on CPU. A token of probability 0 is never drawn: u lies in (0, 1], and a
    left-sided search never stops on a flat stretch of the cumulative sum."""
    cumulative = torch.softmax(scores, dim=-1).cumsum(dim=-1)
    if u is None:
        u = 1.0 - torch.rand((scores.size(0),), generator=generator, device=scores.device)
    chosen = torch.searchsorted(cumulative, u.to(cumulative).unsqueeze(1) * cumulative[:, -1:])
    return chosen.squeeze(1).clamp_(max=scores.size(-1) - 1)


@torch.no_grad()
def sample_tokens(
    model: SentenceVAE,
    z: Tensor,
    max_length: int = 30,
    sample: bool = False,
    processors: Sequence[LogitsProcessor] = (),
    generator: torch.Generator | None = None,
    uniforms: RowUniforms | Tensor | None = None,
) -> list[list[int]]:
    """Token ids for each row of z: the argmax, or a draw after `processors`, at every step.

    Draws use `uniforms` when given, so each row's sentence depends on its own draws only: a
    `RowUniforms`, or a (batch, max_length) tensor of them; else `generator`. Finished sentences
    leave the batch, so the loop costs what the longest sentence needs.
    """
    batch = z.size(0)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    rows = torch.arange(batch, device=z.device)  # which sentences are still being decoded
    previous = torch.full((batch,), model.eos_id, dtype=torch.long, device=z.device)
    state = None
    if isinstance(uniforms, Tensor):
        if tuple(uniforms.shape) != (batch, max_length):
            raise ValueError(f"uniforms must have shape ({batch}, {max_length}), got {tuple(uniforms.shape)}")
        table = uniforms
        uniforms = lambda step, rows: table[rows.cpu(), step]  # noqa: E731
    with _eval_mode(model):
        for step in range(max_length):
            scores, state = _next_scores(model, previous, z, state)
            for process in processors:
                scores = process(scores)
            if sample:
                chosen = draw(scores, generator, None if uniforms is None else uniforms(step, rows))
            else:
                chosen = scores.argmax(dim=-1)
            for row, token in zip(rows.tolist(), chosen.tolist()):
                if token != model.eos_id:
                    outputs[row].append(token)
            going = (chosen != model.eos_id).nonzero().squeeze(1)
            if going.numel() == 0:
                break
            if going.numel() < rows.numel():
                rows, z, chosen = rows[going], z[going], chosen[going]
                state = model.decoder.reorder_state(state, going)
            previous = chosen
    return outputs


@torch.no_grad()
def beam_search(
    model: SentenceVAE, z: Tensor, beam_size: int = 5, max_length: int = 30, length_penalty: float = 1.0
) -> list[list[int]]:
    """The best hypothesis of a beam search for each row of z.

    Each step extends every live hypothesis by every token and keeps, per sentence, the
    `beam_size` best candidates that do not end there; candidates that end with `<eos>` among the
    `beam_size` best are set aside as finished, scored log p / length ** length_penalty (length
    counts `<eos>`). A sentence's search stops once its best finished score is at least the best
    live hypothesis's score if it ended now (exact for length_penalty 0, where scores only fall);
    at `max_length` the live hypotheses count as finished. Beam size 1 is greedy decoding.
    """
    batch, width, eos = z.size(0), beam_size, model.eos_id
    device = z.device
    z = z.repeat_interleave(width, dim=0)  # a sentence's beams sit in adjacent rows
    first_row = torch.arange(batch, device=device).unsqueeze(1) * width
    scores = torch.full((batch, width), float("-inf"), device=device)  # summed log p of live hypotheses
    scores[:, 0] = 0.0  # one live hypothesis at the start, so the first step has no duplicates
    hypotheses = torch.empty((batch * width, 0), dtype=torch.long, device=device)
    previous = torch.full((batch * width,), eos, dtype=torch.long, device=device)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    best_finished = torch.full((batch,), float("-inf"), device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    state = None
    with _eval_mode(model):
        for step in range(max_length):
            length_norm = (step + 1) ** length_penalty
            logits, state = _next_scores(model, previous, z, state)
            log_probs = torch.log_softmax(logits, dim=-1)
            vocab = log_probs.size(-1)
            candidates = (scores.unsqueeze(-1) + log_probs.view(batch, width, vocab)).view(batch, -1)
            top_scores, top_index = candidates.topk(min(2 * width, candidates.size(1)), dim=-1)
            source_beam, token = top_index // vocab, top_index % vocab
            ends = (token == eos) & top_scores.isfinite() & ~done.unsqueeze(1)
            ends[:, width:] = False
            for sentence, rank in ends.nonzero().tolist():
                row = int(first_row[sentence, 0] + source_beam[sentence, rank])
                normalised = float(top_scores[sentence, rank]) / length_norm
                finished[sentence].append((normalised, hypotheses[row].tolist()))
                best_finished[sentence] = max(float(best_finished[sentence]), normalised)
            keep = top_scores.masked_fill(token == eos, float("-inf")).topk(width, dim=-1).indices
            scores = top_scores.gather(1, keep).masked_fill(token.gather(1, keep) == eos, float("-inf"))
            done |= best_finished >= scores.max(dim=1).values / length_norm
            if bool(done.all()):
                break
            rows = (first_row + source_beam.gather(1, keep)).view(-1)
            previous = token.gather(1, keep).view(-1)
            hypotheses = torch.cat([hypotheses[rows], previous.unsqueeze(1)], dim=1)
            state = model.decoder.reorder_state(state, rows)
        else:
            for sentence, beam in (scores.isfinite() & ~done.unsqueeze(1)).nonzero().tolist():
                normalised = float(scores[sentence, beam]) / max_length**length_penalty
                finished[sentence].append((normalised, hypotheses[sentence * width + beam].tolist()))
    return [max(f, key=lambda scored: scored[0])[1] if f else [] for f in finished]


def decode(
    model: SentenceVAE, z: Tensor, decoding: Decoding = Decoding(), generator: torch.Generator | None = None,
    precision: str = "fp32", uniforms: RowUniforms | Tensor | None = None,
) -> list[list[int]]:
    """Token ids (without `<eos>`) decoded from each row of z with a strategy.

    Sampling strategies draw from `uniforms` (rows, max_length) when given, else from `generator`.
    `precision="bf16"` runs the decoder under bfloat16 autocast (about twice the matmul speed on
    CPUs with AVX-512 bf16 and on recent GPUs); scores are processed in float32 either way."""
    with autocast(z.device, precision):
        if decoding.strategy == "beam":
            return beam_search(model, z, decoding.beam_size, decoding.max_length, decoding.length_penalty)
        return sample_tokens(model, z, decoding.max_length, decoding.samples, decoding.processors(), generator,
                             uniforms)
