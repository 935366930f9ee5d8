"""The generated corpus: determinism, factors, grammaticality checks from tokens, files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from textvae.data.synthetic import (
    FACTOR_NAMES,
    FACTOR_VALUES,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    CorpusSplits,
    GeneratedSentence,
    generate_sentences,
    read_factors,
    write_corpus,
)
from textvae.errors import DataError

# Token index of the main clause's finite verb (after skipping ADVERBS), per construction.
VERB_INDEX = {
    "simple": 2, "pp_attractor": 5, "subject_relative": 6, "object_relative": 6, "object_relative_bare": 5,
    "vp_coordination": 2, "s_coordination": 2, "reflexive": 2, "npi": 2,
}
# Token index of the relative clause's verb, and which factor it agrees with.
INNER_VERB = {
    "subject_relative": (3, "subject_number"),
    "object_relative": (5, "attractor_number"),
    "object_relative_bare": (4, "attractor_number"),
}
ADVERBS = {"never", "always", "ever"}
SINGULAR_ONLY = {"is", "was", "has", "does"}
PLURAL_ONLY = {"are", "were", "have", "do"}
IRREGULAR_PAST = {"was", "were", "had", "did", "felt", "forgot", "made", "brought", "took", "chose", "met",
                  "paid", "got", "outdid"}
SINGULAR_DETERMINERS = {"this", "every"}
PLURAL_DETERMINERS = {"these", "some", "many"}
NEGATORS = {"not", "never", "no"}


def finite_verb(tokens: list[str], index: int) -> str:
    while tokens[index] in ADVERBS:
        index += 1
    return tokens[index]


def agrees(verb: str, number: str, tense: str) -> bool:
    """Whether a finite verb form fits a subject of this number in this tense."""
    is_past = verb in IRREGULAR_PAST or verb.endswith("ed")
    if tense == "past":
        return is_past and verb != ("were" if number == "singular" else "was")
    if is_past:
        return False
    if number == "singular":
        return verb in SINGULAR_ONLY or (verb.endswith("s") and verb not in PLURAL_ONLY)
    return verb in PLURAL_ONLY or not verb.endswith("s")


@pytest.fixture(scope="module")
def sample() -> list[GeneratedSentence]:
    return generate_sentences(2_000, seed=3)


@pytest.fixture(scope="module")
def large() -> list[GeneratedSentence]:
    return generate_sentences(20_000, seed=0)


def test_agreement_checker_rejects_wrong_forms() -> None:
    assert agrees("is", "singular", "present") and not agrees("is", "plural", "present")
    assert agrees("tastes", "singular", "present") and not agrees("taste", "singular", "present")
    assert agrees("taste", "plural", "present") and not agrees("tastes", "plural", "present")
    assert agrees("were", "plural", "past") and not agrees("were", "singular", "past")
    assert not agrees("tasted", "singular", "present") and not agrees("has", "singular", "past")


def test_same_seed_same_output_and_different_seed_differs() -> None:
    first = generate_sentences(300, seed=7)
    assert first == generate_sentences(300, seed=7)
    other = generate_sentences(300, seed=8)
    assert [s.text for s in first] != [s.text for s in other]


def test_generation_does_not_touch_the_global_rng() -> None:
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    generate_sentences(50, seed=1)
    assert random.random() == expected


@pytest.mark.parametrize("n", [0, -3])
def test_n_must_be_positive(n: int) -> None:
    with pytest.raises(ValueError):
        generate_sentences(n)


def test_factors_have_exact_keys_and_valid_values(sample: list[GeneratedSentence]) -> None:
    assert set(FACTOR_VALUES) == set(FACTOR_NAMES)
    for sentence in sample:
        assert tuple(sentence.factors) == FACTOR_NAMES
        for name, value in sentence.factors.items():
            assert value in FACTOR_VALUES[name], (name, value, sentence.text)


def test_every_factor_value_occurs_in_2000_sentences(sample: list[GeneratedSentence]) -> None:
    for name in FACTOR_NAMES:
        seen = Counter(s.factors[name] for s in sample)
        assert set(seen) == set(FACTOR_VALUES[name]), name
    for name in ("sentiment", "subject_number", "tense"):
        counts = Counter(s.factors[name] for s in sample)
        assert min(counts.values()) > 0.35 * len(sample), (name, counts)


def test_attractor_number_only_where_there_is_an_attractor(sample: list[GeneratedSentence]) -> None:
    for s in sample:
        has_attractor = s.factors["construction"] in ("pp_attractor", *INNER_VERB)
        assert (s.factors["attractor_number"] != "none") == has_attractor, s


def test_surface_form(large: list[GeneratedSentence]) -> None:
    lengths = []
    for s in large:
        tokens = s.text.split(" ")
        assert all(tokens) and s.text == s.text.lower() and tokens[-1] == "." and "." not in tokens[:-1]
        lengths.append(len(tokens))
        for article, word in zip(tokens, tokens[1:]):
            if article in ("a", "an"):
                assert (article == "an") == (word[0] in "aeiou"), s
    assert min(lengths) >= 5 and max(lengths) <= 25
    assert sum(6 <= n <= 15 for n in lengths) >= 0.8 * len(lengths)


def test_time_adjuncts_fit_the_tense(large: list[GeneratedSentence]) -> None:
    past_only = {"last night", "last week", "last month", "yesterday", "that night"}
    present_only = {"these days", "most nights", "lately", "recently", "every time"}
    seen = set()
    for s in large:
        text = f" {s.text} "
        found = {a for a in past_only | present_only if f" {a} " in text}
        seen |= found
        assert not found & (present_only if s.factors["tense"] == "past" else past_only), s
    assert seen == past_only | present_only


def test_subject_determiner_and_noun_agree(sample: list[GeneratedSentence]) -> None:
    for s in sample:
        tokens, number = s.text.split(), s.factors["subject_number"]
        if tokens[0] == "no":
            continue
        if tokens[0] in SINGULAR_DETERMINERS:
            assert number == "singular", s
        if tokens[0] in PLURAL_DETERMINERS:
            assert number == "plural", s
        noun = tokens[1]
        assert not noun.endswith(("ys", "chs", "shs", "xs")) or noun.endswith(("ays", "eys", "oys")), s
        assert noun.endswith("s") if number == "plural" else (not noun.endswith("s") or noun.endswith("ss")), s


def test_main_verb_agrees_with_subject_in_every_construction(sample: list[GeneratedSentence]) -> None:
    for s in sample:
        tokens, f = s.text.split(), s.factors
        verb = finite_verb(tokens, VERB_INDEX[f["construction"]])
        assert agrees(verb, f["subject_number"], f["tense"]), (verb, s)


def test_simple_sentences_use_the_marked_forms(sample: list[GeneratedSentence]) -> None:
    simple = [s for s in sample if s.factors["construction"] == "simple"]
    assert len(simple) > 200
    for s in simple:
        verb = finite_verb(s.text.split(), 2)
        if s.factors["subject_number"] == "singular" and s.factors["tense"] == "present":
            assert verb in {"is", "has", "does"} or verb.endswith("s"), s
        if s.factors["tense"] == "past":
            assert verb not in {"is", "are", "has", "have", "does", "do"}, s
    used = {finite_verb(s.text.split(), 2) for s in simple}
    assert {"is", "are", "was", "were", "has", "have", "does", "do"} <= used


def test_attractor_does_not_decide_agreement(sample: list[GeneratedSentence]) -> None:
    mismatched = [s for s in sample if s.factors["construction"] == "pp_attractor"
                  and s.factors["attractor_number"] != s.factors["subject_number"]]
    assert len(mismatched) > 50
    for s in mismatched:
        tokens = s.text.split()
        attractor = tokens[4]
        assert attractor.endswith("s") == (s.factors["attractor_number"] == "plural"), s
        assert not attractor.endswith(("ys", "chs", "shs", "xs")) or attractor.endswith(("ays", "eys", "oys")), s
        assert agrees(finite_verb(tokens, 5), s.factors["subject_number"], s.factors["tense"]), s


def test_relative_clause_verbs_agree(sample: list[GeneratedSentence]) -> None:
    for s in sample:
        if s.factors["construction"] not in INNER_VERB:
            continue
        tokens = s.text.split()
        index, factor = INNER_VERB[s.factors["construction"]]
        assert agrees(tokens[index], s.factors[factor], s.factors["tense"]), s
        has_relativizer = tokens[2] in {"that", "who", "which"}
        assert has_relativizer == (s.factors["construction"] != "object_relative_bare"), s


def test_coordinated_verbs_agree(sample: list[GeneratedSentence]) -> None:
    for s in sample:
        tokens, f = s.text.split(), s.factors
        if f["construction"] == "vp_coordination":
            verb = finite_verb(tokens, tokens.index("and") + 1)
            assert agrees(verb, f["subject_number"], f["tense"]), s
        elif f["construction"] == "s_coordination":
            start = tokens.index("and") + 1
            det, verb = tokens[start], finite_verb(tokens, start + 2)
            number = "plural" if tokens[start + 1].endswith("s") and not tokens[start + 1].endswith("ss") \
                else "singular"
            assert det not in SINGULAR_DETERMINERS or number == "singular", s
            assert agrees(verb, number, f["tense"]), s


def test_reflexive_matches_subject(sample: list[GeneratedSentence]) -> None:
    reflexives = [s for s in sample if s.factors["construction"] == "reflexive"]
    assert len(reflexives) > 100
    for s in reflexives:
        tokens = s.text.split()
        pronouns = [t for t in tokens if t in {"himself", "herself", "themselves"}]
        assert len(pronouns) == 1, s
        if s.factors["subject_number"] == "plural":
            assert pronouns == ["themselves"], s
        else:
            assert pronouns[0] in {"himself", "herself"}, s
        if tokens[1] in {"waitress", "hostess"}:
            assert pronouns == ["herself"], s
    other = [s for s in sample if s.factors["construction"] != "reflexive"]
    assert not any(t in {"himself", "herself", "themselves"} for s in other for t in s.text.split())


def test_npi_is_always_licensed(sample: list[GeneratedSentence]) -> None:
    npis = [s for s in sample if s.factors["construction"] == "npi"]
    assert len(npis) > 100
    for s in npis:
        tokens = s.text.split()
        assert "ever" in tokens and s.factors["negated"] == "yes", s
        ever = tokens.index("ever")
        assert tokens[0] == "no" or tokens[ever - 1] == "not", s
    assert not any("ever" in s.text.split() for s in sample if s.factors["construction"] != "npi")


def test_sentiment_follows_the_polar_words_and_negation(sample: list[GeneratedSentence]) -> None:
    polarity = {w: "positive" for w in POSITIVE_WORDS} | {w: "negative" for w in NEGATIVE_WORDS}
    for s in sample:
        tokens = s.text.split()
        polar = {polarity[t] for t in tokens if t in polarity}
        sentiment = s.factors["sentiment"]
        opposite = "negative" if sentiment == "positive" else "positive"
        if s.factors["negated"] == "no":
            assert polar == {sentiment}, s
            assert not NEGATORS & set(tokens), s
        else:
            assert opposite in polar, s
            assert NEGATORS & set(tokens), s


def test_every_construction_appears_in_2000_sentences(sample: list[GeneratedSentence]) -> None:
    counts = Counter(s.factors["construction"] for s in sample)
    assert set(counts) == set(FACTOR_VALUES["construction"])
    assert min(counts.values()) >= 50


def test_distinct_ratio_and_vocabulary_size(large: list[GeneratedSentence]) -> None:
    assert len({s.text for s in large}) >= 0.8 * len(large)
    vocabulary = {t for s in large for t in s.text.split()}
    assert 300 <= len(vocabulary) <= 600


def test_write_corpus_files_and_counts(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "corpus"
    splits = write_corpus(out, n_sentences=1_000, seed=5, valid_fraction=0.1, test_fraction=0.05)
    assert isinstance(splits, CorpusSplits)
    names = {"train.txt", "valid.txt", "test.txt", "train.factors.jsonl", "valid.factors.jsonl",
             "test.factors.jsonl"}
    assert {p.name for p in out.iterdir()} == names
    sizes = {}
    pairs = Counter()
    for split in ("train", "valid", "test"):
        text_path: Path = getattr(splits, split)
        assert text_path.parent == out and text_path.name == f"{split}.txt"
        lines = text_path.read_text(encoding="utf-8").splitlines()
        factors = read_factors(splits.factors_path(split))
        assert splits.factors_path(split).name == f"{split}.factors.jsonl"
        assert len(lines) == len(factors)
        assert all(tuple(f) == FACTOR_NAMES for f in factors)
        sizes[split] = len(lines)
        pairs.update((line, json.dumps(f)) for line, f in zip(lines, factors))
    assert sizes == {"train": 850, "valid": 100, "test": 50}
    # The files hold exactly the generated sentences, each still next to its own factors.
    expected = Counter((s.text, json.dumps(s.factors)) for s in generate_sentences(1_000, seed=5))
    assert pairs == expected


def test_write_corpus_is_deterministic_and_shuffled(tmp_path: Path) -> None:
    a = write_corpus(tmp_path / "a", n_sentences=400, seed=2)
    b = write_corpus(tmp_path / "b", n_sentences=400, seed=2)
    for split in ("train", "valid", "test"):
        assert getattr(a, split).read_bytes() == getattr(b, split).read_bytes()
        assert a.factors_path(split).read_bytes() == b.factors_path(split).read_bytes()
    written = a.train.read_text(encoding="utf-8").splitlines()
    generated = [s.text for s in generate_sentences(400, seed=2)]
    assert written != generated[: len(written)] and written != generated[-len(written):]


@pytest.mark.parametrize("kwargs", [{"n_sentences": 0}, {"valid_fraction": -0.1}, {"test_fraction": 1.0},
                                    {"n_sentences": 10, "valid_fraction": 0.5, "test_fraction": 0.5}])
def test_write_corpus_rejects_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        write_corpus(tmp_path, **kwargs)


def test_read_factors_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.factors.jsonl"
    path.write_text('{"topic": "food"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DataError, match=":2:"):
        read_factors(path)
