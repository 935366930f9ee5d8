"""Encoders, decoders and the sentence VAE that joins them (the contracts and registries of the
kinds are in `contracts`), and the plain language model."""

from textvae.models.config import MODEL_NAMES, PRESETS, ModelConfig, parse_model_name
from textvae.models.contracts import DECODERS, ENCODERS, Decoder, Dims, Encoder, register_decoder, register_encoder
from textvae.models.vae import SentenceVAE, VAEOutput, gaussian_kl

__all__ = [
    "DECODERS", "ENCODERS", "MODEL_NAMES", "PRESETS", "Decoder", "Dims", "Encoder", "ModelConfig", "SentenceVAE",
    "VAEOutput", "gaussian_kl", "parse_model_name", "register_decoder", "register_encoder",
]
