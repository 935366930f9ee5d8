"""Aggressive inference-network training as He et al. 2019 specify it: the encoder's own embedding,
the inner loop on a real model replayed against their update order, the phase's end in a run,
and He et al.'s optimiser setting (SGD, clipping, decay on a plateau)."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch

from textvae import DataConfig, TrainConfig
from textvae.data.corpus import read_sentences
from textvae.models import ModelConfig, SentenceVAE
from textvae.models.decoders import previous_tokens
from textvae.serialization import load_checkpoint, save_checkpoint
from textvae.training import RunConfig, load_config, prepare_vocabulary, read_metrics, train
from textvae.training.procedures import decoder_parameters, encoder_parameters
from textvae.training.session import _trainer

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = {"embedding_dim": 8, "hidden_dim": 8, "latent_dim": 3}


def make_trainer(tmp_path, tiny_corpus, **training):
    train_file, valid_file = tiny_corpus
    data = DataConfig(str(train_file), str(valid_file))
    sentences = read_sentences(train_file)
    vocab = prepare_vocabulary(data, sentences)
    config = RunConfig(ModelConfig(vocab_size=len(vocab), **SMALL),
                       TrainConfig(objective="elbo", batch_size=4, max_steps=4, **training), data)
    return _trainer(tmp_path / "run", config, vocab, sentences, progress=False)


def test_a_run_with_aggressive_training_gives_the_encoder_its_own_embedding():
    data = DataConfig("train.txt", "valid.txt")
    aggressive = RunConfig(ModelConfig(**SMALL), TrainConfig(aggressive=True), data)
    assert aggressive.model.own_encoder_embedding is True
    assert RunConfig(ModelConfig(**SMALL), TrainConfig(), data).model.own_encoder_embedding is False
    told = RunConfig(ModelConfig(own_encoder_embedding=False, **SMALL), TrainConfig(aggressive=True), data)
    assert told.model.own_encoder_embedding is False  # asked for a shared one: kept
    # a run saved before the field existed shared its embedding, aggressive or not
    saved = aggressive.to_dict()
    del saved["model"]["own_encoder_embedding"]
    assert RunConfig.from_dict(json.loads(json.dumps(saved))).model.own_encoder_embedding is False


def test_the_own_embedding_is_the_encoders_alone():
    torch.manual_seed(0)
    model = SentenceVAE(ModelConfig(vocab_size=12, own_encoder_embedding=True, **SMALL), eos_id=2)
    encoder = {id(p) for p in encoder_parameters(model)}
    assert id(model.encoder_embedding.weight) in encoder and id(model.embedding.weight) not in encoder
    assert {id(p) for p in decoder_parameters(model)}.isdisjoint(encoder)
    tokens, lengths = torch.tensor([[3, 4, 2], [5, 2, 0]]), torch.tensor([3, 2])
    mu, _ = model.encode(tokens, lengths)
    with torch.no_grad():
        model.embedding.weight.add_(1.0)  # the decoder's embedding: q(z|x) does not read it
    assert torch.equal(model.encode(tokens, lengths)[0], mu)
    with torch.no_grad():
        model.encoder_embedding.weight.add_(1.0)
    assert not torch.equal(model.encode(tokens, lengths)[0], mu)


def test_one_aggressive_step_is_he_et_als_update_order(tmp_path, tiny_corpus):
    """One training step replayed by hand in the order of He et al.'s text.py, with plain SGD (their
    optimiser; stateless, so their two optimisers and our one make the same updates): while
    sub_iter < limit, an update of the encoder alone (its own embedding included) on the step's
    batch and then on fresh draws, the gradient of the whole model clipped first; every 15th update
    the window's loss per word against the window's before; then one update of the decoder alone
    on the step's batch. The trainer's weights after its step equal the replay's."""
    trainer = make_trainer(tmp_path, tiny_corpus, aggressive=True, aggressive_max_updates=40, optimizer="sgd",
                           lr=0.5, grad_clip=0.5)
    assert trainer.model.encoder_embedding is not None
    replay = copy.deepcopy(trainer.model)
    batch = trainer.next_batch()
    rng = torch.get_rng_state()

    def loss_of(model, b):  # the ELBO's batch-mean loss, with the noise the trainer draws
        eps = torch.randn(b.tokens.size(0), model.config.latent_dim)
        out = model(b.tokens, b.lengths, previous=previous_tokens(b.tokens, model.eos_id), eps=eps)
        return (out.distortion + out.kl.sum(-1)).mean()

    def sgd(model, keep, b, lr=0.5, clip=0.5):
        model.zero_grad()
        loss = loss_of(model, b)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()), clip)
        with torch.no_grad():
            for p in keep(model):
                p.add_(p.grad, alpha=-lr)
        return float(loss.detach())

    stats = trainer.train_step(batch)
    after = torch.get_rng_state()
    torch.set_rng_state(rng)
    trainer.step = 0  # back at the step it took, for its draws: `random_batch` reads it
    sub_iter, pre_loss, cur_loss, words, current = 1, 1e4, 0.0, 0, batch
    while sub_iter < 41:
        size, count = current.tokens.size(0), int(current.lengths.sum())
        cur_loss += sgd(replay, encoder_parameters, current) * size
        words += count
        current = trainer.random_batch(sub_iter)  # the trainer's k-th draw of this step (step 0)
        if sub_iter % 15 == 0:
            cur_loss /= words
            if pre_loss - cur_loss < 0:
                break
            pre_loss, cur_loss, words = cur_loss, 0.0, 0
        sub_iter += 1
    sgd(replay, decoder_parameters, batch)
    assert stats["encoder_updates"] == min(sub_iter, 40)
    assert torch.equal(torch.get_rng_state(), after)  # the same noise, drawn in the same order
    for (name, mine), theirs in zip(trainer.model.named_parameters(), replay.parameters()):
        assert torch.allclose(mine, theirs, atol=1e-6), name


def test_a_run_ends_its_aggressive_phase_when_the_validation_mi_falls(tmp_path, tiny_corpus, monkeypatch):
    """A run whose validation MI (scripted) rises, rises, then falls: aggressive until that check,
    then ordinary steps; each validation record of metrics.jsonl says whether the steps before it
    were aggressive, and each training record the seconds the run has trained."""
    import textvae.training.loop as loop

    scripted = iter([0.2, 0.5, 0.3, 0.4, 0.6, 0.7])
    real = loop.evaluate_corpus

    def with_scripted_mi(*args, **kwargs):
        return dataclasses.replace(real(*args, **kwargs), mi=next(scripted))
    monkeypatch.setattr(loop, "evaluate_corpus", with_scripted_mi)
    train_file, valid_file = tiny_corpus
    result = train(tmp_path / "run", DataConfig(str(train_file), str(valid_file)), ModelConfig(**SMALL),
                   TrainConfig(objective="elbo", aggressive=True, aggressive_max_updates=3, aggressive_check_every=2,
                               eval_every=2, batch_size=4, max_steps=8), progress=False)
    assert result.steps == 8
    valid = [r for r in read_metrics(tmp_path / "run") if r["split"] == "valid"]
    assert [(r["step"], r["mi"], r["aggressive"]) for r in valid] == [
        (2, 0.2, True), (4, 0.5, True), (6, 0.3, True), (8, 0.4, False)]
    seconds = [r["seconds"] for r in read_metrics(tmp_path / "run") if r["split"] == "train"]
    assert seconds == sorted(seconds) and seconds[-1] > 0
    assert load_config(tmp_path / "run").model.own_encoder_embedding is True


def test_sgd_with_decay_halves_the_rate_after_two_evaluations_without_improvement(tmp_path, tiny_corpus):
    trainer = make_trainer(tmp_path, tiny_corpus, optimizer="sgd", lr=1.0, grad_clip=5.0, lr_decay=0.5)
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    rates = []
    for loss in (10.0, 9.0, 9.5, 9.2, 9.1, 8.0, 8.5):
        trainer.decay_lr(loss)
        rates.append(trainer.optimizer.param_groups[0]["lr"])
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]  # 9.5 and 9.2: two in a row above 9.0
    save_checkpoint(tmp_path / "checkpoint", trainer.state_dict())  # as a resume reads it back
    again = make_trainer(tmp_path / "again", tiny_corpus, optimizer="sgd", lr=1.0, grad_clip=5.0, lr_decay=0.5)
    (tmp_path / "again" / "run").mkdir(parents=True)
    again.load_state_dict(load_checkpoint(tmp_path / "checkpoint"))
    assert again.optimizer.param_groups[0]["lr"] == 0.5
    again.decay_lr(8.6)  # the second evaluation in a row above 8.0, counted across the resume
    assert again.optimizer.param_groups[0]["lr"] == 0.25


def test_a_capped_phase_says_so_in_its_metrics_and_in_the_report(tmp_path, tiny_corpus):
    from textvae.experiments.compare_report import aggressive_lines

    train_file, valid_file = tiny_corpus
    train(tmp_path / "run", DataConfig(str(train_file), str(valid_file)), ModelConfig(**SMALL),
          TrainConfig(objective="elbo", aggressive=True, aggressive_max_updates=2, aggressive_until=3, eval_every=2,
                      batch_size=4, max_steps=6), progress=False)
    valid = [r for r in read_metrics(tmp_path / "run") if r["split"] == "valid"]
    assert [(r["step"], r.get("aggressive_ended_by")) for r in valid] == [(2, None), (4, "cap"), (6, "cap")]
    assert valid[1]["aggressive_ended_at"] == 3
    updates = [r["encoder_updates"] for r in read_metrics(tmp_path / "run") if r["split"] == "train"]
    assert updates == [2.0, 1.0, 0.0]  # 2 a step while on: steps 1-2, then step 3 of 3-4, none after
    (line,) = aggressive_lines({"run_dir": str(tmp_path / "run"), "run": "run", "seed": 0})
    assert "ended at step 3, **by the compute cap --aggressive-until 3, not by the MI**" in line


def test_the_phase_cost_is_said_once_with_the_time_to_its_earliest_end():
    from textvae.training.procedures import aggressive_cost_note

    note = aggressive_cost_note("agg", 3.0, 41.0, 20, 2321)
    assert "41.0 encoder updates a step on average, 3.00 s a step" in note
    assert "at least to step 2321 (its next check of the validation MI), about 1.9 h from now" in note  # 2301 x 3 s
    assert "--aggressive-until STEP caps" in note
    capped = aggressive_cost_note("agg", 3.0, 41.0, 20, 2321, cap=500)
    assert "at least to step 500 (its cap), about 24 min from now" in capped and "--aggressive-until" not in capped


def test_a_run_says_what_its_aggressive_phase_costs_once(tmp_path, tiny_corpus, capsys):
    from textvae.training.procedures import AGGRESSIVE_PACE_STEPS

    train_file, valid_file = tiny_corpus
    train(tmp_path / "run", DataConfig(str(train_file), str(valid_file)), ModelConfig(**SMALL),
          TrainConfig(objective="elbo", aggressive=True, aggressive_max_updates=1, aggressive_check_every=50,
                      eval_every=50, batch_size=4, max_steps=AGGRESSIVE_PACE_STEPS + 2), progress=False)
    notes = [line for line in capsys.readouterr().err.splitlines() if "aggressive training:" in line]
    assert len(notes) == 1
    assert "1.0 encoder updates a step on average" in notes[0]
    assert f"at least to step {AGGRESSIVE_PACE_STEPS + 2} (its next check of the validation MI)" in notes[0]


def test_a_phase_whose_mi_never_leaves_the_estimators_noise_is_said_to_be_decided_by_noise():
    """The noise band is the collapsed elbo runs' test MI, mean +- 2 sd over seeds (by hand: the
    values -0.03, 0.01, -0.02 have mean -0.0133 and sd 0.0208, a band of 0.0550 around 0)."""
    from textvae.experiments.compare_report import phase_noise_line
    from textvae.experiments.stats import spread

    elbo_mi = spread([-0.03, 0.01, -0.02])
    phase = {"mi": [0.0013, 0.005, 0.011, 0.0168, 0.30], "aggressive": [True, True, True, True, False],
             "mean_updates": 40.5}
    line = phase_noise_line([phase, {**phase, "mi": [-0.04, 0.05, 0.0, 0.0, 0.0]}], elbo_mi)
    assert line is not None and "within +-0.055 nats of 0" in line and "(largest 0.050)" in line
    assert "about 40 encoder updates a step" in line  # the MI after the phase (0.30) does not count
    risen = {**phase, "mi": [0.0013, 0.005, 0.011, 0.06, 0.30]}  # 0.06 > 0.0550: beyond the noise
    assert phase_noise_line([phase, risen], elbo_mi) is None
    assert phase_noise_line([phase], spread([-0.03])) is None  # one seed of elbo: no scatter to judge by


def test_the_report_tells_the_phases_checks_from_its_other_evaluations(tmp_path):
    """Yelp seed 0's trajectory (cpu-small: 2,321 steps an epoch, an evaluation every 1,000 steps and
    at each epoch's end): the checks are the evaluations at epoch ends (epoch 1.0 and 2.0) while the
    phase is on; a run saved before aggressive_check_every checked at every evaluation."""
    from textvae.experiments.compare_report import aggressive_lines, aggressive_trajectory

    run = tmp_path / "lstm-lstm-aggressive"
    run.mkdir()
    training = {"aggressive": True, "aggressive_check_every": None, "aggressive_until": None,
                "aggressive_max_updates": 100, "eval_every": 1000}
    (run / "config.json").write_text(json.dumps({"training": training}))
    evaluations = [(1000, 0.4308, -0.0030), (2000, 0.8617, 0.0090), (2321, 1.0, 0.0013), (3000, 1.2925, 0.0049),
                   (4642, 2.0, 0.0168), (6000, 2.5851, 0.0108)]
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"split": "valid", "step": step, "epoch": epoch, "mi": mi, "aggressive": True}) + "\n"
        for step, epoch, mi in evaluations))
    trajectory = aggressive_trajectory(run)
    assert trajectory["checks"] == [False, False, True, False, True, False]
    (line,) = aggressive_lines({"run_dir": str(run), "run": run.name, "seed": 0}, [trajectory])
    assert "checks 0.001 (step 2321), 0.017 (step 4642), at its evaluations between -0.003 and 0.017" in line
    assert "the phase was still on at the end of training" in line
    del training["aggressive_check_every"]
    (run / "config.json").write_text(json.dumps({"training": training}))
    assert aggressive_trajectory(run)["checks"] == [True, True, False, True, False, True]  # each 1,000 steps
