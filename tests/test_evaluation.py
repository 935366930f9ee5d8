"""Evaluation numbers against independent computations: numerical integration and numpy."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from textvae.data import Vocabulary, encode_corpus
from textvae.evaluation import evaluate, log_importance_weights
from textvae.evaluation.latent import active_units, aggregate_posterior_stats, mutual_information
from textvae.models import ModelConfig, SentenceVAE

SENTENCES = [["b", "a"], ["c", "c", "a", "b"], ["a"], ["d", "b", "c"]]


def one_dim_model() -> tuple[SentenceVAE, Vocabulary]:
    """A tiny random VAE with a 1-d latent whose decoder depends strongly on z."""
    vocab = Vocabulary.build(SENTENCES)
    torch.manual_seed(0)
    model = SentenceVAE(ModelConfig("lstm-lstm", vocab_size=len(vocab), embedding_dim=6, hidden_dim=8, latent_dim=1,
                                    rnn_init="torch"),  # PyTorch's start gives this seed a loose bound
                        eos_id=vocab.eos_id).eval()
    with torch.no_grad():
        model.decoder.rnn.weight_ih_l0[:, -1] *= 8.0  # the z column
        model.to_vocab.weight *= 3.0
    return model, vocab


@torch.no_grad()
def exact_log_marginal(model, tokens, lengths) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(x) = log of the integral of p(x|z) N(z; 0, 1) dz, and the ELBO, on a fine grid."""
    grid = torch.linspace(-12, 12, 24001)
    dz = float(grid[1] - grid[0])
    log_prior = -0.5 * (grid.pow(2) + math.log(2 * math.pi))
    mu, logvar = model.encode(tokens, lengths)
    marginals, elbos = [], []
    for i in range(tokens.size(0)):
        rows = grid.numel()
        log_lik = -model.distortion(tokens[i : i + 1].expand(rows, -1), lengths[i : i + 1].expand(rows),
                                    grid.unsqueeze(1)).double()
        marginals.append(torch.logsumexp(log_lik + log_prior, 0) + math.log(dz))
        q = torch.exp(-0.5 * (grid - mu[i, 0]).pow(2) / logvar[i, 0].exp()) / torch.sqrt(2 * math.pi * logvar[i, 0].exp())
        kl = 0.5 * (mu[i, 0] ** 2 + logvar[i, 0].exp() - 1 - logvar[i, 0])
        elbos.append((q.double() * log_lik).sum() * dz - kl)
    return torch.stack(marginals), torch.stack(elbos)


def test_importance_weighted_nll_converges_to_the_exact_marginal():
    model, vocab = one_dim_model()
    corpus = encode_corpus(SENTENCES, vocab)
    from textvae.data import collate

    batch = collate(corpus, np.arange(len(SENTENCES)))
    exact, elbo = exact_log_marginal(model, batch.tokens, batch.lengths)
    assert (exact - elbo > 0.05).all()  # the bound is loose here, so the test can tell them apart
    with torch.no_grad():
        mu, logvar = model.encode(batch.tokens, batch.lengths)
        generator = torch.Generator().manual_seed(0)
        for samples, tolerance in ((50, 0.5), (20000, 0.02)):
            log_w = log_importance_weights(model, batch.tokens, batch.lengths, mu, logvar, samples, generator,
                                           max_tokens=64).double()
            estimate = torch.logsumexp(log_w, 0) - math.log(samples)
            assert (estimate - exact).abs().max() < tolerance
        assert (estimate <= exact + 0.02).all()  # a lower bound in expectation: never above but for noise
        # one sample per sentence is the ELBO in expectation
        log_w = log_importance_weights(model, batch.tokens, batch.lengths, mu, logvar, 20000, generator).double()
        torch.testing.assert_close(log_w.mean(0), elbo, atol=0.05, rtol=0)


def test_evaluate_reports_iw_nll_between_exact_and_elbo():
    model, vocab = one_dim_model()
    corpus = encode_corpus(SENTENCES, vocab)
    result = evaluate(model, corpus, iw_samples=3000, repeats=2)
    from textvae.data import collate

    batch = collate(corpus, np.arange(len(SENTENCES)))
    exact, elbo = exact_log_marginal(model, batch.tokens, batch.lengths)
    assert result.nll_iw == pytest.approx(-float(exact.mean()), abs=0.03)
    assert result.nll_iw <= -float(elbo.mean()) + 0.01
    assert result.ppl_iw == pytest.approx(math.exp(result.nll_iw * 4 / corpus.num_tokens))
    # a word vocabulary: a word is a token, so the per-word perplexities are the per-token ones
    assert result.words == corpus.num_tokens
    assert result.ppl_word_iw == pytest.approx(result.ppl_iw) and result.ppl_word_elbo == pytest.approx(result.ppl_elbo)


def test_per_word_perplexity_divides_by_the_words_of_the_text():
    model, vocab = one_dim_model()
    corpus = encode_corpus(SENTENCES, vocab)
    # as a subword tokenizer would: the same ids, but the text had fewer words than tokens
    fewer = replace(corpus, words=corpus.num_tokens - 2)
    result, per_word = evaluate(model, corpus, iw_samples=50, repeats=1), evaluate(model, fewer, iw_samples=50, repeats=1)
    assert per_word.ppl_iw == pytest.approx(result.ppl_iw)
    assert per_word.ppl_word_iw == pytest.approx(math.exp(per_word.nll_iw * len(SENTENCES) / fewer.words))
    assert per_word.ppl_word_elbo == pytest.approx(math.exp(-per_word.elbo * len(SENTENCES) / fewer.words))
    assert per_word.ppl_word_iw > per_word.ppl_iw


def numpy_log_density(z, mu, logvar):
    out = np.zeros((len(z), len(mu)))
    for m in range(len(z)):
        for n in range(len(mu)):
            var = np.exp(logvar[n])
            out[m, n] = np.sum(-0.5 * np.log(2 * np.pi * var) - 0.5 * (z[m] - mu[n]) ** 2 / var)
    return out


def test_mutual_information_against_numpy():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(40, 3)), rng.normal(scale=0.5, size=(40, 3))
    z = mu + np.exp(0.5 * logvar) * rng.normal(size=(40, 3))
    log_q_z_given_x = np.array([numpy_log_density(z[j : j + 1], mu[j : j + 1], logvar[j : j + 1])[0, 0] for j in range(40)])
    entropy_term = np.mean(-0.5 * np.sum(np.log(2 * np.pi * np.e * np.exp(logvar)), axis=1))
    d = numpy_log_density(z, mu, logvar)
    log_q_z = np.log(np.mean(np.exp(d), axis=1))
    expected = entropy_term - np.mean(log_q_z)
    t = lambda a: torch.from_numpy(a).float()
    assert mutual_information(t(mu), t(logvar), t(z)) == pytest.approx(expected, abs=1e-4)
    # the analytic entropy term is the sample average of log q(z|x) in expectation: same ballpark
    assert abs(np.mean(log_q_z_given_x) - entropy_term) < 0.5


def test_mutual_information_limits():
    torch.manual_seed(0)
    same = torch.zeros(4000, 2)
    z = torch.randn(4000, 2)
    # q(z|x) ignores x: zero, up to the Monte Carlo noise of the second term (~1/sqrt(N))
    assert mutual_information(same, same, z) == pytest.approx(0.0, abs=0.05)
    far = torch.arange(1000.0).unsqueeze(1).repeat(1, 2) * 100  # disjoint posteriors: z tells x apart
    logvar = torch.full((1000, 2), -4.0)
    z = far + torch.exp(0.5 * logvar) * torch.randn(1000, 2)
    assert mutual_information(far, logvar, z) == pytest.approx(math.log(1000), abs=0.15)


def test_active_units_against_numpy():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(500, 6)) * np.array([1.0, 0.5, 0.2, 0.05, 0.01, 0.0])
    count, variances = active_units(torch.from_numpy(mu), threshold=0.01)
    np.testing.assert_allclose(variances.numpy(), np.var(mu, axis=0, ddof=1), rtol=1e-9)
    assert count == int(np.sum(np.var(mu, axis=0, ddof=1) > 0.01)) == 3


def test_aggregate_posterior_stats_against_numpy():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(300, 4)) @ np.diag([1.0, 2.0, 0.5, 0.1]) + np.array([1.0, -2.0, 0.0, 0.5])
    log_det, mu_norm_sq = aggregate_posterior_stats(torch.from_numpy(z))
    sign, expected = np.linalg.slogdet(np.cov(z.T))
    assert sign > 0 and log_det == pytest.approx(expected, rel=1e-9)
    assert mu_norm_sq == pytest.approx(float(np.sum(z.mean(axis=0) ** 2)), rel=1e-9)
    collapsed = np.repeat(z[:, :1], 4, axis=1)  # a singular covariance
    assert aggregate_posterior_stats(torch.from_numpy(collapsed))[0] < -20 or \
        aggregate_posterior_stats(torch.from_numpy(collapsed))[0] == -math.inf


def test_evaluate_is_deterministic_and_complete():
    model, vocab = one_dim_model()
    corpus = encode_corpus(SENTENCES * 3, vocab)
    first = evaluate(model, corpus, iw_samples=20, seed=5).to_dict()
    assert evaluate(model, corpus, iw_samples=20, seed=5).to_dict() == first
    assert evaluate(model, corpus, iw_samples=20, seed=6).to_dict() != first
    assert set(first) == {"distortion", "rate", "elbo", "nll_iw", "ppl_iw", "ppl_elbo", "mi", "au", "au_variances",
                          "log_det_cov", "mu_norm_sq", "sentences", "tokens", "words", "ppl_word_iw",
                          "ppl_word_elbo"}
    assert 0 <= first["au"] <= 1 and len(first["au_variances"]) == 1
    skipped = evaluate(model, corpus, iw_samples=0, seed=5)
    assert skipped.nll_iw is None and skipped.ppl_iw is None and skipped.ppl_word_iw is None
    assert skipped.distortion == first["distortion"]  # same seed, same one-sample terms


def test_a_huge_but_finite_loss_has_an_infinite_perplexity_not_an_error():
    import math

    from textvae.evaluation import LMEvaluation, perplexity

    assert perplexity(2.0) == pytest.approx(math.exp(2.0))
    assert perplexity(710.0) == math.inf and perplexity(1e300) == math.inf  # exp overflows past ~709.78
    report = LMEvaluation(cross_entropy=800.0, perplexity=perplexity(800.0), nll=8000.0, sentences=1, tokens=10)
    assert report.to_dict()["perplexity"] is None  # valid JSON where the number does not fit


def test_a_long_importance_weighted_nll_is_announced_once_with_how_to_shorten_it(monkeypatch, caplog):
    from textvae.evaluation import likelihood

    now = [100.0]
    monkeypatch.setattr(likelihood.time, "perf_counter", lambda: now[0])
    quick = likelihood.IWClock(500, 3761, tokens=1000, speaks=True)
    now[0] += 10.0  # the first batch: 100 of 1,000 tokens in 10 s -> 100 s in all: not long
    with caplog.at_level("WARNING"):
        quick.batch_done(100)
    assert caplog.text == ""
    slow = likelihood.IWClock(500, 3761, tokens=1000, speaks=True)
    now[0] += 10.0  # 10 of 1,000 tokens in 10 s -> about 17 min
    with caplog.at_level("WARNING"):
        slow.batch_done(10)
        slow.batch_done(10)
    (line,) = caplog.text.strip().splitlines()
    assert "500 samples on 3761 sentences: about 17 min" in line and "--iw-samples 100" in line
