"""Monte Carlo marginaliser: exact weighted means, and the bound's coverage over repeated runs against the
exact posterior-predictive harm of a problem small enough to enumerate."""

from __future__ import annotations

import numpy as np
import pytest

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.marginal import mean_bounds, monte_carlo_harm, sampler_tv_estimate, sampler_tv_exact
from bayesguard.marginal.bounds import bernstein_width, hoeffding_width
from bayesguard.theories.causal.harm import HarmSpec
from bayesguard.theories.causal.harm_model import GaussianHarmModel
from bayesguard.theories.causal.linear_gaussian import sample_parameters
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore, exact_structure_posterior

NAMES = ("a", "b", "h")


@pytest.fixture(scope="module")
def problem():
    """d = 3 (25 DAGs), N = 20 rows: a posterior spread over several graphs."""
    scm = sample_linear_gaussian_scm(3, 20, 2, seed=11)
    score = BGeScore(scm.data)
    post = exact_structure_posterior(StructureScore(score))
    sd = scm.data.std(axis=0)
    spec = HarmSpec(NAMES, f"h > {scm.data[:, 2].mean() + 0.5 * sd[2]:.6f}", ({}, {"a": 2 * sd[0]}))
    # the truth: sum_G p(G) E_params P(H | do, G), with 4,000 parameter draws per graph
    k = 4000
    adj = np.repeat(post.theories, k, axis=0)
    harm = GaussianHarmModel(spec, sample_parameters(score, adj, 0, NAMES)).harm()
    per_graph = harm.reshape(post.n_theories, k, -1).mean(axis=1)
    truth = post.probs @ per_graph
    return score, post, spec, truth, per_graph


def draws(score, spec, graph_probs, post, n, rng):
    """``n`` theories drawn from ``graph_probs`` over the enumerated graphs, parameters from BGe."""
    idx = rng.choice(post.n_theories, size=n, p=graph_probs)
    th = sample_parameters(score, post.theories[idx], rng, NAMES)
    return GaussianHarmModel(spec, th).harm()


def test_exact_kind_is_the_weighted_mean():
    rng = np.random.default_rng(0)
    h = rng.uniform(size=(7, 3))
    lw = rng.normal(size=7)
    est = monte_carlo_harm(h, kind="exact", log_weights=lw + 4.0)
    w = np.exp(lw) / np.exp(lw).sum()
    np.testing.assert_allclose(est.mean, w @ h)
    np.testing.assert_array_equal(est.width, 0.0)
    assert est.guaranteed


@pytest.mark.parametrize("biased", [False, True])
def test_bound_covers_the_posterior_predictive(problem, biased):
    """Coverage of the 1 - delta upper bound over 300 runs of 100 theories, with the sampler's exact TV
    added when the draws come from a sampler that under-weights the graphs where do(a) is harmful."""
    score, post, spec, truth, per_graph = problem
    p = post.probs
    q = p * np.exp(-6 * per_graph[:, 1]) if biased else p
    q = q / q.sum()
    tv = sampler_tv_exact(q, p)
    assert (tv > 0.05) == biased
    rng = np.random.default_rng(1 if biased else 2)
    runs, n, delta = 300, 100, 0.1
    h = draws(score, spec, q, post, runs * n, rng).reshape(runs, n, -1)
    covered, widths = [], []
    for r in range(runs):
        est = monte_carlo_harm(h[r], delta=delta, sampler_error=tv)
        covered.append(est.upper >= truth)
        widths.append(est.upper - est.mean)
    coverage = np.mean(covered, axis=0)
    se = np.sqrt(delta * (1 - delta) / runs)
    assert np.all(coverage >= 1 - delta - 3 * se), coverage
    assert np.mean(widths) < 0.25 + tv  # informative, not the trivial bound 1
    if biased:  # without the sampler's term the biased draws would not be covered
        plain = np.array([monte_carlo_harm(h[r], delta=delta).upper >= truth for r in range(runs)])
        assert plain.mean(axis=0).min() < 1 - delta


def test_bernstein_beats_hoeffding_when_theories_agree():
    rng = np.random.default_rng(3)
    v = 0.01 + 0.001 * rng.uniform(size=(5000, 1))
    assert bernstein_width(v, 0.05)[0] < 0.2 * hoeffding_width(v, 0.05)[0]
    mean, lo, hi = mean_bounds(v, 0.05, "hoeffding")
    assert lo[0] == 0.0 and hi[0] > mean[0]


def test_bound_inputs_are_validated():
    with pytest.raises(ValueError, match="harm: probabilities must lie in"):
        monte_carlo_harm(np.array([[0.5], [1.5]]))
    with pytest.raises(ValueError, match="delta"):
        monte_carlo_harm(np.full((4, 1), 0.5), delta=0.0)
    with pytest.raises(ValueError, match="sampler_error"):
        monte_carlo_harm(np.full((4, 1), 0.5), sampler_error=2.0)
    with pytest.raises(ValueError, match="log_weights: required"):
        monte_carlo_harm(np.full((4, 1), 0.5), kind="weighted")
    with pytest.raises(ValueError, match="at least 2 theories"):
        monte_carlo_harm(np.full((1, 1), 0.5))


def test_sampler_tv_estimate_matches_exact_tv_with_many_draws(problem):
    score, post, *_ = problem
    p = post.probs
    q = p**0.5 / np.sum(p**0.5)
    rng = np.random.default_rng(4)
    idx = rng.choice(post.n_theories, size=200_000, p=q)
    lp = np.log(p)[idx]
    est = sampler_tv_estimate(idx, lp)
    exact = sampler_tv_exact(q, p)
    # every graph with q > 1e-4 is drawn; the estimate's noise is about sqrt(25 / 200000) = 0.011
    assert abs(est - exact) < 0.03, (est, exact)
