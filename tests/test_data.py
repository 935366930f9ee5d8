import numpy as np
import pytest

from textvae.data import (
    EOS, PAD, UNK, Vocabulary, collate, encode_corpus, length_grouped_batches, load_corpus, padding_fraction,
    read_sentences,
)
from textvae.errors import DataError


def test_vocabulary_ids_and_encoding():
    vocab = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"]])
    assert vocab.words[:3] == [PAD, UNK, EOS] and vocab.pad_id == 0
    assert vocab.words[3:] == ["b", "a", "c"]  # by frequency, then spelling
    assert vocab.encode(["a", "zzz"]) == [vocab.index["a"], vocab.unk_id, vocab.eos_id]
    assert vocab.decode(vocab.encode(["a", "c"]) + [0, 0]) == ["a", "c"]


def test_vocabulary_min_count_and_max_size():
    sentences = [["a"] * 5 + ["b"] * 3 + ["c"]]
    assert Vocabulary.build(sentences, min_count=2).words[3:] == ["a", "b"]
    assert Vocabulary.build(sentences, max_size=4).words[3:] == ["a"]


def test_vocabulary_file_round_trip(tmp_path):
    vocab = Vocabulary.build([["x", "y"]])
    vocab.save(tmp_path / "vocab.txt")
    assert Vocabulary.load(tmp_path / "vocab.txt") == vocab


def test_encode_appends_eos_truncates_and_counts():
    vocab = Vocabulary.build([["a", "b", "c"]])
    corpus = encode_corpus([["a", "b", "c", "a"], ["q"]], vocab, max_length=2)
    assert [s.tolist() for s in corpus.ids] == [vocab.encode(["a", "b"]), vocab.encode(["q"])]
    assert corpus.truncated == 1 and corpus.unknown_tokens == 1
    assert corpus.num_tokens == 3 + 2


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("a b\n\n   \nc\n", encoding="utf-8")
    assert read_sentences(path) == [["a", "b"], ["c"]]


def test_length_grouped_batches_cover_every_sentence_once_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 30, size=1000)
    batches = length_grouped_batches(lengths, 32, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    grouped = padding_fraction(lengths, batches)
    shuffled = padding_fraction(lengths, np.array_split(rng.permutation(1000), 32))
    assert grouped < 0.05 and shuffled > 0.3
    # the order depends on the seed, and only on it
    again = length_grouped_batches(lengths, 32, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, length_grouped_batches(lengths, 32, np.random.default_rng(2))))


def test_collate_pads_with_zero():
    vocab = Vocabulary.build([["a", "b"]])
    corpus = encode_corpus([["a"], ["a", "b", "b"]], vocab)
    batch = collate(corpus, np.array([0, 1]))
    assert batch.tokens.tolist() == [[vocab.index["a"], vocab.eos_id, 0, 0], corpus.ids[1].tolist()]
    assert batch.lengths.tolist() == [2, 4] and batch.num_tokens == 6


# -- bad input: one clear error naming the file (and the line) --------------------------------

@pytest.mark.parametrize(
    "content, message, line",
    [
        (None, "no such file", None),
        (b"", "file is empty", None),
        (b"\n  \n\t\n", "holds no sentence", None),
        (b"good line\nbad \xff\xfe bytes\n", "not valid UTF-8", 2),
    ],
)
def test_bad_corpus_files(tmp_path, content, message, line):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        read_sentences(path)
    assert err.value.path == path and err.value.line == line
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "content, message, line",
    [
        ("<pad>\n<unk>\nhello\n", r"missing required entries: <eos>", None),
        ("hello\n<pad>\n<unk>\n<eos>\n", r"first entry must be <pad>", 1),
        ("<pad>\n<unk>\n<eos>\nhi\nhi\n", r"duplicate entry 'hi'", 5),
        ("<pad>\n<unk>\n<eos>\ntwo words\n", r"one word", 4),
    ],
)
def test_bad_vocabulary_files(tmp_path, content, message, line):
    path = tmp_path / "vocab.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as err:
        Vocabulary.load(path)
    assert err.value.line == line


def test_load_corpus_logs_truncation(tmp_path, caplog):
    path = tmp_path / "c.txt"
    path.write_text("a b c d\na\n", encoding="utf-8")
    vocab = Vocabulary.build([["a", "b"]])
    with caplog.at_level("INFO"):
        corpus = load_corpus(path, vocab, max_length=2, name="train")
    assert corpus.truncated == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["train: 1 of 2 sentences are longer than 2 words and were cut to 2 (--max-length sets the limit)"]


def test_blank_lines_and_cut_sentences_are_warned_about_once_with_counts(tmp_path, caplog):
    path = tmp_path / "c.txt"
    path.write_text("a b c d\n\n  \na\nb c\n\n", encoding="utf-8")
    vocab = Vocabulary.build([["a", "b", "c", "d"]])
    with caplog.at_level("WARNING"):
        corpus = load_corpus(path, vocab, max_length=2, name="train")
    assert len(corpus) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"{path}: 3 blank lines skipped",
                        "train: 1 of 3 sentences are longer than 2 words and were cut to 2 (--max-length sets the limit)"]


def test_unknown_words_are_counted_with_examples(tmp_path, caplog):
    path = tmp_path / "c.txt"
    path.write_text("a gr8 b\ngr8 servce\n<unk> a\n", encoding="utf-8")
    vocab = Vocabulary.build([["a", "b"]])
    with caplog.at_level("WARNING"):
        corpus = load_corpus(path, vocab, name="test", warn_unknown=True)
    assert corpus.unknown_words == {"gr8": 2, "servce": 1}  # a literal <unk> is no unknown word
    assert corpus.unknown_tokens == 4
    assert "test: not in the vocabulary, read as <unk>: 3 occurrences of 2 words, such as 'gr8' (2), 'servce' (1)" \
        in caplog.text


def test_moses_tokenization_splits_punctuation_and_lowercases(tmp_path):
    from textvae.data.tokenize import Tokenizer
    from textvae.errors import ConfigError

    raw = 'The Food wasn\'t great, really: "never" again!'
    assert Tokenizer()(raw) == raw.split()
    moses = Tokenizer("moses", lowercase=True)
    assert moses(raw) == ["the", "food", "wasn", "'t", "great", ",", "really", ":", '"', "never", '"', "again", "!"]
    path = tmp_path / "raw.txt"
    path.write_text(raw + "\n", encoding="utf-8")
    assert read_sentences(path, moses) == [moses(raw)]
    with pytest.raises(ConfigError, match="--tokenize"):
        Tokenizer("spacy")


def test_training_cuts_long_sentences_by_default(tmp_path, caplog):
    from textvae import DataConfig, ModelConfig, TrainConfig, train
    from textvae.training import DEFAULT_MAX_LENGTH

    long_line = " ".join(f"w{i % 7}" for i in range(DEFAULT_MAX_LENGTH + 30))
    path = tmp_path / "train.txt"
    path.write_text("\n".join(["a b c", long_line, "b c a"] * 4) + "\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        train(tmp_path / "run", DataConfig(str(path), str(path)), ModelConfig(embedding_dim=8, hidden_dim=8,
              latent_dim=2), TrainConfig(max_steps=1, batch_size=4), progress=False)
    assert (f"train: 4 of 12 sentences are longer than {DEFAULT_MAX_LENGTH} words and were cut to "
            f"{DEFAULT_MAX_LENGTH}") in caplog.text


def test_special_tokens_written_in_the_text_read_as_unk_with_a_warning(tmp_path, caplog):
    path = tmp_path / "c.txt"
    path.write_text("a <eos> b\n<pad> a <unk>\nb <eos>\n", encoding="utf-8")
    vocab = Vocabulary.build([["a", "b"]])
    with caplog.at_level("WARNING"):
        corpus = load_corpus(path, vocab, name="train")
    a, b = vocab.index["a"], vocab.index["b"]
    assert [s.tolist() for s in corpus.ids] == [[a, vocab.unk_id, b, vocab.eos_id],
                                                [vocab.unk_id, a, vocab.unk_id, vocab.eos_id],
                                                [b, vocab.unk_id, vocab.eos_id]]
    assert corpus.unknown_words == {}  # markers, not unknown words
    assert ("train: the text holds textvae's special tokens (<eos> 2, <pad> 1, <unk> 1); each reads as <unk>"
            in caplog.text)
    assert Vocabulary.build([["<eos>", "x", "<pad>"]]).words == ["<pad>", "<unk>", "<eos>", "x"]
