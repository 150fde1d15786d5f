"""Linear-reward posteriors: the Laplace fit against exact Gaussians and a hand-written Hessian, every
sampler against quadrature on a small 2-d problem (tolerances from standard errors), the online update
against the batch posterior, and bad input named."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from scipy.special import expit

from bayesguard.guard.configs import UpdateConfig
from bayesguard.inference.laplace import fit_laplace
from bayesguard.inference.reward_posterior import (
    RewardMethod,
    RewardSamplerConfig,
    fit_linear_reward,
    laplace_fit,
    linear_reward_posterior,
    update,
)
from bayesguard.posterior import Posterior
from bayesguard.theories.reward import FiniteRewardFamily, HumanModel, LinearRewardFamily, Preferences

BETA = 1.5
needs_emcee = pytest.mark.skipif(importlib.util.find_spec("emcee") is None, reason="needs emcee")


def _prefs(m: int, seed: int, f: int = 2) -> Preferences:
    rng = np.random.default_rng(seed)
    w = np.array([0.8, -0.6, 0.3][:f])
    left, right = rng.normal(size=(m, f)), rng.normal(size=(m, f))
    return Preferences(left, right, (rng.random(m) >= expit(BETA * (left - right) @ w)).astype(int))


def _bt_log_post(w: np.ndarray, prefs: Preferences, scale: float = 1.0) -> np.ndarray:
    """Gaussian prior plus Bradley-Terry, by hand: -|w|^2/2s^2 + sum log sigmoid(beta y w.(l - r))."""
    y = np.where(prefs.answer == 0, 1.0, -1.0)
    z = BETA * (w @ (prefs.left - prefs.right).T) * y
    return -0.5 * np.sum(w * w, axis=1) / scale**2 - np.logaddexp(0.0, -z).sum(axis=1)


def _quadrature(prefs: Preferences) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of each coordinate on a 301 x 301 grid over [-5, 5]^2."""
    g = np.linspace(-5, 5, 301)
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    lp = _bt_log_post(grid, prefs)
    p = np.exp(lp - lp.max())
    p /= p.sum()
    mean = p @ grid
    return mean, np.sqrt(p @ (grid - mean) ** 2)


@pytest.fixture(scope="module")
def problem():
    prefs = _prefs(12, seed=3)
    fam = LinearRewardFamily(2, 2, model=HumanModel(BETA)).conditioned(prefs)
    return fam, prefs, *_quadrature(prefs)


# ------------------------------------------------------------------ Laplace
def test_laplace_of_a_gaussian_is_that_gaussian():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    prec = a @ a.T + 0.5 * np.eye(3)
    mu = rng.normal(size=3)
    fit = fit_laplace(
        lambda x: -0.5 * np.einsum("ni,ij,nj->n", x - mu, prec, x - mu),
        lambda x: -(x - mu) @ prec,
        np.zeros(3),
    )
    np.testing.assert_allclose(fit.mode, mu, atol=1e-6)
    np.testing.assert_allclose(fit.cov, np.linalg.inv(prec), rtol=1e-6, atol=1e-9)
    x = rng.normal(size=(4, 3))
    want = -0.5 * np.einsum("ni,ij,nj->n", x - mu, prec, x - mu) + 0.5 * np.linalg.slogdet(prec)[1]
    np.testing.assert_allclose(fit.log_pdf(x), want - 1.5 * math.log(2 * math.pi), rtol=1e-6)
    # a Gaussian prior without data: the posterior is the prior, and the Laplace fit is exact
    fam = LinearRewardFamily(3, 2, scale=0.7)
    prior_fit = laplace_fit(fam)
    np.testing.assert_allclose(prior_fit.mode, 0.0, atol=1e-8)
    np.testing.assert_allclose(prior_fit.cov, 0.49 * np.eye(3), rtol=1e-6, atol=1e-10)


def test_laplace_hessian_matches_the_bradley_terry_formula(problem):
    fam, prefs, *_ = problem
    fit = laplace_fit(fam)
    w = fit.mode
    d = prefs.left - prefs.right
    s = expit(BETA * d @ w)
    hand = BETA**2 * (d * (s * (1 - s))[:, None]).T @ d + np.eye(2)  # minus the Hessian, by hand
    np.testing.assert_allclose(fit.precision, hand, rtol=1e-5)
    y = np.where(prefs.answer == 0, 1.0, -1.0)
    grad = BETA * ((1 - expit(BETA * y * (d @ w))) * y) @ d - w  # zero at the mode
    np.testing.assert_allclose(grad, 0.0, atol=1e-5)


# ------------------------------------------------------------------ samplers against quadrature
@pytest.mark.parametrize(
    "method, n",
    [("importance", 6000), ("laplace-importance", 3000), pytest.param("emcee", 3000, marks=needs_emcee)],
)
def test_sampler_means_within_standard_errors_of_quadrature(problem, method, n):
    fam, _, mean, sd = problem
    fit = fit_linear_reward(fam, method, n, seed=11)
    post = fit.posterior
    x, p = post.theories, post.probs
    got = p @ x
    got_sd = np.sqrt(p @ (x - got) ** 2)
    ess = fit.diagnostics["ess"]  # Kish ESS (importance) or bulk ESS over walkers (emcee)
    assert ess > 50
    se = sd / math.sqrt(ess)
    assert np.all(np.abs(got - mean) < 5 * se), (got, mean, se)
    # the sd of a near-Gaussian's draws has standard error about sd / sqrt(2 ESS)
    assert np.all(np.abs(got_sd - sd) < 5 * sd / math.sqrt(2 * ess)), (got_sd, sd)


@needs_emcee
def test_posteriors_record_how_they_were_made(problem):
    fam, *_ = problem
    emc = linear_reward_posterior(fam, "emcee", 500, seed=1)
    assert emc.kind == "samples" and emc.method == "emcee" and not emc.independent
    assert "R-hat" in emc.sampler_error.how and not emc.sampler_error.known
    imp = linear_reward_posterior(fam, RewardMethod.IMPORTANCE, 500, seed=1)
    assert imp.kind == "weighted" and imp.independent and "ESS" in imp.sampler_error.how
    lap = linear_reward_posterior(fam, "laplace", 300, seed=1)
    assert lap.kind == "samples" and "Laplace" in lap.sampler_error.how
    assert lap.theories.shape == (300, 2)
    short = fit_linear_reward(fam, "emcee", 10_000, seed=1, time_budget=0.05)
    assert short.diagnostics["n_steps"] < 400 + 10_000 // 32 * 5  # stopped by the time budget


@needs_emcee
def test_ball_prior_posteriors_stay_in_the_ball():
    fam = LinearRewardFamily(2, 2, prior="ball", scale=1.0, model=HumanModel(BETA))
    with pytest.raises(ValueError, match="ball prior"):
        linear_reward_posterior(fam, "laplace", 100)
    fam = fam.conditioned(_prefs(30, seed=5))
    for method in ("laplace", "emcee", "laplace-importance"):
        post = linear_reward_posterior(fam, method, 400, seed=2)
        inside = np.linalg.norm(post.theories, axis=1) <= 1.0 + 1e-12
        assert np.all(inside | (post.probs == 0)), method


# ------------------------------------------------------------------ online update
def test_online_update_equals_the_batch_importance_weights():
    model = HumanModel(BETA)
    first, second = _prefs(6, seed=7), _prefs(6, seed=8)
    fam = LinearRewardFamily(2, 2, model=model).conditioned(first)
    post = linear_reward_posterior(fam, "importance", 2000, seed=4)
    out = update(post, fam, second, config=UpdateConfig(ess_frac=0.0))
    assert not out.resampled and len(out.family.data) == 12
    batch = out.family.log_density(post.theories) - fam.log_prior(post.theories)  # importance from the prior
    np.testing.assert_allclose(out.posterior.log_weights, batch - np.logaddexp.reduce(batch), atol=1e-9)
    assert out.posterior.kind == "weighted" and "ESS" in out.posterior.sampler_error.how
    # laplace-importance: the weights grow by the predictive likelihood of the new answers
    lap = linear_reward_posterior(fam, "laplace-importance", 1000, seed=4)
    moved = update(lap, fam, second, config=UpdateConfig(ess_frac=0.0)).posterior
    inc = fam.log_likelihood(lap.theories, second)
    want = lap.log_weights + inc
    np.testing.assert_allclose(moved.log_weights, want - np.logaddexp.reduce(want), atol=1e-9)


def test_update_after_rejuvenation_matches_quadrature():
    first, second = _prefs(4, seed=9), _prefs(10, seed=10)
    fam = LinearRewardFamily(2, 2, model=HumanModel(BETA)).conditioned(first)
    post = linear_reward_posterior(fam, "importance", 4000, seed=5)
    out = update(post, fam, second, config=UpdateConfig(ess_frac=1.0, move_steps=20), seed=6)
    assert out.resampled and out.posterior.kind == "samples" and 1 <= out.ess < 4000
    both = Preferences(
        np.vstack([first.left, second.left]),
        np.vstack([first.right, second.right]),
        np.concatenate([first.answer, second.answer]),
    )
    mean, sd = _quadrature(both)
    x = out.posterior.theories
    # resampled draws moved 20 Metropolis steps: taken as at least n / 4 effective draws
    se = sd / math.sqrt(x.shape[0] / 4)
    assert np.all(np.abs(x.mean(axis=0) - mean) < 5 * se), (x.mean(axis=0), mean)


def test_update_keeps_an_exact_posterior_exact():
    cand = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5]])
    fam = FiniteRewardFamily(cand, n_actions=2, model=HumanModel(BETA))
    out = update(fam.posterior(), fam, _prefs(5, seed=12))
    assert out.posterior.is_exact and not out.resampled
    np.testing.assert_allclose(out.posterior.log_weights, out.family.posterior().log_weights, atol=1e-12)


# ------------------------------------------------------------------ the benchmark's reference and command
def test_quadrature_reference_of_a_gaussian_posterior():
    from scipy.stats import norm

    from bayesguard.experiments.reward_quadrature import quadrature, weighted_quantile

    fam = LinearRewardFamily(2, 2, scale=0.8)  # no data: the posterior is the prior N(0, 0.64 I)
    marg = quadrature(fam, 200)
    np.testing.assert_allclose(marg.mean, 0.0, atol=1e-9)
    np.testing.assert_allclose(marg.sd, 0.8, rtol=1e-6)
    np.testing.assert_allclose(marg.quantile(0.95), norm.ppf(0.95, scale=0.8), rtol=2e-3)
    np.testing.assert_allclose(
        marg.mass(-np.full(2, 0.8), np.full(2, 0.8)), norm.cdf(1) - norm.cdf(-1), rtol=2e-3
    )
    x = np.arange(5.0)[:, None] * np.ones((1, 2))
    np.testing.assert_allclose(weighted_quantile(x, np.full(5, 0.2), 0.5), 2.0)


def test_bench_reward_posterior_writes_its_files(tmp_path):
    from bayesguard.cli import main

    args = ["bench", "reward-posterior", "--seeds", "2", "--dims", "2", "--answers", "5", "--truths", "prior"]
    args += ["--methods", "laplace,importance", "--n-samples", "300", "--workers", "1", "--no-plots"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"reward_posterior_raw.csv", "reward_posterior_summary.csv", "reward_posterior_run.json"} <= names


# ------------------------------------------------------------------ bad input
def test_bad_input_names_the_field(problem):
    fam, prefs, *_ = problem
    with pytest.raises(ValueError, match="method"):
        linear_reward_posterior(fam, "gibbs")
    with pytest.raises(ValueError, match="n_samples"):
        linear_reward_posterior(fam, "laplace", 0)
    with pytest.raises(ValueError, match="time_budget"):
        linear_reward_posterior(fam, "importance", 10, time_budget=-1.0)
    with pytest.raises(TypeError, match="family"):
        linear_reward_posterior(FiniteRewardFamily(np.eye(2), n_actions=2), "laplace")
    with pytest.raises(ValueError, match="defensive"):
        RewardSamplerConfig(defensive=1.5)
    with pytest.raises(ValueError, match="walkers"):
        RewardSamplerConfig(walkers=1)
    with pytest.raises(TypeError, match="config"):
        update(Posterior.from_samples(np.zeros((3, 2))), fam, prefs, config=RewardSamplerConfig())
    with pytest.raises(TypeError, match="posterior"):
        update("not a posterior", fam, prefs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="data"):
        update(Posterior.from_samples(np.zeros((3, 2))), fam, _prefs(3, seed=1, f=3))
