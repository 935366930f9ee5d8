"""Seeds in the experiments: cells x seeds planned, named, reused and sharded; means with 95%
intervals checked by hand; verdicts judged against the spread between seeds."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest

from textvae.cli import main
from textvae.data.synthetic import write_corpus
from textvae.errors import ConfigError
from textvae.experiments import sweep
from textvae.experiments.figure1 import distortion_trend, run_figure1
from textvae.experiments.stats import differs, seed_means, spread
from textvae.experiments.sweep import Experiment, plan_runs

STEPS = 12


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"), n_sentences=400, seed=0).train.parent


def experiment(root: Path, corpus: Path, **changes) -> Experiment:
    settings = dict(name="figure1", train=str(corpus / "train.txt"), valid=str(corpus / "valid.txt"),
                    test=str(corpus / "test.txt"), out=str(root), models=["lstm-lstm"], kl_targets=[3.0],
                    max_steps=STEPS, device="cpu", seeds=[2])
    return Experiment(**(settings | changes))


def test_the_interval_is_the_hand_computed_t_interval():
    # values 1, 2, 3, 4: mean 2.5, sample sd sqrt(5/3); t(0.975, 3 df) = 3.182 from a printed t-table
    measured = spread([1.0, 2.0, 3.0, 4.0])
    assert measured.mean == 2.5 and measured.n == 4
    assert measured.sd == pytest.approx(math.sqrt(5 / 3))
    assert measured.half_width == pytest.approx(3.182 * math.sqrt(5 / 3) / 2, rel=1e-3)
    assert measured.low == pytest.approx(2.5 - measured.half_width) and measured.text() == "2.50 +- 2.05"
    one = spread([7.0])
    assert one.sd is None and one.half_width is None and one.text() == "7.00"


def test_two_cells_differ_only_beyond_their_spread():
    assert differs(spread([30.0, 30.1, 29.9]), spread([31.0, 31.1, 30.9])) is True
    assert differs(spread([30.0, 31.0, 29.0]), spread([30.5, 31.5, 29.5])) is False
    assert differs(spread([30.0]), spread([31.0, 31.1])) is None


def test_seed_means_average_each_cell_and_keep_every_run():
    rows = [{"model": "m", "C": 3.0, "seed": s, "run": f"r{s}", "distortion": d, "nll_iw": None}
            for s, d in ((0, 10.0), (1, 12.0))] + [{"model": "m", "C": 5.0, "seed": 0, "run": "q", "distortion": 9.0,
                                                    "nll_iw": 1.0}]
    merged = seed_means(rows, lambda r: (r["model"], r["C"]), ["distortion", "nll_iw"])
    assert [(r["C"], r["distortion"], r["runs"]) for r in merged] == [(3.0, 11.0, ["r0", "r1"]), (5.0, 9.0, ["q"])]
    assert merged[0]["spread"]["distortion"].n == 2 and merged[0]["nll_iw"] is None
    assert merged[1]["spread"]["distortion"].half_width is None


def test_a_rise_of_d_is_a_difference_only_when_the_seeds_agree_on_it():
    def rows(sd: float) -> list[dict]:
        runs = [{"model": "m", "C": c, "seed": s, "run": f"{c}-{s}", "distortion": d + sd * k}
                for c, d in ((30.0, 30.0), (60.0, 30.6)) for s, k in ((0, -1), (1, 0), (2, 1))]
        return seed_means(runs, lambda r: (r["model"], r["C"]), ["distortion"])

    assert distortion_trend("m", rows(0.05)).agrees is False  # tight seeds: a 0.6-nat rise is real
    wide = distortion_trend("m", rows(1.0))
    assert wide.agrees is True and "spread between seeds" in wide.observed
    one_seed = [{"model": "m", "C": 30.0, "distortion": 30.0}, {"model": "m", "C": 60.0, "distortion": 30.6}]
    assert distortion_trend("m", one_seed).agrees is True  # within the 1-nat allowance of one seed


def test_whether_the_elbo_prefers_collapse_is_judged_against_the_seeds_spread():
    """Collapsed elbo against beta-C at C = 3: -ELBO = D + R of each run, its mean and t-interval over
    the seeds; the preference holds only where Welch's t-test on the runs' -ELBOs finds the gap."""
    from textvae.experiments.compare_report import collapse_verdict, elbo_preference, negative_elbo

    def rows(sd: float, beta_c_distortion: float, rate_sd: float = 0.01, elbo_rate: float = 0.02) -> list[dict]:
        runs = [{"variant": v, "C": c, "seed": s, "run": f"{v}-{s}", "distortion": d + sd * k,
                 "rate": r + rate_sd * k, "elbo": -(d + sd * k + r + rate_sd * k)}
                for v, c, d, r in (("elbo", None, 39.2, elbo_rate), ("beta-c-C3", 3.0, beta_c_distortion, 3.0))
                for s, k in ((0, -1), (1, 0), (2, 1))]
        return seed_means(runs, lambda r: r["variant"], ["distortion", "rate", "elbo"])

    def preference(*args: float, **kwargs: float) -> str:
        merged = rows(*args, **kwargs)
        return elbo_preference(merged, {r["variant"]: collapse_verdict(r) for r in merged})

    tight = rows(0.05, 36.9)
    assert negative_elbo(tight[1]).mean == pytest.approx(39.9)
    # -ELBO of the elbo runs: 39.16, 39.22, 39.28 (sd 0.06); t(0.975, 2 df) = 4.303
    assert negative_elbo(tight[0]).half_width == pytest.approx(4.303 * 0.06 / math.sqrt(3), rel=1e-3)
    assert "0.68 nats in favour of collapse, beyond the seeds' spread" in preference(0.05, 36.9)
    assert "within the seeds' spread" in preference(1.0, 36.9)  # the same means, wide seeds
    assert "in favour of the rate" in preference(0.05, 35.0) and "lags" in preference(0.05, 35.0)
    # D and R trading against each other between seeds, as they do (a seed that keeps more rate
    # reconstructs better): each moves by 0.2 a seed, their sum by 0.01; adding the half-widths of D
    # and R of both rows (about 1.9 nats) would have hidden the 0.45-nat gap
    traded = rows(-0.2, 36.9, rate_sd=0.19, elbo_rate=0.25)
    bound = sum(row["spread"][k].half_width for row in traded for k in ("distortion", "rate"))
    assert bound > 1.9 and negative_elbo(traded[0]).sd == pytest.approx(0.01)
    assert "0.45 nats in favour of collapse, beyond the seeds' spread" in preference(
        -0.2, 36.9, rate_sd=0.19, elbo_rate=0.25)
    assert elbo_preference(tight[:1], {"elbo": True}) is None  # nothing keeps a rate: nothing to compare

def test_cells_times_seeds_are_planned_with_the_first_seed_keeping_the_old_names(corpus, tmp_path):
    specs = plan_runs(experiment(tmp_path, corpus, seeds=[3], kl_targets=[3.0, 5.0]), ["lstm-lstm"], [3.0, 5.0])
    assert [s.name for s in specs] == ["lstm-lstm-C3", "lstm-lstm-C3-seed1", "lstm-lstm-C3-seed2",
                                       "lstm-lstm-C5", "lstm-lstm-C5-seed1", "lstm-lstm-C5-seed2"]
    assert [s.config.training.seed for s in specs] == [0, 1, 2] * 2
    assert [s.cell for s in specs[:3]] == ["lstm-lstm:3", "lstm-lstm:3:seed1", "lstm-lstm:3:seed2"]
    listed = plan_runs(experiment(tmp_path, corpus, seed=4, seeds=[4, 9]), ["lstm-lstm"], [3.0])
    assert [(s.name, s.config.training.seed) for s in listed] == [("lstm-lstm-C3", 4), ("lstm-lstm-C3-seed9", 9)]
    with pytest.raises(ConfigError, match="twice"):
        experiment(tmp_path, corpus, seeds=[1, 1])
    with pytest.raises(ConfigError, match="at least 1"):
        experiment(tmp_path, corpus, seeds=[0])


def test_a_sweep_with_seeds_is_sharded_gathered_and_reused(corpus, tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    common = ["experiment", "figure1", "--train", str(corpus / "train.txt"), "--valid", str(corpus / "valid.txt"),
              "--test", str(corpus / "test.txt"), "--out", str(out), "--models", "lstm-lstm", "--C", "3,8",
              "--max-steps", str(STEPS), "--seeds", "2", "--device", "cpu", "--no-progress"]
    for only in ("lstm-lstm:3", "lstm-lstm:3:seed1", "lstm-lstm-C8", "3"):
        with pytest.raises(SystemExit) as done:
            main([*common, "--only", only])
        assert done.value.code == 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["lstm-lstm-C3", "lstm-lstm-C3-seed1",
                                                               "lstm-lstm-C8", "lstm-lstm-C8-seed1"]
    monkeypatch.setattr(sweep, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    rows = run_figure1(experiment(out, corpus, kl_targets=[3.0, 8.0]), progress=False)
    assert [(r["C"], r["seed"]) for r in rows] == [(3.0, 0), (3.0, 1), (8.0, 0), (8.0, 1)]
    assert rows[0]["distortion"] != rows[1]["distortion"]  # two seeds, two runs
    saved = json.loads((out / "results.json").read_text())["runs"]
    assert [r["seed"] for r in saved] == [0, 1, 0, 1]
    assert (out / "results.csv").read_text().splitlines()[0].startswith("model,C,seed,")
    report = (out / "report.md").read_text()
    assert "each cell is the mean of 2 runs" in report and " +- " in report
    # the time of every seed's run, the count of test sentences as counted, AU means as numbers
    assert "Training time of the 4 runs in this table" in report
    assert re.search(r"\(\d[\d,]* sentences\)", report) and not re.search(r"\d\.\d{5}", report)


def test_compare_runs_each_variant_once_a_seed_and_shows_intervals(corpus, tmp_path, monkeypatch):
    from textvae.experiments.compare import run_compare, select_variants

    out = tmp_path / "compare"
    common = ["experiment", "compare", "--train", str(corpus / "train.txt"), "--valid", str(corpus / "valid.txt"),
              "--test", str(corpus / "test.txt"), "--out", str(out), "--models", "lstm-lstm", "--C", "3",
              "--variants", "elbo,beta-c", "--max-steps", str(STEPS), "--seeds", "2", "--iw-samples", "2",
              "--device", "cpu", "--no-progress"]
    with pytest.raises(SystemExit) as done:
        main([*common, "--only", "lstm-lstm-elbo-seed1"])  # one (variant, seed) of a job array
    assert done.value.code == 0 and [p.name for p in (out / "runs").iterdir()] == ["lstm-lstm-elbo-seed1"]
    assert not (out / "compare.md").exists()
    with pytest.raises(SystemExit) as done:
        main(common)
    assert done.value.code == 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["lstm-lstm-C3", "lstm-lstm-C3-seed1",
                                                               "lstm-lstm-elbo", "lstm-lstm-elbo-seed1"]
    saved = json.loads((out / "compare.json").read_text())
    assert [(r["variant"], r["seed"]) for r in saved["runs"]] == [("elbo", 0), ("elbo", 1), ("beta-c-C3", 0),
                                                                  ("beta-c-C3", 1)]
    elbo = saved["variants"][0]
    assert elbo["spread"]["rate"]["n"] == 2 and elbo["rate"] == pytest.approx(
        (saved["runs"][0]["rate"] + saved["runs"][1]["rate"]) / 2)
    assert [line.split(",")[2] for line in (out / "compare.csv").read_text().splitlines()] == [
        "seed", "0", "1", "0", "1"]
    table = (out / "compare.md").read_text()
    assert "each row is the mean of 2 runs" in table and " +- " in table
    assert "- **Collapse.** The whole 95% interval of R under 1 nat" in table
    assert elbo["spread"]["elbo"]["n"] == 2  # each run's -ELBO, for whether the ELBO prefers collapse
    assert "Training time of the 4 runs in this table" in table and "finished runs are reused" in table
    monkeypatch.setattr(sweep, "train", lambda *a, **k: pytest.fail("a finished run was trained again"))
    exp = experiment(out, corpus, name="compare", iw_samples=2)
    rows = run_compare(exp, select_variants(exp, ["elbo", "beta-c"]), progress=False)
    assert [(r["variant"], r["seeds"]) for r in rows] == [("elbo", [0, 1]), ("beta-c-C3", [0, 1])]
    # Shards made elsewhere (another machine, an earlier session): the runs' records without any weights
    # are reused as they are, and the report, prior samples included, comes out the same
    moved = tmp_path / "moved"
    shutil.copytree(out, moved, ignore=shutil.ignore_patterns("*.safetensors", "compare.*"))
    exp = experiment(moved, corpus, name="compare", iw_samples=2)
    moved_rows = run_compare(exp, select_variants(exp, ["elbo", "beta-c"]), progress=False)
    assert [r["samples"] for r in moved_rows] == [r["samples"] for r in rows] and len(rows[0]["samples"]) == 3
    assert [r["rate"] for r in moved_rows] == [r["rate"] for r in rows]


def test_the_tables_show_every_seeds_runs_as_means_with_intervals(corpus, tmp_path):
    """table1 and table4 in one --out with two seeds: both use the same four runs; table1's numbers
    and table4's accuracies are means over the seeds with intervals, table4.json keeps each seed's."""
    from textvae.experiments.table1 import run_table1
    from textvae.experiments.table4 import run_table4

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps({"sentence_good": good, "sentence_bad": bad, "case": "simple_agrmt",
                                            "condition": "sing"})
                                for good, bad in (("the teacher smiles", "the teacher smile"),
                                                  ("the teacher likes himself", "the teacher likes themselves"))) + "\n")
    out = tmp_path / "tables"
    runs = run_table1(experiment(out, corpus, name="table1", kl_targets=[3.0, 8.0]), progress=False)
    assert [(r["C"], r["seed"]) for r in runs] == [(3.0, 0), (3.0, 1), (8.0, 0), (8.0, 1)]
    table1 = (out / "table1.md").read_text()
    assert "each cell is the mean of 2 runs" in table1 and table1.count(" +- ") > 10
    run_table4(experiment(out, corpus, name="table4", kl_targets=[3.0, 8.0]), pairs, progress=False)
    saved = json.loads((out / "table4.json").read_text())
    assert saved["seeds"] == [0, 1] and len(saved["groups_by_seed"]["3"]) == 2
    assert " +- " in (out / "table4.md").read_text()
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["lstm-lstm-C3", "lstm-lstm-C3-seed1",
                                                               "lstm-lstm-C8", "lstm-lstm-C8-seed1"]


def test_r_tracks_c_within_the_tolerance_or_within_the_seeds_interval():
    from textvae.experiments.figure1 import rate_trend

    def cell(c, rates):
        return {"C": c, "run": "r", "rate": sum(rates) / len(rates), "spread": {"rate": spread(rates)}}
    assert rate_trend("m", [cell(10.0, [10.5])]).agrees  # 5% off: within the 10% tolerance
    assert not rate_trend("m", [cell(10.0, [12.5])]).agrees  # 25% off, one seed
    assert rate_trend("m", [cell(10.0, [8.0, 17.0, 12.5])]).agrees  # 25% off on average, C inside the interval
    assert not rate_trend("m", [cell(10.0, [12.4, 12.5, 12.6])]).agrees  # seeds agree: C outside
