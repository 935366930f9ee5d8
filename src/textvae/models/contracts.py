"""What an encoder and a decoder of a sentence VAE are, and the registries that name them.

A model name is ENCODER-DECODER (`lstm-cnn`): one registered encoder kind and one registered
decoder kind. `SentenceVAE` owns the shared word embedding, the heads to q(z|x) and the projection
to the vocabulary; an encoder and a decoder only map vectors to vectors.

Encoder
    forward(embedded, lengths) -> summary
      embedded: (batch, time, embedding_dim), the embedded tokens of each sentence, `<eos>`
                included, padded after it
      lengths:  (batch,) real tokens per sentence (`<eos>` included)
      summary:  (batch, output_dim), one vector per sentence; the VAE maps it to mu and log-variance
    output_dim: int

Decoder
    forward(embedded, z, state=None) -> (features, state)
      embedded: (batch, steps, embedding_dim), the embedded previous tokens (`<eos>` first, as the
                start symbol); steps is the whole sentence in training (teacher forcing) or 1 when
                generating a token at a time
      z:        (batch, latent_dim), the latent code of each sentence (None for a language model
                without one); how the decoder reads it is its own choice
      state:    whatever the decoder needs to continue where the previous call stopped (None at
                the start): the recurrent state, a window of past inputs, a key/value cache.
                Calling with the whole sequence at once, or a step at a time carrying the state,
                must give the same features
      features: (batch, steps, output_dim); the VAE projects them to the vocabulary
    output_dim: int
    reorder_state(state, index) -> state
      the state of the batch rows `index` (a 1-d long tensor, rows may repeat), in that order:
      decoding drops finished sentences and beam search reorders its hypotheses with it

Each kind has an options dataclass (its own settings, fields made with `textvae.options.option`,
which become flags of `textvae train`) and a builder `build(dims, options) -> module`. Register a
new kind with `register_encoder` / `register_decoder`; nothing else in textvae names the kinds.

Optional, for a kind that starts from a pretrained model (`textvae.models.pretrained`); a kind
without them is a kind built from scratch:
  options.required_embedding_dim() -> int | None
      the embedding size the kind must be fed (its model's width), read without building it;
      a model config built without an embedding size takes it
  options.tokenizer() -> tokenizer | None
      the Hugging Face tokenizer the model comes with: the run's vocabulary is then that tokenizer
      (`textvae.data.subword`), the decoder's where it has one, else the encoder's
  options.rebuilt_from(directory) -> options
      the options that build the same module, without the pretrained weights (the run's weights
      file holds them), from what the module's `save_configuration` wrote in `directory`; a run
      reloads with them, so the pretrained model's own files may be gone
  module.save_configuration(directory) -> None
      writes what `rebuilt_from` needs (a run keeps it in RUN/pretrained/encoder, .../decoder)
  module.vocabulary_weights() -> (input_embedding, output_embedding | None) | None
      the pretrained model's token embeddings, (its vocabulary, embedding_dim) each, indexed by the
      tokenizer's ids: `SentenceVAE` starts its embedding (and `to_vocab`, bias 0) from them, the
      decoder's where it offers them, else the encoder's where the run's vocabulary is its tokenizer
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from torch import Tensor, nn

from textvae.options import check_options
from textvae.registry import Registry

State = Any  # a decoder's own state between calls (see Decoder)


class Encoder(Protocol):
    output_dim: int

    def __call__(self, embedded: Tensor, lengths: Tensor) -> Tensor: ...


class Decoder(Protocol):
    output_dim: int

    def __call__(self, embedded: Tensor, z: Tensor | None, state: State = None) -> tuple[Tensor, State]: ...

    def reorder_state(self, state: State, index: Tensor) -> State: ...


@dataclass(frozen=True)
class Dims:
    """The sizes every kind is built for: the shared embedding, the layer width, the code."""

    embedding_dim: int
    hidden_dim: int
    latent_dim: int


@dataclass
class ComponentOptions:
    """Base of an encoder's or decoder's options: checked on construction like every config."""

    about: ClassVar[str] = ""
    # True where `tokenizer()` gives the run's vocabulary (a pretrained kind), without loading it
    reads_tokenizer: ClassVar[bool] = False

    def __post_init__(self) -> None:
        check_options(self)

    # The optional hooks of a kind that starts from a pretrained model (see the module); these
    # defaults are a kind built from scratch.
    def required_embedding_dim(self) -> int | None:
        return None

    def tokenizer(self) -> Any | None:
        return None

    def rebuilt_from(self, directory: Path) -> "ComponentOptions":
        return self


@dataclass(frozen=True)
class Kind:
    """A registered encoder or decoder kind."""

    build: Callable[[Dims, Any], nn.Module]  # (dims, options) -> the module
    options: type[ComponentOptions]
    about: str  # a few words for --help


ENCODERS: Registry[Kind] = Registry("encoder")
DECODERS: Registry[Kind] = Registry("decoder")


def register_encoder(name: str, build: Callable[[Dims, Any], nn.Module], options: type[ComponentOptions],
                     about: str) -> None:
    ENCODERS.register(name)(Kind(build, options, about))


def register_decoder(name: str, build: Callable[[Dims, Any], nn.Module], options: type[ComponentOptions],
                     about: str) -> None:
    DECODERS.register(name)(Kind(build, options, about))
