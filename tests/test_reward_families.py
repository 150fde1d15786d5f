"""Reward families: priors, the regret harm, the posterior density and its gradient, the exact finite
posterior (by hand), and the one Guard over reward theories (check, then observe answers one by one)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bayesguard.guard.configs import UpdateConfig
from bayesguard.guard.guard import Guard
from bayesguard.guard.rules import cautious_members
from bayesguard.inference.exact import exact_posterior
from bayesguard.posterior import Posterior
from bayesguard.theories.base import EnumerableFamily, TheoryFamily
from bayesguard.theories.reward import (
    Corrections,
    Demonstrations,
    FeedbackData,
    FiniteRewardFamily,
    HumanModel,
    LinearRewardFamily,
    Preferences,
    Rankings,
    RationalityPrior,
    TabularMDP,
    answer_probs,
    log_likelihood,
)


def _data(rng: np.random.Generator, f: int = 2) -> FeedbackData:
    p = rng.random((3, 2, 3)) + 0.1
    mdp = TabularMDP(p / p.sum(axis=2, keepdims=True), rng.normal(size=(3, f)), gamma=0.7)
    return FeedbackData.of(
        Preferences(rng.normal(size=(5, f)), rng.normal(size=(5, f)), rng.integers(0, 3, 5)),
        Rankings(rng.normal(size=(2, 3, f)), [[2, 0, 1], [0, 1, 2]]),
        Corrections.stops(rng.normal(size=(3, 2, f)), np.array([True, False, True])),
        Demonstrations(mdp, [0, 1, 2], [1, 1, 0]),
    )


def _simulate(w_true: np.ndarray, m: int, model: HumanModel, seed: int) -> Preferences:
    """Answers of a simulated human to random queries."""
    rng = np.random.default_rng(seed)
    f = w_true.size
    left, right = rng.normal(size=(m, f)), rng.normal(size=(m, f))
    p = answer_probs(w_true[None], left, right, model)[0]
    answer = np.array([rng.choice(3, p=row) for row in p])
    return Preferences(left, right, answer)


# ------------------------------------------------------------------ the linear family
def test_linear_priors_are_normalised_densities():
    w = np.random.default_rng(0).normal(size=(5, 3)) * 0.5
    fam = LinearRewardFamily(3, 2, scale=1.7)
    want = multivariate_normal(np.zeros(3), 1.7**2 * np.eye(3)).logpdf(w)
    np.testing.assert_allclose(fam.log_prior(w), want, rtol=1e-12)
    ball2 = LinearRewardFamily(2, 2, prior="ball", scale=2.0)
    np.testing.assert_allclose(ball2.log_prior(np.array([[0.1, 0.2], [1.9, 0.0]])), -math.log(math.pi * 4))
    assert ball2.log_prior(np.array([[1.5, 1.5]]))[0] == -np.inf
    ball3 = LinearRewardFamily(3, 2, prior="ball")
    assert ball3.log_prior(np.zeros((1, 3)))[0] == pytest.approx(-math.log(4 / 3 * math.pi))


@pytest.mark.parametrize("prior", ["gaussian", "ball"])
def test_prior_draws_follow_the_prior(prior):
    fam = LinearRewardFamily(3, 2, prior=prior, scale=2.0)
    w = fam.sample_prior(4000, 1)
    radius = np.linalg.norm(w, axis=1)
    if prior == "ball":  # uniform in the ball: P(|w| <= r) = (r / s)^f, so E|w| = s f / (f + 1)
        assert radius.max() <= 2.0
        mean, var = 2.0 * 3 / 4, 4.0 * 3 / 5 - (2.0 * 3 / 4) ** 2
        assert abs(radius.mean() - mean) < 5 * math.sqrt(var / 4000)
    else:  # each coordinate N(0, s^2): its sample variance has SE s^2 sqrt(2 / n)
        assert np.all(np.abs(w.var(axis=0) - 4.0) < 5 * 4.0 * math.sqrt(2 / 4000))
    assert np.abs(w.mean(axis=0)).max() < 5 * radius.std() / math.sqrt(4000)


@pytest.mark.parametrize("beta", [0.8, RationalityPrior([0.5, 2.0])])
def test_log_density_and_its_gradient(beta):
    rng = np.random.default_rng(2)
    held, extra = _data(rng), _data(rng).preferences
    model = HumanModel(beta, 0.1, 0.5)
    fam = LinearRewardFamily(2, 3, scale=1.5, model=model).conditioned(held)
    w = rng.normal(size=(4, 2))
    every = held.append(extra)
    want = fam.log_prior(w) + log_likelihood(w, every, model)
    np.testing.assert_allclose(fam.log_density(w, extra), want, rtol=1e-12)
    np.testing.assert_allclose(fam.conditioned(extra).log_score(w), want, rtol=1e-12)
    # the family's log_likelihood is the predictive one, so the score changes by exactly it
    np.testing.assert_allclose(fam.log_score(w) + fam.log_likelihood(w, extra), want, rtol=1e-10)
    g = fam.grad_log_density(w, extra)
    h = 1e-6
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        fd = (fam.log_density(w + e, extra) - fam.log_density(w - e, extra)) / (2 * h)
        np.testing.assert_allclose(g[:, j], fd, rtol=1e-5, atol=1e-6)


def test_regret_harm_and_rewards():
    fam = LinearRewardFamily(2, 3, tolerance=0.5, feature_names=("speed", "safety"))
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    options = np.array([[1.0, 0.2], [0.3, 1.0], [0.8, 0.8]])
    r = fam.reward(w, options)
    harm = fam.harm_prob(w, options)
    for t in range(3):
        for a in range(3):
            assert r[t, a] == pytest.approx(w[t] @ options[a])
            assert harm[t, a] == float(max(w[t] @ o for o in options) - w[t] @ options[a] > 0.5)
    np.testing.assert_array_equal(fam.harm_prob(w, options, 2), harm[:, 2])
    assert fam.describe(w[2]) == "w = (speed +1, safety +1)"
    with pytest.raises(ValueError, match="context"):
        fam.harm_prob(w, options[:2])
    with pytest.raises(ValueError, match="tolerance"):
        LinearRewardFamily(2, 3, tolerance=-1.0)
    with pytest.raises(ValueError, match="prior"):
        LinearRewardFamily(2, 3, prior="uniform")
    with pytest.raises(ValueError, match="data"):
        LinearRewardFamily(3, 3, data=_data(np.random.default_rng(0), 2))


def test_move_samples_the_posterior_against_quadrature():
    model = HumanModel(1.0)
    prefs = _simulate(np.array([1.0, -0.5]), 10, model, seed=3)
    fam = LinearRewardFamily(2, 2, model=model).conditioned(prefs)
    g = np.linspace(-5, 5, 401)
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    lp = fam.log_score(grid)
    p = np.exp(lp - lp.max())
    p /= p.sum()
    mean = p @ grid
    sd = np.sqrt(p @ (grid - mean) ** 2)
    w = fam.sample_prior(2000, 4)
    for k in range(8):  # independent chains, one per particle, proposal refitted between moves
        w = fam.move(w, 10, seed=k)
    assert np.all(np.abs(w.mean(axis=0) - mean) < 5 * sd / math.sqrt(2000))
    assert np.all(np.abs(w.std(axis=0) - sd) < 5 * sd / math.sqrt(2 * 2000))


def test_guard_follows_answers_with_a_sampled_linear_posterior():
    model = HumanModel(RationalityPrior([0.5, 2.0]), 0.05, 0.5)
    fam = LinearRewardFamily(2, 3, model=model)
    prefs = _simulate(np.array([1.0, 0.3]), 6, model, seed=5)
    draws = fam.sample_prior(300, 6)
    options = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # never resampled: the weights stay the exact importance weights of the whole batch
    guard = Guard(fam, Posterior.from_samples(draws, fam.name), update=UpdateConfig(ess_frac=0.0))
    for i in range(6):
        guard.observe(Preferences(prefs.left[i : i + 1], prefs.right[i : i + 1], prefs.answer[i : i + 1]))
    ll = fam.log_likelihood(draws, prefs)
    np.testing.assert_allclose(
        guard.posterior.log_weights, ll - np.log(np.exp(ll - ll.max()).sum()) - ll.max()
    )
    assert len(guard.family.data) == 6 and guard.posterior.kind == "weighted"
    # resampled and moved after every answer: the draws follow the family's posterior score
    moved = Guard(
        fam, Posterior.from_samples(draws, fam.name), update=UpdateConfig(move_every=1, move_steps=5)
    )
    moved.observe(prefs)
    assert moved.posterior.method == "smc" and not np.array_equal(moved.posterior.theories, draws)
    assert np.isfinite(moved.family.log_score(moved.posterior.theories)).all()
    verdict = moved.check(options, 2)
    assert verdict.decision.value in ("REJECT", "ASK") and verdict.posterior_harm > 0.5


# ------------------------------------------------------------------ the finite family
CANDIDATES = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]])
PRIOR = np.array([0.4, 0.3, 0.2, 0.1])


def hand_posterior(prefs: Preferences, betas, beta_w, eps: float, nu: float) -> np.ndarray:
    """p(w_k | D) by hand: prior times sum over beta of the product of answer probabilities."""
    post = []
    for k, w in enumerate(CANDIDATES):
        like = 0.0
        for b, pb in zip(betas, beta_w, strict=True):
            prod = 1.0
            for i in range(len(prefs)):
                rl, rr = w @ prefs.left[i], w @ prefs.right[i]
                terms = [math.exp(b * rl), math.exp(b * rr), nu * math.exp(b * (rl + rr) / 2)]
                prod *= (1 - eps) * terms[prefs.answer[i]] / sum(terms) + eps / (3 if nu > 0 else 2)
            like += pb * prod
        post.append(PRIOR[k] * like)
    post = np.array(post)
    return post / post.sum()


def test_finite_family_is_an_enumerable_theory_family():
    fam = FiniteRewardFamily(CANDIDATES, PRIOR, n_actions=2, theory_names=("a", "b", "c", "d"))
    assert isinstance(fam, EnumerableFamily) and isinstance(LinearRewardFamily(2, 2), TheoryFamily)
    np.testing.assert_allclose(np.exp(fam.log_prior(fam.enumerate())), PRIOR)
    assert fam.log_prior(np.array([[0.5, 0.5]]))[0] == -np.inf
    np.testing.assert_array_equal(fam.index(np.array([[-0.0, 1.0], [2.0, 2.0]])), [1, -1])
    assert fam.describe(CANDIDATES[2]) == "c: w = (w0 +1, w1 +1)"
    with pytest.raises(ValueError, match="candidates"):
        FiniteRewardFamily(np.array([[1.0, 0.0], [1.0, 0.0]]), n_actions=2)
    with pytest.raises(ValueError, match="prior"):
        FiniteRewardFamily(CANDIDATES, [0.5, 0.5], n_actions=2)


@pytest.mark.parametrize(
    ("betas", "beta_w"), [((1.5,), (1.0,)), ((0.3, 1.0, 3.0), (0.2, 0.5, 0.3))], ids=["fixed", "grid"]
)
def test_exact_posterior_matches_enumeration_by_hand(betas, beta_w):
    beta = betas[0] if len(betas) == 1 else RationalityPrior(betas, beta_w)
    model = HumanModel(beta, 0.1, 0.6)
    prefs = _simulate(np.array([1.0, 0.2]), 8, model, seed=7)
    fam = FiniteRewardFamily(CANDIDATES, PRIOR, n_actions=3, model=model)
    want = hand_posterior(prefs, betas, beta_w, 0.1, 0.6)
    np.testing.assert_allclose(exact_posterior(fam, prefs).probs, want, rtol=1e-10)
    np.testing.assert_allclose(fam.conditioned(prefs).posterior().probs, want, rtol=1e-10)


@pytest.mark.parametrize("beta", [2.0, RationalityPrior([0.5, 2.0, 8.0])])
def test_guard_over_finite_rewards_checks_and_observes_exactly(beta):
    model = HumanModel(beta, 0.05, 0.5)
    fam = FiniteRewardFamily(CANDIDATES, PRIOR, n_actions=3, model=model)
    guard = Guard(fam, exact_posterior(fam), rule="cautious", threshold=0.05, alpha=0.02)
    options = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    harm = fam.harm_prob(CANDIDATES, options)  # (4, 3): option 0 is best except for the last candidate
    prefs = _simulate(np.array([1.0, 0.0]), 12, model, seed=8)
    seen = []
    for i in range(len(prefs) + 1):
        probs = guard.posterior.probs
        want = hand_posterior(
            Preferences(prefs.left[:i], prefs.right[:i], prefs.answer[:i]), *_grid(beta), 0.05, 0.5
        )
        np.testing.assert_allclose(probs, want, rtol=1e-9)
        assert guard.posterior.is_exact
        inside = cautious_members(want, 0.02)
        for a, v in enumerate(guard.check_all(options)):
            mean = want @ harm[:, a]
            assert v.posterior_harm == pytest.approx(mean, abs=1e-12)
            worst, best = harm[inside, a].max(), harm[inside, a].min()
            expect = (
                "ALLOW" if worst <= 0.05 else "REJECT" if mean > 0.05 else "ASK" if best <= 0.05 else "REJECT"
            )
            assert v.decision.value == expect
            seen.append(expect)
        if i < len(prefs):
            guard.observe(Preferences(prefs.left[i : i + 1], prefs.right[i : i + 1], prefs.answer[i : i + 1]))
    assert {"ALLOW", "REJECT"} <= set(seen)
    # a guard built from the batch posterior agrees with the one that saw the answers one by one
    batch = Guard(fam.conditioned(prefs), exact_posterior(fam, prefs))
    np.testing.assert_allclose(batch.posterior.log_weights, guard.posterior.log_weights, atol=1e-9)


def _grid(beta):
    if isinstance(beta, RationalityPrior):
        return tuple(beta.betas), tuple(beta.weights)
    return (beta,), (1.0,)
