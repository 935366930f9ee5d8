"""The Transformer encoder and decoder: causality, the key/value cache against recomputation, z
reaching the decoder in every injection mode, padding, positions, and decoding with and without
the cache."""

import pytest
import torch

from textvae.errors import ConfigError
from textvae.generation.decoding import beam_search, sample_tokens
from textvae.models import ModelConfig, SentenceVAE
from textvae.models.lm import LanguageModel, LMConfig
from textvae.models.transformer import Z_INJECTIONS, causal_mask

VOCAB = 40


def transformer_vae(z_injection: str = "both", seed: int = 0, **options) -> SentenceVAE:
    torch.manual_seed(seed)
    config = ModelConfig("transformer", vocab_size=VOCAB, embedding_dim=12, hidden_dim=16, latent_dim=6,
                         layers=2, heads=4, z_injection=z_injection, **options)
    return SentenceVAE(config, eos_id=2).eval()


def step_by_step(vae: SentenceVAE, tokens: torch.Tensor, z: torch.Tensor, chunks: list[int]) -> torch.Tensor:
    """The decoder's features fed `tokens` in pieces of the given sizes, carrying the state."""
    state, outputs, start = None, [], 0
    for size in chunks:
        features, state = vae.decoder_features(tokens[:, start:start + size], z, state)
        outputs.append(features)
        start += size
    return torch.cat(outputs, dim=1)


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
def test_a_later_token_never_changes_an_earlier_position(z_injection):
    vae = transformer_vae(z_injection)
    tokens = torch.randint(3, VOCAB, (2, 9))
    z = torch.randn(2, 6)
    before, _ = vae.decoder_features(tokens, z)
    for position in range(9):
        changed = tokens.clone()
        changed[:, position] = (changed[:, position] + 1 - 3) % (VOCAB - 3) + 3
        after, _ = vae.decoder_features(changed, z)
        torch.testing.assert_close(after[:, :position], before[:, :position], rtol=0, atol=1e-6)
        assert not torch.allclose(after[:, position], before[:, position])


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
@pytest.mark.parametrize("chunks", [[1] * 8, [3, 1, 4], [8]])
def test_cached_decoding_equals_a_full_pass(z_injection, chunks):
    vae = transformer_vae(z_injection)
    tokens, z = torch.randint(3, VOCAB, (3, 8)), torch.randn(3, 6)
    full, _ = vae.decoder_features(tokens, z)
    torch.testing.assert_close(step_by_step(vae, tokens, z, chunks), full, rtol=0, atol=1e-5)


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
def test_without_the_cache_the_features_are_the_same(z_injection):
    cached, uncached = transformer_vae(z_injection), transformer_vae(z_injection, kv_cache=False)
    uncached.load_state_dict(cached.state_dict())
    tokens, z = torch.randint(3, VOCAB, (2, 6)), torch.randn(2, 6)
    torch.testing.assert_close(step_by_step(uncached, tokens, z, [1] * 6), step_by_step(cached, tokens, z, [1] * 6),
                               rtol=0, atol=1e-5)


def test_a_reordered_cache_continues_the_rows_it_names():
    vae = transformer_vae()
    tokens, z = torch.randint(3, VOCAB, (3, 5)), torch.randn(3, 6)
    _, state = vae.decoder_features(tokens[:, :3], z)
    index = torch.tensor([2, 0, 0])
    rest, _ = vae.decoder_features(tokens[index, 3:], z[index], vae.decoder.reorder_state(state, index))
    full, _ = vae.decoder_features(tokens[index], z[index])
    torch.testing.assert_close(rest, full[:, 3:], rtol=0, atol=1e-5)


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
def test_the_decoder_depends_on_z(z_injection):
    vae = transformer_vae(z_injection)
    tokens = torch.randint(3, VOCAB, (2, 7))
    z = torch.randn(2, 6, requires_grad=True)
    features, _ = vae.decoder_features(tokens, z)
    features.square().sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    # and through the memory or the inputs alone: the other path is not built
    built = {name.split(".")[0] for name, _ in vae.decoder.named_parameters() if name.startswith("z_to")}
    expected = {"memory": {"z_to_memory"}, "embedding": {"z_to_input"}, "both": {"z_to_memory", "z_to_input"}}
    assert built == expected[z_injection]


def test_the_encoder_reads_real_tokens_only():
    vae = transformer_vae()
    tokens = torch.randint(3, VOCAB, (2, 8))
    lengths = torch.tensor([5, 8])
    mu, logvar = vae.encode(tokens, lengths)
    padded_differently = tokens.clone()
    padded_differently[0, 5:] = 0
    mu2, logvar2 = vae.encode(padded_differently, lengths)
    torch.testing.assert_close(mu2, mu, rtol=0, atol=1e-6)
    torch.testing.assert_close(logvar2, logvar, rtol=0, atol=1e-6)
    shorter, _ = vae.encode(tokens[:1, :5], lengths[:1])  # the same sentence without padding
    torch.testing.assert_close(shorter, mu[:1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
def test_beam_search_and_sampling_with_the_cache_equal_them_without(z_injection):
    cached, uncached = transformer_vae(z_injection, seed=3), transformer_vae(z_injection, seed=3, kv_cache=False)
    uncached.load_state_dict(cached.state_dict())
    z = torch.randn(4, 6) * 3
    assert beam_search(cached, z, beam_size=3, max_length=12) == beam_search(uncached, z, beam_size=3, max_length=12)
    uniforms = torch.rand(4, 12, generator=torch.Generator().manual_seed(1))
    assert (sample_tokens(cached, z, 12, sample=True, uniforms=uniforms)
            == sample_tokens(uncached, z, 12, sample=True, uniforms=uniforms))


def test_the_causal_mask_lets_every_query_see_the_memory_and_its_past():
    mask = causal_mask(queries=2, keys=5, memory=True, device=torch.device("cpu"))
    # 4 positions cached or new, the last two are the queries; key 0 is the memory slot
    assert mask.tolist() == [[True, True, True, True, False], [True, True, True, True, True]]


def test_inputs_longer_than_the_positions_are_refused_in_one_line():
    vae = transformer_vae(max_positions=6)
    with pytest.raises(ConfigError, match="6 positions .*--max-positions.*7 tokens"):
        vae.decoder_features(torch.randint(3, VOCAB, (1, 7)), torch.randn(1, 6))
    with pytest.raises(ConfigError, match="--heads 5 must divide the model width"):
        ModelConfig("transformer", vocab_size=VOCAB, hidden_dim=16, heads=5) and SentenceVAE(
            ModelConfig("transformer", vocab_size=VOCAB, hidden_dim=16, heads=5), eos_id=2)


def test_a_transformer_language_model_is_the_decoder_without_z():
    torch.manual_seed(0)
    lm = LanguageModel(LMConfig(kind="transformer", vocab_size=VOCAB, embedding_dim=12, hidden_dim=16,
                                options={"layers": 1, "heads": 2}), eos_id=2)
    assert not any(name.startswith("decoder.z_to") for name, _ in lm.named_parameters())
    nll = lm(torch.randint(3, VOCAB, (2, 5)), torch.tensor([5, 3]))
    assert nll.shape == (2,) and bool((nll > 0).all())
    with pytest.raises(ConfigError, match="not an option of the transformer decoder: kernel_width"):
        LMConfig(kind="transformer", vocab_size=VOCAB, options={"kernel_width": 3})
