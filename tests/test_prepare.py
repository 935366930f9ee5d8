"""`textvae data prepare` and `train --data`: text, CSV, TSV and JSONL in; seeded splits of the shares
asked, labels that stay with their sentences, each step counted; bad input in one line."""

from __future__ import annotations

import csv
import json

import pytest

from test_cli import run_cli
from textvae.data.prepare import PrepareConfig, prepare_corpus, split_sizes, write_prepared
from textvae.data.tokenize import Tokenizer
from textvae.errors import ConfigError

# 200 distinct sentences; the label of each is written in it, so a label that moved is seen
ROWS = [(f"Review {i} says the food was {'good' if i % 2 else 'bad'}.", "pos" if i % 2 else "neg")
        for i in range(200)]


def read_split(out, name):
    return (out / f"{name}.txt").read_text(encoding="utf-8").splitlines()


def assert_partition(out, expected_sizes):
    splits = {name: read_split(out, name) for name in ("train", "valid", "test")}
    assert [len(v) for v in splits.values()] == expected_sizes
    every = [s for v in splits.values() for s in v]
    assert len(set(every)) == len(every) == sum(expected_sizes)  # disjoint, nothing lost
    return splits


def assert_labels_follow(out):
    for name in ("train", "valid", "test"):
        labels = [json.loads(line) for line in (out / f"{name}.factors.jsonl").read_text().splitlines()]
        sentences = read_split(out, name)
        assert len(labels) == len(sentences)
        for sentence, label in zip(sentences, labels):
            assert label == {"sentiment": "pos" if "good" in sentence else "neg"}, sentence


@pytest.fixture
def inputs(tmp_path):
    text = tmp_path / "reviews.txt"
    text.write_text("".join(f"{t}\n" for t, _ in ROWS), encoding="utf-8")
    paths = {"text": text}
    for kind, delimiter in (("csv", ","), ("tsv", "\t")):
        path = tmp_path / f"reviews.{kind}"
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter=delimiter)
            writer.writerow(["id", "review", "sentiment"])
            writer.writerows([i, t, label] for i, (t, label) in enumerate(ROWS))
        paths[kind] = path
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text("".join(json.dumps({"review": t, "sentiment": label, "stars": 5}) + "\n" for t, label in ROWS))
    paths["jsonl"] = jsonl
    return paths


def test_the_shares_and_the_seed_decide_the_split(inputs, tmp_path, capsys):
    assert split_sizes(200, [0.9, 0.05, 0.05]) == [180, 10, 10]
    code, out, _ = run_cli(["data", "prepare", str(inputs["text"]), "--out", str(tmp_path / "a")], capsys)
    assert code == 0 and "train 180 sentences" in out
    first = assert_partition(tmp_path / "a", [180, 10, 10])
    run_cli(["data", "prepare", str(inputs["text"]), "--out", str(tmp_path / "b")], capsys)
    assert {n: read_split(tmp_path / "b", n) for n in first} == first  # same seed, same split
    run_cli(["data", "prepare", str(inputs["text"]), "--out", str(tmp_path / "c"), "--seed", "1", "--split",
             "0.8,0.1,0.1"], capsys)
    other = assert_partition(tmp_path / "c", [160, 20, 20])
    assert other["valid"] != first["valid"][:20]
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["sentences"] == {"train": 160, "valid": 20, "test": 20} and summary["settings"]["seed"] == 1


@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl"])
def test_columns_and_labels(kind, inputs, tmp_path, capsys):
    out = tmp_path / kind
    code, _, err = run_cli(["data", "prepare", str(inputs[kind]), "--out", str(out), "--text-column", "review",
                            "--label-columns", "sentiment", "--tokenize", "ptb", "--lowercase"], capsys)
    assert code == 0, err
    splits = assert_partition(out, [180, 10, 10])
    assert all(s.startswith("review ") and s.endswith(" .") and s == s.lower() for s in splits["train"])
    assert_labels_follow(out)


def test_each_step_is_counted(tmp_path):
    source = tmp_path / "docs.txt"
    lines = [f"Place {i} was fine. Dr. Who wasn't there!" for i in range(30)]
    lines += ["", "Place 0 was fine.", "one two three four five six seven eight nine ten eleven twelve ."]
    source.write_text("\n".join(lines) + "\n")
    config = PrepareConfig(split_sentences=True, tokenize="ptb", max_length=10, split=[0.8, 0.1, 0.1])
    corpus = prepare_corpus(source, config)
    counts = corpus.counts
    assert counts["rows"] == 33 and counts["blank"] == 1 and counts["too_long"] == 1
    assert counts["duplicates"] == 30  # "Dr. Who was n't there !" 29 times more, "Place 0 was fine ." once more
    assert counts["kept"] == 31 and sum(len(v) for v in corpus.splits.values()) == 31
    kept = {" ".join(t) for v in corpus.splits.values() for t, _ in v}
    assert "Dr. Who was n't there !" in kept  # one sentence, not split after "Dr."
    summary = write_prepared(corpus, tmp_path / "out", config)
    assert summary["vocabulary"][0]["min_count"] == 1 and summary["lengths"]


def test_treebank_tokens_are_not_moses_tokens():
    assert Tokenizer("ptb", lowercase=True)("The author isn't \"here\".") == [
        "the", "author", "is", "n't", "``", "here", "''", "."]
    assert Tokenizer("moses")("isn't") == ["isn", "'t"]


@pytest.mark.parametrize("args, fragment", [
    (["--text-column", "text"], "no column text; its columns are: id, review, sentiment"),
    (["--text-column", "review", "--label-columns", "stars"], "no column stars"),
    ([], "give --text-column"),
    (["--text-column", "review", "--split", "0.5,0.5"], "three shares"),
    (["--text-column", "review", "--split", "0.998,0.001,0.001"], "the valid split would be empty"),
])
def test_bad_input_is_one_line(args, fragment, inputs, tmp_path, capsys):
    code, _, err = run_cli(["data", "prepare", str(inputs["csv"]), "--out", str(tmp_path / "out"), "--no-progress",
                           *args], capsys)
    (line,) = err.strip().splitlines()
    assert code == 2 and fragment in line and line.startswith("textvae: error:")


def test_binary_and_misplaced_options(inputs, tmp_path, capsys):
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    code, _, err = run_cli(["data", "prepare", str(binary), "--out", str(tmp_path / "o1")], capsys)
    assert code == 2 and "is a binary file" in err
    code, _, err = run_cli(["data", "prepare", str(inputs["text"]), "--out", str(tmp_path / "o2"), "--text-column",
                            "x"], capsys)
    assert code == 2 and "read as plain text" in err
    with pytest.raises(ConfigError, match="--max-length 2 is below --min-length 3"):
        PrepareConfig(min_length=3, max_length=2)


def test_train_takes_one_data_file(inputs, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(["train", "--data", str(inputs["text"]), "--out", str(out), "--max-steps", "3",
                                 "--embedding-dim", "8", "--hidden-dim", "8", "--latent-dim", "2", "--batch-size",
                                 "16", "--no-progress"], capsys)
    assert code == 0, err
    assert_partition(out / "data", [180, 10, 10])
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["train"] == str(out / "data" / "train.txt") and "finished 3 steps" in stdout
    code, _, err = run_cli(["train", "--data", str(inputs["text"]), "--train", str(inputs["text"]), "--out",
                            str(tmp_path / "other")], capsys)
    assert code == 2 and "--data replaces --train and --valid" in err


def test_train_data_names_the_command_for_another_text_column(inputs, tmp_path, capsys):
    code, _, err = run_cli(["train", "--data", str(inputs["csv"]), "--out", str(tmp_path / "run")], capsys)
    (line,) = err.strip().splitlines()
    assert code == 2 and "no column text" in line and "textvae data prepare" in line and "--text-column NAME" in line
