"""An extension is one class and its registration: an objective and a decoder defined here, in a test
module, train from Python and from the command line (their options become flags), save, reload,
resume and decode like the built-in ones, with no edit anywhere in textvae."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from textvae import DataConfig, ModelConfig, TrainConfig, load, train
from test_models import check_decoder_contract
from textvae.cli import main
from textvae.models.contracts import DECODERS, ComponentOptions, Dims, register_decoder
from textvae.objectives import OBJECTIVES, ObjectiveOptions, ObjectiveOutput, register_objective
from textvae.options import option
from textvae.training import load_config

TINY = ["--embedding-dim", "8", "--hidden-dim", "8", "--latent-dim", "2", "--batch-size", "8", "--max-steps", "6",
        "--eval-every", "3", "--no-progress", "--device", "cpu"]


# -- a toy objective: D + (R - C)^2 / width -------------------------------------------------------------
@dataclass(frozen=True)
class SquaredRate:
    kl_target: float
    width: float

    def target_at(self, step: int | None) -> float:
        return self.kl_target

    def weight_at(self, step: int | None) -> None:
        return None

    def describe(self, total_steps: int) -> str:
        return f"rate pulled to C={self.kl_target:g}"

    def __call__(self, distortion: Tensor, kl: Tensor, step: int | None) -> ObjectiveOutput:
        d, r = distortion.mean(), kl.sum(dim=-1).mean()
        return ObjectiveOutput(d + (r - self.kl_target) ** 2 / self.width, d, r, kl_target=self.kl_target)


@dataclass
class SquaredOptions(ObjectiveOptions):
    about = "D + (R - C)^2 / width (a test's own objective)"

    kl_target: float = option(5.0, "Target rate C in nats.", flags=("--C", "--kl-target"), min=0)
    width: float = option(1.0, "How far the rate may stray from C before the pull is one nat.", min=0,
                          min_open=True)

    def build(self, total_steps: int, steps_per_epoch: int) -> SquaredRate:
        return SquaredRate(self.kl_target, self.width)


# -- a toy decoder: the running mean of the embeddings so far, with z, through one layer -----------------
@dataclass
class BagOptions(ComponentOptions):
    scale: float = option(1.0, "Scale of the running mean of the embeddings.", min=0, min_open=True)


class BagDecoder(nn.Module):
    """Causal by construction: step t sees the mean of embeddings 0..t. The state is (sum, count)."""

    def __init__(self, dims: Dims, options: BagOptions):
        super().__init__()
        self.scale = options.scale
        self.layer = nn.Linear(dims.embedding_dim + dims.latent_dim, dims.hidden_dim)
        self.output_dim = dims.hidden_dim

    def forward(self, embedded: Tensor, z: Tensor | None, state: Any = None) -> tuple[Tensor, Any]:
        total, count = state if state is not None else (torch.zeros_like(embedded[:, 0]), 0)
        sums = total.unsqueeze(1) + embedded.cumsum(dim=1)
        counts = count + torch.arange(1, embedded.size(1) + 1, device=embedded.device).view(1, -1, 1)
        means = self.scale * sums / counts
        inputs = torch.cat([means, z.unsqueeze(1).expand(-1, means.size(1), -1)], dim=-1)
        return torch.tanh(self.layer(inputs)), (sums[:, -1], count + embedded.size(1))

    @staticmethod
    def reorder_state(state: Any, index: Tensor) -> Any:
        total, count = state
        return total.index_select(0, index), count


@pytest.fixture
def squared() -> Iterator[type[SquaredOptions]]:
    register_objective("squared")(SquaredOptions)
    yield SquaredOptions
    OBJECTIVES.unregister("squared")


@pytest.fixture
def bag() -> Iterator[None]:
    register_decoder("bag", BagDecoder, BagOptions, "a test's running-mean decoder")
    yield
    DECODERS.unregister("bag")


def run_ok(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        main(args)
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), capsys.readouterr().err
    return capsys.readouterr().out


def test_a_registered_objective_trains_from_python_and_reloads(tmp_path, tiny_corpus, squared):
    train_file, valid_file = tiny_corpus
    result = train(tmp_path / "run", DataConfig(str(train_file), str(valid_file)),
                   ModelConfig(embedding_dim=8, hidden_dim=8, latent_dim=2),
                   TrainConfig(objective=squared(kl_target=2.0, width=0.5), max_steps=6, batch_size=8, eval_every=3),
                   progress=False)
    assert result.steps == 6
    config = load_config(tmp_path / "run")
    assert config.training.objective == "squared" and config.training.objective_options == squared(2.0, 0.5)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {r["kl_target"] for r in records} == {2.0}
    # the loss the run trained with is the objective's: D + (R - C)^2 / width
    out = config.training.build_objective(6, 3)(torch.tensor([10.0]), torch.tensor([[1.0, 2.0]]), 0)
    assert float(out.loss) == pytest.approx(10.0 + (3.0 - 2.0) ** 2 / 0.5)


def test_a_registered_objective_is_a_choice_of_the_command_line_with_its_flags(tmp_path, tiny_corpus, squared,
                                                                                capsys):
    train_file, valid_file = tiny_corpus
    help_text = " ".join(run_ok(["train", "--help"], capsys).split())
    assert "squared: D + (R - C)^2 / width" in help_text and "--width" in help_text
    run = tmp_path / "run"
    run_ok(["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(run), "--objective",
            "squared", "--C", "2", "--width", "0.5", *TINY], capsys)
    saved = json.loads((run / "config.json").read_text())["training"]
    assert saved["objective"] == "squared" and saved["objective_options"] == {"kl_target": 2.0, "width": 0.5}
    run_ok(["train", "--out", str(run), "--resume", "--no-progress"], capsys)  # finished: reloads and stops
    assert len(run_ok(["sample", str(run), "-n", "2", "--no-progress"], capsys).splitlines()) == 2


def test_a_registered_decoder_trains_decodes_and_reloads(tmp_path, tiny_corpus, bag, capsys):
    train_file, valid_file = tiny_corpus
    help_text = " ".join(run_ok(["train", "--help"], capsys).split())
    assert "bag (a test's running-mean decoder)" in help_text and "--scale" in help_text
    run = tmp_path / "run"
    run_ok(["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(run), "--model", "gru-bag",
            "--scale", "2", *TINY], capsys)
    saved = json.loads((run / "config.json").read_text())["model"]
    assert saved["model"] == "gru-bag" and saved["decoder_options"] == {"scale": 2.0}
    vae = load(run, device="cpu")
    assert isinstance(vae.model.decoder, BagDecoder) and vae.model.decoder.scale == 2.0
    check_decoder_contract(vae.model.decoder, 8, 2)
    for strategy in ("greedy", "beam"):  # beam search reorders the decoder's state
        out = run_ok(["sample", str(run), "-n", "3", "--decode", strategy, "--max-length", "6", "--no-progress"],
                     capsys)
        assert len(out.splitlines()) == 3
    evaluation = json.loads(run_ok(["evaluate", str(run), "--data", str(valid_file), "--iw-samples", "3", "--json",
                                    "--no-progress"], capsys))
    assert evaluation["sentences"] == 4 and evaluation["nll_iw"] > 0


def test_an_option_that_applies_to_nothing_is_said_and_left_out(tmp_path, tiny_corpus, capsys, caplog):
    train_file, valid_file = tiny_corpus
    run = tmp_path / "run"
    with caplog.at_level("WARNING"):
        run_ok(["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(run),
                "--objective", "elbo", "--C", "3", "--conv-channels", "4", *TINY], capsys)
    said = caplog.text
    assert "kl_target (--C) does not apply to the elbo objective; it is an option of beta-c: ignored" in said
    assert "conv_channels (--conv-channels) does not apply to model lstm-lstm" in said
    assert "kl_target" not in json.loads((run / "config.json").read_text())["training"]["objective_options"]
    caplog.clear()
    with caplog.at_level("WARNING"):
        run_ok(["train", "--out", str(run), "--resume", "--lr", "0.5", "--C", "7", "--no-progress"], capsys)
    assert "--resume continues the run with the settings it started with; ignored: --lr, --C" in caplog.text
