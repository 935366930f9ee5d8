"""A Transformer encoder and decoder (see `textvae.models.contracts`), written from scratch.

Pre-LayerNorm blocks (x + attention(LN(x)), then x + feed-forward(LN(x)), a final LN), learned
positions, PyTorch's fused scaled-dot-product attention. The encoder attends in both directions
over the real tokens and averages them; the decoder attends causally.

The decoder reads z the ways the literature does (`z_injection`):
  memory     one extra key/value slot per layer computed from z, which every position attends to
             (Optimus, Li et al. 2020, gives z to GPT-2 as a past key/value the same way);
  embedding  z projected to the model width and added to every input embedding;
  both       the two together (Optimus does both; the default).
Its state between calls is the key/value cache of every layer, so decoding a token costs one
position's work, not the prefix's; with `kv_cache` off the state is the embedded prefix and every
step recomputes it (kept to measure what the cache saves).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textvae.errors import ConfigError
from textvae.models.contracts import ComponentOptions, Dims, register_decoder, register_encoder
from textvae.options import option

KeyValue = tuple[Tensor, Tensor]  # keys and values, each (batch, heads, positions, head_dim)
Z_INJECTIONS = ("memory", "embedding", "both")


@dataclass
class TransformerOptions(ComponentOptions):
    """The options of the Transformer encoder (and, with two more, of the decoder)."""

    layers: int = option(2, "Transformer blocks.", min=1)
    heads: int = option(4, "Attention heads (they divide --hidden-dim, the model width).", min=1)
    ffn_multiplier: int = option(4, "Feed-forward width as a multiple of the model width.", min=1)
    dropout: float = option(0.1, "Dropout on attention weights and after each sublayer (in training only).",
                            min=0, max=1, max_open=True)
    max_positions: int = option(256, "Positions the learned position embeddings cover: the longest input, in "
                                     "tokens (<eos> included).", min=1)


@dataclass
class TransformerDecoderOptions(TransformerOptions):
    z_injection: str = option("both", "How z reaches the Transformer decoder: memory (a key/value slot per layer, "
                                      "as Optimus), embedding (added to every input embedding), or both.",
                              choices=Z_INJECTIONS)
    kv_cache: bool = option(True, "Decode with a key/value cache (each token costs one position); off recomputes "
                                  "the whole prefix at every step.")


class SelfAttention(nn.Module):
    """Multi-head self-attention; keys and values may be preceded by `past` ones (the cache) and by
    a `memory` slot that every query sees."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def split_heads(self, x: Tensor) -> Tensor:  # (batch, time, width) -> (batch, heads, time, head_dim)
        batch, time, width = x.shape
        return x.view(batch, time, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, x: Tensor, mask: Tensor | None, causal: bool, past: KeyValue | None = None,
                memory: KeyValue | None = None) -> tuple[Tensor, KeyValue]:
        """`mask` (batch, 1, 1, keys) marks the keys a query may see (None: all); `causal` adds that a
        position sees no later one. Returns the output and this call's keys and values with `past`'s."""
        query, key, value = (self.split_heads(part) for part in self.qkv(x).chunk(3, dim=-1))
        if past is not None:
            key, value = torch.cat([past[0], key], dim=2), torch.cat([past[1], value], dim=2)
        cache = (key, value)
        if memory is not None:
            key, value = torch.cat([memory[0], key], dim=2), torch.cat([memory[1], value], dim=2)
        plain_causal = causal and past is None and memory is None  # the fused kernel's own mask
        if causal and not plain_causal:
            mask = causal_mask(x.size(1), key.size(2), memory is not None, x.device)
        dropout = self.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout,
                                                  is_causal=plain_causal)
        batch, heads, time, head_dim = attended.shape
        return self.out(attended.transpose(1, 2).reshape(batch, time, heads * head_dim)), cache


def causal_mask(queries: int, keys: int, memory: bool, device: torch.device) -> Tensor:
    """(queries, keys) True where a query may attend: the memory slot (the first key, where there is
    one) and every position up to its own; the queries are the last `queries` positions."""
    slots = int(memory)
    position = torch.arange(keys - slots, device=device)
    query_position = torch.arange(keys - slots - queries, keys - slots, device=device)
    allowed = position.unsqueeze(0) <= query_position.unsqueeze(1)
    return torch.cat([allowed.new_ones(queries, slots), allowed], dim=1)


class Block(nn.Module):
    """x + attention(LN(x)), then x + feed-forward(LN(x))."""

    def __init__(self, width: int, options: TransformerOptions):
        super().__init__()
        self.attention_norm = nn.LayerNorm(width)
        self.attention = SelfAttention(width, options.heads, options.dropout)
        self.feedforward_norm = nn.LayerNorm(width)
        self.feedforward = nn.Sequential(
            nn.Linear(width, options.ffn_multiplier * width), nn.GELU(),
            nn.Linear(options.ffn_multiplier * width, width),
        )
        self.dropout = nn.Dropout(options.dropout)

    def forward(self, x: Tensor, mask: Tensor | None, causal: bool, past: KeyValue | None = None,
                memory: KeyValue | None = None) -> tuple[Tensor, KeyValue]:
        attended, cache = self.attention(self.attention_norm(x), mask, causal, past, memory)
        x = x + self.dropout(attended)
        return x + self.dropout(self.feedforward(self.feedforward_norm(x))), cache


class TransformerStack(nn.Module):
    """Input projection and learned positions, the blocks, a final LayerNorm."""

    def __init__(self, input_dim: int, width: int, options: TransformerOptions):
        super().__init__()
        if width % options.heads:
            raise ConfigError(f"--heads {options.heads} must divide the model width (--hidden-dim {width})")
        self.input_proj = nn.Linear(input_dim, width) if input_dim != width else nn.Identity()
        self.positions = nn.Embedding(options.max_positions, width)
        nn.init.normal_(self.positions.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(width, options) for _ in range(options.layers))
        self.final_norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(options.dropout)
        self.output_dim = width

    def inputs(self, embedded: Tensor, start: int) -> Tensor:
        """The embedded tokens at positions start, start + 1, ... projected to the width, plus positions."""
        end = start + embedded.size(1)
        if end > self.positions.num_embeddings:
            raise ConfigError(f"a Transformer of {self.positions.num_embeddings} positions (--max-positions) was "
                              f"given {end} tokens; cut the input (--max-length) or train with more positions")
        return self.input_proj(embedded) + self.positions.weight[start:end]


class TransformerEncoder(TransformerStack):
    """Bidirectional self-attention over the real tokens; the summary is their mean."""

    def forward(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        real = torch.arange(embedded.size(1), device=embedded.device) < lengths.to(embedded.device).unsqueeze(1)
        x = self.dropout(self.inputs(embedded, 0))
        mask = real[:, None, None, :]
        for block in self.blocks:
            x, _ = block(x, mask, causal=False)
        x = self.final_norm(x)
        return (x * real.unsqueeze(-1)).sum(dim=1) / real.sum(dim=1, keepdim=True)


class TransformerDecoder(TransformerStack):
    """Causal self-attention, z as a per-layer memory slot and/or added to the inputs (see the module)."""

    def __init__(self, embedding_dim: int, width: int, latent_dim: int, options: TransformerDecoderOptions):
        super().__init__(embedding_dim, width, options)
        self.z_injection, self.kv_cache = options.z_injection, options.kv_cache
        uses_z = latent_dim > 0
        self.z_to_input = (nn.Linear(latent_dim, width)
                           if uses_z and options.z_injection in ("embedding", "both") else None)
        self.z_to_memory = (nn.ModuleList(nn.Linear(latent_dim, 2 * width) for _ in self.blocks)
                            if uses_z and options.z_injection in ("memory", "both") else None)

    def forward(self, embedded: Tensor, z: Tensor | None, state: object = None) -> tuple[Tensor, object]:
        if not self.kv_cache:  # the state is the embedded prefix: recompute it all, return the new steps
            prefix = embedded if state is None else torch.cat([state, embedded], dim=1)
            features, _ = self._run(prefix, z, None)
            return features[:, -embedded.size(1):], prefix
        return self._run(embedded, z, state)

    def _run(self, embedded: Tensor, z: Tensor | None, past: list[KeyValue] | None) -> tuple[Tensor, list[KeyValue]]:
        start = 0 if past is None else past[0][0].size(2)
        x = self.inputs(embedded, start)
        if z is not None and self.z_to_input is not None:
            x = x + self.z_to_input(z).unsqueeze(1)
        x = self.dropout(x)
        cache = []
        for index, block in enumerate(self.blocks):
            memory = None
            if z is not None and self.z_to_memory is not None:
                memory = tuple(block.attention.split_heads(part.unsqueeze(1))
                               for part in self.z_to_memory[index](z).chunk(2, dim=-1))
            x, layer_cache = block(x, None, causal=True, past=None if past is None else past[index], memory=memory)
            cache.append(layer_cache)
        return self.final_norm(x), cache

    @staticmethod
    def reorder_state(state: object, index: Tensor) -> object:
        if isinstance(state, Tensor):  # the embedded prefix (no cache)
            return state.index_select(0, index)
        return [(key.index_select(0, index), value.index_select(0, index)) for key, value in state]


def _encoder(dims: Dims, options: TransformerOptions) -> TransformerEncoder:
    return TransformerEncoder(dims.embedding_dim, dims.hidden_dim, options)


def _decoder(dims: Dims, options: TransformerDecoderOptions) -> TransformerDecoder:
    return TransformerDecoder(dims.embedding_dim, dims.hidden_dim, dims.latent_dim, options)


register_encoder("transformer", _encoder, TransformerOptions, "Transformer, pre-LayerNorm, mean of its outputs")
register_decoder("transformer", _decoder, TransformerDecoderOptions,
                 "Transformer, pre-LayerNorm, causal; z as per-layer memory and/or added to its inputs")
