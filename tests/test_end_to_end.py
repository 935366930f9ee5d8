"""End-to-end runs on the built-in corpus: the rate tracks the target C."""

import json

import numpy as np
import pytest

from conftest import needs_bf16
from textvae import BetaCOptions, DataConfig, ModelConfig, TrainConfig, load, train
from textvae.cli import main
from textvae.data import Vocabulary, length_grouped_batches, load_corpus, padding_fraction
from textvae.data.synthetic import write_corpus


@pytest.fixture(scope="module")
def grammar_corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("grammar"), n_sentences=4000, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("model, precision",
                         [("lstm-lstm", "fp32"), ("gru-gru", "fp32"), ("lstm-cnn", "fp32"), ("transformer", "fp32"),
                          pytest.param("lstm-lstm", "bf16", marks=needs_bf16),
                          pytest.param("transformer", "bf16", marks=needs_bf16)])
def test_rate_tracks_C(tmp_path, grammar_corpus, model, precision):
    result = train(
        tmp_path / "run", DataConfig(str(grammar_corpus.train), str(grammar_corpus.valid)),
        ModelConfig(model, embedding_dim=32, hidden_dim=64, latent_dim=8, conv_channels=16),
        TrainConfig(objective=BetaCOptions(kl_target=5.0, anneal_steps=120), max_steps=240, batch_size=64, eval_every=40,
                    lr=0.003, precision=precision),
        progress=False,
    )
    assert abs(result.valid.rate - 5.0) < 1.0
    first = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[1])
    assert result.valid.distortion < first["distortion"]  # and it learned something
    vae = load(tmp_path / "run")
    assert len(vae.sample(4, seed=0)) == 4


@pytest.mark.slow
def test_demo_runs_and_reports(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--out", str(tmp_path / "demo"), "--max-steps", "6", "--no-progress"])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "distortion D =" in out and "rate R =" in out and "samples from the prior" in out
    assert (tmp_path / "demo" / "run" / "model.safetensors").exists()
    assert (tmp_path / "demo" / "corpus" / "test.factors.jsonl").exists()


@pytest.mark.shared_data
def test_yelp_pipeline_has_almost_no_padding(shared_data):
    vocab = Vocabulary.build([])
    valid = load_corpus(shared_data / "yelp" / "valid.txt", vocab)
    assert len(valid) == 10_000
    batches = length_grouped_batches(valid.lengths, 128, np.random.default_rng(0))
    assert padding_fraction(valid.lengths, batches) < 0.01
