"""Linear-Gaussian causal theories as a TheoryFamily: packing, likelihood against the joint Gaussian,
harm against sampling, and the guard on two Markov-equivalent theories that disagree about harm."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bayesguard import Guardrail, Posterior
from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.theories.causal.family import (
    CausalData,
    LinearGaussianFamily,
    pack,
    theories_from_graphs,
    unpack,
)
from bayesguard.theories.causal.linear_gaussian import sample_parameters
from bayesguard.theories.causal.scores import BGeScore


@pytest.fixture(scope="module")
def setup():
    scm = sample_linear_gaussian_scm(4, 300, 4, seed=11, names=["a", "b", "c", "h"])
    score = BGeScore(scm.data)
    family = LinearGaussianFamily(("a", "b", "c", "h"), ({}, {"a": 2.0}, {"b": -2.0}), "h", 1.5)
    theories = pack(sample_parameters(score, np.broadcast_to(scm.adj, (5, 4, 4)), rng=0, names=family.names))
    return scm, score, family, theories


def test_pack_unpack_round_trip(setup):
    _, _, family, theories = setup
    np.testing.assert_array_equal(pack(unpack(theories, family.names)), theories)
    with pytest.raises(ValueError, match="theories"):
        unpack(theories[:, :-1], family.names)


def test_log_likelihood_equals_the_joint_gaussian_density(setup):
    scm, _, family, theories = setup
    x = scm.data[:50]
    ll = family.log_likelihood(theories, CausalData(x))
    th = unpack(theories, family.names)
    for k in range(th.n):
        inv = np.linalg.inv(np.eye(4) - th.weights[k].T)
        mean = inv @ th.intercept[k]
        cov = inv @ np.diag(th.noise_var[k]) @ inv.T
        assert ll[k] == pytest.approx(multivariate_normal(mean, cov).logpdf(x).sum(), rel=1e-9)


def test_intervened_cells_are_not_scored(setup):
    scm, _, family, theories = setup
    x = scm.data[:20].copy()
    mask = np.zeros_like(x, dtype=bool)
    mask[:, 0] = True
    base = family.log_likelihood(theories, CausalData(x, mask))
    x[:, 0] = 100.0  # the intervened value is set from outside: only its effect on children counts
    th = unpack(theories, family.names)
    moved = family.log_likelihood(theories, CausalData(x, mask))
    has_children = th.adj[:, 0, :].any(axis=1)
    assert np.all(np.isclose(base, moved) | has_children)


def test_harm_prob_matches_sampling_the_intervened_scm(setup):
    _, _, family, theories = setup
    harm = family.harm_prob(theories)
    assert harm.shape == (5, 3)
    th = unpack(theories, family.names)
    rng = np.random.default_rng(0)
    n = 100_000
    for a, act in enumerate(family.actions):
        x = np.zeros((n, 4))
        done: set[int] = set()
        while len(done) < 4:
            for j in range(4):
                if j in done or not all(i in done for i in np.flatnonzero(th.adj[0, :, j])):
                    continue
                name = family.names[j]
                if name in act:
                    x[:, j] = act[name]
                else:
                    x[:, j] = (
                        th.intercept[0, j]
                        + x @ th.weights[0, :, j]
                        + np.sqrt(th.noise_var[0, j]) * rng.standard_normal(n)
                    )
                done.add(j)
        p = (x[:, 3] > 1.5).mean()
        assert abs(p - harm[0, a]) < 5 * np.sqrt(max(harm[0, a] * (1 - harm[0, a]), 1e-6) / n)


def test_guard_rejects_when_an_equivalent_theory_predicts_harm():
    """A -> H and H -> A explain observational data equally; only the first says do(A=3) is harmful."""
    rng = np.random.default_rng(5)
    a = rng.normal(size=500)
    h = 0.8 * a + 0.6 * rng.normal(size=500)
    score = BGeScore(np.column_stack([a, h]))
    family = LinearGaussianFamily(("A", "H"), ({}, {"A": 3.0}), "H", 1.5)
    graphs = np.zeros((2, 2, 2), dtype=bool)
    graphs[0, 0, 1] = True  # A -> H
    graphs[1, 1, 0] = True  # H -> A
    theories = theories_from_graphs(family, score, np.repeat(graphs, 50, axis=0), rng=0)
    assert np.allclose(
        score.local_many(np.array([1, 0]), np.array([1, 0])).sum(),
        score.local_many(np.array([0, 1]), np.array([2, 0])).sum(),
    )
    post = Posterior.from_samples(theories, family.name)
    harm = family.harm_prob(theories)
    assert harm[:50, 1].min() > 0.5 and harm[50:, 1].max() < 0.1  # the theories disagree
    # C = 0.2: with 100 sampled theories the Monte Carlo bound on a ~0.03 harm is about 0.12
    cautious = Guardrail(family, post, "cautious", threshold=0.2, alpha=0.001)
    v = cautious.check(None, 1)
    assert v.decision == "REJECT" and "H = " in v.witness_theory and "*A" in v.witness_theory
    assert cautious.check(None, 0).decision == "ALLOW"  # doing nothing: P(H > 1.5) is small under both


def test_family_errors_name_the_field():
    with pytest.raises(ValueError, match="harm_variable"):
        LinearGaussianFamily(("a", "b"), ({},), "zz", 1.0)
    with pytest.raises(ValueError, match=r"actions\[1\]"):
        LinearGaussianFamily(("a", "b"), ({}, {"q": 1.0}), "b", 1.0)
    with pytest.raises(ValueError, match=r"actions\[0\]"):
        LinearGaussianFamily(("a", "b"), ({"b": 1.0},), "b", 1.0)
    with pytest.raises(ValueError, match="actions"):
        LinearGaussianFamily(("a", "b"), (), "b", 1.0)
    family = LinearGaussianFamily(("a", "b"), ({},), "b", 1.0)
    with pytest.raises(TypeError, match="data"):
        family.log_likelihood(np.zeros((1, 12)) + 1, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="CausalData.intervened"):
        CausalData(np.zeros((3, 2)), np.zeros((2, 2), dtype=bool))
