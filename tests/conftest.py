from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

from textvae.precision import bf16_support

# Two threads a test, or the cores' share of each pytest-xdist worker where fewer.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // WORKERS)))

_BF16 = bf16_support("cpu")
needs_bf16 = pytest.mark.skipif(not _BF16.supported, reason=f"needs bf16 on this CPU: {_BF16.about}")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY_SENTENCES = [
    "the food was great .",
    "the service was slow .",
    "we loved the place and the staff .",
    "the pizza was cold and the waiter was rude .",
    "great prices .",
    "i will never come back here again .",
    "the chef that cooks the pasta is friendly .",
    "no one has ever been so nice to us .",
]


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> tuple[Path, Path]:
    train = tmp_path / "train.txt"
    valid = tmp_path / "valid.txt"
    train.write_text("\n".join(TINY_SENTENCES * 4) + "\n", encoding="utf-8")
    valid.write_text("\n".join(TINY_SENTENCES[:4]) + "\n", encoding="utf-8")
    return train, valid


@pytest.fixture(scope="module")
def one_thread():
    """One thread for a module's tests (pytest.mark.usefixtures): models this small run faster on
    one than on the two every test gets above."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "yelp" / "train.txt").exists():
        pytest.skip("needs ../shared/data")
    return SHARED_DATA


def untrained_run(root: Path, sentences: list[str], tokenize: str = "none", lowercase: bool = False) -> Path:
    """A run directory (root/run) with untrained weights and a vocabulary of `sentences`: enough for
    every command that reads a run, in milliseconds."""
    from textvae.data.tokenize import Tokenizer
    from textvae.data.vocab import Vocabulary
    from textvae.models import ModelConfig, SentenceVAE
    from textvae.serialization import save_weights
    from textvae.training import DataConfig, RunConfig, TrainConfig, save_config

    vocab = Vocabulary.build([Tokenizer(tokenize, lowercase)(s) for s in sentences])
    run = root / "run"
    run.mkdir()
    vocab.save(run / "vocab.txt")
    config = RunConfig(ModelConfig(vocab_size=len(vocab), embedding_dim=8, hidden_dim=8, latent_dim=2),
                       TrainConfig(), DataConfig("-", "-", tokenize=tokenize, lowercase=lowercase))
    save_config(run, config)
    for name in ("model.safetensors", "last.safetensors"):
        save_weights(SentenceVAE(config.model, eos_id=vocab.eos_id), run / name)
    return run



def checkpoint_step(path: Path) -> int | None:
    """The step a run's checkpoint holds, or None before the first one is written."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return json.loads(f.metadata()["state"])["step"]
    except Exception:  # not written yet
        return None


def wait_for_checkpoint(process: subprocess.Popen, path: Path, step: int, timeout: float = 120.0) -> None:
    """Wait until the training `process` has checkpointed `step` or later (to kill it there)."""
    deadline = time.monotonic() + timeout
    while (checkpoint_step(path) or 0) < step:
        assert process.poll() is None, (process.stderr.read().decode() if process.stderr else
                                        "the run ended before it could be killed")
        assert time.monotonic() < deadline, f"no checkpoint of step {step} within {timeout:g} s"
        time.sleep(0.05)  # a few steps at most: the runs it waits on are long enough
