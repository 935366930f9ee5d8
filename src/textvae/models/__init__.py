"""Encoders, decoders and the sentence VAE that joins them."""

from textvae.models.config import MODEL_NAMES, PRESETS, ModelConfig, parse_model_name
from textvae.models.vae import SentenceVAE, VAEOutput, gaussian_kl

__all__ = ["MODEL_NAMES", "PRESETS", "ModelConfig", "SentenceVAE", "VAEOutput", "gaussian_kl", "parse_model_name"]
