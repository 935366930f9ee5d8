"""The sentence VAE: word embedding, encoder -> q(z|x) = N(mu, diag(exp(logvar))), decoder p(x|z).

The encoder reads the decoder's embedding, or one of its own (`ModelConfig.own_encoder_embedding`).

The encoder and the decoder are the registered kinds the config names (`textvae.models.contracts`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from textvae.models.config import ModelConfig
from textvae.models.contracts import DECODERS, ENCODERS, Decoder, Encoder, State
from textvae.models.decoders import previous_tokens, sentence_nll
from textvae.runtime import check_fits


@dataclass
class VAEOutput:
    """Per-sentence terms of one pass; the objective turns them into a loss."""

    distortion: Tensor  # (batch,) -log p(x|z) in nats, summed over tokens
    kl: Tensor  # (batch, latent) analytic KL(q(z|x) || N(0, I)) per dimension
    mu: Tensor
    logvar: Tensor
    z: Tensor


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) for each dimension."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


class SentenceVAE(nn.Module):
    """Token ids in every method are (batch, time) with `<pad>`=0 after each sentence's `<eos>`;
    `lengths` counts real tokens, `<eos>` included. `<eos>` is also the decoder's start symbol."""

    def __init__(self, config: ModelConfig, eos_id: int, pad_id: int = 0):
        super().__init__()
        if config.vocab_size < 3:
            raise ValueError("config.vocab_size must be set (at least the three special entries)")
        self.config = config
        self.eos_id = eos_id
        self.pad_id = pad_id
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=pad_id)
        self.encoder_embedding = (nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=pad_id)
                                  if config.own_encoder_embedding else None)
        self.encoder: Encoder = ENCODERS[config.encoder_kind].build(config.dims, config.encoder_options)
        self.to_mu = nn.Linear(self.encoder.output_dim, config.latent_dim)
        self.to_logvar = nn.Linear(self.encoder.output_dim, config.latent_dim)
        self.decoder: Decoder = DECODERS[config.decoder_kind].build(config.dims, config.decoder_options)
        self.to_vocab = nn.Linear(self.decoder.output_dim, config.vocab_size)
        self._adopt_vocabulary_weights()

    @torch.no_grad()
    def _adopt_vocabulary_weights(self) -> None:
        """Start the embedding (and `to_vocab`, bias 0) from a pretrained decoder's token embeddings, else
        a pretrained encoder's (`vocabulary_weights`, optional in the contracts), for the ids they
        cover; the padding row and the ids past the pretrained vocabulary keep their initialisation.
        An encoder's own embedding starts from a pretrained encoder's."""
        if self.embedding.weight.is_meta:  # counting parameters
            return
        offers = {}
        for name, module in (("decoder", self.decoder), ("encoder", self.encoder)):
            offered = getattr(module, "vocabulary_weights", None)
            offers[name] = offered() if offered is not None else None
        targets = []
        shared = offers["decoder"] or offers["encoder"]
        if shared is not None:
            targets += [(shared[0], self.embedding.weight), (shared[1], self.to_vocab.weight)]
        if self.encoder_embedding is not None and offers["encoder"] is not None:
            targets.append((offers["encoder"][0], self.encoder_embedding.weight))
        for matrix, target in targets:
            if matrix is None:
                continue
            if matrix.size(1) != target.size(1):
                raise ValueError(f"pretrained token embeddings of width {matrix.size(1)} cannot start the VAE's "
                                 f"of width {target.size(1)}")
            rows = min(matrix.size(0), target.size(0))
            keep = target[self.pad_id].clone() if self.pad_id < rows else None
            target[:rows] = matrix[:rows].to(target)
            if keep is not None:
                target[self.pad_id] = keep
            if target is self.to_vocab.weight:
                self.to_vocab.bias[:rows] = 0.0

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    @staticmethod
    def parameter_count(config: ModelConfig) -> int:
        """How many parameters a model of `config` has, counted without allocating them (on the meta
        device: a model too large for any memory is counted, and nothing pretrained is loaded)."""
        with torch.device("meta"):
            return sum(p.numel() for p in SentenceVAE(config, eos_id=2).parameters())

    @staticmethod
    def check_fits(config: ModelConfig, device: torch.device | str, training: bool = False) -> None:
        """Refuse, in one line naming the sizes, a model that cannot fit in `device`'s free memory
        (training holds its weights four times: weights, gradients and Adam's two moments)."""
        copies = 4 if training else 2  # loading holds the file's tensors beside the model's
        sizes = (f"--embedding-dim {config.embedding_dim}, --hidden-dim {config.hidden_dim}, --latent-dim "
                 f"{config.latent_dim}, a vocabulary of {config.vocab_size}")
        check_fits(4 * copies * SentenceVAE.parameter_count(config), f"a {config.model} model of {sizes}", device,
                   "; choose smaller sizes")

    def encode(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance, each (batch, latent)."""
        embedding = self.embedding if self.encoder_embedding is None else self.encoder_embedding
        summary = self.encoder(embedding(tokens), lengths)
        return self.to_mu(summary), self.to_logvar(summary)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None,
                       eps: Tensor | None = None) -> Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I) drawn here (from `generator`) unless given."""
        if eps is None:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decoder_features(self, previous: Tensor, z: Tensor, state: State = None) -> tuple[Tensor, State]:
        """The decoder's features after the `previous` tokens (batch, steps) given z, continuing
        from `state` (None: the start); generation calls it a step at a time."""
        return self.decoder(self.embedding(previous), z, state)

    def distortion(self, tokens: Tensor, lengths: Tensor, z: Tensor, previous: Tensor | None = None) -> Tensor:
        """-log p(x|z) per sentence, in nats (teacher forcing, padding excluded). The decoder reads
        `previous` (batch, time) as its input tokens where given (e.g. with words dropped), else the
        start symbol and the sentence shifted right."""
        previous = previous_tokens(tokens, self.eos_id) if previous is None else previous
        features, _ = self.decoder_features(previous, z)
        return sentence_nll(self.to_vocab, features, tokens, lengths)

    def forward(self, tokens: Tensor, lengths: Tensor, generator: torch.Generator | None = None,
                previous: Tensor | None = None, eps: Tensor | None = None) -> VAEOutput:
        """One z sample per sentence (noise `eps` where given): the terms of the ELBO."""
        mu, logvar = self.encode(tokens, lengths)
        z = self.reparameterize(mu, logvar, generator, eps)
        return VAEOutput(self.distortion(tokens, lengths, z, previous), gaussian_kl(mu, logvar), mu, logvar, z)
