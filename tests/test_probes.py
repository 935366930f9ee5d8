"""Probes of what z encodes, against cases whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textvae.errors import DataError
from textvae.evaluation.probes import Interval, aligned, probe_factor, probe_length, read_labels

pytest.importorskip("sklearn")


def test_a_factor_written_in_z_is_found_and_noise_is_not():
    rng = np.random.default_rng(0)
    labels = rng.choice(["pos", "neg"], size=600)
    signal = np.where(labels == "pos", 2.0, -2.0)[:, None]
    features = np.hstack([signal + rng.normal(0, 0.3, (600, 1)), rng.normal(0, 1, (600, 3))])
    found = probe_factor(features, list(labels), "sentiment")
    assert found.accuracy.low > 0.98 and 0.45 < found.majority.mean < 0.55
    # nearly all of the label's entropy (log 2 = 0.693 nats) is in z
    assert found.entropy == pytest.approx(np.log(2), abs=0.01) and found.information.mean > 0.6
    noise = probe_factor(rng.normal(0, 1, (600, 4)), list(labels), "sentiment")
    assert noise.accuracy.mean < 0.6 and noise.information.mean < 0.05
    assert noise.accuracy.low <= noise.majority.high + 0.05


def test_three_classes_and_a_rare_label():
    rng = np.random.default_rng(1)
    labels = list(rng.choice(["a", "b", "c"], size=300)) + ["only-once"]
    centre = {"a": [3, 0], "b": [0, 3], "c": [-3, -3], "only-once": [0, 0]}
    features = np.array([centre[label] for label in labels], dtype=float) + rng.normal(0, 0.5, (301, 2))
    result = probe_factor(features, labels, "topic")
    assert result.classes == 3 and result.sentences == 300  # a label seen once cannot be held out
    assert result.accuracy.mean > 0.95
    assert probe_factor(features, ["same"] * 301, "constant") is None


def test_length_is_probed_by_regression():
    rng = np.random.default_rng(2)
    lengths = rng.integers(3, 20, size=400)
    features = np.column_stack([lengths + rng.normal(0, 0.5, 400), rng.normal(0, 1, 400)])
    assert probe_length(features, lengths).r2.mean > 0.95
    assert probe_length(rng.normal(0, 1, (400, 2)), lengths).r2.mean < 0.05


def test_intervals_over_folds():
    interval = Interval.of([0.5, 0.6, 0.7])
    assert interval.mean == pytest.approx(0.6) and interval.low < 0.6 < interval.high
    assert interval.high - interval.mean == pytest.approx(4.303 * 0.1 / np.sqrt(3), rel=1e-3)


def test_labels_as_lines_or_factor_json_stay_aligned_with_the_corpus(tmp_path):
    corpus = tmp_path / "test.txt"
    corpus.write_text("a b\n\nc d\ne f\n", encoding="utf-8")
    (tmp_path / "test.labels").write_text("1\n0\n0\n1\n", encoding="utf-8")
    sentences, factors = aligned(corpus, tmp_path / "test.labels")
    assert sentences == ["a b", "c d", "e f"] and factors == {"test": ["1", "0", "1"]}
    assert read_labels(tmp_path / "test.labels", "sentiment") == {"sentiment": ["1", "0", "0", "1"]}
    rows = [{"tense": t, "topic": p} for t, p in [("past", "food"), ("now", "x"), ("now", "place"), ("past", "y")]]
    (tmp_path / "f.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _, factors = aligned(corpus, tmp_path / "f.jsonl")
    assert factors == {"tense": ["past", "now", "past"], "topic": ["food", "place", "y"]}
    (tmp_path / "short.labels").write_text("1\n0\n", encoding="utf-8")
    with pytest.raises(DataError, match="2 labels for the 4 lines"):
        aligned(corpus, tmp_path / "short.labels")


def test_probe_command_on_a_trained_run(tmp_path, capsys):
    from test_cli import run_cli
    from textvae.data.synthetic import write_corpus

    splits = write_corpus(tmp_path / "corpus", n_sentences=600, seed=0)
    code, _, err = run_cli(["train", "--train", str(splits.train), "--valid", str(splits.valid), "--out",
                            str(tmp_path / "run"), "--preset", "cpu-small", "--max-steps", "60", "--batch-size", "32",
                            "--C", "8", "--no-progress"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["probe", str(tmp_path / "run"), "--data", str(splits.train), "--labels",
                              str(splits.factors_path("train")), "--json"], capsys)
    assert code == 0, err
    probes = {p["factor"]: p for p in json.loads(out)["probes"]}
    assert set(probes) == {"construction", "topic", "sentiment", "negated", "subject_number", "tense",
                           "attractor_number", "length"}
    assert all(0 <= p["accuracy"]["mean"] <= 1 for f, p in probes.items() if f != "length")
    code, _, err = run_cli(["probe", str(tmp_path / "run"), "--data", str(splits.train), "--labels",
                            str(splits.factors_path("valid"))], capsys)
    assert code == 2 and "labels for the" in err
