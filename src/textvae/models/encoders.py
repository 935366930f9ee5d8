"""Encoders (see `textvae.models.contracts`): a recurrent network over the sentence, summarised by
its output at the last real token."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from textvae.models.contracts import Dims, register_encoder
from textvae.models.rnn import RNNOptions, recurrent_layer


class RNNEncoder(nn.Module):
    """Unidirectional LSTM or GRU; returns the output at each sentence's last real token."""

    def __init__(self, kind: str, input_dim: int, hidden_dim: int, init: str = "tf"):
        super().__init__()
        self.rnn = recurrent_layer(kind, input_dim, hidden_dim, init)
        self.output_dim = hidden_dim

    def forward(self, embedded: Tensor, lengths: Tensor) -> Tensor:
        # A dense pass over the padded batch: being unidirectional, the output at a real token
        # never sees the padding after it, and dense calls use the fused kernel (packing does not).
        outputs, _ = self.rnn(embedded)
        last = (lengths - 1).to(outputs.device)
        return outputs[torch.arange(outputs.size(0), device=outputs.device), last]


def _recurrent(kind: str):  # noqa: ANN202 - a builder
    def build(dims: Dims, options: RNNOptions) -> RNNEncoder:
        return RNNEncoder(kind, dims.embedding_dim, dims.hidden_dim, options.rnn_init)

    return build


register_encoder("lstm", _recurrent("lstm"), RNNOptions, "LSTM")
register_encoder("gru", _recurrent("gru"), RNNOptions, "GRU")
