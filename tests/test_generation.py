"""Decoding: strategies against teacher-forced scores and brute force, stopping, batching, seeds."""

import contextlib
import copy
import functools
import io

import pytest
import torch
from conftest import TINY_SENTENCES, needs_bf16

from textvae import Interpolation, load
from textvae.cli import main
from textvae.errors import ConfigError
from textvae.generation import (
    Decoding, TopK, TopP, beam_search, decode, draw, interpolation_path, sample_tokens,
)
from textvae.models import ModelConfig, SentenceVAE

VOCAB, EOS = 30, 2
TINY = dict(vocab_size=VOCAB, embedding_dim=12, hidden_dim=16, latent_dim=4, conv_channels=8, kernel_width=3)
MODELS = ["lstm-lstm", "gru-gru", "lstm-cnn"]
MAX_LENGTH = 12


@functools.cache
def _trained(name: str) -> SentenceVAE:
    torch.manual_seed(0)
    model = SentenceVAE(ModelConfig(model=name, dropout=0.0, **TINY), eos_id=EOS)
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(2, 10, (64,), generator=g)
    tokens = torch.zeros(64, int(lengths.max()), dtype=torch.long)
    for row, length in enumerate(lengths.tolist()):
        tokens[row, : length - 1] = torch.randint(3, 8, (length - 1,), generator=g)
        tokens[row, length - 1] = EOS
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(100):
        out = model(tokens, lengths)
        loss = out.distortion.mean() + 0.1 * out.kl.sum(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def make_model(name: str) -> SentenceVAE:
    """A tiny model fitted for a moment to random sentences of 1 to 8 tokens, so that its greedy
    outputs end at varied lengths (an untrained one ends all at once or never)."""
    return copy.deepcopy(_trained(name))


def latent_codes(n: int, seed: int = 1) -> torch.Tensor:
    return 2.0 * torch.randn(n, TINY["latent_dim"], generator=torch.Generator().manual_seed(seed))


def teacher_forced_scores(model: SentenceVAE, output: list[int], z: torch.Tensor) -> torch.Tensor:
    """Next-token scores at every position of `output`, fed whole: (len(output) + 1, vocab)."""
    previous = torch.tensor([[EOS, *output]])
    with torch.no_grad():
        features, _ = model.decoder_features(previous, z.unsqueeze(0))
        return model.to_vocab(features[0])


def greedy_ids(model: SentenceVAE, z: torch.Tensor) -> list[list[int]]:
    return decode(model, z, Decoding("greedy", max_length=MAX_LENGTH))


@pytest.mark.parametrize("name", MODELS)
def test_greedy_is_the_argmax_of_teacher_forced_scores(name):
    model, z = make_model(name), latent_codes(16)
    outputs = greedy_ids(model, z)
    lengths = {len(o) for o in outputs}
    assert len(lengths) > 2 and min(lengths) < MAX_LENGTH  # the check below covers rows that end early
    for output, code in zip(outputs, z):
        best = teacher_forced_scores(model, output, code).argmax(dim=-1).tolist()
        assert best[: len(output)] == output
        if len(output) < MAX_LENGTH:
            assert best[len(output)] == EOS  # stopped at the first <eos>, which is not returned
        assert EOS not in output


@pytest.mark.parametrize("name", MODELS)
def test_batched_and_one_at_a_time_greedy_agree(name):
    model, z = make_model(name), latent_codes(16)
    assert greedy_ids(model, z) == [greedy_ids(model, row.unsqueeze(0))[0] for row in z]


@pytest.mark.parametrize("name", MODELS)
def test_beam_of_one_is_greedy(name):
    model, z = make_model(name), latent_codes(16)
    assert decode(model, z, Decoding("beam", beam_size=1, max_length=MAX_LENGTH)) == greedy_ids(model, z)


def sentence_log_prob(model: SentenceVAE, output: list[int], z: torch.Tensor, max_length: int) -> float:
    scores = torch.log_softmax(teacher_forced_scores(model, output, z), dim=-1)
    targets = output + ([EOS] if len(output) < max_length else [])
    return float(scores[torch.arange(len(targets)), torch.tensor(targets)].sum())


def brute_force_best(model: SentenceVAE, z: torch.Tensor, vocab: list[int], max_length: int) -> float:
    """The highest log p of any sentence over a small token set, by enumeration (raw, no length penalty)."""
    best, frontier = float("-inf"), [[]]
    for _ in range(max_length + 1):
        extended = []
        for prefix in frontier:
            best = max(best, sentence_log_prob(model, prefix, z, max_length))
            if len(prefix) < max_length:
                extended += [prefix + [t] for t in vocab]
        frontier = extended
    return best


def test_beam_search_scores_at_least_greedy_and_a_wide_beam_finds_the_best_sentence():
    model, z = make_model("gru-gru"), latent_codes(6, seed=3)
    # restrict the vocabulary to 4 tokens so that every sentence of up to 3 tokens can be enumerated
    allowed = [EOS, 5, 9, 17]
    with torch.no_grad():
        banned = torch.ones(VOCAB, dtype=torch.bool)
        banned[allowed] = False
        model.to_vocab.bias[banned] = float("-inf")
    max_length = 3
    greedy = decode(model, z, Decoding("greedy", max_length=max_length))
    beam = decode(model, z, Decoding("beam", beam_size=3, length_penalty=0.0, max_length=max_length))
    exhaustive = decode(model, z, Decoding("beam", beam_size=64, length_penalty=0.0, max_length=max_length))
    for code, g, b, e in zip(z, greedy, beam, exhaustive):
        assert sentence_log_prob(model, b, code, max_length) >= sentence_log_prob(model, g, code, max_length) - 1e-5
        assert sentence_log_prob(model, e, code, max_length) == pytest.approx(
            brute_force_best(model, code, allowed[1:], max_length), abs=1e-4)


def test_length_penalty_favours_longer_sentences():
    model, z = make_model("lstm-lstm"), latent_codes(32, seed=4)
    plain = decode(model, z, Decoding("beam", beam_size=4, length_penalty=0.0, max_length=MAX_LENGTH))
    normalised = decode(model, z, Decoding("beam", beam_size=4, length_penalty=2.0, max_length=MAX_LENGTH))
    assert sum(map(len, normalised)) > sum(map(len, plain))


def reference_nucleus(probs: list[float], p: float) -> set[int]:
    """Plain-Python top-p: walk tokens from the most likely until the mass reaches p, then add ties."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    mass, kept = 0.0, []
    for i in order:
        kept.append(i)
        mass += probs[i]
        if mass >= p:
            break
    return {i for i, q in enumerate(probs) if q >= probs[kept[-1]]}


def kept(process, probs: list[float]) -> set[int]:
    scores = torch.tensor(probs, dtype=torch.float64).log().unsqueeze(0)
    return set(torch.isfinite(process(scores))[0].nonzero().flatten().tolist())


@pytest.mark.parametrize("probs, p, expected", [
    ([0.4, 0.2, 0.2, 0.2], 0.3, {0}),  # the first token alone reaches p
    ([0.4, 0.2, 0.2, 0.2], 0.5, {0, 1, 2, 3}),  # the second token reaches p; its ties come along
    ([0.1, 0.6, 0.3], 0.05, {1}),  # p below the largest probability: still one token
    ([0.1, 0.6, 0.3], 0.85, {1, 2}),
    ([0.1, 0.6, 0.3], 0.95, {0, 1, 2}),
    ([0.1, 0.6, 0.3], 1.0, {0, 1, 2}),
    ([0.25, 0.25, 0.25, 0.25], 0.1, {0, 1, 2, 3}),  # all tied
])
def test_top_p_keeps_the_smallest_set_reaching_p(probs, p, expected):
    assert kept(TopP(p), probs) == expected == reference_nucleus(probs, p)


def test_top_p_matches_the_reference_on_random_distributions():
    g = torch.Generator().manual_seed(0)
    for trial in range(200):
        vocab = int(torch.randint(2, 12, (1,), generator=g))
        # rounding to a coarse grid makes ties common
        probs = torch.randint(1, 6, (vocab,), generator=g).double()
        probs = (probs / probs.sum()).tolist()
        p = float(torch.rand((), generator=g)) * 0.98 + 0.01
        assert kept(TopP(p), probs) == reference_nucleus(probs, p), (probs, p)


def test_draw_follows_the_softmax_and_never_picks_a_removed_token():
    probs = torch.tensor([0.5, 0.0, 0.2, 0.25, 0.0, 0.05])
    scores = probs.log().expand(100_000, -1)
    draws = draw(scores, torch.Generator().manual_seed(0))
    frequencies = torch.bincount(draws, minlength=6).double() / len(draws)
    torch.testing.assert_close(frequencies, probs.double(), atol=0.006, rtol=0)  # about 4 standard errors
    assert frequencies[1] == 0 and frequencies[4] == 0
    one_left = torch.full((1000, 6), float("-inf"))
    one_left[:, 5] = 0.0
    assert (draw(one_left) == 5).all()


def test_top_k_keeps_the_k_best_and_their_ties():
    assert kept(TopK(2), [0.1, 0.5, 0.15, 0.25]) == {1, 3}
    assert kept(TopK(2), [0.1, 0.4, 0.25, 0.25]) == {1, 2, 3}
    assert kept(TopK(10), [0.5, 0.5]) == {0, 1}


@pytest.mark.parametrize("strategy, options", [("top-k", {"top_k": 3}), ("top-p", {"top_p": 0.6}),
                                               ("sample", {"top_k": 5, "top_p": 0.8, "temperature": 0.7})])
def test_sampled_tokens_stay_inside_the_filter(strategy, options):
    """Every emitted token is one the filters keep, given the teacher-forced scores of its prefix."""
    model, z = make_model("lstm-lstm"), latent_codes(64, seed=5)
    decoding = Decoding(strategy, max_length=MAX_LENGTH, **options)
    outputs = decode(model, z, decoding, torch.Generator().manual_seed(0))
    assert len({tuple(o) for o in outputs}) > 10
    for output, code in zip(outputs, z):
        scores = teacher_forced_scores(model, output, code)
        for process in decoding.processors():
            scores = process(scores)
        allowed = torch.isfinite(scores)
        targets = output + ([EOS] if len(output) < MAX_LENGTH else [])
        assert all(allowed[i, t] for i, t in enumerate(targets))


def test_top_k_never_emits_a_token_outside_the_k_most_likely():
    g = torch.Generator().manual_seed(1)
    for k in (1, 2, 5):
        scores = torch.randn(500, 20, generator=g) * 3
        draws = torch.multinomial(torch.softmax(TopK(k)(scores), dim=-1), 1, generator=g).squeeze(1)
        top = scores.topk(k, dim=-1).indices
        assert (top == draws.unsqueeze(1)).any(dim=1).all()


def test_near_zero_temperature_sampling_is_greedy():
    model, z = make_model("gru-gru"), latent_codes(16)
    cold = decode(model, z, Decoding("sample", temperature=1e-4, max_length=MAX_LENGTH), torch.Generator().manual_seed(0))
    assert cold == greedy_ids(model, z)


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_samples(name):
    model, z = make_model(name), latent_codes(32)
    decoding = Decoding("top-p", top_p=0.9, max_length=MAX_LENGTH)
    first = decode(model, z, decoding, torch.Generator().manual_seed(7))
    assert first == decode(model, z, decoding, torch.Generator().manual_seed(7))
    assert first != decode(model, z, decoding, torch.Generator().manual_seed(8))


class ForceLength:
    """A processor that bans `<eos>` for `n` steps and then forces it, counting its calls."""

    def __init__(self, n: int):
        self.n, self.calls = n, 0

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        forced = scores.clone()
        if self.calls <= self.n:
            forced[:, EOS] = float("-inf")
        else:
            forced[:] = float("-inf")
            forced[:, EOS] = 0.0
        return forced


@pytest.mark.parametrize("name", MODELS)
def test_decoding_stops_at_the_first_eos(name):
    model, z = make_model(name), latent_codes(8)
    force = ForceLength(4)
    outputs = sample_tokens(model, z, max_length=MAX_LENGTH, sample=True, processors=[force])
    assert [len(o) for o in outputs] == [4] * 8 and force.calls == 5
    assert all(EOS not in o for o in outputs)
    capped = sample_tokens(model, z, max_length=3, sample=True, processors=[ForceLength(100)])
    assert [len(o) for o in capped] == [3] * 8


def test_beam_search_sentences_end_at_eos_or_max_length():
    model, z = make_model("lstm-cnn"), latent_codes(16)
    outputs = beam_search(model, z, beam_size=3, max_length=MAX_LENGTH)
    assert all(EOS not in o and len(o) <= MAX_LENGTH for o in outputs)


def test_decoding_leaves_the_model_mode_alone():
    model = make_model("lstm-lstm").train()
    decode(model, latent_codes(2), Decoding("beam", max_length=4))
    assert model.training


def test_bad_decoding_settings_are_clear_errors():
    for options, message in [({"strategy": "nucleus"}, "unknown decoding strategy"),
                             ({"strategy": "top-p", "top_p": 1.5}, "0 < p <= 1"),
                             ({"strategy": "top-k", "top_k": 0}, "k >= 1"),
                             ({"strategy": "sample", "temperature": 0.0}, "temperature must be positive"),
                             ({"strategy": "beam", "beam_size": 0}, "beam_size"),
                             ({"max_length": 0}, "max_length")]:
        with pytest.raises(ConfigError, match=message):
            Decoding(**options)


def test_filters_compose_in_order():
    assert [type(p).__name__ for p in Decoding("sample", temperature=0.5, top_k=5, top_p=0.9).processors()] == [
        "Temperature", "TopK", "TopP"]
    assert [type(p).__name__ for p in Decoding("top-p", top_k=5).processors()] == ["Temperature", "TopP"]
    assert Decoding("top-k").describe() == "top-k (k=15)"
    assert Decoding("greedy", top_k=5).processors() == []


def test_interpolation_path_ends_at_both_codes():
    a, b = latent_codes(2)
    s, path = interpolation_path(a, b, steps=8)
    assert path.shape == (8, TINY["latent_dim"]) and s[0] == 0 and s[-1] == 1
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[-1], b)
    torch.testing.assert_close(path[3], (1 - s[3]) * a + s[3] * b)
    with pytest.raises(ValueError):
        interpolation_path(a, b, steps=1)


# --- the Python API and the command line on a tiny trained run ---------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("generation")
    (root / "train.txt").write_text("\n".join(TINY_SENTENCES * 4) + "\n", encoding="utf-8")
    run_command(["train", "--train", str(root / "train.txt"), "--valid", str(root / "train.txt"), "--out",
                 str(root / "run"), "--max-steps", "30", "--lr", "0.01", "--embedding-dim", "16", "--hidden-dim", "24",
                 "--latent-dim", "4", "--batch-size", "8", "--no-progress"])
    return root / "run"


def run_command(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as exit_info:
            code = exit_info.code or 0
    return code, out.getvalue(), err.getvalue()


def test_sample_command_is_reproducible(run_dir, tmp_path):
    args = ["sample", str(run_dir), "-n", "100", "--decode", "top-p", "--p", "0.9", "--seed", "1"]
    code, first, _ = run_command(args)
    assert code == 0 and len(first.splitlines()) == 100
    assert run_command(args)[1] == first
    assert run_command([*args[:-1], "2"])[1] != first
    code, _, _ = run_command([*args, "--out", str(tmp_path / "samples.txt")])
    assert code == 0 and (tmp_path / "samples.txt").read_text(encoding="utf-8") == first
    for strategy in ("greedy", "sample", "top-k", "beam"):
        code, out, err = run_command(["sample", str(run_dir), "-n", "3", "--decode", strategy, "--max-length", "5"])
        assert code == 0 and len(out.splitlines()) == 3, err
        assert all(len(line.split()) <= 5 for line in out.splitlines())


def test_interpolate_command_prints_a_block_per_strategy(run_dir):
    code, out, err = run_command(["interpolate", str(run_dir), "--from", "the food was great .", "--to",
                                  "the service was slow .", "--steps", "8", "--decode", "greedy,top-k,top-p"])
    assert code == 0, err
    blocks = out.strip().split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == ["# greedy", "# top-k (k=15)", "# top-p (p=0.9)"]
    for block in blocks:
        assert [line.split(". ")[0] for line in block.splitlines()[1:]] == [str(i) for i in range(1, 9)]
    code, prior, _ = run_command(["interpolate", str(run_dir), "--steps", "3", "--decode", "beam"])
    assert code == 0 and len(prior.strip().splitlines()) == 4


def test_reconstruct_command_takes_the_decoding_options(run_dir, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("\n".join(TINY_SENTENCES) + "\n", encoding="utf-8")
    outputs = []
    for name in ("a", "b", "beam"):
        strategy = "beam" if name == "beam" else "top-k"
        code, _, err = run_command(["reconstruct", str(run_dir), "--data", str(data), "--out", str(tmp_path / name),
                                    "--decode", strategy, "--k", "5", "--seed", "3", "--json"])
        assert code == 0, err
        outputs.append((tmp_path / name).read_text(encoding="utf-8").splitlines())
    assert outputs[0] == outputs[1] and len(outputs[2]) == len(TINY_SENTENCES)


def test_bad_generation_options_are_one_line_errors(run_dir):
    for args, message in [(["sample", str(run_dir), "--decode", "top-p", "--p", "1.5"], "0 < p <= 1"),
                          (["interpolate", str(run_dir), "--decode", "greedy,nucleus"], "--decode takes"),
                          (["sample", str(run_dir), "--decode", "sample", "--temperature", "0"], "temperature")]:
        code, _, err = run_command(args)
        assert code == 2 and message in err and "Traceback" not in err


def test_python_api(run_dir):
    vae = load(run_dir)
    assert vae.sample(5, "top-k", top_k=5, seed=3) == vae.sample(5, "top-k", top_k=5, seed=3)
    path = vae.interpolate("the food was great .", None, steps=4, seed=0)
    assert isinstance(path, Interpolation) and len(path.sentences) == 4 and path.z.shape == (4, 4)
    mu, _ = vae.encode(["the food was great ."])
    torch.testing.assert_close(path.z[0], mu[0])
    assert path.sentences == vae.decode(path.z)
    assert vae.interpolate(None, None, steps=4, seed=5).z.equal(vae.interpolate(None, None, steps=4, seed=5).z)
    sentences = TINY_SENTENCES[:3]
    longest = max(len(s.split()) for s in sentences)
    assert vae.reconstruct(sentences) == vae.decode(vae.encode(sentences)[0], max_length=10 + longest)
    assert len(vae.reconstruct(sentences, "beam", beam_size=3)) == 3
    with pytest.raises(ValueError, match="shape"):
        vae.decode(torch.zeros(2, 7))


@needs_bf16
def test_bf16_decoding_runs_every_strategy_and_mostly_agrees_with_fp32():
    model, z = make_model("lstm-lstm"), latent_codes(32)
    for strategy in ("greedy", "top-p", "beam"):
        outputs = decode(model, z, Decoding(strategy, max_length=MAX_LENGTH), torch.Generator().manual_seed(0), "bf16")
        assert len(outputs) == 32 and all(EOS not in o and len(o) <= MAX_LENGTH for o in outputs)
    bf16 = decode(model, z, Decoding("greedy", max_length=MAX_LENGTH), precision="bf16")
    assert sum(a == b for a, b in zip(bf16, greedy_ids(model, z))) >= 24
    with pytest.raises(ConfigError, match="precision"):
        decode(model, z, precision="fp16")


def test_the_program_keeps_freed_memory_where_glibc_allows(monkeypatch):
    import platform
    import sys

    from textvae.runtime import keep_freed_memory

    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert keep_freed_memory() is True
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_freed_memory() is False


def test_the_first_samples_do_not_depend_on_how_many_are_drawn(run_dir):
    """Each sentence draws from its own random stream: -n 3 and -n 4 agree on the first three, for
    every strategy, and through the command line as in Python."""
    vae = load(run_dir, device="cpu")
    for strategy in ("sample", "top-k", "top-p", "greedy"):
        three, four = vae.sample(3, strategy, seed=5), vae.sample(4, strategy, seed=5)
        assert three == four[:3], strategy
    many = vae.sample(1500, "sample", seed=5)  # more than one decoding batch (1,024 codes)
    assert many[:4] == vae.sample(4, "sample", seed=5)
    code, out3, _ = run_command(["sample", str(run_dir), "-n", "3", "--seed", "2"])
    code4, out4, _ = run_command(["sample", str(run_dir), "-n", "4", "--seed", "2"])
    assert code == code4 == 0 and out4.splitlines()[:3] == out3.splitlines()
    assert vae.sample(4, "sample", seed=6) != vae.sample(4, "sample", seed=5)


def test_unknown_words_in_the_input_are_warned_about(run_dir, caplog):
    vae = load(run_dir, device="cpu")
    with caplog.at_level("WARNING"):
        vae.interpolate("the fod was grate .", "the service was slow .", steps=3)
    assert ("start (--from) 'the fod was grate .': not in the vocabulary, read as <unk>: 2 occurrences of 2 words, "
            "such as 'fod' (1), 'grate' (1)") in caplog.text
    assert "end (--to)" not in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        vae.reconstruct(["the food was great .", "zzz zzz ."])
    assert "sentences to reconstruct: not in the vocabulary, read as <unk>: 2 occurrences of 1 word" in caplog.text
