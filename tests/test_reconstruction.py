"""BLEU and ROUGE as configured for pre-tokenized text, against hand-computed values."""

import json
import math

import pytest

from textvae.cli import main
from textvae.evaluation.reconstruction import bucket_bounds, corpus_bleu, mean_rouge_f1, reconstruction_scores

REFS = ["the cat sat on the mat", "a b c d"]
HYPS = ["the cat is on the mat", "a b c d"]


def test_corpus_bleu_by_hand():
    # clipped n-gram precisions over both sentences: 1-grams 9/10, 2-grams 6/8, 3-grams 3/6, 4-grams 1/4;
    # hypothesis and reference lengths are equal (10), so no brevity penalty
    assert corpus_bleu(HYPS, REFS, 2) == pytest.approx(100 * math.sqrt(0.9 * 0.75))
    assert corpus_bleu(HYPS, REFS, 4) == pytest.approx(100 * (0.9 * 0.75 * 0.5 * 0.25) ** 0.25)
    # a short hypothesis pays the brevity penalty exp(1 - 4/2); no smoothing of zero counts
    assert corpus_bleu(["a b"], ["a b c d"], 2) == pytest.approx(100 * math.exp(-1))
    assert corpus_bleu(["a b"], ["a b c d"], 4) == 0.0


def test_sentence_averaged_rouge_by_hand():
    # sentence 1 shares 3 of 5 bigrams (F1 0.6) and none of 3 4-grams; sentence 2 is exact
    assert mean_rouge_f1(HYPS, REFS, 2) == pytest.approx(100 * (0.6 + 1.0) / 2)
    assert mean_rouge_f1(HYPS, REFS, 4) == pytest.approx(100 * (0.0 + 1.0) / 2)
    # tokens are kept as given: punctuation counts and case matters (rouge-score's default drops both)
    assert mean_rouge_f1(["good food ."], ["good food !"], 2) == pytest.approx(50.0)
    assert mean_rouge_f1(["Good food !"], ["good food !"], 2) == pytest.approx(50.0)


def test_buckets():
    assert [name for name, _, _ in bucket_bounds([10, 20, 30])] == ["<=10", "11-20", "21-30", "all"]
    sources = ["w " * 3, "w " * 12, "w " * 40]
    rows = {r.bucket: r for r in reconstruction_scores([s.strip() for s in sources], [s.strip() for s in sources])}
    assert [rows[b].sentences for b in ("<=10", "11-20", "21-30", "all")] == [1, 1, 0, 3]
    assert rows["21-30"].bleu2 is None
    assert rows["all"].bleu4 == pytest.approx(100.0)


def test_reconstruct_and_evaluate_commands(tmp_path, tiny_corpus, capsys):
    train_file, valid_file = tiny_corpus
    run = tmp_path / "run"
    tiny = ["--embedding-dim", "16", "--hidden-dim", "24", "--latent-dim", "4", "--batch-size", "8", "--no-progress"]
    for args in (["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(run), "--max-steps",
                  "6", *tiny],
                 ["evaluate", str(run), "--data", str(valid_file), "--json", "--iw-samples", "10", "--no-progress"],
                 ["reconstruct", str(run), "--data", str(valid_file), "--out", str(tmp_path / "rec.tsv"), "--json"]):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code in (0, None)
    lines = capsys.readouterr().out.strip().splitlines()
    evaluation, reconstruction = json.loads(lines[-2]), json.loads(lines[-1])
    assert set(evaluation) == {"distortion", "rate", "elbo", "nll_iw", "ppl_iw", "ppl_elbo", "mi", "au",
                               "au_variances", "log_det_cov", "mu_norm_sq", "sentences", "tokens", "words",
                               "ppl_word_iw", "ppl_word_elbo"}
    assert evaluation["nll_iw"] <= evaluation["distortion"] + evaluation["rate"] + 0.5
    assert 0 <= evaluation["au"] <= 4
    assert [b["bucket"] for b in reconstruction["buckets"]] == ["<=10", "11-20", "21-30", "all"]
    written = (tmp_path / "rec.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in written] == valid_file.read_text().splitlines()
