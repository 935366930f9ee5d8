"""What a run directory guarantees: divergence stops a run and saves none of it, one writer at a
time, bounded memory whatever the corpus, damaged files named, a full disk leaves the previous
files intact, and resuming works from any directory on unchanged data only."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from conftest import TINY_SENTENCES
from test_cli import run_cli
from textvae import DataConfig, ModelConfig, TrainConfig, train
from textvae.errors import DivergenceError, RunDirError
from textvae.locking import LOCK_FILE
from textvae.serialization import load_checkpoint
from textvae.training import Trainer, read_metrics

TINY = ["--embedding-dim", "16", "--hidden-dim", "24", "--latent-dim", "4", "--batch-size", "8", "--no-progress"]
TINY_MODEL = ModelConfig(embedding_dim=16, hidden_dim=24, latent_dim=4)


def all_finite(path: Path) -> bool:
    with safe_open(str(path), framework="pt") as f:
        return all(bool(torch.isfinite(f.get_tensor(k)).all()) for k in f.keys() if f.get_tensor(k).is_floating_point())


def test_a_divergent_run_stops_at_its_first_non_finite_step_and_saves_nothing_of_it(tmp_path, tiny_corpus,
                                                                                    monkeypatch):
    train_file, valid_file = tiny_corpus
    real_step = Trainer.train_step

    def poisoned(self, batch):  # the distortion of step 3 is NaN, as a diverging run's would be
        if self.step == 2:
            original = self.model.forward

            def nan_forward(*args, **kwargs):
                out = original(*args, **kwargs)
                out.distortion = out.distortion * float("nan")
                return out
            monkeypatch.setattr(self.model, "forward", nan_forward)
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", poisoned)
    with pytest.raises(DivergenceError, match=r"diverged at step 3: the training distortion is nan; nothing from it "
                                              r"was saved \(checkpoint.safetensors still holds step 2, all finite\)"):
        train(tmp_path / "run", DataConfig(str(train_file), str(valid_file)), TINY_MODEL,
              TrainConfig(max_steps=10, batch_size=8, checkpoint_every=1, eval_every=2), progress=False)
    run = tmp_path / "run"
    assert load_checkpoint(run / "checkpoint.safetensors")["step"] == 2
    for name in ("checkpoint.safetensors", "model.safetensors", "last.safetensors"):
        assert all_finite(run / name), name
    for line in (run / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in metrics.jsonl"))


def test_a_huge_learning_rate_exits_3_with_one_line(tmp_path, tiny_corpus, capsys):
    train_file, valid_file = tiny_corpus
    code, _, err = run_cli(["train", "--train", str(train_file), "--valid", str(valid_file), "--out",
                            str(tmp_path / "run"), "--max-steps", "40", "--checkpoint-every", "1", "--lr", "1000",
                            *TINY], capsys)
    (line,) = [l for l in err.splitlines() if l.startswith("textvae: error:")]
    assert code == 3 and "Traceback" not in err
    assert "training diverged at step" in line and "Lower --lr (now 1000)" in line
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"
    assert checkpoint.exists() and all_finite(checkpoint)


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path, tiny_corpus, capsys):
    train_file, valid_file = tiny_corpus
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "textvae.cli", "train", "--train", str(train_file), "--valid",
                              str(valid_file), "--out", str(run), "--max-steps", "100000", *TINY],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ((run / LOCK_FILE).exists() and (run / "config.json").exists()):
            assert first.poll() is None and time.monotonic() < deadline, "the first writer did not start"
            time.sleep(0.1)
        for args in (["train", "--out", str(run), "--resume", "--no-progress"],
                     ["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(run), *TINY]):
            code, _, err = run_cli(args, capsys)
            (line,) = [l for l in err.splitlines() if l.startswith("textvae: error:")]
            assert code == 2, err
            assert f"in use by process {first.pid}" in line or "already holds a run" in line
    finally:
        first.kill()
        first.wait()
    # killed: its lock is stale, and the next writer takes it over
    holder = json.loads((run / LOCK_FILE).read_text())
    assert holder["pid"] == first.pid and holder["host"] == socket.gethostname()
    from textvae.locking import run_lock

    with run_lock(run):  # what every writer does first (resuming itself would train 100,000 steps)
        assert json.loads((run / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (run / LOCK_FILE).exists()


def test_a_lock_from_another_host_is_refused_with_what_to_do(tmp_path):
    from textvae.locking import run_lock

    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere", "since": "x", "command": "y"}))
    with pytest.raises(RunDirError, match=f"in use by process 1 on host elsewhere .* delete .*{LOCK_FILE}"):
        with run_lock(tmp_path):
            pass


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_lock_held_by_a_killed_process_not_yet_reaped_is_taken_over(tmp_path):
    """A SIGKILLed run's ranks linger a moment as zombies (their launcher died with them)."""
    from textvae.locking import run_lock

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    while Path(f"/proc/{ended.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)  # ended, and not waited for: a zombie
    try:
        record = {"pid": ended.pid, "host": socket.gethostname(), "since": "x", "command": "textvae train"}
        (tmp_path / LOCK_FILE).write_text(json.dumps(record))
        with run_lock(tmp_path):
            assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    finally:
        ended.wait()


def test_a_megabyte_line_trains_in_bounded_memory(tmp_path):
    """One 250,000-word line among ordinary ones: cut to the default length, so the run needs no
    more memory than any other (without the cut, a batch of its length asked for tens of GB)."""
    corpus = tmp_path / "train.txt"
    huge = " ".join(f"w{i % 997}" for i in range(250_000))
    corpus.write_text("\n".join(TINY_SENTENCES * 4 + [huge]) + "\n", encoding="utf-8")
    assert corpus.stat().st_size > 1_000_000
    script = textwrap.dedent(f"""
        from textvae import DataConfig, ModelConfig, TrainConfig, train
        train({str(tmp_path / "run")!r}, DataConfig({str(corpus)!r}, {str(corpus)!r}),
              ModelConfig(embedding_dim=16, hidden_dim=24, latent_dim=4),
              TrainConfig(max_steps=8, batch_size=8, eval_every=4), progress=False)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "1 of 33 sentences are longer than 50 words and were cut to 50" in done.stderr
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mb < 2000, f"peak memory {peak_mb:.0f} MB"


def test_resuming_works_from_another_directory_and_refuses_changed_data(tmp_path, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    (work / "train.txt").write_text("\n".join(TINY_SENTENCES * 4) + "\n", encoding="utf-8")
    monkeypatch.chdir(work)
    first = train("run", DataConfig("train.txt", "train.txt"), TINY_MODEL,
                  TrainConfig(max_steps=6, batch_size=8, eval_every=2, time_budget=1e-9), progress=False)
    assert not first.finished
    saved = json.loads((work / "run" / "config.json").read_text())["data"]
    assert saved["train"] == str(work / "train.txt") and len(saved["checksums"]["train"]) == 64
    monkeypatch.chdir(elsewhere)
    assert train(work / "run", resume=True, progress=False).steps == 2
    with open(work / "train.txt", "a", encoding="utf-8") as f:
        f.write("a sentence added later .\n")
    with pytest.raises(Exception, match="train file changed since this run started"):
        train(work / "run", resume=True, progress=False)


def test_a_half_written_last_metrics_line_is_repaired_on_resume(tmp_path, tiny_corpus, caplog):
    train_file, valid_file = tiny_corpus
    run = tmp_path / "run"
    train(run, DataConfig(str(train_file), str(valid_file)), TINY_MODEL,
          TrainConfig(max_steps=8, batch_size=8, eval_every=2, time_budget=1e-9), progress=False)
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 3, "epoch": 0.75, "spl')  # killed in the middle of an append
    with caplog.at_level("WARNING"):
        train(run, resume=True, progress=False)
    assert "its last line was cut short" in caplog.text
    records = read_metrics(run)
    assert [r["step"] for r in records if r["split"] == "valid"] == [1, 2]
    assert all(line.endswith("}") for line in (run / "metrics.jsonl").read_text().splitlines())


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (skipped where this process may not mount one)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_keeps_the_previous_checkpoint(small_disk, tiny_corpus, capsys):
    train_file, valid_file = tiny_corpus
    run = small_disk / "run"
    train(run, DataConfig(str(train_file), str(valid_file)), TINY_MODEL,
          TrainConfig(max_steps=8, batch_size=8, eval_every=2, time_budget=1e-9), progress=False)
    before = (run / "checkpoint.safetensors").read_bytes()
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * max(free - 16_384, 0))  # room for config.json, not for weights
    code, _, err = run_cli(["train", "--out", str(run), "--resume", "--no-progress"], capsys)
    (line,) = [l for l in err.splitlines() if l.startswith("textvae: error:")]
    assert code == 2 and "Traceback" not in err
    assert "No space left on device" in line and "is intact" in line
    assert (run / "checkpoint.safetensors").read_bytes() == before
    assert load_checkpoint(run / "checkpoint.safetensors")["step"] == 1
    assert not list(run.glob(".*.tmp"))
    (small_disk / "filler").unlink()  # space again: the run resumes where its checkpoint left it
    code, _, _ = run_cli(["train", "--out", str(run), "--resume", "--no-progress"], capsys)
    assert code == 0 and load_checkpoint(run / "checkpoint.safetensors")["step"] == 2
