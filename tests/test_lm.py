"""The plain language model: its NLL against a step-by-step reference, training, saving, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from test_cli import run_cli
from textvae.data import Vocabulary, collate, encode_corpus
from textvae.evaluation import evaluate_lm
from textvae.training import DataConfig, LMTrainConfig, fit_lm, load_lm, train_lm
from textvae.models.lm import LanguageModel, LMConfig

SENTENCES = [s.split() for s in ["the cat sat", "a dog ran far away", "the dog sat", "birds sing", "a cat ran"]]


def tiny_lm(vocab: Vocabulary, kind: str = "lstm") -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(LMConfig(kind, len(vocab), embedding_dim=8, hidden_dim=16), vocab.eos_id, vocab.pad_id).eval()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_nll_equals_the_step_by_step_sum_and_ignores_padding(kind):
    vocab = Vocabulary.build(SENTENCES)
    model = tiny_lm(vocab, kind)
    corpus = encode_corpus(SENTENCES, vocab)
    batch = collate(corpus, np.arange(len(corpus)), vocab.pad_id)  # padded to the longest sentence
    with torch.no_grad():
        batched = model(batch.tokens, batch.lengths)
        for row, ids in enumerate(corpus.ids):
            previous, state, total = torch.tensor([[vocab.eos_id]]), None, 0.0
            for token in ids:  # one step at a time, carrying the recurrent state
                features, state = model.decoder(model.embedding(previous), None, state)
                total -= float(torch.log_softmax(model.to_vocab(features[0, -1]), -1)[token])
                previous = torch.tensor([[token]])
            assert float(batched[row]) == pytest.approx(total, rel=1e-5)


def test_a_uniform_model_has_the_cross_entropy_log_v():
    vocab = Vocabulary.build(SENTENCES)
    model = tiny_lm(vocab)
    torch.nn.init.zeros_(model.to_vocab.weight)
    torch.nn.init.zeros_(model.to_vocab.bias)
    result = evaluate_lm(model, encode_corpus(SENTENCES, vocab))
    assert result.cross_entropy == pytest.approx(math.log(len(vocab)))
    assert result.perplexity == pytest.approx(len(vocab))
    assert result.tokens == sum(len(s) + 1 for s in SENTENCES)


def test_training_learns_a_deterministic_corpus():
    corpus_words = [["the", "cat", "sat"]] * 64
    vocab = Vocabulary.build(corpus_words)
    corpus = encode_corpus(corpus_words, vocab)
    model = tiny_lm(vocab)
    before = evaluate_lm(model, corpus).cross_entropy
    history = fit_lm(model, corpus, corpus, LMTrainConfig(epochs=30, batch_size=16, lr=0.02, device="cpu"))
    after = evaluate_lm(model, corpus).cross_entropy
    assert before > 1.0 and after < 0.05  # one sentence: every next token is certain
    assert after == pytest.approx(min(r["valid_cross_entropy"] for r in history))  # the best epoch's weights
    assert [r["epoch"] for r in history] == list(range(1, 31))


def test_train_save_load_and_the_cli(tmp_path, capsys):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(" ".join(s) for s in SENTENCES * 10) + "\n", encoding="utf-8")
    history = train_lm(tmp_path / "lm", DataConfig(str(train), str(train)), model=LMConfig(embedding_dim=8, hidden_dim=16),
                       training=LMTrainConfig(epochs=2, device="cpu"), progress=False)
    assert len(history) == 2
    model, vocab = load_lm(tmp_path / "lm")
    expected = evaluate_lm(model, encode_corpus(SENTENCES * 10, vocab)).cross_entropy
    code, out, _ = run_cli(["lm", "evaluate", str(tmp_path / "lm"), "--data", str(train), "--json",
                            "--device", "cpu"], capsys)
    assert code == 0 and json.loads(out)["cross_entropy"] == pytest.approx(expected)
    code, out, _ = run_cli(["lm", "train", "--train", str(train), "--out", str(tmp_path / "lm2"), "--epochs", "1",
                            "--embedding-dim", "8", "--hidden-dim", "16", "--no-progress", "--device", "cpu"], capsys)
    assert code == 0 and json.loads(out.splitlines()[0])["epoch"] == 1
    code, _, err = run_cli(["lm", "evaluate", str(tmp_path), "--data", str(train)], capsys)
    assert code == 2 and "not a language model directory" in err
