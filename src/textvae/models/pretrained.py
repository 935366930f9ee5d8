"""A decoder and an encoder that start from pretrained Hugging Face models (see `textvae.models.contracts`).

The VAE owns the word embedding and the projection to the vocabulary, so a pretrained model here
only maps embeddings to hidden features: it is fed `inputs_embeds`, and the VAE's embedding size
must equal the model's hidden size. The model's own token embedding is never read; it stays in the
module (frozen, so that no parameter goes without a gradient) and could seed the VAE's embedding.

The decoder gives z to a causal LM the way Optimus (Li et al. 2020) gives it to GPT-2 (`z_injection`):
  memory     one extra key/value position per layer, computed from z, placed at the start of the
             key/value cache before the first token; every token attends to it, and it takes no
             position (the first real token is position 0);
  embedding  z projected to the hidden size and added to every input embedding;
  both       the two together (Optimus does both; the default).
Its state between calls is the cache (memory slot and tokens so far). A call never changes the
state it was given: it continues from a copy of the cache.

The encoder runs a bidirectional model (BERT-like) over the real tokens and averages its last
hidden states over them. The mean, not the [CLS] state: the VAE feeds its own embeddings, which
the model's [CLS] pooling was never trained on, and the mean is what the other encoders here give.

A run with a pretrained model reads its text with the model's tokenizer (`tokenizer()`; the
decoder's where both are pretrained), and the VAE's embedding and projection to the vocabulary
start from the model's input and output token embeddings (`vocabulary_weights`). The run keeps the
model's configuration (`save_configuration`); reloading it builds the model from that alone
(`rebuilt_from`: random weights, which the run's weights file replaces), so the directory or the
cache the model came from may be gone.

`transformers` is optional: it is imported only when a model is built or loaded.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from textvae.errors import ConfigError
from textvae.models.contracts import ComponentOptions, Dims, register_decoder, register_encoder
from textvae.models.transformer import Z_INJECTIONS
from textvae.options import option

MISSING_EXTRA = "pretrained models need the transformers extra: pip install 'textvae[transformers]'"
AUTO_CLASSES = {"causal-lm": "AutoModelForCausalLM", "encoder": "AutoModel"}
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")
FREEZE_HELP = "Train only the parts that read z; the pretrained model's weights stay as loaded."


class FromPretrained:
    """What the pretrained options share: `source` names the field that holds the model's directory
    or name."""

    source: ClassVar[str]
    reads_tokenizer: ClassVar[bool] = True
    # Not a field (no flag, never saved): True in the options `rebuilt_from` gives, which build the
    # model from the configuration a run saved, with random weights that the run's file replaces.
    weights_from_run: ClassVar[bool] = False

    def required_embedding_dim(self) -> int | None:
        return _hidden_size(getattr(self, self.source))

    def tokenizer(self) -> Any:
        return load_tokenizer(getattr(self, self.source))

    def rebuilt_from(self, directory: Path) -> Any:
        options = replace(self, **{self.source: str(directory)})  # type: ignore[type-var]
        options.weights_from_run = True
        return options


@dataclass
class PretrainedDecoderOptions(FromPretrained, ComponentOptions):
    decoder_pretrained: str = option("gpt2", "The causal language model the decoder starts from: a directory saved "
                                             "with save_pretrained, or a Hugging Face name already in the local cache "
                                             "(--embedding-dim is its hidden size). The run's vocabulary is its "
                                             "tokenizer.")
    z_injection: str = option("both", "How z reaches the pretrained decoder: memory (a key/value slot per layer, as "
                                      "Optimus), embedding (added to every input embedding), or both.",
                              choices=Z_INJECTIONS)
    freeze_pretrained: bool = option(False, FREEZE_HELP)
    source: ClassVar[str] = "decoder_pretrained"


@dataclass
class PretrainedEncoderOptions(FromPretrained, ComponentOptions):
    encoder_pretrained: str = option("bert-base-cased", "The bidirectional model (BERT-like) the encoder starts "
                                                        "from: a directory saved with save_pretrained, or a Hugging "
                                                        "Face name already in the local cache (--embedding-dim is its "
                                                        "hidden size). The run's vocabulary is its tokenizer "
                                                        "unless the decoder is pretrained too.")
    freeze_pretrained: bool = option(False, FREEZE_HELP)
    source: ClassVar[str] = "encoder_pretrained"


def import_transformers() -> ModuleType:
    try:
        import transformers
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None
    return transformers


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}"


def load_pretrained(name_or_path: str, kind: str, weights: bool = True) -> tuple[nn.Module, Any]:
    """The model (`kind` "causal-lm" or "encoder") in a directory or the local Hugging Face cache,
    in float32, and its tokenizer where one is saved with it (else None). Downloads only when the
    name is not found locally and HF_HUB_OFFLINE is not 1. Without `weights`, and under a meta device
    (to count parameters), it builds the model from its config alone (random weights)."""
    if kind not in AUTO_CLASSES:
        raise ConfigError(f"a pretrained model's kind is one of {', '.join(AUTO_CLASSES)}; got {kind!r}")
    transformers = import_transformers()
    auto = getattr(transformers, AUTO_CLASSES[kind])

    def load(**where: Any) -> nn.Module:
        with quiet_progress(transformers):  # a bar per tensor group, on every load: noise in a run's log
            if not weights or torch.get_default_device().type == "meta":  # from_pretrained refuses meta
                config = transformers.AutoConfig.from_pretrained(name_or_path, **where)
                return auto.from_config(config, dtype=torch.float32)
            return auto.from_pretrained(name_or_path, dtype=torch.float32, **where)

    if Path(name_or_path).is_dir():
        try:
            model = load()
        except Exception as error:  # noqa: BLE001 - a broken directory fails in many ways; each is one line
            raise ConfigError(f"could not load the pretrained model in {name_or_path}: {_one_line(error)}") from None
        return model, _directory_tokenizer(transformers, Path(name_or_path))
    reason = "HF_HUB_OFFLINE=1"
    for local_only in (True, False):
        if not local_only and os.environ.get("HF_HUB_OFFLINE") == "1":
            break
        try:
            model = load(local_files_only=local_only)
        except Exception as error:  # noqa: BLE001 - not cached, unreachable, not a model: all one line
            if not local_only:
                reason = _one_line(error)
            continue
        return model, _hub_tokenizer(transformers, name_or_path, local_only)
    raise ConfigError(f"pretrained model {name_or_path!r} is not a directory, not in the local Hugging Face cache, "
                      f"and could not be downloaded ({reason}); give a directory saved with save_pretrained")


@contextmanager
def quiet_progress(transformers: ModuleType) -> Iterator[None]:
    """transformers' progress bars and the hub client's retry warnings off for a while (as they were
    after): the one line textvae says when a model cannot be found is enough."""
    hf_logging = transformers.utils.logging
    was_on = hf_logging.is_progress_bar_enabled()
    hub = logging.getLogger("huggingface_hub")
    level = hub.level
    hf_logging.disable_progress_bar()
    hub.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub.setLevel(level)
        if was_on:
            hf_logging.enable_progress_bar()


def load_tokenizer(name_or_path: str) -> Any:
    """The tokenizer of the pretrained model `name_or_path` (found as `load_pretrained` finds the
    model); a model saved without one is a ConfigError."""
    transformers = import_transformers()
    if Path(name_or_path).is_dir():
        tokenizer = _directory_tokenizer(transformers, Path(name_or_path))
    else:
        tokenizer = _hub_tokenizer(transformers, name_or_path, True)
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        if tokenizer is None and not offline:
            tokenizer = _hub_tokenizer(transformers, name_or_path, False)
        if tokenizer is None:
            raise ConfigError(f"pretrained model {name_or_path!r} is not a directory, its tokenizer is not in the local "
                              "Hugging Face cache" + ("" if offline else ", and it could not be downloaded") +
                              "; give a directory saved with save_pretrained")
    if tokenizer is None:
        raise ConfigError(f"the pretrained model {name_or_path} has no tokenizer saved with it, and a run with a "
                          "pretrained model reads its text with the model's tokenizer; save one beside it "
                          "(tokenizer.save_pretrained)")
    return tokenizer


def _hidden_size(name_or_path: str) -> int | None:
    """The model's width, from its config.json in a directory or the local cache (None: not found)."""
    try:
        transformers = import_transformers()
        config = transformers.AutoConfig.from_pretrained(name_or_path, local_files_only=True)
        return int(config.get_text_config(decoder=True).hidden_size)
    except Exception:  # noqa: BLE001 - not found or not a model: building it will say why, in one line
        return None


def _directory_tokenizer(transformers: ModuleType, path: Path) -> Any:
    # AutoTokenizer makes an empty tokenizer from a model's config alone, so look for its files first.
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        return None
    try:
        return transformers.AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, ImportError) as error:
        raise ConfigError(f"could not load the tokenizer saved in {path}: {_one_line(error)}") from None


def _hub_tokenizer(transformers: ModuleType, name: str, local_only: bool) -> Any:
    try:
        with quiet_progress(transformers):
            tokenizer = transformers.AutoTokenizer.from_pretrained(name, local_files_only=local_only)
    except (OSError, ValueError, ImportError):  # the model is what was asked for; its tokenizer is a bonus
        return None
    return tokenizer if tokenizer.vocab_size else None


def _freeze(module: nn.Module | None) -> None:
    if module is not None:
        module.requires_grad_(False)


@dataclass(frozen=True)
class PretrainedState:
    """The decoder's state: every layer's keys and values so far, after `slots` memory slots."""

    cache: Any  # a transformers Cache (DynamicCache)
    slots: int

    @property
    def tokens(self) -> int:
        return self.cache.get_seq_length() - self.slots


class PretrainedDecoder(nn.Module):
    """A causal LM's base transformer fed the VAE's embeddings, z as memory and/or added to them."""

    def __init__(self, model: nn.Module, latent_dim: int, z_injection: str = "both", freeze: bool = False):
        super().__init__()
        if z_injection not in Z_INJECTIONS:
            raise ConfigError(f"z_injection must be one of {', '.join(Z_INJECTIONS)}; got {z_injection!r}")
        self.model = model.base_model  # without the LM head: the VAE projects to its own vocabulary
        self.pretrained_config = model.config  # what `save_configuration` writes
        self.config = self.model.config.get_text_config(decoder=True)
        head = model.get_output_embeddings()
        # The LM head's weights, kept out of the module's parameters: `vocabulary_weights` offers them
        self._output_embedding: Tensor | None = head.weight.detach() if head is not None else None
        self.offers_vocabulary = True  # False when built without the pretrained weights
        width = self.config.hidden_size
        self.heads = getattr(self.config, "num_key_value_heads", None) or self.config.num_attention_heads
        self.head_dim = getattr(self.config, "head_dim", None) or width // self.config.num_attention_heads
        self.max_positions: int | None = getattr(self.config, "max_position_embeddings", None)
        self.output_dim = width
        # transformers 5 renamed `past_key_values` to `cache`; forward's **kwargs would swallow the wrong one
        parameters = inspect.signature(self.model.forward).parameters
        self.cache_argument = "cache" if "cache" in parameters else "past_key_values"
        self.model.requires_grad_(not freeze)
        _freeze(self.model.get_input_embeddings())
        uses_z = latent_dim > 0
        self.z_to_input = nn.Linear(latent_dim, width) if uses_z and z_injection in ("embedding", "both") else None
        self.z_to_memory = (nn.ModuleList(nn.Linear(latent_dim, 2 * self.heads * self.head_dim)
                                          for _ in range(self.config.num_hidden_layers))
                            if uses_z and z_injection in ("memory", "both") else None)
        self._start_small(latent_dim)

    def _start_small(self, latent_dim: int) -> None:
        """z's projections start with outputs a tenth the size of a token embedding (nn.Linear's
        init gives ~0.6 a component, several times a pretrained embedding: that much noise on every
        input and memory slot would bury the pretrained model at step 0)."""
        embedding = self.model.get_input_embeddings().weight
        if embedding.is_meta:  # counting parameters: no values to size from
            return
        size = float(embedding.detach().float().std())
        std = 0.1 * size / max(1, latent_dim) ** 0.5
        for layer in [self.z_to_input, *(self.z_to_memory or [])]:
            if layer is not None:
                nn.init.normal_(layer.weight, std=std)
                nn.init.zeros_(layer.bias)

    def forward(self, embedded: Tensor, z: Tensor | None, state: PretrainedState | None = None,
                ) -> tuple[Tensor, PretrainedState]:
        state = self._memory(z) if state is None else self._copy(state, None)
        batch, steps, _ = embedded.shape
        start = state.tokens
        if self.max_positions is not None and start + steps > self.max_positions:
            raise ConfigError(f"the pretrained decoder has {self.max_positions} positions and was given "
                              f"{start + steps} tokens; cut the input (--max-length)")
        if z is not None and self.z_to_input is not None:
            embedded = embedded + self.z_to_input(z).unsqueeze(1)
        positions = torch.arange(start, start + steps, device=embedded.device).expand(batch, steps)
        # Every query may see every key so far, the memory slot included; the model adds causality,
        # counting queries from the cache's length, so the slot is before the first token.
        seen = torch.ones(batch, state.cache.get_seq_length() + steps, dtype=torch.long, device=embedded.device)
        output = self.model(inputs_embeds=embedded, attention_mask=seen, position_ids=positions,
                            use_cache=True, **{self.cache_argument: state.cache})
        return output.last_hidden_state, state

    def _new_cache(self, keys_values: list[tuple[Tensor, Tensor]]) -> Any:
        cache = import_transformers().DynamicCache(config=self.config)
        for layer, (keys, values) in enumerate(keys_values):
            cache.update(keys, values, layer)
        return cache

    def _memory(self, z: Tensor | None) -> PretrainedState:
        """A state with no tokens yet: each layer's memory slot, where z has one."""
        if z is None or self.z_to_memory is None:
            return PretrainedState(self._new_cache([]), 0)
        batch = z.size(0)
        slots = [tuple(part.view(batch, self.heads, 1, self.head_dim) for part in project(z).chunk(2, dim=-1))
                 for project in self.z_to_memory]
        return PretrainedState(self._new_cache(slots), 1)

    def _copy(self, state: PretrainedState, index: Tensor | None) -> PretrainedState:
        """A new state with the same keys and values (of the rows `index`, where given)."""
        pairs = []
        for layer in state.cache.layers:
            keys, values = layer.keys, layer.values
            if index is not None:
                keys, values = keys.index_select(0, index), values.index_select(0, index)
            pairs.append((keys, values))
        return PretrainedState(self._new_cache(pairs), state.slots)

    def reorder_state(self, state: PretrainedState, index: Tensor) -> PretrainedState:
        return self._copy(state, index)

    def vocabulary_weights(self) -> tuple[Tensor, Tensor | None] | None:
        """The model's input token embeddings and its LM head's weights (see the contracts)."""
        if not self.offers_vocabulary:
            return None
        return self.model.get_input_embeddings().weight.detach(), self._output_embedding

    def save_configuration(self, directory: Path) -> None:
        self.pretrained_config.save_pretrained(str(directory))


class PretrainedEncoder(nn.Module):
    """A bidirectional model fed the VAE's embeddings; the summary is its mean over the real tokens."""

    def __init__(self, model: nn.Module, freeze: bool = False):
        super().__init__()
        self.model = model.base_model
        self.pretrained_config = model.config
        self.output_dim = self.model.config.hidden_size
        self.offers_vocabulary = True
        self.model.requires_grad_(not freeze)
        _freeze(self.model.get_input_embeddings())
        _freeze(getattr(self.model, "pooler", None))  # the [CLS] head, unused (see the module)

    def forward(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        real = torch.arange(embedded.size(1), device=embedded.device) < lengths.to(embedded.device).unsqueeze(1)
        hidden = self.model(inputs_embeds=embedded, attention_mask=real.long()).last_hidden_state
        return (hidden * real.unsqueeze(-1)).sum(dim=1) / real.sum(dim=1, keepdim=True)

    def vocabulary_weights(self) -> tuple[Tensor, None] | None:
        """The model's input token embeddings (see the contracts)."""
        return (self.model.get_input_embeddings().weight.detach(), None) if self.offers_vocabulary else None

    def save_configuration(self, directory: Path) -> None:
        self.pretrained_config.save_pretrained(str(directory))


def _check_width(name: str, hidden: int, dims: Dims) -> None:
    if dims.embedding_dim != hidden:
        raise ConfigError(f"the pretrained model {name} has hidden size {hidden}; set --embedding-dim {hidden} "
                          f"(it is {dims.embedding_dim})")


def build_decoder(dims: Dims, options: PretrainedDecoderOptions) -> PretrainedDecoder:
    model, _ = load_pretrained(options.decoder_pretrained, "causal-lm", weights=not options.weights_from_run)
    decoder = PretrainedDecoder(model, dims.latent_dim, options.z_injection, options.freeze_pretrained)
    decoder.offers_vocabulary = not options.weights_from_run
    _check_width(options.decoder_pretrained, decoder.output_dim, dims)
    return decoder


def build_encoder(dims: Dims, options: PretrainedEncoderOptions) -> PretrainedEncoder:
    model, _ = load_pretrained(options.encoder_pretrained, "encoder", weights=not options.weights_from_run)
    encoder = PretrainedEncoder(model, options.freeze_pretrained)
    encoder.offers_vocabulary = not options.weights_from_run
    _check_width(options.encoder_pretrained, encoder.output_dim, dims)
    return encoder


register_decoder("pretrained", build_decoder, PretrainedDecoderOptions,
                 "a pretrained causal LM from Hugging Face, e.g. GPT-2, z as memory and/or added to its inputs")
register_encoder("pretrained", build_encoder, PretrainedEncoderOptions,
                 "a pretrained bidirectional model from Hugging Face, e.g. BERT, averaged over the tokens")
