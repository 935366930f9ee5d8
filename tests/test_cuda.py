"""The CUDA path: training, resuming, decoding and evaluating on a GPU, and runs that move between
a GPU and the CPU. Skipped where PyTorch sees no GPU (CI has none)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import TINY_SENTENCES, checkpoint_step, wait_for_checkpoint
from textvae import BetaCOptions, DataConfig, ModelConfig, TrainConfig, evaluate, load, train
from textvae.data.synthetic import write_corpus
from textvae.precision import bf16_support, resolve_precision

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def grammar_corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("grammar"), n_sentences=4000, seed=0)


@pytest.fixture(scope="module")
def cuda_run(tmp_path_factory, grammar_corpus):
    out = tmp_path_factory.mktemp("cuda") / "run"
    train(out, DataConfig(str(grammar_corpus.train), str(grammar_corpus.valid)),
          ModelConfig("lstm-lstm", embedding_dim=32, hidden_dim=64, latent_dim=8),
          TrainConfig(objective=BetaCOptions(kl_target=5.0, anneal_steps=120), max_steps=240, batch_size=64, eval_every=40,
                      lr=0.003, device="cuda"), progress=False)
    return out


def test_bf16_runs_on_this_gpu_and_auto_chooses_it_where_it_is_faster():
    assert torch.cuda.is_bf16_supported()
    support = bf16_support("cuda")
    assert support.supported and support.speedup is not None and support.speedup > 0, support
    assert resolve_precision("auto", "cuda") == ("bf16" if support.speedup >= 1.15 else "fp32")
    assert resolve_precision("bf16", "cuda") == "bf16"


@pytest.mark.parametrize("model, precision", [("lstm-lstm", "fp32"), ("lstm-lstm", "bf16"), ("gru-gru", "bf16"),
                                              ("lstm-cnn", "fp32"), ("lstm-cnn", "bf16"),
                                              ("transformer", "fp32"), ("transformer", "bf16")])
def test_rate_tracks_C_on_the_gpu(tmp_path, grammar_corpus, model, precision):
    result = train(tmp_path / "run", DataConfig(str(grammar_corpus.train), str(grammar_corpus.valid)),
                   ModelConfig(model, embedding_dim=32, hidden_dim=64, latent_dim=8, conv_channels=16),
                   TrainConfig(objective=BetaCOptions(kl_target=5.0, anneal_steps=120), max_steps=240, batch_size=64,
                               eval_every=40, lr=0.003, device="cuda", precision=precision), progress=False)
    assert abs(result.valid.rate - 5.0) < 1.0
    first = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[1])
    assert result.valid.distortion < first["distortion"]
    (session,) = json.loads((tmp_path / "run" / "config.json").read_text())["environments"]
    assert session["gpu"] == torch.cuda.get_device_name() and session["precision"] == precision


def test_a_gpu_run_loads_on_the_cpu_with_the_same_posteriors(cuda_run, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # compare fp32 with fp32
    on_gpu, on_cpu = load(cuda_run, device="cuda", precision="fp32"), load(cuda_run, device="cpu", precision="fp32")
    assert on_gpu.device.type == "cuda" and on_cpu.device.type == "cpu"
    sentences = TINY_SENTENCES
    for a, b in zip(on_gpu.encode(sentences), on_cpu.encode(sentences)):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-5)
    z = on_cpu.encode(sentences)[0]
    torch.testing.assert_close(on_gpu.log_prob(sentences, z.cuda()).cpu(), on_cpu.log_prob(sentences, z),
                               rtol=1e-4, atol=1e-4)


def test_greedy_decoding_agrees_between_gpu_and_cpu(cuda_run):
    on_gpu, on_cpu = load(cuda_run, device="cuda", precision="fp32"), load(cuda_run, device="cpu", precision="fp32")
    z = on_cpu.prior(16, seed=3)
    gpu, cpu = on_gpu.decode(z.cuda(), "greedy"), on_cpu.decode(z, "greedy")
    assert sum(a == b for a, b in zip(gpu, cpu)) >= 15, list(zip(gpu, cpu))  # a near-tie may flip one argmax


@pytest.mark.parametrize("decoding", ["sample", "top-p", "beam"])
def test_on_the_gpu_the_first_samples_are_the_same_for_any_n(cuda_run, decoding):
    vae = load(cuda_run, device="cuda")
    assert vae.sample(3, decoding, seed=11) == vae.sample(7, decoding, seed=11)[:3]


def test_evaluation_on_the_gpu_equals_the_cpu(cuda_run, grammar_corpus, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    sentences = grammar_corpus.test.read_text().splitlines()[:200]
    gpu = evaluate(load(cuda_run, device="cuda", precision="fp32"), sentences, iw_samples=50, repeats=2)
    cpu = evaluate(load(cuda_run, device="cpu", precision="fp32"), sentences, iw_samples=50, repeats=2)
    assert gpu.rate == pytest.approx(cpu.rate, rel=1e-4)  # analytic: no random draws
    assert gpu.au == cpu.au and gpu.mu_norm_sq == pytest.approx(cpu.mu_norm_sq, rel=1e-4)
    assert gpu.nll_iw == pytest.approx(cpu.nll_iw, rel=0.01)  # different random draws on each device
    assert gpu.distortion == pytest.approx(cpu.distortion, rel=0.02)  # MI is left out: its estimate's noise
    assert gpu.log_det_cov == pytest.approx(cpu.log_det_cov, rel=1e-3, abs=1e-2)  # over 200 sentences is about 0.3 nats


def test_a_sigkilled_gpu_run_resumes_to_the_uninterrupted_weights(tmp_path, tiny_corpus):
    train_file, valid_file = tiny_corpus
    steps = 80

    def command(out):
        return [sys.executable, "-m", "textvae", "--quiet", "train", "--train", str(train_file), "--valid",
                str(valid_file), "--out", str(out), "--max-steps", str(steps), "--batch-size", "4", "--eval-every",
                "10", "--checkpoint-every", "1", "--C", "3", "--embedding-dim", "16", "--hidden-dim", "24",
                "--latent-dim", "4", "--word-dropout", "0.2", "--seed", "7", "--device", "cuda", "--no-progress"]

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(command(whole), check=True, capture_output=True)
    process = subprocess.Popen(command(killed), stderr=subprocess.PIPE)
    wait_for_checkpoint(process, killed / "checkpoint.safetensors", 13)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 13 <= (checkpoint_step(killed / "checkpoint.safetensors") or 0) < steps
    resumed = subprocess.run([sys.executable, "-m", "textvae", "--quiet", "train", "--out", str(killed), "--resume",
                              "--no-progress"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    first, second = load_file(str(whole / "last.safetensors")), load_file(str(killed / "last.safetensors"))
    for name in first:  # the same noise (CUDA's random state is in the checkpoint); atomics may reorder sums
        torch.testing.assert_close(first[name], second[name], rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_gpus_under_torchrun_train_the_weights_one_gpu_trains(tmp_path, tiny_corpus):
    train_file, valid_file = tiny_corpus
    args = ["train", "--train", str(train_file), "--valid", str(valid_file), "--max-steps", "20", "--batch-size", "7",
            "--eval-every", "10", "--embedding-dim", "16", "--hidden-dim", "24", "--latent-dim", "4", "--seed", "3",
            "--word-dropout", "0.2", "--device", "cuda", "--no-progress"]
    one = subprocess.run([sys.executable, "-m", "textvae", *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True)
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
                          "textvae", *args, "--out", str(tmp_path / "two")], capture_output=True, text=True)
    assert one.returncode == 0 and two.returncode == 0, (one.stderr + two.stderr)[-3000:]
    first, second = (load_file(str(tmp_path / run / "last.safetensors")) for run in ("one", "two"))
    for name in first:  # nccl (averaged gradients) against one process: float summation order only
        torch.testing.assert_close(first[name], second[name], rtol=1e-3, atol=1e-4, msg=name)
    assert json.loads((tmp_path / "two" / "config.json").read_text())["environments"][0]["processes"] == 2
