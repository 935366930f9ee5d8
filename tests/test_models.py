import json

import pytest
import torch

from textvae.errors import ConfigError
from textvae.models import DECODERS, ModelConfig, SentenceVAE, parse_model_name
from textvae.models.rnn import recurrent_layer
from textvae.serialization import load_weights, save_weights

VOCAB, EOS = 30, 2
TINY = dict(vocab_size=VOCAB, embedding_dim=12, hidden_dim=16, latent_dim=4, conv_channels=8, kernel_width=3)
MODELS = ["lstm-lstm", "gru-gru", "lstm-cnn"]


def make_model(name: str, seed: int = 0) -> SentenceVAE:
    torch.manual_seed(seed)
    return SentenceVAE(ModelConfig(model=name, **TINY), eos_id=EOS).eval()


def random_batch(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for row, n in enumerate(lengths):
        tokens[row, : n - 1] = torch.randint(3, VOCAB, (n - 1,), generator=g)
        tokens[row, n - 1] = EOS
    return tokens, torch.tensor(lengths)


@pytest.mark.parametrize(
    "name, expected",
    [("lstm-lstm", ("lstm", "lstm")), ("GRU-GRU", ("gru", "gru")), ("LSTM-CNN", ("lstm", "cnn")),
     ("LSTM-CONV", ("lstm", "cnn")), ("gru-cnn", ("gru", "cnn")),
     ("transformer", ("transformer", "transformer")), ("LSTM-Transformer", ("lstm", "transformer"))],
)
def test_model_names(name, expected):
    assert parse_model_name(name) == expected


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown model 'bert-lstm'"):
        ModelConfig(model="bert-lstm")
    with pytest.raises(ConfigError, match="unknown model 'cnn'"):  # cnn is a decoder only
        ModelConfig(model="cnn")


def test_config_round_trips_through_json():
    config = ModelConfig(model="LSTM-CNN", vocab_size=123, latent_dim=8, kernel_width=5)
    again = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.model == "lstm-cnn"
    assert ModelConfig() == ModelConfig(embedding_dim=256, hidden_dim=512, latent_dim=64)  # the paper's sizes


@pytest.mark.parametrize("name", MODELS)
def test_shapes(name):
    model = make_model(name)
    tokens, lengths = random_batch([5, 3, 7])
    out = model(tokens, lengths)
    assert out.mu.shape == out.logvar.shape == out.z.shape == out.kl.shape == (3, 4)
    assert out.distortion.shape == (3,) and (out.distortion > 0).all()
    start = torch.full((3, 1), EOS)
    features, _ = model.decoder_features(torch.cat([start, tokens[:, :-1]], 1), out.z)
    assert features.shape == (3, 7, 16)


@pytest.mark.parametrize("name", MODELS)
def test_padding_does_not_change_the_loss(name):
    model = make_model(name)
    tokens, lengths = random_batch([4, 9, 6, 9])
    z = torch.randn(4, 4)
    together = model.distortion(tokens, lengths, z)
    alone = torch.cat([model.distortion(tokens[i : i + 1, : lengths[i]], lengths[i : i + 1], z[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone)
    mu, logvar = model.encode(tokens, lengths)
    mu_alone = torch.cat([model.encode(tokens[i : i + 1, : lengths[i]], lengths[i : i + 1])[0] for i in range(4)])
    torch.testing.assert_close(mu, mu_alone)
    # the value of the padding ids does not matter either
    noisy = tokens.clone()
    noisy[torch.arange(9) >= lengths.unsqueeze(1)] = 7
    torch.testing.assert_close(model.distortion(noisy, lengths, z), together)


def check_decoder_contract(decoder: torch.nn.Module, embedding_dim: int, latent_dim: int) -> None:
    """What models/contracts.py asks of a decoder: causal (the output at step t never depends on a
    later input), a step at a time with the state carried equals the whole sequence at once, and
    `reorder_state` keeps the rows asked for."""
    torch.manual_seed(3)
    embedded, z = torch.randn(3, 25, embedding_dim), torch.randn(3, latent_dim)  # past the CNN's receptive field
    features, _ = decoder(embedded, z)
    assert features.shape == (3, 25, decoder.output_dim)
    for t in range(10):
        changed = embedded.clone()
        changed[:, t + 1 :] = torch.randn_like(changed[:, t + 1 :])
        torch.testing.assert_close(decoder(changed, z)[0][:, : t + 1], features[:, : t + 1])
        assert not torch.allclose(decoder(changed, z)[0][:, t + 1 :], features[:, t + 1 :])  # the test can fail
    state, steps = None, []
    for t in range(25):
        out, state = decoder(embedded[:, t : t + 1], z, state)
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps, 1), features)
    _, state = decoder(embedded[:, :5], z)
    index = torch.tensor([2, 0, 2])
    continued, _ = decoder(embedded[index, 5:6], z[index], decoder.reorder_state(state, index))
    torch.testing.assert_close(continued, features[index, 5:6])


@pytest.mark.parametrize("kind", DECODERS.names())
def test_every_registered_decoder_keeps_the_contract(kind):
    if kind == "pretrained":
        pytest.skip("starts from a model saved on disk: tests/test_pretrained_runs.py checks it against the contract")
    check_decoder_contract(make_model(f"lstm-{kind}").decoder, TINY["embedding_dim"], TINY["latent_dim"])


def test_cnn_dropout_only_in_training():
    model = make_model("lstm-cnn")
    tokens, lengths = random_batch([6, 6])
    z = torch.zeros(2, 4)
    assert torch.equal(model.distortion(tokens, lengths, z), model.distortion(tokens, lengths, z))
    model.train()
    assert not torch.equal(model.distortion(tokens, lengths, z), model.distortion(tokens, lengths, z))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_decoder_dropout_drops_words_and_outputs_but_never_z(kind):
    torch.manual_seed(0)
    decoder = make_model(f"lstm-{kind}").decoder
    embedded = torch.randn(64, 9, TINY["embedding_dim"], requires_grad=True)
    z = torch.randn(64, TINY["latent_dim"], requires_grad=True)
    decoder.train()
    torch.manual_seed(1)
    before = torch.get_rng_state()
    features, _ = decoder(embedded, z)
    assert torch.equal(torch.get_rng_state(), before)  # dropout 0 (the default) draws nothing: runs stay as they were
    assert (features == 0).float().mean() == 0

    decoder.dropout = 0.3
    features, _ = decoder(embedded, z)
    dropped_outputs = (features == 0).float().mean().item()
    features.sum().backward()
    dropped_words = (embedded.grad == 0).float().mean().item()
    assert dropped_outputs == pytest.approx(0.3, abs=0.03) and dropped_words == pytest.approx(0.3, abs=0.03)
    z.grad = None
    decoder(embedded[:, :1], z)[0].sum().backward()  # one step: z dropped at that step would have no gradient
    assert (z.grad != 0).all()

    decoder.eval()
    assert torch.equal(decoder(embedded, z)[0], decoder(embedded, z)[0])


def test_decoder_dropout_is_an_option_of_the_recurrent_decoders_only():
    config = ModelConfig.from_flat({"model": "lstm-lstm", "decoder_dropout": 0.5})
    assert config.decoder_options.decoder_dropout == 0.5
    assert SentenceVAE(ModelConfig(model="gru-gru", decoder_dropout=0.5, **TINY), eos_id=EOS).decoder.dropout == 0.5
    with pytest.raises(ConfigError, match="--decoder-dropout.*does not apply to model lstm-cnn"):
        ModelConfig.from_flat({"model": "lstm-cnn", "decoder_dropout": 0.5})
    with pytest.raises(ConfigError, match="decoder_dropout"):
        ModelConfig(model="lstm-lstm", decoder_dropout=1.0)
    saved = ModelConfig(model="lstm-lstm").to_dict()
    del saved["decoder_options"]["decoder_dropout"]  # a run saved before the option existed
    assert ModelConfig.from_dict(saved).decoder_options.decoder_dropout == 0.0


@pytest.mark.parametrize("name", MODELS)
def test_save_and_load_give_identical_outputs(name, tmp_path):
    model = make_model(name, seed=0)
    save_weights(model, tmp_path / "w.safetensors")
    other = make_model(name, seed=99)
    tokens, lengths = random_batch([5, 8])
    z = torch.randn(2, 4)
    assert not torch.equal(other.distortion(tokens, lengths, z), model.distortion(tokens, lengths, z))
    load_weights(other, tmp_path / "w.safetensors")
    assert torch.equal(other.distortion(tokens, lengths, z), model.distortion(tokens, lengths, z))
    assert all(torch.equal(a, b) for a, b in zip(other.encode(tokens, lengths), model.encode(tokens, lengths)))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_tf_initialisation_of_recurrent_layers(kind):
    torch.manual_seed(0)
    rnn = recurrent_layer(kind, input_dim=6, hidden_dim=5, init="tf")
    gates = 4 if kind == "lstm" else 3
    recurrent = rnn.weight_hh_l0  # (gates * hidden, hidden): orthonormal columns
    torch.testing.assert_close(recurrent.T @ recurrent, torch.eye(5), atol=1e-5, rtol=0)
    glorot_limit = (6 / (6 + gates * 5)) ** 0.5
    assert rnn.weight_ih_l0.abs().max() <= glorot_limit
    forget = torch.zeros(gates * 5)
    if kind == "lstm":
        forget[5:10] = 1.0  # gate order: input, forget, cell, output
    assert torch.equal(rnn.bias_ih_l0 + rnn.bias_hh_l0, forget)


def test_torch_initialisation_is_pytorchs_default_and_unknown_ones_are_refused():
    torch.manual_seed(0)
    ours = recurrent_layer("lstm", 6, 5, init="torch")
    torch.manual_seed(0)
    reference = torch.nn.LSTM(6, 5, batch_first=True)
    for a, b in zip(ours.parameters(), reference.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="rnn_init"):
        ModelConfig(rnn_init="xavier")
    # a config of textvae 0.1.0 without the field (its options flat beside the sizes)
    old_config = {"model": "lstm-cnn", "vocab_size": 10, "embedding_dim": 8, "hidden_dim": 8, "latent_dim": 2,
                  "conv_channels": 4, "kernel_width": 3, "conv_blocks": 2, "dropout": 0.1}
    assert ModelConfig.from_dict(old_config).encoder_options.rnn_init == "torch"  # what it meant then


@pytest.mark.parametrize("name", ["lstm-lstm", "gru-gru", "lstm-cnn", "transformer"])
@pytest.mark.parametrize("own", [False, True])
def test_the_parameter_count_is_that_of_the_model_built(name, own):
    config = ModelConfig(name, vocab_size=37, embedding_dim=8, hidden_dim=12, latent_dim=3, own_encoder_embedding=own)
    built = sum(p.numel() for p in SentenceVAE(config, eos_id=2).parameters())
    assert SentenceVAE.parameter_count(config) == built
