"""Decoders (see `textvae.models.contracts`): the paper's recurrent decoders and its gated CNN.

Both read z the paper's way: concatenated to the embedding of the previous token at every step.
The projection to the vocabulary lives in the VAE (and in the language model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textvae.models.contracts import ComponentOptions, Dims, register_decoder
from textvae.models.rnn import RNNOptions, recurrent_layer
from textvae.options import option


def previous_tokens(tokens: Tensor, start_id: int) -> Tensor:
    """The decoder's input tokens for teacher forcing: the start symbol, then tokens shifted right."""
    return torch.cat([torch.full_like(tokens[:, :1], start_id), tokens[:, :-1]], dim=1)


def sentence_nll(to_vocab: nn.Module, features: Tensor, tokens: Tensor, lengths: Tensor) -> Tensor:
    """-log p(tokens) per sentence in nats, from the decoder's features at every step (batch, time, dim),
    padding excluded."""
    batch, time = tokens.shape
    if int(lengths.min()) == time:  # no padding: skip the masking copy
        nll = F.cross_entropy(to_vocab(features.reshape(batch * time, -1)), tokens.reshape(-1), reduction="none")
        return nll.view(batch, time).sum(dim=1)
    # Project to the vocabulary (the largest matmul per token) on real tokens only.
    mask = torch.arange(time, device=tokens.device) < lengths.to(tokens.device).unsqueeze(1)
    nll = F.cross_entropy(to_vocab(features[mask]), tokens[mask], reduction="none")
    rows = torch.arange(batch, device=tokens.device).unsqueeze(1).expand(batch, time)[mask]
    return torch.zeros(batch, device=tokens.device, dtype=nll.dtype).index_add_(0, rows, nll)


def with_code(embedded: Tensor, z: Tensor | None) -> Tensor:
    """[embedding(previous token); z] for every step (the embeddings alone where there is no z)."""
    if z is None:
        return embedded
    return torch.cat([embedded, z.unsqueeze(1).expand(-1, embedded.size(1), -1)], dim=-1)


class RNNDecoder(nn.Module):
    """LSTM or GRU decoder over [embedding; z] (`input_dim` is their total size); the state is the
    recurrent state. `dropout` (in training only) applies to the word embeddings it reads, not to z,
    and to its outputs, as in He et al. 2019."""

    def __init__(self, kind: str, input_dim: int, hidden_dim: int, init: str = "tf", dropout: float = 0.0):
        super().__init__()
        self.rnn = recurrent_layer(kind, input_dim, hidden_dim, init)
        self.dropout = dropout
        self.output_dim = hidden_dim

    def forward(self, embedded: Tensor, z: Tensor | None, state: Any = None) -> tuple[Tensor, Any]:
        if not (self.training and self.dropout):  # no draw at all without dropout: runs stay reproducible
            return self.rnn(with_code(embedded, z), state)
        features, state = self.rnn(with_code(F.dropout(embedded, self.dropout), z), state)
        return F.dropout(features, self.dropout), state

    @staticmethod
    def reorder_state(state: Any, index: Tensor) -> Any:
        """Keep (and reorder) the batch rows `index` of a state."""
        if isinstance(state, tuple):  # LSTM: (h, c), each (layers, batch, hidden)
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)


class CausalConv1d(nn.Module):
    """1-d convolution over time that only looks at the current and earlier steps."""

    def __init__(self, in_channels: int, out_channels: int, kernel_width: int):
        super().__init__()
        self.left_padding = kernel_width - 1
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_width)

    def forward(self, x: Tensor) -> Tensor:  # x: (batch, channels, time)
        return self.conv(F.pad(x, (self.left_padding, 0)))


class GatedBranch(nn.Sequential):
    """1x1 conv down -> causal conv -> 1x1 conv up, dropout after each conv."""

    def __init__(self, channels: int, inner_channels: int, kernel_width: int, dropout: float):
        super().__init__(
            nn.Conv1d(channels, inner_channels, 1), nn.Dropout(dropout),
            CausalConv1d(inner_channels, inner_channels, kernel_width), nn.Dropout(dropout),
            nn.Conv1d(inner_channels, channels, 1), nn.Dropout(dropout),
        )


class GatedResidualBlock(nn.Module):
    """out = A(x) * sigmoid(B(x)) + x."""

    def __init__(self, channels: int, inner_channels: int, kernel_width: int, dropout: float):
        super().__init__()
        self.value = GatedBranch(channels, inner_channels, kernel_width, dropout)
        self.gate = GatedBranch(channels, inner_channels, kernel_width, dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.value(x) * torch.sigmoid(self.gate(x)) + x


class ConvDecoder(nn.Module):
    """The paper's gated causal CNN decoder ("LSTM-CNN" / "LSTM-CONV").

    The state is the window of past inputs ([embedding; z]) the next output depends on (its
    receptive field).
    """

    def __init__(
        self, input_dim: int, hidden_dim: int, inner_channels: int, kernel_width: int, blocks: int, dropout: float
    ):
        super().__init__()
        self.input_proj = nn.Conv1d(input_dim, hidden_dim, 1)
        self.blocks = nn.Sequential(
            *(GatedResidualBlock(hidden_dim, inner_channels, kernel_width, dropout) for _ in range(blocks))
        )
        self.output_dim = hidden_dim
        self.receptive_field = 1 + blocks * (kernel_width - 1)

    def forward(self, embedded: Tensor, z: Tensor | None, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        inputs = with_code(embedded, z)
        if state is not None:
            inputs = torch.cat([state, inputs], dim=1)
        new_steps = inputs.size(1) - (0 if state is None else state.size(1))
        x = self.input_proj(inputs.transpose(1, 2))
        features = self.blocks(x).transpose(1, 2)[:, -new_steps:]
        return features, inputs[:, -(self.receptive_field - 1):] if self.receptive_field > 1 else inputs[:, :0]

    @staticmethod
    def reorder_state(state: Tensor, index: Tensor) -> Tensor:
        return state.index_select(0, index)


@dataclass
class ConvOptions(ComponentOptions):
    """The options of the gated CNN decoder (the paper's: 128 inner channels, kernel width 20, two
    blocks, dropout 0.1)."""

    conv_channels: int = option(128, "Inner channels of each gated branch.", min=1, default_text="the preset's")
    kernel_width: int = option(20, "Width of the causal convolutions.", min=1)
    conv_blocks: int = option(2, "Gated residual blocks.", min=0)
    dropout: float = option(0.1, "Dropout after each convolution (in training only).", min=0, max=1, max_open=True)


@dataclass
class RNNDecoderOptions(RNNOptions):
    """The options of the recurrent decoders."""

    decoder_dropout: float = option(0.0, "Dropout on the decoder's input word embeddings and on its outputs (in "
                                         "training only; He et al. 2019 use 0.5 with 1024-unit LSTMs).",
                                    min=0, max=1, max_open=True)


def _recurrent(kind: str):  # noqa: ANN202 - a builder
    def build(dims: Dims, options: RNNDecoderOptions) -> RNNDecoder:
        return RNNDecoder(kind, dims.embedding_dim + dims.latent_dim, dims.hidden_dim, options.rnn_init,
                          options.decoder_dropout)

    return build


def _convolutional(dims: Dims, options: ConvOptions) -> ConvDecoder:
    return ConvDecoder(dims.embedding_dim + dims.latent_dim, dims.hidden_dim, options.conv_channels,
                       options.kernel_width, options.conv_blocks, options.dropout)


register_decoder("lstm", _recurrent("lstm"), RNNDecoderOptions, "LSTM")
register_decoder("gru", _recurrent("gru"), RNNDecoderOptions, "GRU")
register_decoder("cnn", _convolutional, ConvOptions, "the paper's gated causal CNN ('LSTM-CNN', 'LSTM-CONV')")
