"""Run directories written by textvae 0.1.0 (tests/fixtures/runs-0.1.0) load, evaluate, sample and
resume as that version did with them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from textvae.cli import main
from textvae.training import reproducible_metrics

FIXTURE = Path(__file__).parent / "fixtures" / "runs-0.1.0"
RUNS = ["lstm-cnn-beta-c", "gru-gru-anneal"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        main(args)
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), capsys.readouterr().err
    return capsys.readouterr().out


def copy_run(name: str, tmp_path: Path) -> Path:
    """A copy of a fixture run whose config.json names the fixture's corpus (as a user who moved
    the run directory and its data would)."""
    run = tmp_path / name
    shutil.copytree(FIXTURE / "runs" / name, run)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    config["data"]["train"] = str(FIXTURE / "corpus" / "train.txt")
    config["data"]["valid"] = str(FIXTURE / "corpus" / "valid.txt")
    (run / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return run


# What later versions record beyond 0.1.0: per-word perplexities (0.2.0, for subword models), and the
# learning rate of each training record of metrics.jsonl
ADDED_SINCE = {"words", "ppl_word_iw", "ppl_word_elbo", "lr", "samples"}  # fields records gained since 0.1.0


def assert_numbers_close(actual: object, expected: object, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) - ADDED_SINCE == set(expected), where
        for key in expected:
            assert_numbers_close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_numbers_close(a, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-5, abs=1e-6), where
    else:
        assert actual == expected, where


@pytest.mark.parametrize("name", RUNS)
def test_a_run_of_version_0_1_0_evaluates_and_samples_as_it_did(name, tmp_path, capsys):
    run = copy_run(name, tmp_path)
    evaluation = json.loads(run_cli(["evaluate", str(run), "--data", str(FIXTURE / "corpus" / "valid.txt"),
                                     "--iw-samples", "10", "--json", "--no-progress"], capsys))
    expected = json.loads((FIXTURE / "expected" / f"{name}.evaluate.json").read_text(encoding="utf-8"))
    assert_numbers_close(evaluation, expected, "evaluate")
    samples = run_cli(["sample", str(run), "-n", "5", "--seed", "1", "--precision", "fp32", "--no-progress"], capsys)
    assert samples == (FIXTURE / "expected" / f"{name}.sample.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", RUNS)
def test_a_run_of_version_0_1_0_resumes_exactly(name, tmp_path, capsys):
    run = copy_run(name, tmp_path)
    run_cli(["train", "--out", str(run), "--resume", "--no-progress"], capsys)
    records = reproducible_metrics(run)
    expected = [json.loads(line) for line in
                (FIXTURE / "expected" / f"{name}.metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in records] == [1, 1, 4, 4, 8, 8, 12, 12]
    assert_numbers_close(records, expected, "metrics")
    weights, expected_weights = load_file(run / "last.safetensors"), load_file(
        FIXTURE / "expected" / f"{name}.last.safetensors")
    assert set(weights) == set(expected_weights)
    for key, tensor in expected_weights.items():
        torch.testing.assert_close(weights[key], tensor, rtol=1e-5, atol=1e-6, msg=key)
