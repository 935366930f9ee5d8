"""Runs with pretrained models end to end: tiny random GPT-2 and BERT models, each saved with a
tokenizer trained here on the test corpus, train from the command line (pretrained-pretrained,
lstm-pretrained, pretrained-lstm) with the tokenizer as the vocabulary; the run keeps the tokenizer
and the models' configurations, so that it reloads, samples, evaluates and resumes with the
original directories gone; the VAE's embedding and projection start from the pretrained ones; and
the rate follows its target with the GPT-2 decoder."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY_SENTENCES
from test_models import check_decoder_contract

from textvae import load
from textvae.api import evaluate
from textvae.cli import main
from textvae.data.subword import SubwordVocabulary
from textvae.data.synthetic import CorpusSplits, write_corpus
from textvae.data.vocab import UNK
from textvae.training import load_config
from textvae.training.rundir import read_metrics

pytestmark = pytest.mark.usefixtures("one_thread")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

WIDTH = 32
FAST = ["--hidden-dim", "16", "--latent-dim", "4", "--batch-size", "8", "--no-progress", "--device", "cpu",
        "--threads", "1"]


def subword_tokenizer(sentences: list[str], pad: bool) -> object:
    """A small BPE tokenizer trained on `sentences`, with eos and unk (and pad where asked)."""
    specials = ["<unk>", "</s>"] + (["<pad>"] if pad else [])
    model = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
    model.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    model.decoder = tokenizers.decoders.BPEDecoder(suffix="</w>")
    model.train_from_iterator(sentences, tokenizers.trainers.BpeTrainer(
        vocab_size=150, special_tokens=specials, end_of_word_suffix="</w>", show_progress=False))
    extra = {"pad_token": "<pad>"} if pad else {}
    return transformers.PreTrainedTokenizerFast(tokenizer_object=model, unk_token="<unk>", eos_token="</s>", **extra)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> CorpusSplits:
    return write_corpus(tmp_path_factory.mktemp("synthetic"), n_sentences=600, seed=0)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, synthetic) -> Path:
    """A directory holding gpt2/ (a causal LM, its tokenizer without pad) and bert/ (an encoder, its
    tokenizer with pad), random tiny models of width WIDTH; the tokenizers learnt the test corpora."""
    root = tmp_path_factory.mktemp("models")
    text = TINY_SENTENCES + synthetic.train.read_text(encoding="utf-8").splitlines()
    torch.manual_seed(0)
    gpt2 = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=WIDTH, vocab_size=200, n_positions=64,
                                   bos_token_id=1, eos_token_id=1)
    transformers.GPT2LMHeadModel(gpt2).save_pretrained(root / "gpt2")
    subword_tokenizer(text, pad=False).save_pretrained(root / "gpt2")
    bert = transformers.BertConfig(hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=64, vocab_size=200, max_position_embeddings=64)
    transformers.BertModel(bert).save_pretrained(root / "bert")
    subword_tokenizer(text, pad=True).save_pretrained(root / "bert")
    return root


@pytest.fixture
def models(pretrained, tmp_path) -> Path:
    """This test's own copy of the models, which it may delete."""
    return Path(shutil.copytree(pretrained, tmp_path / "models"))


def run_ok(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        main(args)
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), capsys.readouterr().err
    return capsys.readouterr().out


def train_args(corpus: tuple[Path, Path], run: Path, model: str, models: Path, *more: str) -> list[str]:
    train_file, valid_file = corpus
    pretrained = {"--decoder-pretrained": models / "gpt2", "--encoder-pretrained": models / "bert"}
    kinds = dict(zip(("--encoder-pretrained", "--decoder-pretrained"), model.split("-")))
    given = [part for flag, kind in kinds.items() if kind == "pretrained" for part in (flag, str(pretrained[flag]))]
    return ["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(run), "--model", model,
            *given, *FAST, *more]


def test_the_adapter_reads_words_as_subwords_with_a_pad_and_unk_of_its_own(pretrained):
    tokenizer = transformers.AutoTokenizer.from_pretrained(pretrained / "gpt2")
    vocab = SubwordVocabulary(tokenizer)
    size = len(tokenizer)
    assert (vocab.eos_id, vocab.pad_id, vocab.unk_id, len(vocab)) == (tokenizer.eos_token_id, size, 0, size + 1)
    ids = vocab.encode(["the", "pizza", "was", "cold", "."])
    assert ids[-1] == vocab.eos_id and vocab.decode(ids) == ["the", "pizza", "was", "cold", "."]
    assert vocab.decode([*ids[:2], vocab.pad_id, vocab.eos_id, 5], stop_at_eos=True) == vocab.decode(ids[:2])
    assert "pizza" in vocab and "pi§za" not in vocab  # a letter the tokenizer never saw
    assert vocab.eos_id not in vocab.encode(["</s>"])[:-1]  # text holds no markers
    assert SubwordVocabulary.load(pretrained / "gpt2") == vocab
    no_unk = transformers.AutoTokenizer.from_pretrained(pretrained / "gpt2", unk_token=None)
    plain = SubwordVocabulary(no_unk)
    assert (plain.pad_id, plain.unk_id, len(plain)) == (size, size + 1, size + 2)
    assert plain.decode([plain.unk_id]) == [UNK]


def test_pretrained_pretrained_trains_and_reloads_without_the_original_models(tmp_path, tiny_corpus, models,
                                                                            capsys):
    run = tmp_path / "run"
    run_ok(train_args(tiny_corpus, run, "pretrained-pretrained", models, "--max-steps", "4", "--eval-every", "2"),
           capsys)
    config = load_config(run)
    assert config.model.embedding_dim == WIDTH  # the models' width, with no --embedding-dim
    assert (run / "tokenizer" / "tokenizer.json").is_file() and not (run / "vocab.txt").exists()
    for role in ("encoder", "decoder"):
        assert json.loads((run / "pretrained" / role / "config.json").read_text())["hidden_size" if role == "encoder"
                                                                                   else "n_embd"] == WIDTH
    assert config.model.vocab_size == len(transformers.AutoTokenizer.from_pretrained(models / "gpt2")) + 1
    saved = json.loads((run / "config.json").read_text())["model"]["decoder_options"]
    assert saved == {"decoder_pretrained": str(models / "gpt2"), "z_injection": "both", "freeze_pretrained": False}
    shutil.rmtree(models)
    vae = load(run, device="cpu")
    assert isinstance(vae.vocab, SubwordVocabulary)
    check_decoder_contract(vae.model.decoder, WIDTH, 4)  # rebuilt from the run's configuration
    sentences = vae.sample(3, seed=1, max_length=8)
    assert len(sentences) == 3 and all(isinstance(s, str) for s in sentences)
    mu, _ = vae.encode(TINY_SENTENCES[:3])
    assert mu.shape == (3, 4) and torch.isfinite(mu).all()
    result = evaluate(vae, TINY_SENTENCES[:4], iw_samples=3, repeats=1)
    assert result.sentences == 4 and result.nll_iw > 0
    # subword tokens and words differ: the per-word perplexity divides the same NLL by the words
    assert result.words == sum(len(s.split()) + 1 for s in TINY_SENTENCES[:4]) != result.tokens
    assert result.ppl_word_iw == pytest.approx(math.exp(result.nll_iw * 4 / result.words))
    out = run_ok(["sample", str(run), "-n", "2", "--decode", "beam", "--max-length", "6", "--no-progress"], capsys)
    assert len(out.splitlines()) == 2


def test_lstm_pretrained_resumes_without_the_original_decoder(tmp_path, tiny_corpus, models, capsys):
    run = tmp_path / "run"
    run_ok(train_args(tiny_corpus, run, "lstm-pretrained", models, "--max-steps", "6", "--eval-every", "2",
                      "--time-budget", "1e-9", "--word-dropout", "0.3"), capsys)
    first = [r["step"] for r in read_metrics(run) if r["split"] == "valid"]
    assert first and first[-1] < 6
    shutil.rmtree(models)
    steps = [first[-1]]
    while steps[-1] < 6 and len(steps) < 8:  # the time budget stops each session after a step
        run_ok(["train", "--out", str(run), "--resume", "--no-progress", "--threads", "1"], capsys)
        steps.append([r["step"] for r in read_metrics(run) if r["split"] == "valid"][-1])
    assert steps == list(range(first[-1], 7))
    assert load(run, device="cpu").reconstruct(["the food was great ."], max_length=8)


def test_pretrained_lstm_reads_with_the_encoders_tokenizer(tmp_path, tiny_corpus, models, capsys):
    run = tmp_path / "run"
    run_ok(train_args(tiny_corpus, run, "pretrained-lstm", models, "--max-steps", "1"), capsys)
    vocab = load(run, device="cpu").vocab
    bert = transformers.AutoTokenizer.from_pretrained(models / "bert")
    assert (len(vocab), vocab.pad_id, vocab.unk_id) == (len(bert), bert.pad_token_id, bert.unk_token_id)
    assert (run / "pretrained" / "encoder").is_dir() and not (run / "pretrained" / "decoder").exists()
    # Killed after config.json, before the tokenizer: a resume makes it again from the model's
    for name in ("checkpoint.safetensors", "metrics.jsonl", "model.safetensors", "last.safetensors"):
        (run / name).unlink()
    shutil.rmtree(run / "tokenizer")
    shutil.rmtree(run / "pretrained")
    run_ok(["train", "--out", str(run), "--resume", "--no-progress", "--threads", "1"], capsys)
    assert load(run, device="cpu").vocab == vocab and (run / "pretrained" / "encoder" / "config.json").is_file()


def test_the_embedding_and_projection_start_from_the_pretrained_ones(models):
    from textvae.models import ModelConfig, SentenceVAE

    vocab = SubwordVocabulary.load(models / "gpt2")
    config = ModelConfig("lstm-pretrained", vocab_size=len(vocab), hidden_dim=16, latent_dim=4,
                         decoder_pretrained=str(models / "gpt2"))
    assert config.embedding_dim == WIDTH
    vae = SentenceVAE(config, eos_id=vocab.eos_id, pad_id=vocab.pad_id)
    lm = transformers.GPT2LMHeadModel.from_pretrained(models / "gpt2")
    rows = vocab.pad_id  # the tokenizer's ids; the pad past them keeps its zeros
    assert torch.equal(vae.embedding.weight[:rows], lm.get_input_embeddings().weight[:rows])
    assert torch.equal(vae.to_vocab.weight[:rows], lm.get_output_embeddings().weight[:rows])
    assert torch.equal(vae.to_vocab.bias[:rows], torch.zeros(rows))
    assert torch.equal(vae.embedding.weight[vocab.pad_id], torch.zeros(WIDTH))
    # With a pretrained encoder alone, the vocabulary is its tokenizer and the embedding its
    bert_vocab = SubwordVocabulary.load(models / "bert")
    config = ModelConfig("pretrained-lstm", vocab_size=len(bert_vocab), hidden_dim=16, latent_dim=4,
                         encoder_pretrained=str(models / "bert"))
    vae = SentenceVAE(config, eos_id=bert_vocab.eos_id, pad_id=bert_vocab.pad_id)
    bert = transformers.BertModel.from_pretrained(models / "bert").get_input_embeddings().weight
    others = torch.arange(len(bert_vocab)) != bert_vocab.pad_id
    assert torch.equal(vae.embedding.weight[others], bert[: len(bert_vocab)][others])


def test_a_word_vocabulary_option_is_refused_with_a_pretrained_model(tmp_path, tiny_corpus, models, capsys):
    with pytest.raises(SystemExit):
        main(train_args(tiny_corpus, tmp_path / "run", "lstm-pretrained", models, "--max-vocab", "50",
                        "--max-steps", "1"))
    assert "--max-vocab do not apply to model lstm-pretrained" in capsys.readouterr().err


def test_the_rate_tracks_its_target_with_a_pretrained_decoder(tmp_path, synthetic, models, capsys):
    run = tmp_path / "run"
    run_ok(train_args((synthetic.train, synthetic.valid), run, "lstm-pretrained", models, "--C", "5", "--max-steps",
                      "150", "--eval-every", "150", "--lr", "0.003", "--batch-size", "16"), capsys)
    rate = [r for r in read_metrics(run) if r["split"] == "valid"][-1]["rate"]
    assert abs(rate - 5) < 1


def test_an_experiment_sweeps_a_pretrained_model_beside_a_word_model(tmp_path, synthetic, models, capsys):
    """figure1 takes --decoder-pretrained: the pretrained run reads its tokenizer, the word model the
    sweep's vocab.txt; compare, whose floor is a language model trained from scratch, refuses a
    pretrained decoder before training anything."""
    out = tmp_path / "sweep"
    common = ["--train", str(synthetic.train), "--valid", str(synthetic.valid), "--test", str(synthetic.test),
              "--out", str(out), "--decoder-pretrained", str(models / "gpt2"), "--max-steps", "6", "--iw-samples",
              "2", "--device", "cpu", "--threads", "1", "--no-progress"]
    run_ok(["experiment", "figure1", *common, "--models", "lstm-pretrained,lstm-lstm", "--C", "3"], capsys)
    pretrained, words = load_config(out / "runs" / "lstm-pretrained-C3"), load_config(out / "runs" / "lstm-lstm-C3")
    assert pretrained.data.vocab is None and (out / "runs" / "lstm-pretrained-C3" / "tokenizer").is_dir()
    assert pretrained.model.embedding_dim == WIDTH and pretrained.model.decoder_options.decoder_pretrained == str(
        models / "gpt2")
    assert words.data.vocab == str(out / "vocab.txt") and words.model.embedding_dim == 64  # the preset's
    rows = json.loads((out / "results.json").read_text())["runs"]
    assert [r["model"] for r in rows] == ["lstm-pretrained", "lstm-lstm"]
    assert all(math.isfinite(r["rate"]) and math.isfinite(r["distortion"]) for r in rows)

    with pytest.raises(SystemExit) as refused:
        main(["experiment", "compare", *common, "--out", str(tmp_path / "compare"), "--models", "lstm-pretrained"])
    assert refused.value.code == 2
    assert "a pretrained decoder has none" in capsys.readouterr().err
    assert not (tmp_path / "compare" / "runs").exists()
