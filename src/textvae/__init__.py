"""textvae: sentence variational autoencoders with an explicitly controlled KL term."""

__version__ = "0.1.0"

from textvae.api import Interpolation, TextVAE, evaluate, load  # noqa: E402
from textvae.generation import Decoding  # noqa: E402
from textvae.models import ModelConfig, SentenceVAE  # noqa: E402
from textvae.objectives import ELBO, BetaC  # noqa: E402
from textvae.training import DataConfig, TrainConfig, train  # noqa: E402

__all__ = [
    "BetaC", "DataConfig", "Decoding", "ELBO", "Interpolation", "ModelConfig", "SentenceVAE", "TextVAE",
    "TrainConfig", "evaluate", "load", "train",
]
