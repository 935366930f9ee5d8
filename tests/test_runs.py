"""`textvae runs`: every status told apart on real run directories, the best validation's numbers,
sorting and the three formats, and a listing that never takes or removes a lock."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from conftest import TINY_SENTENCES
from test_cli import run_cli
from textvae import DataConfig, ModelConfig, TrainConfig, train
from textvae.errors import ConfigError, DivergenceError
from textvae.locking import LOCK_FILE, run_lock
from textvae.training import Trainer, read_metrics
from textvae.workbench.runs import STATUSES, list_runs

pytestmark = pytest.mark.usefixtures("one_thread")
MODEL = ModelConfig(embedding_dim=8, hidden_dim=8, latent_dim=3)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_lock(run, pid: int, host: str) -> None:
    (run / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": host, "since": "2026-12-02T10:00:00",
                                             "command": "textvae train"}))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One run of each status under one folder, made by training (and one language model, not a run)."""
    root = tmp_path_factory.mktemp("runs")
    (root / "train.txt").write_text("\n".join(TINY_SENTENCES * 4) + "\n")
    (root / "valid.txt").write_text("\n".join(TINY_SENTENCES[:4]) + "\n")
    data = DataConfig(str(root / "train.txt"), str(root / "valid.txt"))

    def run(name, **options):
        flat = {"batch_size": 4, "max_steps": 8, "eval_every": 2, **options}
        return train(root / "sweep" / name, data, MODEL, TrainConfig.from_flat(flat), progress=False)

    run("finished", kl_target=3.0, seed=1)
    run("budget", kl_target=1.0, time_budget=1e-9)  # out of time after its first step
    with pytest.raises(DivergenceError):
        run("diverged", objective="elbo", lr=1000.0, max_steps=40)
    real_step = Trainer.train_step

    def interrupted_at_5(self, batch):
        if self.step == 5:
            raise KeyboardInterrupt
        return real_step(self, batch)

    Trainer.train_step = interrupted_at_5
    try:
        with pytest.raises(KeyboardInterrupt):
            run("interrupted", kl_target=2.0)
    finally:
        Trainer.train_step = real_step
    sweep = root / "sweep"
    for name, pid, host in (("killed", dead_pid(), socket.gethostname()), ("elsewhere", 4242, "another-host")):
        shutil.copytree(sweep / "interrupted", sweep / name)
        write_lock(sweep / name, pid, host)
    shutil.copytree(sweep / "interrupted", sweep / "running")
    (sweep / "fresh").mkdir()
    for name in ("config.json", "vocab.txt"):  # killed before its first checkpoint: a config and nothing saved
        shutil.copy(sweep / "finished" / name, sweep / "fresh" / name)
    (root / "sweep" / "lm").mkdir()
    (root / "sweep" / "lm" / "config.json").write_text('{"language_model": {}, "training": {}}')
    return sweep


def by_name(rows):
    return {row.run: row for row in rows}


def test_each_status_is_told_apart_and_listing_takes_no_lock(folder):
    with run_lock(folder / "running"), run_lock(folder / "finished"):  # live writers: this process
        rows = by_name(list_runs([folder]))
        assert (folder / "running" / LOCK_FILE).exists()
    assert rows["finished"].note == f"in use by pid {os.getpid()}"  # being evaluated: still finished
    assert set(rows) == {"finished", "budget", "diverged", "interrupted", "killed", "elsewhere", "running", "fresh"}
    assert {name: row.status for name, row in rows.items()} == {
        "finished": "finished", "budget": "time budget", "diverged": "diverged", "interrupted": "interrupted",
        "killed": "killed", "elsewhere": "running elsewhere", "running": "running", "fresh": "not started"}
    assert {row.status for row in rows.values()} <= set(STATUSES)
    assert (folder / "killed" / LOCK_FILE).exists()  # a stale lock is reported, never removed
    assert (rows["finished"].steps, rows["finished"].planned) == (8, 8)
    assert (rows["budget"].steps, rows["budget"].planned) == (1, 8)
    assert (rows["interrupted"].steps, rows["interrupted"].planned) == (4, 8)  # its last checkpoint
    assert "another-host" in rows["elsewhere"].note and "stale lock" in rows["killed"].note
    assert rows["diverged"].note.startswith("at step") and rows["fresh"].steps == 0


def test_a_row_holds_the_best_validation_and_the_training_time(folder):
    row = by_name(list_runs([folder]))["finished"]
    records = read_metrics(folder / "finished")
    best = min((r for r in records if r["split"] == "valid"), key=lambda r: r["loss"])
    assert (row.D, row.R, row.MI, row.AU) == (best["distortion"], best["rate"], best["mi"], best["au"])
    assert row.seconds == records[-2]["seconds"] > 0 and (row.model, row.objective, row.C, row.seed) == (
        "lstm-lstm", "beta-c", 3.0, 1)


def test_a_run_whose_rate_is_a_shift_says_so(folder, tmp_path):
    shifted = tmp_path / "shifted"
    shutil.copytree(folder / "finished", shifted)
    last = read_metrics(shifted)[-1] | {"rate": 5.0, "mi": 0.1, "mi_sentences": 100}
    with open(shifted / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(last) + "\n")
    (row,) = list_runs([shifted])
    assert "rate met by a shift (MI 0.10 of R 5.00)" in row.note
    assert "shift" not in by_name(list_runs([folder]))["finished"].note


def test_sorting_and_the_formats(folder, capsys):
    rows = list_runs([folder], sort="C")
    known = [r.C for r in rows if r.C is not None]
    assert known == sorted(known) and rows[-1].C is None
    assert [r.C for r in list_runs([folder], sort="C", descending=True)][: len(known)] == sorted(known, reverse=True)
    statuses = [r.status for r in list_runs([folder], sort="status")]
    assert statuses == sorted(statuses, key=list(STATUSES).index)
    with pytest.raises(ConfigError, match="--sort takes a column"):
        list_runs([folder], sort="colour")
    code, out, _ = run_cli(["runs", str(folder), "--json"], capsys)
    assert code == 0 and {r["run"] for r in json.loads(out)} >= {"finished", "killed"}
    code, out, _ = run_cli(["runs", str(folder), "--csv", "--sort", "steps"], capsys)
    lines = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [int(r["steps"]) for r in lines] == sorted(int(r["steps"]) for r in lines)
    code, out, _ = run_cli(["runs", str(folder)], capsys)
    header, rule, *body = out.splitlines()
    assert code == 0 and header.startswith("| run") and len(body) == 8 and "time budget" in out
    code, _, err = run_cli(["runs", str(folder), "--json", "--csv"], capsys)
    assert code == 2 and "exclude each other" in err


def test_a_damaged_run_is_a_row_and_a_folder_without_runs_is_one_line(folder, tmp_path, capsys):
    damaged = tmp_path / "damaged"
    shutil.copytree(folder / "finished", damaged)
    (damaged / "config.json").write_text('{"model": ')
    (row,) = list_runs([damaged])
    assert row.status == "damaged" and "not a JSON file" in row.note
    code, _, err = run_cli(["runs", str(tmp_path / "nothing-here")], capsys)
    assert code == 2 and "no such run directory" in err


def test_a_run_copied_without_its_weights_is_told_by_its_records(folder, tmp_path):
    records_only = tmp_path / "gathered" / "finished"
    shutil.copytree(folder / "finished", records_only, ignore=shutil.ignore_patterns("*.safetensors"))
    (row,) = list_runs([tmp_path / "gathered"])
    assert (row.status, row.steps, row.planned, row.note) == ("finished", 8, 8, "records only, no weights")
    assert row.D == by_name(list_runs([folder]))["finished"].D
