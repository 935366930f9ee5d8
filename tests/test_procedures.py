"""Training procedures (word dropout, aggressive encoder updates, AE pretraining with a decoder
reset) and the collapse diagnostic that every run's evaluations carry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from textvae.data.corpus import encode_corpus
from textvae.data.vocab import Vocabulary
from textvae.evaluation import CorpusMetrics, evaluate_corpus
from textvae.models import ModelConfig, SentenceVAE
from textvae.training.procedures import (
    CONVERGENCE_WINDOW, AggressivePhase, aggressive_encoder_updates, decoder_parameters, drop_words, encoder_parameters, reset_decoder,
)


def tiny_model(seed: int = 0) -> SentenceVAE:
    torch.manual_seed(seed)
    return SentenceVAE(ModelConfig(vocab_size=12, embedding_dim=8, hidden_dim=8, latent_dim=3), eos_id=2)


def test_word_dropout_replaces_words_only():
    torch.manual_seed(0)
    previous = torch.tensor([[2, 5, 6, 7, 8, 9, 10, 11]] * 500 + [[2, 5, 6, 0, 0, 0, 0, 0]] * 500)
    dropped = drop_words(previous, 0.3, unk_id=1, pad_id=0)
    changed = dropped != previous
    assert (dropped[changed] == 1).all()  # a dropped word becomes <unk>
    assert not changed[:, 0].any() and not changed[previous == 0].any()  # start symbol and padding stay
    assert changed[:500, 1:].float().mean() == pytest.approx(0.3, abs=0.02)
    assert drop_words(previous, 0.0, 1) is previous


def test_encoder_and_decoder_parameters_split_the_model():
    model = tiny_model()
    encoder, decoder = list(encoder_parameters(model)), list(decoder_parameters(model))
    assert len(encoder) + len(decoder) == len(list(model.parameters()))
    assert {id(p) for p in encoder}.isdisjoint(id(p) for p in decoder)
    assert any(p is model.embedding.weight for p in decoder)  # shared: the decoder's side
    assert any(p is model.to_mu.weight for p in encoder)


def scripted(losses: list[float], words: int = 1):
    calls = []

    def update(batch) -> tuple[float, int]:
        calls.append(batch)
        return losses[len(calls) - 1] * words, words
    return update, calls


def test_the_aggressive_inner_loop_stops_once_its_loss_per_word_rises():
    # window means 10, 8, 8.5: the third window is worse than the second, so it stops after 45
    losses = [10.0] * CONVERGENCE_WINDOW + [8.0] * CONVERGENCE_WINDOW + [8.5] * CONVERGENCE_WINDOW + [1.0] * 100
    update, calls = scripted(losses)
    assert aggressive_encoder_updates(update, lambda k: k, first=0, max_updates=100) == 45
    assert calls[:3] == [0, 1, 2]  # the step's own batch first, then the k-th fresh draw
    # a window no better (but no worse) than the one before does not stop it (He et al.: strictly higher)
    update, calls = scripted([10.0] * CONVERGENCE_WINDOW * 2 + [11.0] * 100)
    assert aggressive_encoder_updates(update, lambda k: k, first=0, max_updates=100) == 45
    # a loss that keeps falling is cut at the cap
    update, calls = scripted([100.0 - i for i in range(200)])
    assert aggressive_encoder_updates(update, lambda k: 0, first=0, max_updates=40) == 40 and len(calls) == 40


def he_et_al_inner_loop(losses_and_words: list[tuple[float, int]], limit: int) -> list[int]:
    """The inner loop of He et al. 2019 (vae-lagging-encoder, text.py), restated step by step as the
    check of `aggressive_encoder_updates`: `sub_iter` counts from 1 and the loop runs while it is
    below `limit` (100 there); each pass makes one encoder update on the current batch, adds the
    batch's summed loss and its word count ((length - 1) * batch size, the symbols predicted) to the
    window, draws the next batch, and every 15th pass divides the window's loss by its words and
    breaks if the previous window's value (1e4 at first) minus this one is negative, else keeps
    this one and empties the window. Returns the indices of the batches it updated on: 0 is the
    step's own batch, k the k-th fresh draw."""
    sub_iter, pre_loss, cur_loss, words, batch, used = 1, 1e4, 0.0, 0, 0, []
    while sub_iter < limit:
        used.append(batch)
        loss, batch_words = losses_and_words[len(used) - 1]
        cur_loss += loss
        words += batch_words
        batch += 1
        if sub_iter % 15 == 0:
            cur_loss = cur_loss / words
            if pre_loss - cur_loss < 0:
                break
            pre_loss, cur_loss, words = cur_loss, 0.0, 0
        sub_iter += 1
    return used


@pytest.mark.parametrize("seed", range(6))
def test_the_inner_loop_makes_the_updates_he_et_al_make(seed):
    """Random per-batch losses and word counts (batches of unequal length, so the loss per word and
    the mean of per-batch losses disagree): both loops update on the same batches in the same
    order and stop at the same update. Their loop's `sub_iter < 100` allows 99 updates."""
    rng = np.random.default_rng(seed)
    words = rng.integers(20, 400, size=200)
    per_word = 5.0 + 0.3 * rng.standard_normal(200) - np.linspace(0, 1.0 + seed * 0.2, 200)
    script = [(float(w * x), int(w)) for w, x in zip(words, per_word)]
    calls = []

    def update(batch):
        calls.append(batch)
        return script[len(calls) - 1]
    done = aggressive_encoder_updates(update, lambda k: k, first=0, max_updates=99)
    assert calls == he_et_al_inner_loop(script, limit=100)
    assert done == len(calls)


def test_the_aggressive_phase_ends_when_the_validation_mi_falls():
    phase = AggressivePhase(active=True)
    assert [phase.check(mi) for mi in (0.4, 0.9, 0.9, 1.3, 1.1)] == [False, False, False, False, True]
    assert not phase.active and phase.last_mi == 1.1
    assert not phase.check(0.2)  # ended once; later checks change nothing
    first_below_zero = AggressivePhase(active=True)  # He et al. compare the first check with 0
    assert first_below_zero.check(-0.02) and not first_below_zero.active
    assert not AggressivePhase(active=False).check(-1.0)


def test_an_encoder_only_update_leaves_the_decoder_alone(tmp_path, tiny_corpus):
    from textvae import DataConfig, TrainConfig
    from textvae.data.corpus import read_sentences
    from textvae.training import RunConfig, prepare_vocabulary
    from textvae.training.session import _trainer

    train_file, valid_file = tiny_corpus
    data = DataConfig(str(train_file), str(valid_file))
    sentences = read_sentences(train_file)
    vocab = prepare_vocabulary(data, sentences)
    config = RunConfig(ModelConfig(vocab_size=len(vocab), embedding_dim=8, hidden_dim=8, latent_dim=3),
                       TrainConfig(objective="elbo", batch_size=8, max_steps=4), data)
    trainer = _trainer(tmp_path / "run", config, vocab, sentences, progress=False)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.update(trainer.next_batch(), encoder_parameters(trainer.model))
    encoder_names = {n for n, p in trainer.model.named_parameters()
                     if any(p is q for q in encoder_parameters(trainer.model))}
    for name, parameter in trainer.model.named_parameters():
        moved = not torch.equal(parameter, before[name])
        assert moved == (name in encoder_names), name


def test_reset_decoder_starts_the_decoder_again_and_keeps_the_encoder():
    model = tiny_model(0)
    optimizer = torch.optim.Adam(model.parameters())
    tokens, lengths = torch.tensor([[3, 4, 2], [5, 2, 0]]), torch.tensor([3, 2])
    model(tokens, lengths).distortion.sum().backward()
    optimizer.step()
    encoder_before = [p.detach().clone() for p in encoder_parameters(model)]
    decoder_before = [p.detach().clone() for p in model.decoder.parameters()]
    torch.manual_seed(5)
    reset_decoder(model, optimizer)
    assert all(torch.equal(a, b) for a, b in zip(encoder_before, encoder_parameters(model)))
    assert not any(torch.equal(a, b) for a, b in zip(decoder_before, model.decoder.parameters()))
    assert all(p not in optimizer.state for p in model.decoder.parameters())
    assert all(p in optimizer.state for p in model.to_mu.parameters())
    torch.manual_seed(5)
    fresh = SentenceVAE(model.config, eos_id=2)  # what the reset draws: a fresh model's decoder
    assert all(torch.equal(a, b) for a, b in zip(fresh.decoder.parameters(), model.decoder.parameters()))


# -- the collapse diagnostic -------------------------------------------------------------------------------
def corpus_of(n: int) -> tuple:
    vocab = Vocabulary.build([[f"w{i}" for i in range(9)]])
    sentences = [[f"w{(i * 7 + j) % 9}" for j in range(1 + i % 4)] for i in range(n)]
    return vocab, encode_corpus(sentences, vocab)


@torch.no_grad()
def test_the_diagnostic_fires_on_a_shift_of_all_posteriors_and_not_on_an_informative_code():
    vocab, corpus = corpus_of(400)
    torch.manual_seed(0)  # the encoder's weights, whatever tests ran before in this process
    model = SentenceVAE(ModelConfig(vocab_size=len(vocab), embedding_dim=8, hidden_dim=16, latent_dim=4),
                        eos_id=vocab.eos_id)
    # shift only: every sentence gets the same narrow posterior, far from the prior
    model.to_mu.weight.zero_()
    model.to_mu.bias.fill_(2.0)
    model.to_logvar.weight.zero_()
    model.to_logvar.bias.fill_(-4.0)
    shifted = evaluate_corpus(model, corpus, latent=True)
    assert shifted.rate > 8 and abs(shifted.mi) < 0.3  # 0 up to the noise of one draw a sentence
    assert "rate met by a shift of all posteriors: the code carries" in shifted.collapse_note()
    # informative: the means spread the sentences apart
    torch.manual_seed(0)
    model.to_mu.weight.normal_(0, 3.0)
    model.to_mu.bias.zero_()
    informative = evaluate_corpus(model, corpus, latent=True)
    assert informative.rate > 8 and informative.mi > 0.5 * math.log(informative.mi_sentences)
    assert informative.collapse_note() is None
    assert informative.au == 4 and shifted.au == 0


def test_the_diagnostic_allows_for_what_the_estimator_can_show():
    def metrics(rate: float, mi: float, n: int = 1000) -> CorpusMetrics:
        return CorpusMetrics(30.0, rate, -30.0 - rate, 10.0, n, 10 * n, mi=mi, mi_sentences=n)

    assert metrics(0.5, 0.0).collapse_note() is None  # under a nat: nothing to say
    assert metrics(10.0, 2.0).collapse_note() is not None
    assert metrics(10.0, 4.0).collapse_note() is None  # half of what 1,000 sentences can show (6.9) is 3.5
    assert metrics(100.0, 6.5).collapse_note() is None  # a large rate: the estimate tops out at log N


def test_a_run_whose_rate_is_a_shift_warns_once(tmp_path, tiny_corpus, caplog, monkeypatch):
    import textvae.training.loop as training
    from textvae import DataConfig, TrainConfig, train

    def shifted(*args, **kwargs) -> CorpusMetrics:
        return CorpusMetrics(20.0, 12.0, -32.0, 20.0, 4, 40, mi=0.3, mi_sentences=4000, au=0)

    monkeypatch.setattr(training, "evaluate_corpus", shifted)
    train_file, valid_file = tiny_corpus
    with caplog.at_level("WARNING"):
        train(tmp_path / "run", DataConfig(str(train_file), str(valid_file)),
              ModelConfig(embedding_dim=8, hidden_dim=8, latent_dim=2), TrainConfig(max_steps=6, batch_size=8,
                                                                                      eval_every=2), progress=False)
    warnings = [r.getMessage() for r in caplog.records if "shift of all posteriors" in r.getMessage()]
    assert len(warnings) == 1 and "the code carries 0.30 of 12.00 nats" in warnings[0]
    records = [r for r in training.read_metrics(tmp_path / "run") if r["split"] == "valid"]
    assert [r["mi"] for r in records] == [0.3, 0.3, 0.3] and all(r["au"] == 0 for r in records)


def test_train_says_at_the_end_when_the_rate_is_still_a_shift(tmp_path, tiny_corpus, monkeypatch, caplog):
    """The diagnostic is said once during training and again in the final summary while it holds."""
    from textvae.cli import main

    monkeypatch.setattr(CorpusMetrics, "collapse_note", lambda self: "rate met by a shift of all posteriors (test)")
    train_file, valid_file = tiny_corpus
    with pytest.raises(SystemExit) as done:
        main(["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(tmp_path / "run"),
              "--max-steps", "4", "--batch-size", "4", "--embedding-dim", "8", "--hidden-dim", "8", "--latent-dim",
              "3", "--no-progress"])
    assert done.value.code == 0
    said = [r.getMessage() for r in caplog.records if "shift of all posteriors" in r.getMessage()]
    assert len(said) == 2 and said[-1].startswith("at the end: ")


def test_evaluate_says_when_the_rate_is_a_shift(tmp_path, tiny_corpus, caplog):
    """A code whose every posterior mean is shifted the same way: R is large, MI nil; `evaluate`
    reports the numbers and says, in one warning line, what they mean."""
    from textvae.cli import main
    from textvae.training import train

    train_file, valid_file = tiny_corpus
    from textvae import DataConfig, TrainConfig

    train(tmp_path / "run", DataConfig(str(train_file), str(valid_file)), ModelConfig(embedding_dim=8, hidden_dim=8,
                                                                                    latent_dim=3),
          TrainConfig(objective="elbo", batch_size=4, max_steps=2), progress=False)
    from safetensors.torch import load_file, save_file

    weights = load_file(tmp_path / "run" / "model.safetensors")
    weights["to_mu.weight"].zero_()
    weights["to_mu.bias"].fill_(3.0)  # the same shift for every sentence: 3 * 3^2 / 2 = 13.5 nats, no information
    save_file(weights, tmp_path / "run" / "model.safetensors")
    caplog.clear()
    with pytest.raises(SystemExit) as done:
        main(["evaluate", str(tmp_path / "run"), "--data", str(valid_file), "--iw-samples", "0", "--no-progress"])
    assert done.value.code == 0
    assert any("rate met by a shift of all posteriors" in r.getMessage() for r in caplog.records)
