import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from textvae.errors import ConfigError
from textvae.models.vae import gaussian_kl
from textvae.objectives import (
    ELBO, AnnealOptions, BetaC, BetaCOptions, Constant, CyclicalSchedule, FreeBits, LinearSchedule, LogisticSchedule,
    WeightedKL, build_objective,
)
from textvae.training import TrainConfig


def test_analytic_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(7, 5) * 2, torch.randn(7, 5)
    reference = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros(5), torch.ones(5)))
    torch.testing.assert_close(gaussian_kl(mu, logvar), reference)


def test_kl_is_zero_only_at_the_prior():
    assert gaussian_kl(torch.zeros(3), torch.zeros(3)).abs().max() == 0
    assert (gaussian_kl(torch.tensor([0.1, 0.0]), torch.tensor([0.0, -0.1])) > 0).all()


def test_linear_schedule_rises_from_zero_to_target_then_stays():
    schedule = LinearSchedule(end=15.0, steps=100)
    assert schedule(0) == 0.0
    assert schedule(25) == pytest.approx(3.75)
    assert schedule(50) == pytest.approx(7.5)
    assert schedule(100) == 15.0
    assert schedule(10_000) == 15.0
    assert schedule(None) == 15.0
    assert LinearSchedule(end=3.0, steps=0)(0) == 3.0  # no annealing


def test_beta_c_loss_is_distortion_plus_beta_times_gap_to_current_target():
    distortion = torch.tensor([10.0, 20.0])  # mean 15
    kl = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # rates 3 and 7, mean 5
    objective = BetaC(kl_target=8.0, beta=2.0, anneal_steps=4)
    out = objective(distortion, kl, step=2)  # C_t = 4
    assert out.kl_target == pytest.approx(4.0)
    assert float(out.distortion) == pytest.approx(15.0)
    assert float(out.rate) == pytest.approx(5.0)
    assert float(out.loss) == pytest.approx(15.0 + 2.0 * abs(5.0 - 4.0))
    final = objective(distortion, kl, step=None)  # C = 8: the gap changes sign
    assert float(final.loss) == pytest.approx(15.0 + 2.0 * 3.0)


def test_beta_c_gradient_pushes_rate_towards_target():
    mu = torch.zeros(4, 3, requires_grad=True)
    logvar = torch.zeros(4, 3)
    mu.data += 0.1
    BetaC(kl_target=5.0)(torch.zeros(4), gaussian_kl(mu, logvar), step=None).loss.backward()
    assert ((mu.grad * mu.data) < 0).all()  # rate below C: the step -grad grows |mu|


def test_elbo_objective_and_names():
    out = ELBO()(torch.tensor([2.0, 4.0]), torch.tensor([[1.0], [3.0]]), step=0)
    assert float(out.loss) == pytest.approx(3.0 + 2.0)
    assert out.kl_target is None
    assert isinstance(build_objective("beta-c", kl_target=3.0, anneal_steps=10), BetaC)
    with pytest.raises(ConfigError, match="unknown objective"):
        build_objective("free-lunch")


def test_annealing_length_in_epochs_or_steps():
    assert BetaCOptions().annealing_steps(steps_per_epoch=150) == 300  # paper: 2 epochs
    assert BetaCOptions(anneal_epochs=0.5).annealing_steps(150) == 75
    assert AnnealOptions(anneal_steps=42).annealing_steps(150) == 42


def test_training_length():
    assert TrainConfig(max_steps=30).total_steps(steps_per_epoch=100) == 30
    assert TrainConfig(epochs=2).total_steps(100) == 200
    assert TrainConfig(epochs=2, max_steps=150).total_steps(100) == 150
    assert TrainConfig().total_steps(100) == 1000


# -- the remedies for posterior collapse: schedules, free bits and the weighted objectives ---------------
D = torch.tensor([10.0, 20.0])  # mean distortion 15
KL = torch.tensor([[0.1, 2.0, 0.0], [0.3, 4.0, 1.0]])  # per dimension: means 0.2, 3.0, 0.5; rate 3.7


def test_logistic_schedule_is_bowmans_sigmoid():
    schedule = LogisticSchedule(steps=100)
    assert schedule(50) == pytest.approx(0.5)
    assert schedule(0) == pytest.approx(1 / (1 + math.exp(5)))  # 0.0067
    assert schedule(80) == pytest.approx(1 / (1 + math.exp(-3)))
    assert schedule(100) == schedule(10_000) == schedule(None) == 1.0


def test_cyclical_schedule_rises_over_a_share_of_each_cycle_then_holds():
    schedule = CyclicalSchedule(total=400, cycles=4, ratio=0.5)  # cycles of 100 steps, rising over 50
    assert [schedule(s) for s in (0, 25, 50, 99, 100, 125, 399)] == pytest.approx([0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0])
    assert schedule(400) == schedule(None) == 1.0
    assert CyclicalSchedule(total=90, cycles=3, ratio=1.0)(45) == pytest.approx(0.5)  # cycle 2 of 30 steps, half-way
    with pytest.raises(ConfigError):
        CyclicalSchedule(total=10, cycles=0)


def test_weighted_objectives_against_a_hand_computation():
    rate = 3.7
    assert float(ELBO()(D, KL, step=3).loss) == pytest.approx(15 + rate)
    assert float(build_objective("beta", beta=0.25)(D, KL, 3).loss) == pytest.approx(15 + 0.25 * rate)
    annealed = build_objective("anneal", anneal_steps=10)
    out = annealed(D, KL, 4)
    assert out.kl_weight == pytest.approx(0.4) and float(out.loss) == pytest.approx(15 + 0.4 * rate)
    assert float(out.rate) == pytest.approx(rate) and out.kl_target is None
    logistic = build_objective("anneal", anneal_steps=10, anneal_shape="logistic")
    assert float(logistic(D, KL, 5).loss) == pytest.approx(15 + 0.5 * rate)
    cyclical = build_objective("cyclical", total_steps=100, cycles=2, cycle_ratio=0.5)  # cycles of 50, rising 25
    assert float(cyclical(D, KL, 60).loss) == pytest.approx(15 + 0.4 * rate)
    assert float(cyclical(D, KL, None).loss) == pytest.approx(15 + rate)


def test_free_bits_floor_each_dimension_or_the_whole_rate():
    # per dimension (Kingma et al.): means 0.2, 3.0, 0.5 with a floor of 1 -> 1 + 3 + 1
    assert float(FreeBits(1.0, "dim")(KL)) == pytest.approx(5.0)
    # the whole rate (Li et al.): 3.7 against floors of 1 and 5
    assert float(FreeBits(1.0, "batch")(KL)) == pytest.approx(3.7)
    assert float(FreeBits(5.0, "batch")(KL)) == pytest.approx(5.0)
    objective = build_objective("free-bits", free_bits=1.0)
    out = objective(D, KL, 0)
    assert float(out.loss) == pytest.approx(15 + 5.0) and float(out.rate) == pytest.approx(3.7)  # R reported as is
    assert build_objective("free-bits").free_bits == FreeBits(0.5, "dim")
    with pytest.raises(ConfigError, match="--fb-mode"):
        FreeBits(1.0, "sentence")
    with pytest.raises(ConfigError, match="does not apply to the beta-c objective"):
        build_objective("beta-c", free_bits=1.0)


def test_free_bits_stop_the_gradient_of_dimensions_under_the_floor_only():
    kl = KL.clone().requires_grad_(True)
    FreeBits(1.0, "dim")(kl).backward()
    # dimension 1 (mean 3.0) is above the floor and pushed down; 0 and 2 (0.2, 0.5) are not
    assert torch.equal(kl.grad, torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.5, 0.0]]))
    kl.grad = None
    FreeBits(5.0, "batch")(kl).backward()
    assert torch.equal(kl.grad, torch.zeros_like(kl))


def test_annealing_composes_with_free_bits():
    objective = build_objective("anneal", anneal_steps=10, free_bits=1.0)
    assert objective == WeightedKL(LinearSchedule(1.0, 10), FreeBits(1.0, "dim"))
    assert float(objective(D, KL, 5).loss) == pytest.approx(15 + 0.5 * 5.0)
    assert WeightedKL(Constant(2.0)).weight_at(7) == 2.0 and BetaC(3.0).weight_at(7) is None


def test_every_objective_trains_from_the_command_options():
    for name in ("beta-c", "elbo", "beta", "anneal", "cyclical", "free-bits"):
        config = TrainConfig(objective=name, max_steps=10)
        assert config.build_objective(total_steps=10, steps_per_epoch=5) is not None
    with pytest.raises(ConfigError, match="--anneal-shape"):
        TrainConfig.from_flat({"objective": "anneal", "anneal_shape": "cosine"})
