"""textvae: sentence variational autoencoders with an explicitly controlled KL term."""

from textvae.version import __version__
from textvae.api import Interpolation, TextVAE, evaluate, load
from textvae.generation import Decoding
from textvae.models import ModelConfig, SentenceVAE
from textvae.objectives import ELBO, BetaC, BetaCOptions
from textvae.training import DataConfig, TrainConfig, train

__all__ = [
    "BetaC", "BetaCOptions", "DataConfig", "Decoding", "ELBO", "Interpolation", "ModelConfig", "SentenceVAE",
    "TextVAE", "TrainConfig", "__version__", "evaluate", "load", "train",
]
