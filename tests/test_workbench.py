"""`textvae plot`: training curves drawn from what runs hold, overlaid and labelled by what differs."""

from __future__ import annotations

import json
import shutil

import pytest

from textvae import DataConfig, ModelConfig, TrainConfig, train
from textvae.cli import main
from textvae.errors import RunDirError
from textvae.workbench.curves import labels, plot_curves, read_curves
from textvae.workbench.runs import find_runs

pytest.importorskip("matplotlib")
pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = {"embedding_dim": 8, "hidden_dim": 8, "latent_dim": 3}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two finished runs at different C under one folder, as a sweep's runs/."""
    root = tmp_path_factory.mktemp("sweep")
    corpus = root / "corpus"
    corpus.mkdir()
    from conftest import TINY_SENTENCES
    (corpus / "train.txt").write_text("\n".join(TINY_SENTENCES * 4) + "\n")
    (corpus / "valid.txt").write_text("\n".join(TINY_SENTENCES[:4]) + "\n")
    for c in (2.0, 6.0):
        train(root / "runs" / f"lstm-lstm-C{c:g}", DataConfig(str(corpus / "train.txt"), str(corpus / "valid.txt")),
              ModelConfig(**SMALL), TrainConfig.from_flat({"kl_target": c, "batch_size": 4, "max_steps": 12, "eval_every": 4}), progress=False)
    return root


def test_each_run_has_its_own_picture_and_a_sweep_plots_all_its_runs(sweep, tmp_path):
    runs = find_runs([sweep])
    assert [r.name for r in runs] == ["lstm-lstm-C2", "lstm-lstm-C6"]
    pictures = []
    for run in runs:
        path = plot_curves([read_curves(run)], tmp_path / f"{run.name}.png")
        pictures.append(path.read_bytes())
    assert pictures[0][:8] == b"\x89PNG\r\n\x1a\n" and pictures[0] != pictures[1]  # the data drew it
    assert plot_curves([read_curves(runs[0])], tmp_path / "again.png").read_bytes() == pictures[0]
    assert labels([read_curves(r) for r in runs]) == ["C=2", "C=6"]
    with pytest.raises(SystemExit) as done:
        main(["plot", str(sweep), "--out", str(tmp_path / "all.svg"), "--x", "time"])
    assert done.value.code == 0 and (tmp_path / "all.svg").read_text().lstrip().startswith("<?xml")


def test_a_cut_last_line_and_a_run_with_no_evaluation_yet(sweep, tmp_path, caplog):
    killed = tmp_path / "killed"
    shutil.copytree(sweep / "runs" / "lstm-lstm-C2", killed)
    whole = (killed / "metrics.jsonl").read_text()
    with open(killed / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 16, "split": "tr')  # killed while appending
    curves = read_curves(killed)
    assert [r["step"] for r in curves.train] == [4, 8, 12] and "cut short" in caplog.text
    plot_curves([curves], tmp_path / "killed.png")
    assert (killed / "metrics.jsonl").read_text().startswith(whole)  # plotting never repairs a run
    fresh = tmp_path / "fresh"
    shutil.copytree(sweep / "runs" / "lstm-lstm-C6", fresh)
    (fresh / "metrics.jsonl").write_text("")
    with pytest.raises(RunDirError, match="no run has a record in metrics.jsonl yet"):
        plot_curves([read_curves(fresh)], tmp_path / "fresh.png")
    plot_curves([read_curves(fresh), curves], tmp_path / "both.png")  # the other run is drawn


def test_time_needs_runs_that_recorded_it(sweep, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(sweep / "runs" / "lstm-lstm-C2", old)
    records = [json.loads(line) for line in (old / "metrics.jsonl").read_text().splitlines()]
    (old / "metrics.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k not in ("seconds", "lr")})
                                               + "\n" for r in records))
    with pytest.raises(RunDirError, match="plot it with --x step"):
        plot_curves([read_curves(old)], tmp_path / "old.png", x="time")
    curves = read_curves(old)
    assert {r["lr"] for r in curves.train} == {TrainConfig().lr}  # the config's rate, for records without one
    plot_curves([curves], tmp_path / "old.png", x="epoch")
    with pytest.raises(SystemExit) as done:
        main(["plot", str(tmp_path / "nowhere")])
    assert done.value.code == 2


def test_a_legend_names_the_objective_and_C_not_the_options_that_follow_from_them():
    from textvae.workbench.curves import RunCurves

    def run(name, **config):
        return RunCurves(name, {"model": "lstm-lstm", "seed": 0, "lr": 0.002, **config}, [], [])
    runs = [run("a", objective="beta-c", kl_target=3.0, anneal_steps=6000), run("b", objective="beta-c", kl_target=15.0,
            anneal_steps=6000), run("c", objective="elbo"), run("d", objective="anneal", anneal_shape="linear")]
    assert labels(runs) == ["objective=beta-c C=3", "objective=beta-c C=15", "objective=elbo", "objective=anneal"]
    assert labels([run("a", lr=0.1), run("b", lr=0.2)]) == ["lr=0.1", "lr=0.2"]  # nothing of LABEL_FIRST differs
    assert labels([run("a"), run("b")]) == ["a", "b"]
