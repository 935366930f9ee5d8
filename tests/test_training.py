"""Training runs on tiny data: the run directory, resuming, and kill-and-resume equivalence."""

import importlib.util
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from conftest import checkpoint_step, wait_for_checkpoint
from test_tensorboard import assert_events_match_metrics
from textvae import DataConfig, ModelConfig, TrainConfig, load, train
from textvae.errors import RunDirError
from textvae.serialization import load_checkpoint
from textvae.training import reproducible_metrics

TINY_MODEL = dict(embedding_dim=16, hidden_dim=24, latent_dim=4, conv_channels=8, kernel_width=3)


def tiny_run(tmp_path, corpus, **training):
    train_file, valid_file = corpus
    config = TrainConfig.from_flat({"max_steps": 12, "batch_size": 8, "eval_every": 6, "kl_target": 3.0, **training})
    return train(tmp_path / "run", DataConfig(str(train_file), str(valid_file)), ModelConfig(**TINY_MODEL),
                 config, progress=False)


def test_run_directory_contents(tmp_path, tiny_corpus):
    result = tiny_run(tmp_path, tiny_corpus)
    run = tmp_path / "run"
    for name in ("config.json", "vocab.txt", "model.safetensors", "last.safetensors", "metrics.jsonl",
                 "checkpoint.safetensors"):
        assert (run / name).exists(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    valid = [r for r in records if r["split"] == "valid"]
    assert [r["step"] for r in valid] == [6, 12]
    for r in valid:
        assert {"step", "epoch", "split", "distortion", "rate", "kl_target", "elbo"} <= set(r)
        assert r["elbo"] == pytest.approx(-(r["distortion"] + r["rate"]))
    # 32 sentences in batches of 8: 4 steps an epoch, the target reaches C after 2 epochs (8 steps)
    assert [r["kl_target"] for r in valid] == [pytest.approx(3.0 * 6 / 8), 3.0]
    assert result.valid.rate == valid[-1]["rate"]
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["vocab_size"] == len((run / "vocab.txt").read_text().split())
    assert config["training"]["objective_options"]["kl_target"] == 3.0


def test_existing_run_needs_resume(tmp_path, tiny_corpus):
    tiny_run(tmp_path, tiny_corpus)
    with pytest.raises(RunDirError, match="--resume"):
        tiny_run(tmp_path, tiny_corpus)
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    result = train(tmp_path / "run", resume=True, progress=False)  # already finished: nothing to do
    assert result.steps == 12 and (tmp_path / "run" / "metrics.jsonl").read_text() == before


def test_best_weights_are_the_lowest_validation_loss(tmp_path, tiny_corpus):
    tiny_run(tmp_path, tiny_corpus, max_steps=24, eval_every=3, lr=0.01)
    run = tmp_path / "run"
    valid = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if '"valid"' in l]
    best = min(valid, key=lambda r: r["loss"])
    assert load_checkpoint(run / "checkpoint.safetensors")["best_valid_loss"] == pytest.approx(best["loss"])
    if best["step"] != 24:
        with safe_open(str(run / "model.safetensors"), "pt") as a, safe_open(str(run / "last.safetensors"), "pt") as b:
            assert any(not torch.equal(a.get_tensor(k), b.get_tensor(k)) for k in a.keys())


def test_loaded_model_encodes_and_scores(tmp_path, tiny_corpus):
    tiny_run(tmp_path, tiny_corpus)
    vae = load(tmp_path / "run")
    sentences = ["the food was great .", "the service was slow and the pizza was cold ."]
    mu, logvar = vae.encode(sentences)
    assert mu.shape == logvar.shape == (2, 4)
    log_p = vae.log_prob(sentences, mu)
    assert log_p.shape == (2,) and (log_p < 0).all()
    assert log_p[1] < log_p[0]  # a longer sentence is less likely
    with pytest.raises(ValueError, match="shape"):
        vae.log_prob(sentences, mu[:1])
    # chunked passes give what one batch gives
    vae.batch_size = 1
    torch.testing.assert_close(vae.encode(sentences)[0], mu)
    torch.testing.assert_close(vae.log_prob(sentences, mu), log_p)
    # the same seed gives the same samples; no seed gives fresh ones
    assert vae.sample(6, seed=3) == vae.sample(6, seed=3)
    assert len({tuple(vae.sample(6)) for _ in range(3)}) > 1


# -- kill -9 in the middle of an epoch, resume, and get what an uninterrupted run gets --------

def train_command(out: Path, corpus, steps: int, extra: tuple[str, ...] = ()) -> list[str]:
    train_file, valid_file = corpus
    return [sys.executable, "-m", "textvae", "--quiet", "train", "--train", str(train_file), "--valid",
            str(valid_file), "--out", str(out), "--model", "lstm-cnn", "--C", "3", "--max-steps", str(steps),
            "--batch-size", "4", "--eval-every", "10", "--checkpoint-every", "3", "--embedding-dim", "16",
            "--hidden-dim", "24", "--latent-dim", "4", "--seed", "7", "--device", "cpu", "--no-progress", *extra]


RESUMED_RUNS = {  # name: (steps, options beyond train_command's)
    "beta-c, lstm-cnn": (60, ()),
    "cyclical, word dropout": (60, ("--model", "lstm-lstm", "--objective", "cyclical", "--cycles", "3",
                                     "--word-dropout", "0.25", "--free-bits", "0.1")),
    "aggressive, AE pretraining": (60, ("--model", "gru-gru", "--objective", "free-bits", "--aggressive",
                                        "--aggressive-max-updates", "20", "--ae-pretrain-steps", "20")),
    "beta-c, transformer (dropout)": (60, ("--model", "transformer", "--layers", "1", "--heads", "2")),
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(RESUMED_RUNS))
def test_killed_and_resumed_run_matches_an_uninterrupted_one(tmp_path, tiny_corpus, variant):
    steps, extra = RESUMED_RUNS[variant]  # 32 sentences, batch 4: 8 steps an epoch
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(train_command(whole, tiny_corpus, steps, extra), check=True, env=env, capture_output=True)

    # The first variant's killed run also writes TensorBoard events: after the resume they hold metrics.jsonl
    events = ("--tensorboard",) if variant == next(iter(RESUMED_RUNS)) and importlib.util.find_spec("tensorboard") else ()
    process = subprocess.Popen(train_command(killed, tiny_corpus, steps, (*extra, *events)), env=env,
                               stderr=subprocess.PIPE)
    wait_for_checkpoint(process, killed / "checkpoint.safetensors", 13)
    process.send_signal(signal.SIGKILL)
    process.wait()
    at_kill = checkpoint_step(killed / "checkpoint.safetensors")
    assert process.returncode == -signal.SIGKILL
    assert at_kill is not None and 13 <= at_kill < steps
    state = load_checkpoint(killed / "checkpoint.safetensors")
    assert not state["finished"]

    resumed = subprocess.run(train_command(killed, tiny_corpus, steps)[:5] + ["--out", str(killed), "--resume",
                             "--no-progress"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr

    assert reproducible_metrics(killed) == reproducible_metrics(whole)
    if events:
        assert_events_match_metrics(killed)
    for name in ("model.safetensors", "last.safetensors"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name


def test_a_run_that_ends_before_the_target_reaches_C_says_so(tmp_path, tiny_corpus, caplog):
    # 32 sentences in batches of 8: 4 steps an epoch, so the default 2 epochs of annealing take 8 steps
    with caplog.at_level("INFO"):
        tiny_run(tmp_path, tiny_corpus, max_steps=6, eval_every=3)
    assert "target C=3 reached" not in caplog.text
    assert ("training stops after 6 steps, before the target rate reaches C=3 (after 8 steps): its last value is "
            "C_t=2.25") in caplog.text
    caplog.clear()
    with caplog.at_level("INFO"):
        tiny_run(tmp_path / "b", tiny_corpus, max_steps=8, eval_every=4)
    assert "target C=3 reached after 8 steps" in caplog.text and "before the target" not in caplog.text


def test_config_records_where_each_session_ran(tmp_path, tiny_corpus):
    import textvae.runtime

    tiny_run(tmp_path, tiny_corpus, max_steps=4, eval_every=2)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    (first,) = config["environments"]
    assert first["threads"] == torch.get_num_threads() and first["from_step"] == 0
    assert first["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and first["precision"] == "fp32"
    assert first["cpu"] == textvae.runtime.cpu_model()


def test_a_time_budget_stops_early_and_resuming_finishes(tmp_path, tiny_corpus):
    result = tiny_run(tmp_path, tiny_corpus, max_steps=12, eval_every=6, time_budget=1e-9)
    assert result.steps == 1 and result.total_steps == 12 and not result.finished
    records = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 1  # evaluated where it stopped
    done = train(tmp_path / "run", resume=True, progress=False)
    assert done.steps == 1 + 1  # the saved budget applies to every invocation
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    config["training"]["time_budget"] = None
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    assert train(tmp_path / "run", resume=True, progress=False).finished


def test_threads_argument_sets_pytorchs_threads(tmp_path, tiny_corpus):
    before = torch.get_num_threads()
    try:
        train_file, valid_file = tiny_corpus
        train(tmp_path / "run", DataConfig(str(train_file), str(valid_file)), ModelConfig(**TINY_MODEL),
              TrainConfig(max_steps=2, batch_size=8), progress=False, threads=1)
        assert torch.get_num_threads() == 1
        assert json.loads((tmp_path / "run" / "config.json").read_text())["environments"][0]["threads"] == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("every, seconds, saved_at", [(None, 1e9, [6, 12, 12]), (None, 0.0, list(range(1, 13)) + [12]),
                                                      (5, 1e9, [5, 6, 10, 12, 12])])
def test_checkpoints_come_once_a_minute_by_default_or_every_n_steps(tmp_path, tiny_corpus, monkeypatch, every,
                                                                     seconds, saved_at):
    import textvae.training.loop

    steps = []
    original = textvae.training.loop.Trainer.save_checkpoint
    monkeypatch.setattr(textvae.training.loop, "CHECKPOINT_SECONDS", seconds)
    monkeypatch.setattr(textvae.training.loop.Trainer, "save_checkpoint",
                        lambda self: (steps.append(self.step), original(self))[1])
    tiny_run(tmp_path, tiny_corpus, max_steps=12, eval_every=6, checkpoint_every=every)
    assert steps == saved_at  # evaluations at 6 and 12 save one too; the end of fit() saves the last
