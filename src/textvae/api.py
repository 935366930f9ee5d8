"""A trained model with its vocabulary: the Python entry point (`textvae.load`). `TextVAE` is a
`textvae.evaluation.sentence_model.SentenceModel`: probes and minimal pairs evaluate it."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from textvae import distributed
from textvae.data.batching import Batch, collate
from textvae.data.corpus import EncodedCorpus, encode_corpus, unknown_words_note
from textvae.data.tokenize import AS_GIVEN, Tokenizer
from textvae.data.vocab import TokenVocabulary
from textvae.distributed import Group
from textvae.errors import ConfigError
from textvae.evaluation import Evaluation
from textvae.evaluation import evaluate as evaluate_corpus_fully
from textvae.generation import Decoding, decode, interpolation_path
from textvae.generation.decoding import RowUniforms, fresh_seed, prior_codes
from textvae.models.vae import SentenceVAE
from textvae.precision import resolve_precision
from textvae.progress import progress as progress_bar
from textvae.runtime import available_memory, check_fits, resolve_device, set_threads
from textvae.serialization import load_weights
from textvae.training.config import RunConfig
from textvae.training.rundir import load_config, load_vocabulary, model_for_saved_weights, weights_file

log = logging.getLogger(__name__)
T = TypeVar("T")
PROGRESS_FROM = 8  # passes of at least this many batches report progress (when `progress` is on)

Sentences = Sequence[str] | Sequence[Sequence[str]]


class TextVAE:
    """A `SentenceVAE` bundled with its vocabulary, taking sentences as text.

    Sentences are strings (tokenized as the run's training data was: split on whitespace unless
    it was trained with --tokenize moses) or lists of tokens; `<eos>` is added.
    """

    def __init__(self, model: SentenceVAE, vocab: TokenVocabulary, config: RunConfig | None = None,
                 batch_size: int = 256, precision: str = "auto"):
        self.model = model.eval()
        self.vocab = vocab
        self.config = config
        self.tokenizer: Tokenizer = config.data.tokenizer if config is not None else AS_GIVEN
        # Decoding runs in fp32 or under bf16 autocast; "auto" picks bf16 where it runs and is faster.
        self.precision = resolve_precision(precision, model.device)
        self.batch_size = batch_size  # sentences per forward pass in encode / log_prob
        self.decode_batch_size = 1024  # latent codes decoded together (larger batches gain nothing on CPU)
        self.progress = False  # report progress of passes over many batches (the command line turns it on)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def latent_dim(self) -> int:
        return self.model.config.latent_dim

    def tokenize(self, sentences: Sentences) -> list[list[str]]:
        if isinstance(sentences, str):
            raise TypeError("expected a list of sentences, got one string")
        return [self.tokenizer(s) if isinstance(s, str) else list(s) for s in sentences]

    @property
    def max_length(self) -> int | None:
        """Words kept of a sentence (the run's --max-length), as training kept them."""
        return self.config.data.max_length if self.config is not None else None

    def prepared(self, sentences: Sentences) -> list[list[str]]:
        """Sentences as tokens, cut to the run's `max_length` as its training data was (one warning
        line counts the sentences cut)."""
        tokens = self.tokenize(sentences)
        limit = self.max_length
        longer = 0 if limit is None else sum(len(t) > limit for t in tokens)
        if longer:
            log.warning("%d of %d sentences are longer than %d words and were cut to %d (the run's --max-length)",
                        longer, len(tokens), limit, limit)
            tokens = [t[:limit] for t in tokens]
        return tokens

    def corpus(self, sentences: Sentences) -> EncodedCorpus:
        return encode_corpus(self.tokenize(sentences), self.vocab, self.max_length)

    def unknown_words(self, sentences: Sentences) -> Counter[str]:
        """Words of `sentences` outside the vocabulary (they read as `<unk>`), with their counts."""
        return Counter(w for s in self.tokenize(sentences) for w in s if w not in self.vocab)

    def warn_unknown(self, sentences: Sentences, what: str) -> None:
        """One warning line when `sentences` hold words outside the vocabulary."""
        unknown = self.unknown_words(sentences)
        if unknown:
            log.warning("%s: not in the vocabulary, read as <unk>: %s", what, unknown_words_note(unknown))

    def batch(self, sentences: Sentences) -> Batch:
        """Sentences as one padded batch on the model's device, in the order given."""
        return collate(self.corpus(sentences), np.arange(len(sentences)), self.vocab.pad_id).to(self.device)

    def chunks(self, sentences: Sentences, desc: str = "batches") -> Iterator[tuple[slice, Batch]]:
        """Consecutive batches of at most `batch_size` sentences, with the slice each covers."""
        spans = [slice(i, i + self.batch_size) for i in range(0, len(sentences), self.batch_size)]
        for span in self._progress(spans, desc):
            yield span, self.batch(sentences[span])

    def _progress(self, items: Sequence[T], desc: str) -> Iterable[T]:
        return progress_bar(items, desc=desc, unit="batch", enabled=self.progress and len(items) >= PROGRESS_FROM)

    @torch.no_grad()
    def encode(self, sentences: Sentences) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance of q(z|x), each (n, latent)."""
        sentences = self.prepared(sentences)
        parts = [self.model.encode(batch.tokens, batch.lengths) for _, batch in self.chunks(sentences, "encode")]
        return torch.cat([mu for mu, _ in parts]), torch.cat([logvar for _, logvar in parts])

    @torch.no_grad()
    def log_prob(self, sentences: Sentences, z: Tensor) -> Tensor:
        """log p(x|z) in nats for each sentence (`<eos>` included), z of shape (n, latent)."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.shape != (len(sentences), self.latent_dim):
            raise ValueError(f"z must have shape ({len(sentences)}, {self.latent_dim}), got {tuple(z.shape)}")
        sentences = self.prepared(sentences)
        return torch.cat([-self.model.distortion(batch.tokens, batch.lengths, z[span])
                          for span, batch in self.chunks(sentences, "score")])

    def decode(
        self, z: Tensor, decoding: Decoding | str = "greedy", seed: int | None = None, **options: Any
    ) -> list[str]:
        """Sentences decoded from each row of z (n, latent).

        `decoding` is a `Decoding` or a strategy name ("greedy", "sample", "top-k", "top-p",
        "beam"); keyword options set its fields, e.g. `decode(z, "top-p", top_p=0.7, seed=1)`.
        The same seed gives the same sentences, and row i's sentence depends on row i alone."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.dim() != 2 or z.size(1) != self.latent_dim:
            raise ValueError(f"z must have shape (n, {self.latent_dim}), got {tuple(z.shape)}")
        return self._decode(lambda start, rows: z[start : start + rows], z.size(0), as_decoding(decoding, **options),
                            fresh_seed() if seed is None else seed)

    def _decode(self, codes: Callable[[int, int], Tensor], n: int, decoding: Decoding, seed: int) -> list[str]:
        """Decode n codes, `codes(start, rows)` giving rows start.. of them, a chunk that fits at a time."""
        check_fits(n * decoding.max_length * 16.0, f"{n:,} sentences of up to {decoding.max_length} tokens",
                   advice="; ask for fewer (-n) or shorter (--max-length) ones")
        at_once = self._rows_at_once(decoding)
        ids: list[list[int]] = []
        for start in self._progress(range(0, n, at_once), "decode"):
            chunk = codes(start, min(at_once, n - start))
            uniforms = RowUniforms(seed, chunk.size(0), first_row=start) if decoding.samples else None
            ids.extend(decode(self.model, chunk, decoding, precision=self.precision, uniforms=uniforms))
        return [" ".join(self.vocab.decode(s)) for s in ids]

    def _rows_at_once(self, decoding: Decoding) -> int:
        """Codes decoded together: `decode_batch_size`, fewer where a beam search of so many would not
        fit in the free memory; a beam search that cannot fit one sentence is refused."""
        if decoding.strategy != "beam":
            return self.decode_batch_size
        per_row = 8.0 * decoding.beam_size * len(self.vocab) * 4  # scores, log-probabilities, candidates, top-k
        free = available_memory(self.device)
        if free is None:
            return self.decode_batch_size
        check_fits(2 * per_row, f"beam search with --beam-size {decoding.beam_size} over {len(self.vocab):,} words",
                   self.device, "; use a smaller --beam-size")
        return max(1, min(self.decode_batch_size, int(free // 2 // per_row)))

    def prior(self, n: int, seed: int | None = None) -> Tensor:
        """n codes z ~ N(0, I), (n, latent); code i depends on the seed and i only."""
        if n < 0:
            raise ConfigError(f"the number of codes must not be negative, got {n}")
        check_fits(3.0 * n * self.latent_dim * 4, f"{n:,} codes of {self.latent_dim} numbers")
        return prior_codes(fresh_seed() if seed is None else seed, n, self.latent_dim).to(self.device)

    def sample(self, n: int, decoding: Decoding | str = "sample", seed: int | None = None, **options: Any) -> list[str]:
        """n sentences decoded from z ~ N(0, I) (ancestral sampling unless told otherwise). At one
        seed the first sentences are the same for any n; the codes are drawn a chunk at a time."""
        if n < 0:
            raise ConfigError(f"the number of sentences must not be negative, got {n}")
        seed = fresh_seed() if seed is None else seed
        return self._decode(lambda start, rows: prior_codes(seed, rows, self.latent_dim, start).to(self.device), n,
                            as_decoding(decoding, **options), seed)

    def reconstruct(
        self, sentences: Sentences, decoding: Decoding | str = "greedy", seed: int | None = None, **options: Any
    ) -> list[str]:
        """Sentences decoded from the posterior mean of each input (greedy: the paper's Table 1).

        `max_length` defaults to 10 tokens more than the longest sentence given."""
        sentences = self.prepared(sentences)
        if "max_length" not in options and not isinstance(decoding, Decoding):
            longest = max((len(s) for s in sentences), default=0)
            options["max_length"] = 10 + longest
        self.warn_unknown(sentences, "sentences to reconstruct")
        mu, _ = self.encode(sentences)
        return self.decode(mu, decoding, seed, **options)

    def interpolate(
        self, start: str | None = None, end: str | None = None, steps: int = 8,
        decoding: Decoding | str = "greedy", seed: int | None = None, **options: Any,
    ) -> Interpolation:
        """Sentences along the straight line between two latent codes (the paper's Table 2).

        `start` and `end` are sentences, encoded with their posterior mean, or None for a draw
        from the prior (the first two codes of `prior(n, seed)`); the same seed gives the same draws
        and the same sentences."""
        seed = fresh_seed() if seed is None else seed
        prior = self.prior(2, seed)
        for name, sentence in (("start (--from)", start), ("end (--to)", end)):
            if sentence is not None:
                self.warn_unknown([sentence], f"{name} {sentence!r}")
        ends = [self.encode([s])[0][0] if s is not None else prior[i] for i, s in enumerate((start, end))]
        check_fits(3.0 * steps * self.latent_dim * 4, f"an interpolation of {steps:,} steps", advice="; use fewer "
                   "--steps")
        weights, z = interpolation_path(ends[0], ends[1], steps)
        sentences = self.decode(z, decoding, seed=seed, **options)
        return Interpolation(weights.cpu(), z.cpu(), sentences)


def as_decoding(decoding: Decoding | str, **options: Any) -> Decoding:
    """A `Decoding` from a strategy name or an existing one, with some fields replaced."""
    if isinstance(decoding, Decoding):
        return replace(decoding, **options) if options else decoding
    return Decoding(decoding, **options)


@dataclass
class Interpolation:
    """The latent path of an interpolation and what each point decodes to."""

    weights: Tensor  # (steps,) s from 0 to 1
    z: Tensor  # (steps, latent) (1 - s) z_start + s z_end
    sentences: list[str]


def load(run_dir: Path | str, device: str = "auto", weights: str = "best", precision: str = "auto",
         threads: int | None = None) -> TextVAE:
    """Load a trained run: `weights="best"` (lowest validation loss) or `"last"`; `device` "auto"
    (a GPU where PyTorch sees one), "cpu", "cuda" or "cuda:N"; decoding `precision` "auto" (bf16
    autocast where this machine runs it faster), "fp32" or "bf16"; `threads`: CPU threads for
    PyTorch (None keeps the current setting)."""
    set_threads(threads)
    if weights not in ("best", "last"):
        raise ConfigError(f"weights must be 'best' or 'last', got {weights!r}")
    config = load_config(run_dir)
    file = weights_file(run_dir, weights)
    vocab = load_vocabulary(run_dir, config)
    built = model_for_saved_weights(run_dir, config.model)  # a pretrained part from the run's own files
    SentenceVAE.check_fits(built, resolve_device(device))
    model = SentenceVAE(built, eos_id=vocab.eos_id, pad_id=vocab.pad_id)
    other = "last" if weights == "best" else "best"
    load_weights(model, file, f"; restore it from a copy, or load the run's other weights (--weights {other})")
    return TextVAE(model.to(resolve_device(device)), vocab, config, precision=precision)


def evaluate(
    model: TextVAE, sentences: Sentences | EncodedCorpus, iw_samples: int = 500, au_threshold: float = 0.01,
    repeats: int = 5, seed: int = 0, batch_size: int = 256, max_tokens: int = 8192, progress: bool = False,
    threads: int | None = None, group: Group | None = None,
) -> Evaluation:
    """Every measurement of `textvae evaluate` for a loaded model on a list of sentences; `group`
    (default: the process group joined, if any) shares the work between processes."""
    set_threads(threads)
    corpus = sentences if isinstance(sentences, EncodedCorpus) else model.corpus(sentences)
    return evaluate_corpus_fully(model.model, corpus, iw_samples=iw_samples, au_threshold=au_threshold,
                                 repeats=repeats, seed=seed, batch_size=batch_size, max_tokens=max_tokens,
                                 progress=progress, group=group or distributed.current())
