"""The pretrained decoder and encoder on tiny random GPT-2 and BERT models saved to a directory and
loaded the way a user's model is: causality, the cache against a full pass, reordering, z reaching
the features, freezing, padding, and the one-line errors."""

import shutil
import sys

import pytest
import torch

from textvae.errors import ConfigError
from textvae.models.contracts import Dims
from textvae.models.pretrained import (
    MISSING_EXTRA,
    PretrainedDecoder,
    PretrainedDecoderOptions,
    PretrainedEncoder,
    PretrainedEncoderOptions,
    build_decoder,
    build_encoder,
    load_pretrained,
)
from textvae.models.transformer import Z_INJECTIONS

pytestmark = pytest.mark.usefixtures("one_thread")
transformers = pytest.importorskip("transformers")  # the module under test imports it only when used

WIDTH, LATENT = 16, 6


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, str]:
    """Directories holding a tiny GPT-2 (no tokenizer) and a tiny BERT (with its tokenizer)."""
    root = tmp_path_factory.mktemp("pretrained")
    torch.manual_seed(0)
    gpt2 = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=WIDTH, vocab_size=50, n_positions=64,
                                   bos_token_id=0, eos_token_id=0)
    transformers.GPT2LMHeadModel(gpt2).save_pretrained(root / "gpt2")
    bert = transformers.BertConfig(hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                                   vocab_size=50)
    transformers.BertModel(bert).save_pretrained(root / "bert")
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(45)]))
    transformers.BertTokenizer(str(vocab)).save_pretrained(root / "bert")
    return {"gpt2": str(root / "gpt2"), "bert": str(root / "bert")}


def decoder(saved, z_injection: str = "both", latent: int = LATENT, freeze: bool = False) -> PretrainedDecoder:
    model, _ = load_pretrained(saved["gpt2"], "causal-lm")
    torch.manual_seed(1)
    return PretrainedDecoder(model, latent, z_injection, freeze).eval()


def in_chunks(dec: PretrainedDecoder, embedded: torch.Tensor, z: torch.Tensor, chunks: list[int]) -> torch.Tensor:
    state, outputs, start = None, [], 0
    for size in chunks:
        features, state = dec(embedded[:, start:start + size], z, state)
        outputs.append(features)
        start += size
    return torch.cat(outputs, dim=1)


def test_loading_returns_the_model_and_a_tokenizer_only_where_one_is_saved(saved):
    model, tokenizer = load_pretrained(saved["gpt2"], "causal-lm")
    assert type(model).__name__ == "GPT2LMHeadModel" and tokenizer is None
    model, tokenizer = load_pretrained(saved["bert"], "encoder")
    assert type(model).__name__ == "BertModel" and tokenizer.vocab_size == 50


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
def test_a_later_input_never_changes_an_earlier_position(saved, z_injection):
    dec = decoder(saved, z_injection)
    embedded, z = torch.randn(2, 7, WIDTH), torch.randn(2, LATENT)
    with torch.no_grad():
        before, _ = dec(embedded, z)
        for position in range(7):
            changed = embedded.clone()
            changed[:, position] += torch.randn(WIDTH)  # not a constant: LayerNorm would remove that
            after, _ = dec(changed, z)
            torch.testing.assert_close(after[:, :position], before[:, :position], rtol=0, atol=1e-6)
            assert not torch.allclose(after[:, position], before[:, position])


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
@pytest.mark.parametrize("chunks", [[1] * 8, [3, 1, 4]])
def test_cached_decoding_equals_a_full_pass(saved, z_injection, chunks):
    dec = decoder(saved, z_injection)
    embedded, z = torch.randn(3, 8, WIDTH), torch.randn(3, LATENT)
    with torch.no_grad():
        full, _ = dec(embedded, z)
        torch.testing.assert_close(in_chunks(dec, embedded, z, chunks), full, rtol=0, atol=1e-5)


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
def test_reordering_the_state_then_continuing_equals_a_full_pass_of_those_rows(saved, z_injection):
    dec = decoder(saved, z_injection)
    embedded, z = torch.randn(3, 6, WIDTH), torch.randn(3, LATENT)
    rows = torch.tensor([2, 0, 0])
    with torch.no_grad():
        _, state = dec(embedded[:, :4], z)
        state = dec.reorder_state(state, rows)
        continued, _ = dec(embedded[rows, 4:], z[rows], state)
        full, _ = dec(embedded[rows], z[rows])
    torch.testing.assert_close(continued, full[:, 4:], rtol=0, atol=1e-5)


def test_a_call_leaves_the_state_it_was_given_as_it_was(saved):
    dec = decoder(saved)
    embedded, z = torch.randn(2, 5, WIDTH), torch.randn(2, LATENT)
    with torch.no_grad():
        _, state = dec(embedded[:, :3], z)
        first, _ = dec(embedded[:, 3:], z, state)
        second, _ = dec(embedded[:, 3:], z, state)
        reordered = dec.reorder_state(state, torch.tensor([1, 0]))
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert state.tokens == 3 and reordered.tokens == 3 and reordered.cache is not state.cache


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
def test_the_features_depend_on_z_at_every_position(saved, z_injection):
    dec = decoder(saved, z_injection)
    for name, parameter in dec.named_parameters():  # z's projections as after some training
        if name.startswith("z_to_") and name.endswith("weight"):
            torch.nn.init.normal_(parameter, std=0.3)
    embedded, z = torch.randn(2, 5, WIDTH), torch.randn(2, LATENT, requires_grad=True)
    features, _ = dec(embedded, z)
    features.pow(2).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    with torch.no_grad():
        other, _ = dec(embedded, z + 1.0)
    assert ((other - features).abs().amax(dim=-1) > 1e-4).all()  # the first position reads z too


def test_without_z_it_is_the_pretrained_model(saved):
    dec = decoder(saved, latent=0)
    assert dec.z_to_input is None and dec.z_to_memory is None
    model, _ = load_pretrained(saved["gpt2"], "causal-lm")
    embedded = torch.randn(2, 5, WIDTH)
    with torch.no_grad():
        features, _ = dec(embedded, None)
        expected = model.base_model(inputs_embeds=embedded).last_hidden_state
    torch.testing.assert_close(features, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
def test_at_the_start_z_only_nudges_the_pretrained_model(saved, z_injection):
    """z's projections start small beside the token embeddings, so an untrained VAE decodes almost
    as the pretrained model does (here 3-11% against 22-145% with nn.Linear's default init)."""
    dec = decoder(saved, z_injection)
    model, _ = load_pretrained(saved["gpt2"], "causal-lm")
    embedded = model.get_input_embeddings()(torch.randint(0, 50, (4, 7)))
    z = torch.randn(4, LATENT)
    with torch.no_grad():
        features, _ = dec(embedded, z)
        pretrained = model.base_model(inputs_embeds=embedded).last_hidden_state
    change = (features - pretrained).norm() / pretrained.norm()
    assert 0 < change < 0.15


@pytest.mark.parametrize("z_injection", Z_INJECTIONS)
def test_freezing_leaves_only_the_z_projections_trainable(saved, z_injection):
    trainable = {name for name, p in decoder(saved, z_injection, freeze=True).named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith(("z_to_input.", "z_to_memory.")) for name in trainable)
    unfrozen = decoder(saved, z_injection)
    frozen = {name for name, p in unfrozen.named_parameters() if not p.requires_grad}
    assert frozen == {"model.wte.weight"}  # the model's own token embedding, which the VAE's replaces


def test_freezing_the_encoder_leaves_nothing_of_it_trainable(saved):
    model, _ = load_pretrained(saved["bert"], "encoder")
    assert not any(p.requires_grad for p in PretrainedEncoder(model, freeze=True).parameters())


def test_the_encoder_summary_ignores_the_padding_after_each_length(saved):
    model, _ = load_pretrained(saved["bert"], "encoder")
    encoder = PretrainedEncoder(model).eval()
    embedded, lengths = torch.randn(3, 7, WIDTH), torch.tensor([7, 4, 1])
    repadded = embedded.clone()
    for row, length in enumerate(lengths.tolist()):
        repadded[row, length:] = torch.randn(7 - length, WIDTH)
    with torch.no_grad():
        summary = encoder(embedded, lengths)
        torch.testing.assert_close(encoder(repadded, lengths), summary, rtol=0, atol=1e-5)
        alone = encoder(embedded[1:2, :4], torch.tensor([4]))
    assert summary.shape == (3, WIDTH)
    torch.testing.assert_close(alone, summary[1:2], rtol=0, atol=1e-5)


def test_the_builders_check_the_embedding_size(saved):
    dims = Dims(embedding_dim=WIDTH, hidden_dim=32, latent_dim=LATENT)
    dec = build_decoder(dims, PretrainedDecoderOptions(decoder_pretrained=saved["gpt2"], z_injection="memory",
                                                       freeze_pretrained=True))
    enc = build_encoder(dims, PretrainedEncoderOptions(encoder_pretrained=saved["bert"]))
    assert dec.output_dim == enc.output_dim == WIDTH and dec.z_to_input is None
    with pytest.raises(ConfigError, match="--embedding-dim 16"):
        build_decoder(Dims(12, 32, LATENT), PretrainedDecoderOptions(decoder_pretrained=saved["gpt2"]))
    with pytest.raises(ConfigError, match="z_injection"):
        PretrainedDecoderOptions(z_injection="cross-attention")


def test_more_tokens_than_the_model_has_positions_is_one_clear_error(saved):
    dec = decoder(saved)
    with pytest.raises(ConfigError, match="64 positions"):
        dec(torch.randn(1, 65, WIDTH), torch.randn(1, LATENT))


def test_a_model_found_nowhere_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_pretrained("textvae-no-such-model", "causal-lm")
    message = str(error.value)
    assert "\n" not in message and "textvae-no-such-model" in message and "save_pretrained" in message


def test_without_transformers_it_says_which_extra_to_install(monkeypatch, saved):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(ConfigError) as error:
        load_pretrained(saved["gpt2"], "causal-lm")
    assert str(error.value) == MISSING_EXTRA


def test_a_name_in_the_local_hugging_face_cache_loads_offline(monkeypatch, saved, tmp_path):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    repo = tmp_path / "models--someone--tiny-gpt2"  # the hub cache's layout: a snapshot per revision
    shutil.copytree(saved["gpt2"], repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tokenizer = load_pretrained("someone/tiny-gpt2", "causal-lm")
    assert type(model).__name__ == "GPT2LMHeadModel" and tokenizer is None


def test_under_a_meta_device_the_builders_count_parameters_without_weights(saved):
    dims, options = Dims(WIDTH, 32, LATENT), PretrainedDecoderOptions(decoder_pretrained=saved["gpt2"])
    with torch.device("meta"):  # as SentenceVAE.parameter_count builds a model
        counted = build_decoder(dims, options)
        encoder = build_encoder(dims, PretrainedEncoderOptions(encoder_pretrained=saved["bert"]))
    assert all(p.is_meta for p in [*counted.parameters(), *encoder.parameters()])
    loaded = build_decoder(dims, options)
    assert sum(p.numel() for p in counted.parameters()) == sum(p.numel() for p in loaded.parameters())
