"""Experiment sweeps: run layout, reuse and resumption, parallel jobs, trends, reports and plots."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from textvae.cli import main
from textvae.data.synthetic import write_corpus
from textvae.errors import RunDirError
from textvae.experiments import sweep
from textvae.experiments.figure1 import (
    distortion_trend,
    figure1_trends,
    monotone_trend,
    rate_trend,
    run_figure1,
    spearman,
)
from textvae.experiments.sweep import Experiment, plan_runs, prepare, run_all
from textvae.experiments.table1 import run_table1
from textvae.experiments.table2 import run_table2
from textvae.training import read_metrics
from textvae.training import train as real_train

pytestmark = pytest.mark.slow
STEPS = 24


def tiny_experiment(root: Path, corpus: Path, **changes) -> Experiment:
    settings = dict(name="figure1", train=str(corpus / "train.txt"), valid=str(corpus / "valid.txt"),
                    test=str(corpus / "test.txt"), out=str(root), models=["lstm-lstm", "gru-gru"],
                    kl_targets=[3.0, 8.0], max_steps=STEPS, device="cpu")
    return Experiment(**(settings | changes))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    # 1,000 sentences: 50 test sentences, more than the 32 latent dimensions LogDetCov needs
    return write_corpus(tmp_path_factory.mktemp("corpus"), n_sentences=1000, seed=0).train.parent


@pytest.fixture(scope="module")
def figure1(corpus, tmp_path_factory) -> tuple[Experiment, list[dict]]:
    experiment = tiny_experiment(tmp_path_factory.mktemp("figure1"), corpus)
    return experiment, run_figure1(experiment, progress=False)


def test_figure1_writes_every_output(figure1):
    experiment, rows = figure1
    root = experiment.root
    assert [(r["model"], r["C"]) for r in rows] == [("lstm-lstm", 3.0), ("lstm-lstm", 8.0), ("gru-gru", 3.0),
                                                    ("gru-gru", 8.0)]
    for row in rows:
        run = root / "runs" / row["run"]
        assert read_metrics(run)[-1]["step"] == STEPS
        assert json.loads((run / "evaluation.json").read_text())["rate"] == row["rate"]
    results = json.loads((root / "results.json").read_text())
    assert results["experiment"]["models"] == ["lstm-lstm", "gru-gru"]
    assert [r["config"]["training"]["objective_options"]["kl_target"] for r in results["runs"]] == [3.0, 8.0, 3.0, 8.0]
    assert {r["config"]["model"]["hidden_dim"] for r in results["runs"]} == {128}  # the cpu-small preset
    with open(root / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [(t["model"], float(t["C"])) for t in table] == [(r["model"], r["C"]) for r in rows]
    assert float(table[1]["rate"]) == pytest.approx(rows[1]["rate"])
    saved = json.loads((root / "experiment.json").read_text())
    assert saved["preset"] == "cpu-small" and saved["max_steps"] == STEPS
    report = (root / "report.md").read_text()
    for model in ("lstm-lstm", "gru-gru"):
        assert f"| {model} | R against C |" in report and f"| {model} | D against C |" in report
    assert "![Figure 1](figure1.png)" in report


def test_figure1_png_has_five_labelled_panels(figure1):
    image = pytest.importorskip("matplotlib.image")
    experiment, _ = figure1
    pixels = image.imread(experiment.root / "figure1.png")
    assert pixels.shape[0] > 600 and pixels.shape[1] > 1200
    from textvae.experiments.plots import FIGURE1_PANELS

    assert [key for key, _ in FIGURE1_PANELS] == ["distortion", "rate", "log_det_cov", "mu_norm_sq", "au"]


def test_a_finished_sweep_is_reused_without_training(figure1, monkeypatch):
    experiment, rows = figure1
    stamps = {p: p.stat().st_mtime_ns for p in experiment.root.glob("runs/*/evaluation.json")}

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(sweep, "train", no_training)
    again = run_figure1(experiment, progress=False)
    assert [r["rate"] for r in again] == [r["rate"] for r in rows]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_other_settings_in_the_same_directory_are_refused(figure1):
    experiment, _ = figure1
    with pytest.raises(RunDirError, match="seed"):
        prepare(replace(experiment, seed=1))
    spec = plan_runs(experiment, ["lstm-lstm"], [3.0])[0]
    config = spec.config
    changed = replace(spec, config=replace(config, training=replace(config.training, lr=0.01)))
    (spec.run_dir / "evaluation.json").rename(spec.run_dir / "evaluation.saved")
    try:
        with pytest.raises(RunDirError, match="other settings"):
            sweep.complete_run(changed)
    finally:
        (spec.run_dir / "evaluation.saved").rename(spec.run_dir / "evaluation.json")


def test_runs_saved_with_another_device_or_checkpoint_cadence_are_reused(figure1, monkeypatch):
    experiment, _ = figure1
    spec = plan_runs(experiment, ["lstm-lstm"], [3.0])[0]
    saved = json.loads((spec.run_dir / "config.json").read_text())
    saved["training"] |= {"checkpoint_every": 100, "device": "cuda:3"}  # as a run of an older version on a GPU
    (spec.run_dir / "config.json").write_text(json.dumps(saved))
    resumed = []
    monkeypatch.setattr(sweep, "train", lambda *a, **k: resumed.append(k.get("resume")))
    sweep.ensure_trained(spec, progress=False)
    assert resumed == [True]  # the finished run is resumed (a no-op), not refused


def as_saved_by_0_1_0(config: dict) -> dict:
    """A config.json in the flat form of textvae 0.1.0: every objective's options beside the training
    settings (defaults where the run's objective has no use for them), the CNN's beside the sizes."""
    training, model = dict(config["training"]), dict(config["model"])
    flat_objective = {"kl_target": 15.0, "beta": 1.0, "anneal_steps": None, "anneal_epochs": 2.0,
                      "anneal_shape": "linear", "cycles": 4, "cycle_ratio": 0.5, "free_bits": None, "fb_mode": "dim"}
    training = {**flat_objective, **training.pop("objective_options"), **training}
    kinds = {**model.pop("encoder_options"), **model.pop("decoder_options")}
    kinds.pop("decoder_dropout", None)  # an option of later versions
    model = {**model, "conv_channels": 64, "kernel_width": 20, "conv_blocks": 2, "dropout": 0.1, **kinds}
    return {**config, "textvae_version": "0.1.0", "model": model, "training": training}


def test_runs_saved_by_version_0_1_0_are_reused(figure1, monkeypatch):
    experiment, _ = figure1
    spec = plan_runs(experiment, ["gru-gru"], [8.0])[0]
    path = spec.run_dir / "config.json"
    saved, old = json.loads(path.read_text()), as_saved_by_0_1_0(json.loads(path.read_text()))
    resumed = []
    monkeypatch.setattr(sweep, "train", lambda *a, **k: resumed.append(k.get("resume")))
    try:
        path.write_text(json.dumps(old))
        sweep.ensure_trained(spec, progress=False)
        assert resumed == [True]  # read as the same settings, not refused as other ones
        path.write_text(json.dumps(old | {"training": old["training"] | {"kl_target": 9.0}}))
        with pytest.raises(RunDirError, match="other settings"):  # and a real difference is still one
            sweep.ensure_trained(spec, progress=False)
    finally:
        path.write_text(json.dumps(saved))


def test_table1_adds_reconstruction_buckets_to_the_same_runs(figure1, monkeypatch):
    experiment, _ = figure1
    monkeypatch.setattr(sweep, "train", lambda *a, **k: pytest.fail("table1 should reuse figure1's runs"))
    rows = run_table1(replace(experiment, name="table1", models=["lstm-lstm"]), progress=False)
    assert [r["C"] for r in rows] == [3.0, 8.0]
    for row in rows:
        assert [b["bucket"] for b in row["reconstruction"]] == ["<=10", "11-20", "21-30", "all"]
        assert row["reconstruction"][-1]["sentences"] == row["sentences"]
    table = (experiment.root / "table1.md").read_text()
    body = [line for line in table.splitlines() if line.startswith("| lstm-lstm") or line.startswith("|  |")]
    assert len(body) == 2 * 4  # one line per bucket, for each C
    assert "| lstm-lstm | 8 |" in table


def test_table2_has_a_column_per_decoding_and_a_line_per_step(figure1):
    experiment, _ = figure1
    run_table2(replace(experiment, name="table2", models=["lstm-lstm"], kl_targets=[8.0]), steps=5,
               progress=False)
    table = (experiment.root / "table2.md").read_text()
    assert table.count("| s | greedy | top-k (k=15) | top-p (p=0.9) |") == 2  # prior draws, then sentences
    assert table.count("| 0.00 |") == 2 and table.count("| 1.00 |") == 2 and table.count("| 0.50 |") == 2
    again = (run_table2(replace(experiment, name="table2", models=["lstm-lstm"], kl_targets=[8.0]), steps=5,
                        progress=False), (experiment.root / "table2.md").read_text())[1]
    strip = lambda text: [line for line in text.splitlines() if "Wall time" not in line]  # noqa: E731
    assert strip(again) == strip(table)  # seeded


def test_parallel_jobs_give_the_results_of_one_job(corpus, tmp_path):
    one = tiny_experiment(tmp_path / "one", corpus, models=["lstm-cnn"], kl_targets=[2.0, 6.0])
    two = replace(one, out=str(tmp_path / "two"))
    for experiment in (one, two):
        prepare(experiment)
    serial = run_all(plan_runs(one, one.models, one.kl_targets), jobs=1, progress=False)
    parallel = run_all(plan_runs(two, two.models, two.kl_targets), jobs=2, progress=False)
    assert [r["run"] for r in parallel] == [r["run"] for r in serial]
    for a, b in zip(serial, parallel):  # 1 thread a job against 2 threads: the same up to float rounding
        assert b["rate"] == pytest.approx(a["rate"], rel=1e-3)
        assert b["distortion"] == pytest.approx(a["distortion"], rel=1e-3)


def test_a_killed_sweep_finishes_only_the_missing_runs(corpus, tmp_path, caplog):
    experiment = tiny_experiment(tmp_path, corpus, models=["lstm-lstm"], kl_targets=[3.0, 8.0], max_steps=200)
    first, second = (experiment.root / "runs" / name for name in ("lstm-lstm-C3", "lstm-lstm-C8"))
    command = [sys.executable, "-m", "textvae", "experiment", "figure1", "--train", experiment.train,
               "--valid", experiment.valid, "--test", experiment.test, "--out", experiment.out,
               "--models", "lstm-lstm", "--C", "3,8", "--max-steps", "200", "--device", "cpu", "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=os.environ | {"PYTHONPATH": str(Path(sweep.__file__).parents[2])})
    deadline = time.monotonic() + 900  # a guard against a hang, with room for a loaded 2-core machine
    while not ((first / "evaluation.json").exists() and (second / "checkpoint.safetensors").exists()):
        assert process.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (second / "evaluation.json").exists()
    finished_before = (first / "evaluation.json").stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        rows = run_figure1(experiment, progress=False)
    assert (first / "evaluation.json").stat().st_mtime_ns == finished_before  # not redone
    assert any(f"resumed {second}" in m for m in caplog.messages)
    assert not any(f"resumed {first}" in m or "training lstm-lstm" in m and "C=3" in m for m in caplog.messages)
    assert [r["run"] for r in rows] == ["lstm-lstm-C3", "lstm-lstm-C8"]
    assert read_metrics(second)[-1]["step"] == 200


def test_rate_and_distortion_trends():
    rows = [{"model": "m", "C": c, "rate": r, "distortion": d, "run": "x"}
            for c, r, d in [(3, 3.5, 40.0), (5, 5.2, 39.0), (10, 9.8, 39.3), (15, 13.0, 37.0)]]
    rate = rate_trend("m", rows)
    assert rate.agrees is False and "13.3%" in rate.observed  # 13 against 15; C = 3 is not checked
    assert rate_trend("m", rows[:3]).agrees is True
    within_noise = distortion_trend("m", rows)
    assert within_noise.agrees is True and "+0.30 from C=5 to C=10 is within the 1-nat allowance" in within_noise.observed
    rows[2]["distortion"] = 40.5
    rising = distortion_trend("m", rows)
    assert rising.agrees is False and "from C=5 to C=10" in rising.why


def test_spearman_and_posterior_trends():
    assert spearman([1, 2, 3, 4], [10, 20, 25, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    rows = [{"model": "m", "C": c, "rate": c, "distortion": 40 - c, "mu_norm_sq": 0.1 * c, "log_det_cov": -c,
             "au": 4, "run": "x"} for c in (3, 5, 10)]
    verdicts = {t.quantity: t.agrees for t in figure1_trends(rows)}
    assert verdicts == {"R against C": True, "D against C": True, "||mu||^2 against C": True,
                        "LogDetCov against C": True, "AU against C": None}
    for row in rows:
        row["log_det_cov"] = None  # too few test sentences to measure it
    assert {t.quantity: t.agrees for t in figure1_trends(rows)}["LogDetCov against C"] is None
    # flat near the prior at small C, falling only at large C: the report says from where it follows the paper
    flat_then_falling = [{"C": c, "log_det_cov": v} for c, v in zip((3, 5, 10, 15, 30), (-0.4, 0.5, -0.6, 0.6, -12.0))]
    trend = monotone_trend("m", flat_then_falling, "log_det_cov", "LogDetCov against C", "falls", -1)
    assert trend.agrees is False and "only from C=15 on (0.60 -> -12.00)" in trend.why


def test_experiment_cli_errors_are_one_line(corpus, tmp_path, capsys):
    common = ["experiment", "figure1", "--train", str(corpus / "train.txt"), "--valid", str(corpus / "valid.txt"),
              "--test", str(corpus / "test.txt"), "--out", str(tmp_path / "x")]
    for extra, message in [(["--models", "bert-lstm"], "bert-lstm"),
                           (["--test", str(tmp_path / "missing.txt")], "missing.txt")]:
        with pytest.raises(SystemExit) as exit_:
            main(common + extra)
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(common + ["--C", "3,lots"])
    assert exit_.value.code == 2


def _children(pid: int) -> list[int]:
    """Processes whose parent is pid (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_parallel_jobs_die_with_a_killed_sweep(corpus, tmp_path):
    experiment = tiny_experiment(tmp_path, corpus, models=["lstm-lstm"], kl_targets=[3.0, 8.0], max_steps=5000)
    command = [sys.executable, "-m", "textvae", "experiment", "figure1", "--train", experiment.train,
               "--valid", experiment.valid, "--test", experiment.test, "--out", experiment.out,
               "--models", "lstm-lstm", "--C", "3,8", "--max-steps", "5000", "--device", "cpu", "--no-progress",
               "--jobs", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=os.environ | {"PYTHONPATH": str(Path(sweep.__file__).parents[2])})
    runs = [experiment.root / "runs" / name / "config.json" for name in ("lstm-lstm-C3", "lstm-lstm-C8")]
    deadline = time.monotonic() + 900  # a guard against a hang, with room for a loaded 2-core machine
    while not all(r.exists() for r in runs):  # both jobs are training
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    workers = _children(process.pid)
    assert len(workers) >= 2
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 30
    while any(_alive(w) for w in workers):
        assert time.monotonic() < deadline, "a worker outlived the killed sweep"
        time.sleep(0.05)


def test_table3_has_every_cell_with_mean_and_spread_and_the_reference(figure1):
    from textvae.experiments.table3 import TABLE3_SCHEMES, run_table3

    experiment, _ = figure1
    settings = replace(experiment, name="table3", models=["lstm-lstm"], kl_targets=[8.0])
    rows = run_table3(settings, copies=2, progress=False)
    assert [r["scheme"] for r in rows] == ["real training sample"] + [d.describe() for d in TABLE3_SCHEMES]
    assert [r["C"] for r in rows] == [None] + [8.0] * len(TABLE3_SCHEMES)
    for row in rows:
        assert row["copies"] == 2 and row["cross_entropy"] > 0 and row["cross_entropy_std"] >= 0
        assert 0 < row["distinct_1"] <= 1 and 0 <= row["self_bleu"] <= 100 + 1e-9
    greedy = rows[1]
    assert greedy["scheme"] == "greedy" and greedy["distinct_2"] < rows[-1]["distinct_2"]  # greedy repeats itself
    table = (experiment.root / "table3.md").read_text()
    assert sum("±" in line for line in table.splitlines() if line.startswith("| ")) == 1 + len(TABLE3_SCHEMES)
    assert (experiment.root / "table3.png").exists()
    saved = json.loads((experiment.root / "table3.json").read_text())
    assert len(saved["cells"]) == 2 * (1 + len(TABLE3_SCHEMES)) and saved["corpus_size"] == 50
    stamps = {p: p.stat().st_mtime_ns for p in (experiment.root / "table3").rglob("result.json")}
    assert run_table3(settings, copies=2, progress=False) == rows  # finished cells are reused
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_table4_reports_each_group_at_each_C(figure1, tmp_path):
    from textvae.experiments.table4 import run_table4

    experiment, _ = figure1
    pairs = tmp_path / "pairs.jsonl"
    records = [{"case": "simple_agrmt", "condition": "sing", "sentence_good": "the teacher smiles",
                "sentence_bad": "the teacher smile"},
               {"case": "reflexives_across", "condition": "x", "sentence_good": "the teacher likes himself",
                "sentence_bad": "the teacher likes themselves"}]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    scores = run_table4(replace(experiment, name="table4", models=["lstm-lstm"]), pairs, progress=False)
    assert set(scores) == {3.0, 8.0}
    for groups in scores.values():
        assert [g.group for g in groups] == ["agreement: simple", "reflexive anaphora: across a relative clause",
                                             "overall"]
        assert [g.scored + g.skipped for g in groups] == [1, 1, 2]
    table = (experiment.root / "table4.md").read_text()
    assert "| group | pairs | OOV % | ties | C=3 pos | C=3 neg |" in table and "C=8 LM" in table
    assert table.count("| agreement: simple | 1 |") == 1


def test_compare_trains_every_remedy_and_writes_the_comparison(corpus, tmp_path):
    from textvae.experiments.compare import default_variants, run_compare

    experiment = tiny_experiment(tmp_path / "compare", corpus, name="compare", models=["lstm-lstm"],
                                 kl_targets=[3.0, 8.0], iw_samples=4)
    variants = default_variants(STEPS, experiment.kl_targets)
    assert [v.name for v in variants] == ["elbo", "anneal", "cyclical", "free-bits", "aggressive", "ae-free-bits",
                                          "beta-c-C3", "beta-c-C8"]
    assert "aggressive_until" not in variants[4].training  # no cap by default (He et al. have none)
    variants[4] = dataclasses.replace(variants[4], training={**variants[4].training, "aggressive_max_updates": 3})
    rows = run_compare(experiment, variants, progress=False)
    root = experiment.root
    configs = {r["variant"]: json.loads((root / "runs" / r["run"] / "config.json").read_text())["training"]
               for r in rows}
    assert configs["aggressive"]["aggressive"] and configs["ae-free-bits"]["ae_pretrain_steps"] == 8
    assert configs["cyclical"]["objective"] == "cyclical" and configs["beta-c-C8"]["objective_options"]["kl_target"] == 8.0
    for row in rows:
        assert row["nll_iw"] is not None and row["mi"] is not None and len(row["samples"]) == 3
        assert 0 <= row["bleu4"] <= 100
    compare = json.loads((root / "compare.json").read_text())
    assert compare["language_model"]["nll"] > 0 and len(compare["runs"]) == 8
    table = (root / "compare.md").read_text()
    for name in ("elbo", "aggressive", "beta-c-C3", "LSTM language model (no z)", "Against He et al. 2019",
                 "Collapse."):
        assert name in table
    assert (root / "compare.png").stat().st_size > 10_000 and (root / "aggressive.png").stat().st_size > 5_000
    assert "## Aggressive training over its runs" in table and "encoder updates a step on average" in table
    trajectory = compare["aggressive"]["lstm-lstm-aggressive"]
    assert trajectory["max_updates"] == 3 and trajectory["aggressive"][0] and trajectory["mean_updates"] <= 3
    with open(root / "compare.csv", newline="") as f:
        assert [r["variant"] for r in csv.DictReader(f)] == [v.name for v in variants]
    # everything is reused on a second call, the language model too
    before = (root / "lm" / "model.safetensors").stat().st_mtime_ns
    again = run_compare(experiment, variants, progress=False)
    assert [r["rate"] for r in again] == [r["rate"] for r in rows]
    assert (root / "lm" / "model.safetensors").stat().st_mtime_ns == before


def test_a_transformer_is_compared_with_a_transformer_language_model_of_its_size(corpus, tmp_path):
    from textvae.experiments.compare import default_variants, run_compare

    experiment = tiny_experiment(tmp_path / "compare", corpus, name="compare", models=["transformer"],
                                 kl_targets=[3.0], iw_samples=2)
    variants = [v for v in default_variants(STEPS, [3.0]) if v.name in ("elbo", "beta-c-C3")]
    rows = run_compare(experiment, variants, progress=False)
    assert [r["variant"] for r in rows] == ["elbo", "beta-c-C3"]
    run = json.loads((experiment.root / "runs" / rows[0]["run"] / "config.json").read_text())["model"]
    lm = json.loads((experiment.root / "lm" / "config.json").read_text())["language_model"]
    assert lm["kind"] == "transformer" and lm["hidden_dim"] == run["hidden_dim"]
    assert lm["options"]["layers"] == run["decoder_options"]["layers"] == 2
    assert json.loads((experiment.root / "compare.json").read_text())["language_model"]["kind"] == "transformer"
    assert "| Transformer language model (no z) |" in (experiment.root / "compare.md").read_text()


def test_compare_reuses_the_sweeps_beta_c_runs_and_adds_what_it_measures(corpus, tmp_path, monkeypatch):
    """figure1 and compare in one --out train a beta-C run once: compare evaluates it again only for
    the importance samples figure1 skipped. A directory from before keeps MODEL-beta-c-C<C>."""
    from textvae.experiments.compare import default_variants, run_compare

    root = tmp_path / "shared"
    run_figure1(tiny_experiment(root, corpus, models=["lstm-lstm"], kl_targets=[3.0]), progress=False)
    swept = json.loads((root / "runs" / "lstm-lstm-C3" / "evaluation.json").read_text())
    assert swept["iw_samples"] == 0 and swept["nll_iw"] is None
    weights = (root / "runs" / "lstm-lstm-C3" / "model.safetensors").stat().st_mtime_ns
    trained = []
    monkeypatch.setattr(sweep, "train", lambda run_dir, *a, **k: (trained.append(Path(run_dir).name),
                                                                  real_train(run_dir, *a, **k)))
    experiment = tiny_experiment(root, corpus, name="compare", models=["lstm-lstm"], kl_targets=[3.0])
    variants = [v for v in default_variants(STEPS, [3.0]) if v.name in ("elbo", "beta-c-C3")]
    rows = run_compare(experiment, variants, progress=False)
    assert trained == ["lstm-lstm-elbo"]
    assert [r["run"] for r in rows] == ["lstm-lstm-elbo", "lstm-lstm-C3"]
    assert rows[1]["rate"] == swept["rate"] and rows[1]["nll_iw"] is not None
    assert (root / "runs" / "lstm-lstm-C3" / "model.safetensors").stat().st_mtime_ns == weights
    assert json.loads((root / "runs" / "lstm-lstm-C3" / "evaluation.json").read_text())["iw_samples"] > 0

    (root / "runs" / "lstm-lstm-C3").rename(root / "runs" / "lstm-lstm-beta-c-C3")
    trained.clear()
    again = run_compare(experiment, variants, progress=False)
    assert trained == [] and [r["run"] for r in again] == ["lstm-lstm-elbo", "lstm-lstm-beta-c-C3"]
    assert again[1]["nll_iw"] == rows[1]["nll_iw"]


def test_cells_run_one_by_one_then_gathered_make_the_table_one_sweep_makes(corpus, tmp_path, figure1):
    """What a cluster's job array does: each task runs one cell (--only), a last call gathers."""
    whole, _ = figure1
    cells = tmp_path / "cells"
    common = ["experiment", "figure1", "--train", str(whole.train), "--valid", str(whole.valid), "--test",
              str(whole.test), "--out", str(cells), "--models", "lstm-lstm,gru-gru", "--C", "3,8", "--max-steps",
              str(STEPS), "--device", "cpu", "--no-progress"]
    for only in ("lstm-lstm:3", "1", "gru-gru-C3", "gru-gru:8"):
        with pytest.raises(SystemExit) as done:
            main([*common, "--only", only])
        assert done.value.code == 0
        assert not (cells / "results.json").exists()  # a cell alone writes no outputs
    assert sorted(p.name for p in (cells / "runs").iterdir()) == ["gru-gru-C3", "gru-gru-C8", "lstm-lstm-C3",
                                                                  "lstm-lstm-C8"]
    with pytest.raises(SystemExit) as done:
        main(common)  # gathers: every run is reused
    assert done.value.code == 0
    gathered = json.loads((cells / "results.json").read_text())["runs"]
    swept = json.loads((whole.root / "results.json").read_text())["runs"]
    for mine, theirs in zip(gathered, swept):
        for key in ("model", "C", "distortion", "rate", "mi", "au", "log_det_cov", "mu_norm_sq"):
            assert mine[key] == theirs[key], key
    with pytest.raises(SystemExit) as done:
        main([*common, "--only", "lstm-lstm:99"])
    assert done.value.code == 2


def test_figure1_probes_the_built_in_corpus_factors(figure1):
    experiment, rows = figure1
    assert experiment.probe_labels.endswith("test.factors.jsonl")  # found beside --test
    for row in rows:
        assert {"sentiment", "tense", "construction", "length"} <= set(row["probes"])
        assert (experiment.root / "runs" / row["run"] / "probes.json").exists()
    from textvae.data.synthetic import read_factors

    assert len(read_factors(experiment.probe_labels)) == 50  # the labels file is read, never written
    report = (experiment.root / "report.md").read_text()
    assert "## What z encodes: linear probes of the test split" in report
    assert "Order in which lstm-lstm's code takes the factors up as C grows" in report
    assert "| sentiment |" in report
