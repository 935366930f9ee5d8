import pytest
import torch
from torch.distributions import Normal, kl_divergence

from textvae.errors import ConfigError
from textvae.models.vae import gaussian_kl
from textvae.objectives import ELBO, BetaC, LinearSchedule, build_objective
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
    assert isinstance(build_objective("beta-c", 3.0, 1.0, 10), BetaC)
    with pytest.raises(ConfigError, match="unknown objective"):
        build_objective("free-lunch", 3.0, 1.0, 10)


def test_annealing_length_in_epochs_or_steps():
    assert TrainConfig().annealing_steps(steps_per_epoch=150) == 300  # paper: 2 epochs
    assert TrainConfig(anneal_epochs=0.5).annealing_steps(150) == 75
    assert TrainConfig(anneal_steps=42).annealing_steps(150) == 42


def test_training_length():
    assert TrainConfig(max_steps=30).total_steps(steps_per_epoch=100) == 30
    assert TrainConfig(epochs=2).total_steps(100) == 200
    assert TrainConfig(epochs=2, max_steps=150).total_steps(100) == 150
    assert TrainConfig().total_steps(100) == 1000
