"""Minimal-pair evaluation: reading pairs, the pos / neg / mean-z / LM logic, counts, a trained model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import untrained_run
from test_cli import run_cli
from textvae.data.tokenize import Tokenizer
from textvae.data.vocab import SPECIALS, Vocabulary
from textvae.errors import ConfigError, DataError
from textvae.evaluation.syneval import MARVIN_LINZEN_GROUPS, OVERALL, read_pairs, syneval


def write_pairs(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


class ScriptedVAE:
    """Latent codes and log-probabilities fixed by hand, so every accuracy is known in advance.

    z(x) is a number per sentence; log p(x | z) = z * sign(x), sign +1 for a good sentence and -1 for a
    bad one: a positive code prefers the good sentence, a negative one the bad, z = 0 neither."""

    def __init__(self, codes: dict[str, float], good: set[str], vocab: set[str]):
        self.codes, self.good = codes, good
        self.vocab = Vocabulary([*SPECIALS, *sorted(vocab)])
        self.tokenizer = str.split
        self.warnings: list[str] = []

    def warn_unknown(self, sentences, what):
        self.warnings.append(what)

    def encode(self, sentences):
        mu = torch.tensor([[float(self.codes[s])] for s in sentences])
        return mu, torch.zeros_like(mu)

    def log_prob(self, sentences, z):
        sign = torch.tensor([1.0 if s in self.good else -1.0 for s in sentences])
        return z[:, 0] * sign


def test_scores_match_a_hand_worked_answer(tmp_path):
    records = [  # condition A: the mean of z+ is (1 - 3) / 2 = -1, of z- is (-1 + 1) / 2 = 0
        {"case": "c1", "condition": "A", "sentence_good": "g1", "sentence_bad": "b1"},
        {"case": "c1", "condition": "A", "sentence_good": "g2", "sentence_bad": "b2"},
        {"case": "c2", "condition": "B", "sentence_good": "g3", "sentence_bad": "b3"},  # means equal the codes
    ]
    vae = ScriptedVAE({"g1": 1, "b1": -1, "g2": -3, "b2": 1, "g3": 2, "b3": 0.5}, {"g1", "g2", "g3"},
                      {"g1", "b1", "g2", "b2", "g3", "b3"})
    rows = {r.group: r for r in syneval(vae, read_pairs(write_pairs(tmp_path / "p.jsonl", records), "case"))}
    # pos: z+ > 0 wins -> g1 yes, g2 no, g3 yes; neg: z- > 0 wins -> b1 no, b2 yes, b3 yes
    # pos_mean: A's mean -1 -> both lose; B: 2 -> win. neg_mean: A's mean 0 -> tie, a loss; B: 0.5 -> win
    # lm: z = 0 ties everywhere -> strict ">" never holds
    assert (rows["c1"].pos, rows["c1"].neg, rows["c1"].pos_mean, rows["c1"].neg_mean, rows["c1"].lm) == (
        0.5, 0.5, 0.0, 0.0, 0.0)
    assert (rows["c2"].pos, rows["c2"].neg, rows["c2"].pos_mean, rows["c2"].neg_mean) == (1.0, 1.0, 1.0, 1.0)
    overall = rows[OVERALL]
    assert overall.pairs == 3 and overall.pos == pytest.approx(2 / 3) and overall.neg == pytest.approx(2 / 3)
    assert overall.pos_mean == pytest.approx(1 / 3) and overall.lm == 0.0


def test_every_pair_is_scored_or_skipped_and_oov_is_counted(tmp_path):
    records = [{"case": "c", "sentence_good": f"g{i}", "sentence_bad": f"b{i}"} for i in range(5)]
    records[1]["sentence_bad"] = "unseen"
    records[3]["sentence_good"] = "g3 unseen"
    codes = {r["sentence_good"]: 1.0 for r in records} | {r["sentence_bad"]: 1.0 for r in records}
    vocab = {f"g{i}" for i in range(5)} | {f"b{i}" for i in range(5)}
    vae = ScriptedVAE(codes, {r["sentence_good"] for r in records}, vocab)
    pairs = read_pairs(write_pairs(tmp_path / "p.jsonl", records))
    for skip in (False, True):
        (row,) = syneval(vae, pairs, skip_oov=skip)  # one group: just "overall"
        assert row.group == OVERALL and row.pairs == 5 and row.oov_pairs == 2 and row.oov_share == 0.4
        assert row.scored + row.skipped == row.pairs and row.ties == 0
        assert row.skipped == (2 if skip else 0)
        assert row.pos == 1.0
        assert vae.warnings == ([] if skip else ["minimal pairs"])  # said once; not at all when they are skipped
        vae.warnings.clear()


def test_pairs_identical_after_the_vocabulary_are_ties_outside_every_accuracy(tmp_path, caplog):
    records = [{"case": "c1", "sentence_good": "g0 x", "sentence_bad": "b0 x"},  # scored: the good one wins
               {"case": "c1", "sentence_good": "rare1 x", "sentence_bad": "rare2 x"},  # both read "<unk> x": a tie
               {"case": "c2", "sentence_good": "g1", "sentence_bad": "b1"},  # scored: the good one loses
               {"case": "c2", "sentence_good": "x rare3", "sentence_bad": "x rare4"}]  # a tie
    codes = {"g0 x": 1.0, "b0 x": 1.0, "g1": -1.0, "b1": -1.0, "rare1 x": 1.0, "rare2 x": 1.0,
             "x rare3": -1.0, "x rare4": -1.0}
    vae = ScriptedVAE(codes, {"g0 x", "g1", "rare1 x", "x rare3"}, {"g0", "b0", "g1", "b1", "x"})
    pairs = read_pairs(write_pairs(tmp_path / "p.jsonl", records), "case")
    with caplog.at_level("WARNING"):
        rows = {r.group: r for r in syneval(vae, pairs)}
    # without ties each group would read 50% (a tie is no win); with them left out, 100% and 0%
    assert (rows["c1"].ties, rows["c1"].scored, rows["c1"].pos) == (1, 1, 1.0)
    assert (rows["c2"].ties, rows["c2"].scored, rows["c2"].pos) == (1, 1, 0.0)
    overall = rows[OVERALL]
    assert (overall.pairs, overall.scored, overall.skipped, overall.ties, overall.pos) == (4, 2, 0, 2, 0.5)
    assert "2 of 4 pairs (50.0%) are the same token sequence" in caplog.text
    assert "try --tokenize ptb --lowercase" in caplog.text  # the pairs were split on whitespace only
    assert (overall.tokens, overall.oov_tokens, overall.oov_token_rate) == (14, 4, 4 / 14)
    caplog.clear()
    vae.tokenizer = Tokenizer("moses", lowercase=True)  # already tokenized as advised: advise something else
    with caplog.at_level("WARNING"):
        syneval(vae, pairs)
    assert "tokenized with moses, lower-cased" in caplog.text and "try --tokenize" not in caplog.text
    # skipped pairs (out of vocabulary) are not also counted as ties
    overall = syneval(vae, pairs, skip_oov=True)[-1]
    assert (overall.skipped, overall.ties, overall.scored) == (2, 0, 2)


def test_read_pairs_reports_bad_lines_with_their_number(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"sentence_good": "a b", "sentence_bad": "a c"}\n{"sentence_good": "a b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"p.jsonl:2: needs non-empty strings"):
        read_pairs(path)
    path.write_text('{"sentence_good": "a b", "sentence_bad": "a c"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"p.jsonl:2: not a JSON object"):
        read_pairs(path)
    path.write_text('{"sentence_good": "a b", "sentence_bad": "a c"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="no field 'case'"):
        read_pairs(path, group_by="case")
    with pytest.raises(ConfigError, match="unknown grouping"):
        read_pairs(path, grouping="nope")


def test_marvin_linzen_grouping_names_the_papers_rows(tmp_path):
    records = [{"case": case, "condition": "x", "sentence_good": "a", "sentence_bad": "b"}
               for case in ("prep_anim", "prep_inanim", "simple_npi_anim", "made_up_case")]
    groups = [p.group for p in read_pairs(write_pairs(tmp_path / "p.jsonl", records), grouping="marvin-linzen")]
    assert groups == ["agreement: across a prepositional phrase"] * 2 + ["negative polarity items: simple",
                                                                          "made_up_case"]


@pytest.mark.shared_data
def test_every_marvin_linzen_case_has_a_group(shared_data):
    cases = {json.loads(line)["case"] for line in (shared_data / "syneval" / "marvin_linzen_2018.jsonl").open()}
    assert cases == set(MARVIN_LINZEN_GROUPS)


@pytest.mark.slow
def test_a_model_that_memorised_grammatical_sentences_prefers_them(tmp_path):
    """The decoder as a language model (z = 0) must rank each memorised sentence above its altered twin."""
    from textvae.api import load
    from textvae.models.config import ModelConfig
    from textvae.objectives import BetaCOptions
    from textvae.training import DataConfig, TrainConfig, train

    good = ["the cat is here", "the cats are here", "the dog is there", "the dogs are there"]
    bad = ["the cat are here", "the cats is here", "the dog are there", "the dogs is there"]
    (tmp_path / "train.txt").write_text("\n".join(good * 50) + "\n" + " ".join(bad[0].split()[:1]) + "\n",
                                        encoding="utf-8")
    train(tmp_path / "run", DataConfig(str(tmp_path / "train.txt"), str(tmp_path / "train.txt")),
          ModelConfig(embedding_dim=16, hidden_dim=32, latent_dim=4),
          TrainConfig(objective=BetaCOptions(kl_target=1.0, anneal_steps=50), max_steps=150, batch_size=16, lr=0.01,
                      device="cpu"),
          progress=False)
    pairs = write_pairs(tmp_path / "pairs.jsonl", [{"case": "simple_agrmt", "condition": "x", "sentence_good": g,
                                                    "sentence_bad": b} for g, b in zip(good, bad)])
    (row, overall) = syneval(load(tmp_path / "run"), read_pairs(pairs, grouping="marvin-linzen"))
    assert row.group == "agreement: simple" and overall.group == OVERALL
    assert row.lm == 1.0 and row.pos == 1.0 and row.oov_pairs == 0


def test_syneval_cli(tmp_path, capsys):
    run = untrained_run(tmp_path, ["a b c"])
    pairs = write_pairs(tmp_path / "p.jsonl", [{"case": "k1", "sentence_good": "a b", "sentence_bad": "b a"},
                                               {"case": "k2", "sentence_good": "a c", "sentence_bad": "a zz"}])
    code, out, _ = run_cli(["syneval", str(run), "--pairs", str(pairs), "--group-by", "case", "--json"], capsys)
    assert code == 0
    groups = {g["group"]: g for g in json.loads(out)["groups"]}
    assert set(groups) == {"k1", "k2", OVERALL}
    assert groups[OVERALL]["pairs"] == 2 and groups[OVERALL]["oov_pairs"] == 1 and groups["k2"]["oov_share"] == 1.0
    code, table, _ = run_cli(["syneval", str(run), "--pairs", str(pairs), "--skip-oov"], capsys)
    assert code == 0 and "| overall | 2 | 1 | 1 | 0 | 50.0 |" in table
    code, _, err = run_cli(["syneval", str(run), "--pairs", str(tmp_path / "missing.jsonl")], capsys)
    assert code == 2 and "missing.jsonl" in err and len(err.strip().splitlines()) == 1


def test_raw_text_pairs_read_with_moses_tokenization_and_lowercasing(tmp_path, capsys):
    """A benchmark given as raw text against a lower-cased, tokenized vocabulary: as given, the verbs
    carry the full stop ("laughs." / "laugh."), both unknown, so every pair is a tie; with
    --tokenize moses --lowercase the words are found and every pair is scored."""
    run = untrained_run(tmp_path, ["the author laughs .", "the authors laugh ."])
    pairs = write_pairs(tmp_path / "raw.jsonl", [
        {"case": "simple_agrmt", "sentence_good": "The author laughs.", "sentence_bad": "The author laugh."},
        {"case": "simple_agrmt", "sentence_good": "The authors laugh.", "sentence_bad": "The authors laughs."}])
    code, out, _ = run_cli(["syneval", str(run), "--pairs", str(pairs), "--json"], capsys)
    (overall,) = json.loads(out)["groups"]
    assert code == 0 and (overall["scored"], overall["ties"], overall["oov_pairs"]) == (0, 2, 2)
    assert overall["pos"] is None  # nothing scored: no accuracy, rather than 0%
    code, out, _ = run_cli(["syneval", str(run), "--pairs", str(pairs), "--tokenize", "moses", "--lowercase",
                            "--json"], capsys)
    result = json.loads(out)
    (overall,) = result["groups"]
    assert code == 0 and result["tokenize"] == "moses, lowercased"
    assert (overall["scored"], overall["ties"], overall["oov_pairs"]) == (2, 0, 0)
