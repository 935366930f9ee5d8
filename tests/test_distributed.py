"""Training and evaluation across processes (torchrun, gloo on CPU): the same result as one process."""

from __future__ import annotations

import json
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import TINY_SENTENCES, wait_for_checkpoint
from test_tensorboard import assert_events_match_metrics
from textvae.serialization import load_checkpoint
from textvae.training import reproducible_metrics

pytestmark = pytest.mark.slow
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY = ["--model", "lstm-lstm", "--embedding-dim", "16", "--hidden-dim", "24", "--latent-dim", "4", "--C", "3",
        "--batch-size", "7", "--eval-every", "5", "--checkpoint-every", "2", "--seed", "3", "--device", "cpu",
        "--word-dropout", "0.2", "--no-progress"]


def torchrun(processes: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            "-m", "textvae", "--quiet", *args]


def one_process(*args: str) -> list[str]:
    return [sys.executable, "-m", "textvae", "--quiet", *args]


def train_args(out: Path, corpus, steps: int) -> list[str]:
    train_file, valid_file = corpus
    return ["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(out), "--max-steps",
            str(steps), *TINY]


def run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def kill_with_its_workers(launcher: subprocess.Popen) -> None:
    """SIGKILL torchrun and the ranks it started (each in a session of its own, so not its group)."""
    workers = [int(stat.split(")", 1)[0].split("(", 1)[0]) for stat in _proc_stats()
               if int(stat.rsplit(")", 1)[1].split()[1]) == launcher.pid]
    for pid in [launcher.pid, *workers]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    launcher.wait()
    while any(_alive(pid) for pid in workers):  # gone, or a zombie waiting for init to reap it
        time.sleep(0.01)


def _proc_stats() -> list[str]:
    stats = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats.append((entry / "stat").read_text())
            except OSError:  # ended meanwhile
                pass
    return stats


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def without_key_bias(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights with the key part of each attention bias left out. Its gradient is zero in exact
    arithmetic (adding a constant to every logit of a query leaves the softmax as it was), and Adam
    scales the rounding noise that stands in for it into full-size steps: their signs follow the
    order of the float sums, which two processes change. Every other weight must still agree."""
    kept = {}
    for name, tensor in weights.items():
        if name.endswith("attention.qkv.bias"):
            query, _, value = tensor.chunk(3)
            tensor = torch.cat([query, value])
        kept[name] = tensor
    return kept


def assert_same_weights(a: Path, b: Path, exact: bool = False) -> None:
    first, second = without_key_bias(load_file(str(a))), without_key_bias(load_file(str(b)))
    assert first.keys() == second.keys()
    for name in first:
        if exact:
            assert torch.equal(first[name], second[name]), name
        else:
            torch.testing.assert_close(first[name], second[name], rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("model", [[], ["--model", "transformer", "--layers", "1", "--heads", "2", "--dropout", "0"]],
                         ids=["lstm-lstm", "transformer"])
def test_two_processes_train_the_weights_one_process_trains(tmp_path, tiny_corpus, model):
    """Global batch 7 split 4 + 3 over two gloo ranks, word dropout on: the same noise, the same
    global loss, the same averaged gradients, so the same weights (up to float summation order).
    The Transformer's own dropout is off: each rank draws its masks for its part of the batch."""
    run(one_process(*train_args(tmp_path / "one", tiny_corpus, 20), *model))
    run(torchrun(2, *train_args(tmp_path / "two", tiny_corpus, 20), *model))
    assert_same_weights(tmp_path / "one" / "last.safetensors", tmp_path / "two" / "last.safetensors")
    one = [json.loads(l) for l in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    two = [json.loads(l) for l in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in one] == [r["step"] for r in two]
    for a, b in zip(one, two):
        assert a["rate"] == pytest.approx(b["rate"], rel=1e-4, abs=1e-5)
        assert a["distortion"] == pytest.approx(b["distortion"], rel=1e-4)
    config = json.loads((tmp_path / "two" / "config.json").read_text())
    assert config["environments"][0]["processes"] == 2
    assert not list((tmp_path / "two").glob("*.rank*"))  # one writer: rank 0


def test_a_killed_two_process_run_resumes_to_the_uninterrupted_weights(tmp_path, tiny_corpus):
    # 40 steps take 0.7 s here; with three processes on two cores, the watcher below could be
    # starved that long and see only the finished run. 200 steps leave it seconds to kill.
    steps = 200
    run(torchrun(2, *train_args(tmp_path / "whole", tiny_corpus, steps)))
    killed = tmp_path / "killed"
    events = ("--tensorboard",) if importlib.util.find_spec("tensorboard") else ()  # rank 0 alone writes them
    process = subprocess.Popen(torchrun(2, *train_args(killed, tiny_corpus, steps), *events), env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = killed / "checkpoint.safetensors"
    wait_for_checkpoint(process, checkpoint, 8)
    kill_with_its_workers(process)  # the machine goes down: the launcher and both ranks at once
    at_kill = load_checkpoint(checkpoint)["step"]
    assert 8 <= at_kill < steps
    refused = subprocess.run(one_process("train", "--out", str(killed), "--resume"), env=ENV, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "trained on 2 processes; resume it with the same number" in refused.stderr
    run(torchrun(2, "train", "--out", str(killed), "--resume", "--no-progress"))
    assert_same_weights(tmp_path / "whole" / "last.safetensors", killed / "last.safetensors", exact=True)
    assert reproducible_metrics(killed) == reproducible_metrics(tmp_path / "whole")
    if events:
        assert len(list((killed / "tensorboard").glob("events.out.tfevents.*"))) == 1
        assert_events_match_metrics(killed)


def test_sharded_evaluation_equals_one_process(tmp_path, tiny_corpus):
    run(one_process(*train_args(tmp_path / "run", tiny_corpus, 10)))
    data = tmp_path / "eval.txt"  # 29 sentences: batches of 8 (and a last of 5) split over 2 and 3 ranks
    data.write_text("\n".join((TINY_SENTENCES * 4)[:29]) + "\n", encoding="utf-8")
    args = ["evaluate", str(tmp_path / "run"), "--data", str(data), "--iw-samples", "7", "--iw-batch-tokens", "40",
            "--batch-size", "8", "--json", "--no-progress"]
    alone = json.loads(run(one_process(*args)).stdout)
    for processes in (2, 3):
        shared = json.loads(run(torchrun(processes, *args)).stdout)
        assert shared.keys() == alone.keys()
        for key, value in alone.items():
            if isinstance(value, list):
                assert shared[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
            elif isinstance(value, float):
                assert shared[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
            else:
                assert shared[key] == value, key


def test_more_processes_than_gpus_is_one_clear_error(monkeypatch):
    from textvae import distributed
    from textvae.errors import ConfigError

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    with pytest.raises(ConfigError, match="PyTorch sees 1 GPU here: use --nproc-per-node 1"):
        distributed.init_from_environment("auto")


def test_a_process_that_left_its_group_ends_with_its_status_and_its_output_flushed():
    script = ("import logging, sys; from textvae import distributed; logging.basicConfig(); "
              "print('said', end=''); logging.getLogger().warning('warned'); distributed.exit_process(3)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (3, "said") and "warned" in done.stderr
