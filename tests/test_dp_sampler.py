"""DP-based posteriors and the measured link between a sampled posterior and the exact DP."""

from __future__ import annotations

import numpy as np
import pytest
from _dag_reference import count_orders

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.graphs.dag import enumerate_dags, random_dag_er
from bayesguard.inference.dp_order import order_dp
from bayesguard.inference.dp_sampler import dp_posterior, log_linear_extensions, measure_against_dp
from bayesguard.inference.dp_structure import structure_dp
from bayesguard.inference.mcmc import structure_mcmc
from bayesguard.posterior import Posterior
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore


def test_linear_extensions_match_brute_force():
    dags = enumerate_dags(4)
    assert np.allclose(np.exp(log_linear_extensions(dags, chunk=97)), count_orders(dags), rtol=0, atol=1e-9)
    big = random_dag_er(6, 5.0, size=50, rng=1)
    assert np.allclose(np.exp(log_linear_extensions(big)), count_orders(big), atol=1e-9)
    with pytest.raises(ValueError, match="adj"):
        log_linear_extensions(np.zeros((3, 3), bool))


@pytest.fixture(scope="module")
def score7():
    return StructureScore(BGeScore(sample_linear_gaussian_scm(7, 60, 7.0, seed=3).data))


def test_weighted_dp_posterior_matches_the_structure_dp_within_standard_errors(score7):
    post = dp_posterior(score7, 4000, seed=1)
    assert post.kind == "weighted" and post.method == "dp-weighted" and post.independent
    truth = structure_dp(score7).edge_marginals
    est = np.einsum("n,nij->ij", post.probs, post.theories.astype(float))
    # self-normalised IS: standard error from the effective sample size
    se = np.sqrt(np.maximum(truth * (1 - truth), 1e-4) / post.ess)
    off = ~np.eye(7, dtype=bool)
    assert np.all((np.abs(est - truth) / se)[off] < 4.5)
    # the recorded error is the measured edge error (an estimate, not a bound)
    assert post.sampler_error.tv == pytest.approx(np.abs(est - truth)[off].max())
    assert not post.sampler_error.is_bound and "structure-modular" in post.sampler_error.how


def test_order_modular_draws_are_exact_and_say_so(score7):
    post = dp_posterior(score7, 500, prior="order-modular", max_parents=2, seed=0)
    assert post.kind == "samples" and post.sampler_error.is_bound and post.sampler_error.tv == 0.0
    assert "order-modular" in post.sampler_error.how
    assert post.theories.sum(axis=1).max() <= 2
    with pytest.raises(ValueError, match="prior"):
        dp_posterior(score7, 5, prior="uniform")


def test_measure_against_dp_checks_the_target_prior(score7):
    run = structure_mcmc(score7, n_chains=2, n_steps=400, thin=2, seed=0, progress=False)
    post = run.posterior()
    measured = measure_against_dp(post, structure_dp(score7))
    est = np.einsum("n,nij->ij", post.probs, post.theories.astype(float))
    expect = np.abs(est - structure_dp(score7).edge_marginals).max()
    assert measured.sampler_error.tv == pytest.approx(expect)
    assert not measured.sampler_error.is_bound
    with pytest.raises(ValueError, match="targets the structure-modular"):
        measure_against_dp(post, order_dp(score7, None))
    wrong = Posterior.from_samples(np.zeros((3, 4, 4), bool), "causal-dag", method="mcmc")
    with pytest.raises(ValueError, match="approx"):
        measure_against_dp(wrong, structure_dp(score7))


def test_measure_against_another_prior_when_not_strict_says_so(score7):
    post = dp_posterior(score7, 300, prior="order-modular", max_parents=2, seed=0)
    measured = measure_against_dp(post, structure_dp(score7), strict=False)
    assert "targets the order-modular posterior" in measured.sampler_error.how
    assert not measured.sampler_error.is_bound
