"""The harm-seeking search samples the tilted target p(G | D) P(H | G) ** beta: its chains' end states
match the exact tilted distribution over all DAGs on 3 nodes; every proposal is kept as a candidate."""

from __future__ import annotations

import numpy as np
import pytest

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.graphs.dag import enumerate_dags
from bayesguard.inference.harm_search import harm_seeking_search, tilted_chains
from bayesguard.inference.kernels import edge_flip, tilted_target
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore


def harm(g):
    return 0.05 + 0.9 * g[:, 0, 2]  # "x0 -> x2 is harmful"


def code(g):
    return (g.reshape(g.shape[0], -1) * (1 << np.arange(g.shape[1] ** 2))).sum(axis=1)


@pytest.fixture(scope="module")
def score():
    return StructureScore(BGeScore(sample_linear_gaussian_scm(3, 30, 2, seed=4).data))


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_chains_sample_the_tilted_target(score, beta):
    dags = enumerate_dags(3)
    target = score.log_posterior(dags) + beta * np.log(harm(dags))
    target = np.exp(target - target.max())
    target /= target.sum()
    chains = 4000
    init = np.zeros((chains, 3, 3), dtype=bool)
    states, *_, acceptance = tilted_chains(score.log_posterior, harm, init, n_steps=100, beta=beta, seed=1)
    order = np.argsort(code(dags))
    pos = np.searchsorted(code(dags)[order], code(states))
    freq = np.bincount(pos, minlength=25) / chains
    expected = target[order]
    se = np.sqrt(expected * (1 - expected) / chains)
    assert np.all(np.abs(freq - expected) < 5 * se + 1e-3), np.abs(freq - expected).max()
    assert 0 < acceptance < 1


def test_search_returns_distinct_candidates_ranked_by_tilted_score(score):
    init = np.zeros((64, 3, 3), dtype=bool)
    res = harm_seeking_search(score.log_posterior, harm, init, n_steps=200, keep=25, seed=0)
    assert res.graphs.shape[0] == 25  # every DAG on 3 nodes was proposed at least once
    assert np.unique(code(res.graphs)).size == 25
    np.testing.assert_allclose(res.log_posterior, score.log_posterior(res.graphs))
    tilted = res.log_posterior + np.log(res.harm)
    assert np.all(np.diff(tilted) <= 1e-12)
    with pytest.raises(ValueError, match="acyclic"):
        harm_seeking_search(score.log_posterior, harm, np.ones((1, 3, 3), dtype=bool))


def test_chains_are_the_edge_flip_kernel_on_the_tilted_target_and_keep_every_scored_graph(score):
    init = np.zeros((8, 3, 3), dtype=bool)
    states, graphs, lps, hs, acceptance = tilted_chains(
        score.log_posterior, harm, init, n_steps=50, beta=2.0, seed=3
    )
    kernel = edge_flip(tilted_target(score.log_posterior, harm, 2.0))
    state, rng, scored, accepted = kernel.init(init), np.random.default_rng(3), [init], 0
    for _ in range(50):
        state, info = kernel.step(rng, state)
        scored.append(info.proposed[info.scored])
        accepted += info.accepted.sum()
    np.testing.assert_array_equal(states, state.adj)
    np.testing.assert_array_equal(graphs, np.concatenate(scored))
    np.testing.assert_allclose(lps, score.log_posterior(graphs))
    np.testing.assert_allclose(hs, harm(graphs))
    assert acceptance == accepted / (8 * 50)
    with pytest.raises(ValueError, match="beta"):
        tilted_chains(score.log_posterior, harm, init, beta=0.0)
    with pytest.raises(ValueError, match="init"):
        tilted_chains(score.log_posterior, harm, np.zeros((3, 3), dtype=bool))
