"""Linear-Gaussian theories: the BGe parameter posterior, and interventional / conditional queries checked
against sampling the (mutilated) SCM."""

from __future__ import annotations

import numpy as np
import pytest

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.theories.causal.linear_gaussian import (
    LinearGaussianTheories,
    interventional_gaussian,
    prob_above,
    sample_parameters,
)
from bayesguard.theories.causal.scores import BGeScore


@pytest.fixture(scope="module")
def world():
    scm = sample_linear_gaussian_scm(4, 5000, 4, seed=7)
    return scm, BGeScore(scm.data)


def test_parameter_posterior_centres_on_least_squares_and_true_noise(world):
    scm, score = world
    n = 3000
    theories = sample_parameters(score, np.broadcast_to(scm.adj, (n, 4, 4)), rng=0)
    x = scm.data - scm.data.mean(axis=0)
    for j in range(4):
        pa = np.flatnonzero(scm.adj[:, j])
        if pa.size == 0:
            continue
        ols, res, *_ = np.linalg.lstsq(x[:, pa], x[:, j], rcond=None)
        draws = theories.weights[:, pa, j]  # (n, p)
        se = draws.std(axis=0) / np.sqrt(n)
        assert np.all(np.abs(draws.mean(axis=0) - ols) < 5 * se + 1e-3)
        # posterior sd of a coefficient ~ residual sd / sqrt(N var(x_pa)): same order as OLS standard errors
        resid_var = res[0] / x.shape[0]
        assert abs(theories.noise_var[:, j].mean() / resid_var - 1) < 0.01
        assert abs(resid_var / scm.noise_std[j] ** 2 - 1) < 0.1
    assert np.all(theories.weights[:, ~scm.adj] == 0)


def ancestral(theories: LinearGaussianTheories, k: int, n: int, do: dict, rng) -> np.ndarray:
    """Sample theory k's mutilated SCM by following a topological order (independent of the closed form)."""
    d = theories.d
    order, seen = [], set()
    while len(order) < d:
        for j in range(d):
            if j not in seen and all(i in seen for i in np.flatnonzero(theories.adj[k, :, j])):
                order.append(j)
                seen.add(j)
    x = np.zeros((n, d))
    for j in order:
        if j in do:
            x[:, j] = do[j]
            continue
        x[:, j] = (
            theories.intercept[k, j]
            + x @ theories.weights[k, :, j]
            + np.sqrt(theories.noise_var[k, j]) * rng.standard_normal(n)
        )
    return x


def test_interventional_query_matches_sampling_the_mutilated_scm(world):
    scm, score = world
    theories = sample_parameters(score, np.broadcast_to(scm.adj, (3, 4, 4)), rng=1)
    # a target with parents, and an intervention on one of them
    target = int(np.flatnonzero(scm.adj.any(axis=0))[-1])
    source = int(np.flatnonzero(scm.adj[:, target])[0])
    mean, var = interventional_gaussian(theories, target, do={source: 2.5})
    rng = np.random.default_rng(2)
    n = 200_000
    for k in range(3):
        x = ancestral(theories, k, n, {source: 2.5}, rng)[:, target]
        assert abs(x.mean() - mean[k]) < 5 * x.std() / np.sqrt(n)
        assert abs(x.var() / var[k] - 1) < 5 * np.sqrt(2 / n)
        p = prob_above(mean[k : k + 1], var[k : k + 1], mean[k] + 1.0)[0]
        assert abs((x > mean[k] + 1.0).mean() - p) < 5 * np.sqrt(p * (1 - p) / n)


def test_conditional_query_matches_regression_on_samples(world):
    scm, score = world
    theories = sample_parameters(score, scm.adj[None], rng=3)
    target, observed = 3, [0, 1]
    mean, var = interventional_gaussian(theories, target, evidence={0: 0.7, 1: -0.4})
    x = ancestral(theories, 0, 400_000, {}, np.random.default_rng(4))
    design = np.column_stack([np.ones(len(x)), x[:, observed]])
    coef, res, *_ = np.linalg.lstsq(design, x[:, target], rcond=None)
    pred = coef @ [1.0, 0.7, -0.4]
    resid_var = res[0] / len(x)
    assert abs(pred - mean[0]) < 10 * np.sqrt(resid_var / len(x))  # regression SE at a point near the mean
    assert abs(resid_var / var[0] - 1) < 0.02


def test_intervening_on_a_non_ancestor_changes_nothing(world):
    scm, score = world
    theories = sample_parameters(score, scm.adj[None], rng=5)
    roots = np.flatnonzero(~scm.adj.any(axis=0))
    sinks = np.flatnonzero(~scm.adj.any(axis=1))
    root, sink = int(roots[0]), int(sinks[-1])
    if root == sink:
        pytest.skip("degenerate graph")
    base = interventional_gaussian(theories, root)
    after = interventional_gaussian(theories, root, do={sink: 10.0})
    np.testing.assert_allclose(base, after)


def test_query_errors_name_the_field(world):
    scm, score = world
    theories = sample_parameters(score, scm.adj[None], rng=0, names=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="target"):
        interventional_gaussian(theories, "zz")
    with pytest.raises(ValueError, match="evidence"):
        interventional_gaussian(theories, "a", do={"b": 1.0}, evidence={"b": 1.0})
    with pytest.raises(ValueError, match="evidence"):
        interventional_gaussian(theories, "a", evidence={"a": 1.0})
    with pytest.raises(ValueError, match="do"):
        interventional_gaussian(theories, "a", do={9: 1.0})
    with pytest.raises(ValueError, match="adj"):
        sample_parameters(score, np.zeros((2, 3, 3), dtype=bool))
    assert "N(0," in theories.describe(0)
